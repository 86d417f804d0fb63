using BigDataAI.Datasets;
using BigDataAI.Hosting;
using BigDataAI.Models.Registry;
using BigDataAI.Training.Apis;
using BigDataAI.Training.IntegrationEvents.EventHandling;
using BigDataAI.Training.Scheduling;
using BigDataAI.Training.Services;
using MassTransit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace BigDataAI.Training;

/// <summary>
/// The training control plane: the gRPC API (TrainingService), job records and the scheduler, and
/// <c>GET /training/queue</c>. Jobs run on training workers (<c>TrainingWorkerModule</c> in BigDataAI.TrainingWorker): the training host runs
/// the control plane, the worker host a worker, the embedded mode both.
/// </summary>
public sealed class TrainingControlPlaneModule : ServiceModule
{
    public override string Name => "training";

    public override void AddServices(IHostApplicationBuilder builder)
    {
        builder.Services.AddGrpc();
        TrainingShared.Add(builder);
        builder.Services.AddSingleton<JobTracker>();
        builder.Services.AddSingleton<JobSubmitter>();
        builder.Services.AddSingleton<ModelAliases>();
        builder.Services.AddSingleton<ModelIndex>();
        builder.Services.AddSingleton<WorkerRegistry>();
        builder.Services.AddSingleton<JobStopper>();
        builder.Services.AddSingleton<SweepController>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<SweepController>());
        builder.Services.AddSingleton<JobScheduler>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<JobScheduler>());
    }

    public override void AddConsumers(IBusRegistrationConfigurator bus)
    {
        bus.AddConsumer<DatasetLabeledConsumer, DatasetLabeledConsumerDefinition>();
        // Every control-plane replica keeps its own view of workers and jobs, so each hears every announcement and
        // update on its own temporary queue (a shared queue would give each message to one replica only).
        var replica = Guid.NewGuid().ToString("N")[..12];
        bus.AddConsumer<WorkerAnnouncedConsumer>().Endpoint(e => { e.InstanceId = replica; e.Temporary = true; });
        bus.AddConsumer<WorkerStoppingConsumer>().Endpoint(e => { e.InstanceId = replica; e.Temporary = true; });
        bus.AddConsumer<JobUpdatedConsumer>().Endpoint(e => { e.InstanceId = replica; e.Temporary = true; });
    }

    /// <summary>
    /// The gRPC API, and <c>GET /training/queue</c>: jobs waiting for a worker by need, jobs running and workers
    /// connected, as JSON for autoscalers (KEDA's metrics-api scaler).
    /// </summary>
    public override void MapEndpoints(IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGrpcService<TrainingApi>();
        endpoints.MapGet("/training/queue", (JobScheduler scheduler) =>
        {
            var d = scheduler.QueueDepth;
            return Results.Json(new { queued = d.Cpu + d.Gpu, queuedCpu = d.Cpu, queuedGpu = d.Gpu, running = d.Running, workers = d.Workers });
        });
    }
}

internal static class TrainingShared
{
    public static void Add(IHostApplicationBuilder builder)
    {
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.TryAddSingleton(sp => new DatasetStore(sp.GetRequiredService<Storage.IObjectStore>()));
        builder.Services.TryAddSingleton(sp => new ModelRegistry(sp.GetRequiredService<Storage.IObjectStore>()));
        // Control plane and worker in one process add these twice: options validation is registered once.
        if (!builder.Services.Any(d => d.ServiceType == typeof(TrainingOptionsMarker)))
        {
            builder.Services.AddSingleton<TrainingOptionsMarker>();
            builder.Services.AddOptions<TrainingOptions>().BindConfiguration(TrainingOptions.Section)
                .Validate(o => { o.Validate(); return true; }).ValidateOnStart();
        }
    }

    private sealed class TrainingOptionsMarker;
}
