using BigDataAI.Datasets;
using BigDataAI.Models.Registry;
using BigDataAI.Training.Apis;
using BigDataAI.Training.IntegrationEvents.EventHandling;
using BigDataAI.Training.Scheduling;
using BigDataAI.Training.Services;
using BigDataAI.Training.Workers;
using MassTransit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace BigDataAI.Training;

/// <summary>
/// The training module, in two parts a host composes: the control plane (gRPC API, job records, scheduler) and the
/// worker (runs jobs on this machine's CPU or GPUs). The training host runs the control plane, the worker host a
/// worker, the embedded mode both.
/// </summary>
public static class TrainingExtensions
{
    /// <summary>Control plane and a worker in one process (the embedded mode).</summary>
    public static IHostApplicationBuilder AddTraining(this IHostApplicationBuilder builder) =>
        builder.AddTrainingControlPlane().AddTrainingWorker();

    public static IHostApplicationBuilder AddTrainingControlPlane(this IHostApplicationBuilder builder)
    {
        builder.Services.AddGrpc();
        AddShared(builder);
        builder.Services.AddSingleton<JobTracker>();
        builder.Services.AddSingleton<JobSubmitter>();
        builder.Services.AddSingleton<WorkerRegistry>();
        builder.Services.AddSingleton<JobScheduler>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<JobScheduler>());
        return builder;
    }

    public static IHostApplicationBuilder AddTrainingWorker(this IHostApplicationBuilder builder)
    {
        AddShared(builder);
        builder.Services.AddSingleton<WorkerIdentity>();
        builder.Services.AddSingleton<WorkerJobs>();
        builder.Services.AddSingleton<JobRunner>();
        builder.Services.AddHostedService<TrainingWorkerService>();
        builder.Services.AddSingleton<JobQueueProbe>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<JobQueueProbe>());
        builder.Services.AddHealthChecks().AddCheck<JobQueueHealthCheck>(JobQueueHealthCheck.Name);
        return builder;
    }

    private static void AddShared(IHostApplicationBuilder builder)
    {
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.TryAddSingleton(sp => new DatasetStore(sp.GetRequiredService<Storage.IObjectStore>()));
        builder.Services.TryAddSingleton(sp => new ModelRegistry(sp.GetRequiredService<Storage.IObjectStore>()));
        builder.Services.AddOptions<TrainingOptions>().BindConfiguration(TrainingOptions.Section)
            .Validate(o => { o.Validate(); return true; }).ValidateOnStart();
    }

    /// <summary>The control plane's consumers. Pair with <see cref="AddTrainingControlPlane"/>.</summary>
    public static IBusRegistrationConfigurator AddTrainingConsumers(this IBusRegistrationConfigurator bus)
    {
        bus.AddConsumer<DatasetLabeledConsumer, DatasetLabeledConsumerDefinition>();
        // Every control-plane replica keeps its own view of workers and jobs, so each hears every announcement and
        // update on its own temporary queue (a shared queue would give each message to one replica only).
        var replica = Guid.NewGuid().ToString("N")[..12];
        bus.AddConsumer<WorkerAnnouncedConsumer>().Endpoint(e => { e.InstanceId = replica; e.Temporary = true; });
        bus.AddConsumer<WorkerStoppingConsumer>().Endpoint(e => { e.InstanceId = replica; e.Temporary = true; });
        bus.AddConsumer<JobUpdatedConsumer>().Endpoint(e => { e.InstanceId = replica; e.Temporary = true; });
        return bus;
    }

    /// <summary>The worker's consumers. Pair with <see cref="AddTrainingWorker"/>.</summary>
    public static IBusRegistrationConfigurator AddTrainingWorkerConsumers(this IBusRegistrationConfigurator bus)
    {
        var worker = Guid.NewGuid().ToString("N")[..12];
        // RunJob and this worker's own WorkerProbe arrive on one queue, so a probe that comes back proves hand-outs can.
        bus.AddConsumer<RunJobConsumer>().Endpoint(e => { e.InstanceId = worker; e.Temporary = true; });
        return bus;
    }

    /// <summary>
    /// The gRPC API, and <c>GET /training/queue</c>: jobs waiting for a worker by need, jobs running and workers
    /// connected, as JSON for autoscalers (KEDA's metrics-api scaler).
    /// </summary>
    public static IEndpointRouteBuilder MapTraining(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGrpcService<TrainingApi>();
        endpoints.MapGet("/training/queue", (JobScheduler scheduler) =>
        {
            var d = scheduler.QueueDepth;
            return Results.Json(new { queued = d.Cpu + d.Gpu, queuedCpu = d.Cpu, queuedGpu = d.Gpu, running = d.Running, workers = d.Workers });
        });
        return endpoints;
    }
}
