using BigDataAI.Hosting;
using BigDataAI.Training.Workers;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace BigDataAI.Training;

/// <summary>
/// A training worker: runs the jobs the scheduler sends to its own queue, on this machine's CPU or GPUs. The training
/// worker host composes it alone; the embedded mode beside <see cref="TrainingControlPlaneModule"/>.
/// </summary>
public sealed class TrainingWorkerModule : ServiceModule
{
    private readonly WorkerQueue _queue = new();

    public override string Name => "training-worker";

    public override void AddServices(IHostApplicationBuilder builder)
    {
        TrainingShared.Add(builder);
        builder.Services.AddSingleton(_queue);
        builder.Services.AddSingleton<WorkerIdentity>();
        builder.Services.AddSingleton<WorkerJobs>();
        builder.Services.AddSingleton<JobRunner>();
        builder.Services.AddHostedService<TrainingWorkerService>();
        builder.Services.AddSingleton<JobQueueProbe>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<JobQueueProbe>());
        builder.Services.AddHealthChecks().AddCheck<JobQueueHealthCheck>(JobQueueHealthCheck.Name);
    }

    public override void AddConsumers(IBusRegistrationConfigurator bus)
    {
        // RunJob and this worker's own WorkerProbe arrive on one temporary queue that only sends reach (no consume
        // topology), so a probe that comes back proves hand-outs can, and no other worker sees this one's jobs.
        bus.AddConsumer<RunJobConsumer>().Endpoint(e =>
        {
            e.Name = _queue.Name;
            e.Temporary = true;
            e.ConfigureConsumeTopology = false;
        });
        bus.AddConfigureEndpointsCallback((name, endpoint) =>
        {
            if (name == _queue.Name)
            {
                _queue.Configured(endpoint.InputAddress);
            }
        });
    }
}
