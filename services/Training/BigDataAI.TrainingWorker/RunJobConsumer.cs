using BigDataAI.Storage;
using BigDataAI.Training.Messages;
using MassTransit;
using Microsoft.Extensions.Logging;

namespace BigDataAI.Training.Workers;

/// <summary>
/// The worker's own job queue: the scheduler sends RunJob (and StopJob) to the address this worker announces (<see cref="WorkerQueue"/>),
/// so no other worker sees it, and the worker sends its probes to the same address, so a probe that comes back proves
/// hand-outs arrive. The queue is bound to nothing else (no consume topology): a published RunJob reaches no worker. The
/// checks of worker id and store stay as a guard for a deployment that shares the broker.
/// </summary>
public sealed class RunJobConsumer(WorkerIdentity me, WorkerJobs jobs, JobQueueProbe probe, IObjectStore store, ILogger<RunJobConsumer> logger)
    : IConsumer<RunJob>, IConsumer<WorkerProbe>, IConsumer<StopJob>
{
    public Task Consume(ConsumeContext<StopJob> context)
    {
        if (context.Message.WorkerId == me.Id && context.Message.Store == store.Location)
        {
            if (jobs.RequestStop(context.Message.JobId, context.Message.Reason))
            {
                logger.LogInformation("Worker {WorkerId} is asked to stop job {JobId}: {Reason}", me.Id, context.Message.JobId, context.Message.Reason);
            }
            else
            {
                logger.LogInformation("Worker {WorkerId} is asked to stop job {JobId}, which it does not hold; ignoring it", me.Id, context.Message.JobId);
            }
        }
        return Task.CompletedTask;
    }

    public Task Consume(ConsumeContext<WorkerProbe> context)
    {
        if (context.Message.WorkerId == me.Id && context.Message.Store == store.Location)
        {
            probe.Received(context.Message.Sequence);
        }
        return Task.CompletedTask;
    }

    public Task Consume(ConsumeContext<RunJob> context)
    {
        if (context.Message.WorkerId != me.Id || context.Message.Store != store.Location)
        {
            logger.LogWarning("Worker {WorkerId} was sent job {JobId} for worker {Addressee} of store {Store}; ignoring it",
                me.Id, context.Message.JobId, context.Message.WorkerId, context.Message.Store);
        }
        else if (jobs.TryAdd(context.Message.JobId))
        {
            logger.LogInformation("Worker {WorkerId} takes job {JobId}", me.Id, context.Message.JobId);
        }
        return Task.CompletedTask;
    }
}

/// <summary>
/// Where this worker's job queue is: its receive endpoint's address, known once the bus has configured it (until then
/// the worker announces none and the scheduler hands it nothing).
/// </summary>
public sealed class WorkerQueue
{
    private Uri? _address;

    /// <summary>The endpoint's name: <c>training-worker-{random}</c>, temporary (deleted with the worker's connection).</summary>
    public string Name { get; } = $"training-worker-{Guid.NewGuid().ToString("N")[..12]}";

    /// <summary>The address RunJob and probes are sent to, or null before the bus configured the endpoint.</summary>
    public Uri? Address => Volatile.Read(ref _address);

    internal void Configured(Uri address) => Volatile.Write(ref _address, address);
}
