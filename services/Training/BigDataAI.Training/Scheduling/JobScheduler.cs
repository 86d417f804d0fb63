using System.Collections.Concurrent;
using BigDataAI.Storage;
using BigDataAI.Training.Messages;
using BigDataAI.Training.Model;
using BigDataAI.Training.Services;
using BigDataAI.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace BigDataAI.Training.Scheduling;

/// <summary>
/// The control plane's scheduler. It loads every stored job at start, then on each change (a submission, a worker's
/// announcement, a job update) and at least every <c>Training:Scheduler:Interval</c>:
/// <list type="number">
/// <item>takes back running jobs whose worker is gone, once their lease has lapsed (it takes the lease itself, so a
/// worker that is merely slow keeps its job), and queues them again: the next worker resumes from the last checkpoint;</item>
/// <item>takes back hand-outs that were not started in time and gives the silent worker no job for a while (its queue
/// may be gone), so the job goes to another worker;</item>
/// <item>places queued jobs on workers that fit (<see cref="Placement"/>) and tells every waiting job why it waits.</item>
/// </list>
/// Correctness never rests on the scheduler alone: a worker runs a job only while it holds the job's lease, so a job
/// handed out twice (two control-plane replicas, a restart) still runs once.
/// </summary>
internal sealed class JobScheduler(
    JobTracker tracker,
    WorkerRegistry workers,
    JobStopper stopper,
    IObjectStore store,
    BoundedPublisher bus,
    IOptions<TrainingOptions> options,
    TimeProvider time,
    ILogger<JobScheduler> logger) : BackgroundService
{
    private readonly Wakeup _wake = new();
    private readonly ConcurrentDictionary<string, (string WorkerId, DateTimeOffset At)> _handedOut = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTimeOffset> _unlisted = new(StringComparer.Ordinal);
    private DateTimeOffset _started;

    /// <summary>Jobs waiting for a worker now, by need ("cpu" or "gpu"), for the queue metrics and /training/queue.</summary>
    public (int Cpu, int Gpu, int Running, int Workers) QueueDepth { get; private set; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var o = options.Value;
        var unfinished = await tracker.LoadAsync(stoppingToken).ConfigureAwait(false);
        foreach (var path in tracker.Unreadable)
        {
            logger.LogError("Job record {Path} is not valid JSON; it is left in storage and ignored", path);
        }
        logger.LogInformation("Scheduler started with {Unfinished} unfinished jobs from storage", unfinished.Count);
        _started = time.GetUtcNow();
        TrainingTelemetry.ObserveQueue(() => QueueDepth);
        tracker.Changed += _wake.Set;
        workers.Changed += _wake.Set;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    await PassAsync(stoppingToken).ConfigureAwait(false);
                }
                catch (Exception e) when (!stoppingToken.IsCancellationRequested)
                {
                    // Storage or the broker is down for a moment: the next pass tries again.
                    logger.LogWarning(e, "Scheduling pass failed; trying again");
                }
                await _wake.WaitAsync(o.Scheduler.Interval, stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            tracker.Changed -= _wake.Set;
            workers.Changed -= _wake.Set;
        }
    }

    private async Task PassAsync(CancellationToken cancellationToken)
    {
        var o = options.Value.Scheduler;
        // Stops first: a job being stopped whose lease is free now ends here rather than being handed out again.
        await stopper.ResendAsync(cancellationToken).ConfigureAwait(false);
        var now = time.GetUtcNow();
        var live = workers.Live();
        var byId = live.ToDictionary(w => w.WorkerId, StringComparer.Ordinal);
        var jobs = tracker.All();

        foreach (var (jobId, (workerId, at)) in _handedOut)
        {
            var job = tracker.Get(jobId);
            if (job is null || job.Status != JobStatus.Queued || !byId.ContainsKey(workerId))
            {
                _handedOut.TryRemove(jobId, out _);
            }
            else if (now - at > o.AssignTimeout && !byId[workerId].RunningJobs.Contains(jobId))
            {
                _handedOut.TryRemove(jobId, out _);
                // The stored record first: this view may only be behind (the worker's JobUpdated lost in a broker
                // outage), with the job running elsewhere or long finished. Then there is nothing to hand out and no
                // worker to blame.
                var stored = await JobTracker.ReadAsync(store, JobTracker.JobPath(jobId), cancellationToken).ConfigureAwait(false);
                if (stored is not null && stored.Status != JobStatus.Queued)
                {
                    logger.LogInformation("Job {JobId} is {Status} in storage (this control plane had missed its updates); not handing it out again", jobId, stored.Status);
                    tracker.Apply(stored);
                    continue;
                }
                var paused = workers.MarkSilent(workerId, jobId, pause =>
                    $"did not start job {jobId} within {o.AssignTimeout.TotalSeconds:0} s of being handed it (its job queue may be gone); no jobs for it until {(now + pause):HH:mm:ss} unless it shows it receives");
                if (paused)
                {
                    logger.LogWarning("Worker {WorkerId} did not start job {JobId} within {Seconds} s of being handed it; the job goes to another worker and the worker gets no jobs for a while",
                        workerId, jobId, o.AssignTimeout.TotalSeconds);
                    TrainingTelemetry.SilentHandOuts.Add(1);
                    tracker.SetWaitingReason(jobId, $"worker {workerId} did not start it within {o.AssignTimeout.TotalSeconds:0} s; handing it to another worker");
                }
            }
        }
        // Again, so workers marked silent just now are placed as such.
        live = workers.Live();
        byId = live.ToDictionary(w => w.WorkerId, StringComparer.Ordinal);

        foreach (var job in jobs.Where(j => j.Status == JobStatus.Running))
        {
            if (IsOrphaned(job, byId, now))
            {
                await TryTakeBackAsync(job, job.WorkerId is { } w && byId.ContainsKey(w), cancellationToken).ConfigureAwait(false);
            }
        }

        var queued = jobs.Where(j => j.Status == JobStatus.Queued && !_handedOut.ContainsKey(j.JobId) && !stopper.IsStopping(j.JobId)).ToList();
        var busy = live.ToDictionary(w => w.WorkerId, w => w.RunningJobs.Count, StringComparer.Ordinal);
        foreach (var (jobId, (workerId, _)) in _handedOut)
        {
            if (byId.TryGetValue(workerId, out var w) && !w.RunningJobs.Contains(jobId))
            {
                busy[workerId] = busy.GetValueOrDefault(workerId) + 1;
            }
        }
        var plan = Placement.Plan(queued, live, busy);
        foreach (var assignment in plan.Assignments)
        {
            // Bounded, and recorded as handed out only once the broker has it: a hand-out that never left is not the
            // worker's silence, and a publish caught by a broker crash must not stall the scheduler.
            // Sent to the worker's own queue: no other worker sees it (Placement gives jobs only to workers with a queue).
            await bus.SendAsync(byId[assignment.WorkerId].Queue!, new RunJob(store.Location, assignment.JobId, assignment.WorkerId), cancellationToken).ConfigureAwait(false);
            _handedOut[assignment.JobId] = (assignment.WorkerId, now);
            tracker.SetWaitingReason(assignment.JobId, $"handed to worker {assignment.WorkerId}");
            logger.LogInformation("Job {JobId} ({Resources}) handed to worker {WorkerId}", assignment.JobId, tracker.Get(assignment.JobId)?.Spec.Resources, assignment.WorkerId);
        }
        foreach (var (jobId, reason) in plan.Waiting)
        {
            tracker.SetWaitingReason(jobId, reason);
        }
        var waiting = jobs.Where(j => j.Status == JobStatus.Queued).ToList();
        QueueDepth = (waiting.Count(j => j.Spec.Resources.Gpus == 0), waiting.Count(j => j.Spec.Resources.Gpus > 0),
            jobs.Count(j => j.Status == JobStatus.Running), live.Count);
    }

    /// <summary>
    /// A running job looks orphaned when its worker has not announced itself within the timeout, or announces itself
    /// without the job for that long. (After the scheduler's own start, workers get that long to announce themselves.)
    /// </summary>
    private bool IsOrphaned(JobRecord job, Dictionary<string, WorkerInfo> live, DateTimeOffset now)
    {
        var timeout = options.Value.Scheduler.WorkerTimeout;
        if (job.WorkerId is null || !live.TryGetValue(job.WorkerId, out var worker))
        {
            return now - _started > timeout;
        }
        if (worker.RunningJobs.Contains(job.JobId))
        {
            _unlisted.Remove(job.JobId);
            return false;
        }
        if (!_unlisted.TryGetValue(job.JobId, out var since))
        {
            _unlisted[job.JobId] = now;
            return false;
        }
        return now - since > timeout;
    }

    /// <summary>
    /// Queues a running job again if (and only if) nobody holds its lease any more. <paramref name="workerAnnounces"/>:
    /// its worker still announces itself (so it lost the lease, e.g. storage was unreachable while it renewed, rather than
    /// being gone).
    /// </summary>
    private async Task TryTakeBackAsync(JobRecord job, bool workerAnnounces, CancellationToken cancellationToken)
    {
        var path = JobTracker.JobPath(job.JobId);
        var lease = await store.TryAcquireLeaseAsync(path, options.Value.LeaseDuration, cancellationToken).ConfigureAwait(false);
        if (lease is null)
        {
            return; // its worker (or another) still holds it
        }
        try
        {
            var stored = await JobTracker.ReadAsync(store, path, cancellationToken).ConfigureAwait(false) ?? job;
            if (stored.Status != JobStatus.Running)
            {
                tracker.Apply(stored);
                return;
            }
            var back = (stored with
            {
                Status = JobStatus.Queued,
                Revision = Math.Max(stored.Revision, tracker.Get(job.JobId)?.Revision ?? 0),
                WaitingReason = workerAnnounces
                    ? $"worker {stored.WorkerId} is alive but no longer runs it (it lost the job's lease or stopped on a storage or broker outage); the job resumes from its epoch {stored.EpochsCompleted} checkpoint"
                    : $"worker {stored.WorkerId} stopped announcing itself; the job resumes from its epoch {stored.EpochsCompleted} checkpoint",
            }).Next();
            await JobTracker.SaveAsync(store, back, lease, cancellationToken).ConfigureAwait(false);
            _unlisted.Remove(job.JobId);
            if (workerAnnounces)
            {
                logger.LogWarning("Job {JobId} was running on worker {WorkerId}, which is alive but no longer runs it (it lost the job's lease or stopped on a storage or broker outage); queued again to resume from epoch {Epoch}",
                    job.JobId, stored.WorkerId, stored.EpochsCompleted);
            }
            else
            {
                logger.LogWarning("Job {JobId} was running on worker {WorkerId}, which stopped announcing itself {Timeout} s ago and whose lease lapsed; queued again to resume from epoch {Epoch}",
                    job.JobId, stored.WorkerId, options.Value.Scheduler.WorkerTimeout.TotalSeconds, stored.EpochsCompleted);
            }
            TrainingTelemetry.TakenBack.Add(1);
            tracker.Apply(back);
        }
        finally
        {
            await store.ReleaseLeaseAsync(lease, CancellationToken.None).ConfigureAwait(false);
        }
    }

    public override void Dispose()
    {
        _wake.Dispose();
        base.Dispose();
    }
}
