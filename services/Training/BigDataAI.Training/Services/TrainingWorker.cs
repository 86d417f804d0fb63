using BigDataAI.Models;
using BigDataAI.Training.Model;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace BigDataAI.Training.Services;

/// <summary>
/// Runs queued jobs, <see cref="TrainingOptions.MaxConcurrentJobs"/> at a time. At start it makes sure TorchSharp
/// loads (applying the libstdc++ fix where needed) and queues again the jobs a previous run left unfinished.
/// </summary>
internal sealed class TrainingWorker(JobQueue queue, JobTracker tracker, JobRunner runner, IOptions<TrainingOptions> options, ILogger<TrainingWorker> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var runtime = TorchRuntime.EnsureLoadable();
        logger.LogInformation("TorchSharp ready: {Runtime}", runtime);
        var unfinished = await tracker.LoadAsync(stoppingToken).ConfigureAwait(false);
        foreach (var path in tracker.Unreadable)
        {
            logger.LogError("Job record {Path} is not valid JSON; it is left in storage and ignored", path);
        }
        foreach (var job in unfinished)
        {
            logger.LogInformation("Queuing again job {JobId}, left {Status} by a previous run", job.JobId, job.Status);
            await tracker.UpdateAsync(job.JobId, j => j with { Status = JobStatus.Queued }, persist: true, stoppingToken).ConfigureAwait(false);
            await queue.EnqueueAsync(job.JobId, stoppingToken).ConfigureAwait(false);
        }
        var runners = Enumerable.Range(0, Math.Max(1, options.Value.MaxConcurrentJobs)).Select(_ => Task.Run(async () =>
        {
            await foreach (var jobId in queue.ReadAllAsync(stoppingToken).ConfigureAwait(false))
            {
                try
                {
                    await runner.RunAsync(jobId, stoppingToken).ConfigureAwait(false);
                }
                catch (Exception e) when (!stoppingToken.IsCancellationRequested)
                {
                    // RunAsync records a job's own failure; this is a failure around it (e.g. storage down while
                    // recording). One job must not stop the runner, let alone the host.
                    logger.LogError(e, "Running job {JobId} failed outside the job itself; the runner goes on", jobId);
                }
            }
        }, stoppingToken));
        try
        {
            await Task.WhenAll(runners).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
