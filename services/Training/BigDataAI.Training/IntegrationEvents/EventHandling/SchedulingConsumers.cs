using BigDataAI.Storage;
using BigDataAI.Training.Messages;
using BigDataAI.Training.Scheduling;
using BigDataAI.Training.Services;
using BigDataAI.Training.Workers;
using MassTransit;
using Microsoft.Extensions.Logging;

namespace BigDataAI.Training.IntegrationEvents.EventHandling;

/// <summary>Control plane: a worker's announcement updates the registry the scheduler places jobs from.</summary>
public sealed class WorkerAnnouncedConsumer(WorkerRegistry workers, IObjectStore store) : IConsumer<WorkerAnnounced>
{
    public Task Consume(ConsumeContext<WorkerAnnounced> context)
    {
        if (context.Message.Store == store.Location)
        {
            workers.Update(context.Message);
        }
        return Task.CompletedTask;
    }
}

/// <summary>Control plane: a worker that stops cleanly leaves the registry at once.</summary>
public sealed class WorkerStoppingConsumer(WorkerRegistry workers, IObjectStore store) : IConsumer<WorkerStopping>
{
    public Task Consume(ConsumeContext<WorkerStopping> context)
    {
        if (context.Message.Store == store.Location)
        {
            workers.Remove(context.Message.WorkerId);
        }
        return Task.CompletedTask;
    }
}

/// <summary>Control plane: a worker's job snapshot updates the view that status and progress streams read.</summary>
public sealed class JobUpdatedConsumer(JobTracker tracker, IObjectStore store) : IConsumer<JobUpdated>
{
    public Task Consume(ConsumeContext<JobUpdated> context)
    {
        if (context.Message.Store == store.Location)
        {
            tracker.Apply(context.Message.Job);
        }
        return Task.CompletedTask;
    }
}

/// <summary>
/// Worker: every worker hears every hand-out (published, one temporary queue per worker) and takes those addressed to
/// it. A hand-out that is lost (the worker died with it) is handed out again by the scheduler. Its own probes arrive
/// on the same queue, which is how the worker knows the queue still delivers.
/// </summary>
public sealed class RunJobConsumer(WorkerIdentity me, WorkerJobs jobs, JobQueueProbe probe, IObjectStore store, ILogger<RunJobConsumer> logger)
    : IConsumer<RunJob>, IConsumer<WorkerProbe>
{
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
        if (context.Message.WorkerId == me.Id && context.Message.Store == store.Location && jobs.TryAdd(context.Message.JobId))
        {
            logger.LogInformation("Worker {WorkerId} takes job {JobId}", me.Id, context.Message.JobId);
        }
        return Task.CompletedTask;
    }
}
