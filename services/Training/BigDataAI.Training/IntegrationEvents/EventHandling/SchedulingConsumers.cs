using BigDataAI.Storage;
using BigDataAI.Training.Messages;
using BigDataAI.Training.Scheduling;
using BigDataAI.Training.Services;
using MassTransit;

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
