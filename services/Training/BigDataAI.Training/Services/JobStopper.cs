using System.Collections.Concurrent;
using BigDataAI.Hosting;
using BigDataAI.Storage;
using BigDataAI.Training.Messages;
using BigDataAI.Training.Model;
using BigDataAI.Training.Scheduling;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace BigDataAI.Training.Services;

/// <summary>
/// Stops jobs (StopJob, a sweep's early stopping). A job nobody runs (queued, handed out but not started, or whose
/// worker lost it) is written STOPPED at once under its lease; a running one is asked to stop by a StopJob sent to its
/// worker's queue, again on every scheduler pass until its record says it ended, so a lost message only delays it.
/// </summary>
public sealed class JobStopper(JobTracker tracker, WorkerRegistry workers, IObjectStore store, BoundedPublisher bus, IOptions<TrainingOptions> options, TimeProvider time, ILogger<JobStopper> logger)
{
    private static readonly TimeSpan Resend = TimeSpan.FromSeconds(5);
    private readonly ConcurrentDictionary<string, (string Reason, DateTimeOffset SentAt, DateTimeOffset RequestedAt)> _pending = new(StringComparer.Ordinal);

    /// <summary>Stops <paramref name="jobId"/> (see the type). Returns the record as it is now; null for an unknown job.</summary>
    public async Task<JobRecord?> StopAsync(string jobId, string reason, CancellationToken cancellationToken)
    {
        var job = await tracker.GetOrLoadAsync(jobId, cancellationToken).ConfigureAwait(false);
        if (job is null || job.IsFinished)
        {
            return job;
        }
        reason = string.IsNullOrWhiteSpace(reason) ? "stopped on request" : reason.Trim();
        var path = JobTracker.JobPath(jobId);
        var lease = await store.TryAcquireLeaseAsync(path, options.Value.LeaseDuration, cancellationToken).ConfigureAwait(false);
        if (lease is not null)
        {
            try
            {
                // Nobody holds it, so nobody runs it: the stored record is the truth, and it ends here.
                var stored = await JobTracker.ReadAsync(store, path, cancellationToken).ConfigureAwait(false) ?? job;
                if (stored.IsFinished)
                {
                    tracker.Apply(stored);
                    return stored;
                }
                var stopped = (stored with
                {
                    Status = JobStatus.Stopped,
                    StopReason = reason,
                    WaitingReason = null,
                    Revision = Math.Max(stored.Revision, job.Revision),
                }).Next();
                await JobTracker.SaveAsync(store, stopped, lease, cancellationToken).ConfigureAwait(false);
                tracker.Apply(stopped);
                _pending.TryRemove(jobId, out _);
                logger.LogInformation("Job {JobId} stopped before any worker ran it: {Reason}", jobId, reason);
                return stopped;
            }
            finally
            {
                await store.ReleaseLeaseAsync(lease, CancellationToken.None).ConfigureAwait(false);
            }
        }
        _pending.TryAdd(jobId, (reason, DateTimeOffset.MinValue, time.GetUtcNow())); // a stop under way keeps its first reason
        await SendAsync(jobId, cancellationToken).ConfigureAwait(false);
        return tracker.Get(jobId);
    }

    /// <summary>
    /// Tries again the stops of jobs that have not ended (called at the start of every scheduler pass): the lease is free
    /// once a worker that did not hear (or died) lets it lapse, and then the job is written STOPPED before the scheduler
    /// could hand it out again.
    /// </summary>
    public async Task ResendAsync(CancellationToken cancellationToken)
    {
        foreach (var (jobId, pending) in _pending)
        {
            // Done once the job ended, or when it is a newer run than the one asked to stop (submitted again since).
            if (tracker.Get(jobId) is not { IsFinished: false } job || job.CreatedAt > pending.RequestedAt)
            {
                _pending.TryRemove(jobId, out _);
                continue;
            }
            if (time.GetUtcNow() - pending.SentAt < Resend)
            {
                continue;
            }
            try
            {
                await StopAsync(jobId, pending.Reason, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                // One job's trouble (an unreadable record, storage away) must not hold up scheduling.
                _pending[jobId] = pending with { SentAt = time.GetUtcNow() };
                logger.LogWarning(e, "Stopping job {JobId} failed; trying again", jobId);
            }
        }
    }

    /// <summary>Whether a stop of <paramref name="jobId"/> is under way (the scheduler does not hand such a job out).</summary>
    public bool IsStopping(string jobId) =>
        _pending.TryGetValue(jobId, out var pending) && tracker.Get(jobId) is { } job && job.CreatedAt <= pending.RequestedAt;

    private async Task SendAsync(string jobId, CancellationToken cancellationToken)
    {
        if (!_pending.TryGetValue(jobId, out var pending) || tracker.Get(jobId) is not { IsFinished: false } job)
        {
            return;
        }
        _pending[jobId] = pending with { SentAt = time.GetUtcNow() };
        var worker = job.WorkerId is { } id ? workers.Live().FirstOrDefault(w => w.WorkerId == id) : null;
        if (worker?.Queue is null)
        {
            // Its worker is gone: once the lease lapses, ResendAsync writes the job STOPPED.
            logger.LogInformation("Job {JobId} is held but its worker {WorkerId} is not connected; it is stopped once its lease lapses", jobId, job.WorkerId);
            return;
        }
        try
        {
            await bus.SendAsync(worker.Queue, new StopJob(store.Location, jobId, worker.WorkerId, pending.Reason), cancellationToken).ConfigureAwait(false);
        }
        catch (MessagingUnavailableException e)
        {
            logger.LogWarning("Could not ask worker {WorkerId} to stop job {JobId} ({Reason}); trying again", worker.WorkerId, jobId, e.Message);
        }
    }
}
