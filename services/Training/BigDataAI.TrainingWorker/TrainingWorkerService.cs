using BigDataAI.Hosting;
using BigDataAI.Models;
using BigDataAI.Training.Messages;
using MassTransit;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace BigDataAI.Training.Workers;

/// <summary>
/// A training worker: finds what it has (CUDA devices through TorchSharp, memory), announces itself every
/// <c>Training:Worker:AnnounceInterval</c> and whenever its jobs change, and runs the jobs the scheduler hands it,
/// <c>Training:Worker:Slots</c> at a time. On a clean stop it says so and gives its jobs' leases up, so another worker
/// continues them at once; a worker that dies gives them up when the leases lapse.
/// </summary>
internal sealed class TrainingWorkerService(
    WorkerIdentity me,
    WorkerJobs jobs,
    JobRunner runner,
    JobQueueProbe probe,
    WorkerQueue queue,
    BoundedPublisher bus,
    Storage.IObjectStore store,
    IOptions<Services.TrainingOptions> options,
    ILogger<TrainingWorkerService> logger) : BackgroundService
{
    private readonly Services.Wakeup _announce = new();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var runtime = TorchRuntime.EnsureLoadable();
        logger.LogInformation("TorchSharp ready: {Runtime}", runtime);
        logger.LogInformation("Training worker {WorkerId} ready: {Gpus} GPU, {MemoryMiB} MiB, {Slots} slot(s), device {Device}",
            me.Id, me.Gpus, me.MemoryMiB, me.Slots, me.Device);
        jobs.Changed += _announce.Set;
        var announcing = AnnounceLoopAsync(stoppingToken);
        var runners = Enumerable.Range(0, me.Slots).Select(_ => Task.Run(async () =>
        {
            await foreach (var jobId in jobs.ReadAllAsync(stoppingToken).ConfigureAwait(false))
            {
                try
                {
                    await runner.RunAsync(jobId, stoppingToken).ConfigureAwait(false);
                }
                catch (Exception e) when (!stoppingToken.IsCancellationRequested)
                {
                    // RunAsync records a job's own failure; this is a failure around it (e.g. storage down while
                    // recording). One job must not stop the worker; the scheduler hands the job out again.
                    logger.LogError(e, "Running job {JobId} failed outside the job itself; the worker goes on", jobId);
                }
                finally
                {
                    jobs.Done(jobId);
                }
            }
        }, stoppingToken)).ToList();
        try
        {
            await Task.WhenAll(runners.Append(announcing)).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            jobs.Changed -= _announce.Set;
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await bus.PublishAsync(new WorkerStopping(store.Location, me.Id), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Could not tell the scheduler that worker {WorkerId} stops; it will notice when announcements stop", me.Id);
        }
    }

    private async Task AnnounceLoopAsync(CancellationToken stoppingToken)
    {
        var interval = options.Value.Worker.AnnounceInterval;
        var announcing = true;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                // Bounded: a publish caught by a broker crash can wait for ever, and this loop is how the scheduler knows
                // the worker exists.
                await bus.PublishAsync(new WorkerAnnounced(store.Location, me.Id, me.Gpus, me.MemoryMiB, me.Slots, me.Device, jobs.Held, DateTimeOffset.UtcNow, probe.NotReceiving, probe.LastHeard, queue.Address?.ToString()), stoppingToken).ConfigureAwait(false);
                announcing = true;
            }
            catch (MessagingUnavailableException e)
            {
                // The broker is away: said once per outage, not every interval.
                if (announcing)
                {
                    logger.LogWarning("Worker {WorkerId} cannot announce itself ({Reason}); trying again every {Interval}", me.Id, e.Message, interval);
                }
                announcing = false;
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(e, "Worker {WorkerId} could not announce itself; trying again", me.Id);
            }
            try
            {
                await _announce.WaitAsync(interval, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
        }
    }

    public override void Dispose()
    {
        _announce.Dispose();
        base.Dispose();
    }
}
