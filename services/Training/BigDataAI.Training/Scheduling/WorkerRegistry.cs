using BigDataAI.Training.Messages;
using BigDataAI.Training.Services;
using Microsoft.Extensions.Options;

namespace BigDataAI.Training.Scheduling;

/// <summary>
/// The workers the control plane has heard from recently: what each has and runs, and whether it takes jobs (it says
/// its queue delivers, and it has not let a hand-out go unstarted lately).
/// </summary>
/// <remarks>
/// A worker that lets a hand-out go unstarted is paused: <c>Training:Scheduler:SilentWorkerPause</c> the first time,
/// twice as long each further time in a row (at most 10 minutes). A first pause ends early when the worker shows that
/// its queue delivers (one of its own probes came back after the pause began): one hand-out lost in a broker
/// reconnect costs seconds. Seen starting a job, a worker is forgiven entirely.
/// </remarks>
public sealed class WorkerRegistry(IOptions<TrainingOptions> options, TimeProvider time)
{
    private static readonly TimeSpan LongestPause = TimeSpan.FromMinutes(10);

    private readonly Lock _lock = new();
    private readonly Dictionary<string, (WorkerInfo Info, DateTimeOffset SentAt, DateTimeOffset? LastHeard)> _workers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Silence> _silent = new(StringComparer.Ordinal);

    private sealed record Silence(string Reason, DateTimeOffset Since, DateTimeOffset Until, int Strikes);

    /// <summary>Raised when a worker appears, leaves, or its running jobs change.</summary>
    public event Action? Changed;

    public void Update(WorkerAnnounced announced)
    {
        bool changed;
        lock (_lock)
        {
            var before = _workers.TryGetValue(announced.WorkerId, out var old) ? old : default;
            if (before.Info is not null && announced.SentAt < before.SentAt)
            {
                return; // an older announcement overtaken by a newer one
            }
            var queue = Uri.TryCreate(announced.Queue, UriKind.Absolute, out var address) ? address : null;
            var info = new WorkerInfo(announced.WorkerId, announced.Gpus, announced.MemoryMiB, announced.Slots, announced.Device,
                [.. announced.RunningJobs.Order(StringComparer.Ordinal)], time.GetUtcNow(),
                announced.NotReceiving ?? (queue is null ? "it has not announced a job queue yet (its bus is still starting)" : null), queue);
            _workers[info.WorkerId] = (info, announced.SentAt, announced.LastHeard);
            if (_silent.TryGetValue(info.WorkerId, out var silence))
            {
                var started = before.Info is not null && info.RunningJobs.Except(before.Info.RunningJobs, StringComparer.Ordinal).Any();
                var heard = silence.Strikes == 1 && announced.LastHeard > silence.Since;
                if (started || heard)
                {
                    // It receives hand-outs: it started one, or (after a single miss) its own probe came back.
                    _silent.Remove(info.WorkerId);
                }
            }
            changed = before.Info is null || !before.Info.RunningJobs.SequenceEqual(info.RunningJobs) || before.Info.Slots != info.Slots
                || before.Info.NotTakingJobs != info.NotTakingJobs;
        }
        if (changed)
        {
            Changed?.Invoke();
        }
    }

    /// <summary>
    /// Job <paramref name="jobId"/>, handed to <paramref name="workerId"/>, was not started in time: the worker is paused
    /// (see remarks), unless its latest announcement shows it running the job after all. Returns whether it was paused.
    /// </summary>
    public bool MarkSilent(string workerId, string jobId, Func<TimeSpan, string> reason)
    {
        lock (_lock)
        {
            if (_workers.TryGetValue(workerId, out var worker) && worker.Info.RunningJobs.Contains(jobId, StringComparer.Ordinal))
            {
                return false;
            }
            var now = time.GetUtcNow();
            var strikes = _silent.TryGetValue(workerId, out var earlier) ? earlier.Strikes + 1 : 1;
            var pause = TimeSpan.FromTicks(Math.Min(LongestPause.Ticks, options.Value.Scheduler.SilentWorkerPause.Ticks << Math.Min(strikes - 1, 10)));
            _silent[workerId] = new Silence(reason(pause), now, now + pause, strikes);
        }
        Changed?.Invoke();
        return true;
    }

    public void Remove(string workerId)
    {
        bool removed;
        lock (_lock)
        {
            _silent.Remove(workerId);
            removed = _workers.Remove(workerId);
        }
        if (removed)
        {
            Changed?.Invoke();
        }
    }

    /// <summary>
    /// Workers heard from within <c>Training:Scheduler:WorkerTimeout</c>, by id, each with why it does not take jobs
    /// (if so); the others are dropped. A pause that has run out keeps its count for one more pause length, so a worker
    /// that misses again soon after is paused longer.
    /// </summary>
    public IReadOnlyList<WorkerInfo> Live()
    {
        lock (_lock)
        {
            var now = time.GetUtcNow();
            var cutoff = now - options.Value.Scheduler.WorkerTimeout;
            foreach (var stale in _workers.Where(w => w.Value.Info.LastSeen < cutoff).Select(w => w.Key).ToList())
            {
                _workers.Remove(stale);
            }
            foreach (var (id, silence) in _silent.Where(s => now >= s.Value.Until + (s.Value.Until - s.Value.Since)).ToList())
            {
                _silent.Remove(id);
            }
            return [.. _workers.Values
                .Select(w => w.Info.NotTakingJobs is null && _silent.TryGetValue(w.Info.WorkerId, out var silence) && now < silence.Until
                    ? w.Info with { NotTakingJobs = silence.Reason }
                    : w.Info)
                .OrderBy(w => w.WorkerId, StringComparer.Ordinal)];
        }
    }
}
