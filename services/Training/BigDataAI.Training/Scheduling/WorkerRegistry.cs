using System.Collections.Concurrent;
using BigDataAI.Training.Messages;
using BigDataAI.Training.Services;
using Microsoft.Extensions.Options;

namespace BigDataAI.Training.Scheduling;

/// <summary>
/// The workers the control plane has heard from recently: what each has and runs, and whether it takes jobs (it says
/// its queue delivers, and it has not let a hand-out go unstarted lately).
/// </summary>
public sealed class WorkerRegistry(IOptions<TrainingOptions> options, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, WorkerInfo> _workers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (string Reason, DateTimeOffset Until)> _silent = new(StringComparer.Ordinal);

    /// <summary>Raised when a worker appears, leaves, or its running jobs change.</summary>
    public event Action? Changed;

    public void Update(WorkerAnnounced announced)
    {
        var info = new WorkerInfo(announced.WorkerId, announced.Gpus, announced.MemoryMiB, announced.Slots, announced.Device,
            [.. announced.RunningJobs.Order(StringComparer.Ordinal)], time.GetUtcNow(), announced.NotReceiving);
        var before = _workers.TryGetValue(info.WorkerId, out var old) ? old : null;
        _workers[info.WorkerId] = info;
        if (before is not null && info.RunningJobs.Except(before.RunningJobs, StringComparer.Ordinal).Any())
        {
            // It started a job: whatever it was marked for, it receives hand-outs now.
            _silent.TryRemove(info.WorkerId, out _);
        }
        if (before is null || !before.RunningJobs.SequenceEqual(info.RunningJobs) || before.Slots != info.Slots || before.NotTakingJobs != info.NotTakingJobs)
        {
            Changed?.Invoke();
        }
    }

    /// <summary>
    /// A job handed to <paramref name="workerId"/> was not started in time: it gets no job for
    /// <c>Training:Scheduler:SilentWorkerPause</c>, or until it is seen starting one.
    /// </summary>
    public void MarkSilent(string workerId, string reason)
    {
        _silent[workerId] = (reason, time.GetUtcNow() + options.Value.Scheduler.SilentWorkerPause);
        Changed?.Invoke();
    }

    public void Remove(string workerId)
    {
        _silent.TryRemove(workerId, out _);
        if (_workers.TryRemove(workerId, out _))
        {
            Changed?.Invoke();
        }
    }

    /// <summary>
    /// Workers heard from within <c>Training:Scheduler:WorkerTimeout</c>, by id, each with why it does not take jobs
    /// (if so); the others are dropped.
    /// </summary>
    public IReadOnlyList<WorkerInfo> Live()
    {
        var now = time.GetUtcNow();
        var cutoff = now - options.Value.Scheduler.WorkerTimeout;
        foreach (var stale in _workers.Values.Where(w => w.LastSeen < cutoff))
        {
            _workers.TryRemove(new KeyValuePair<string, WorkerInfo>(stale.WorkerId, stale));
        }
        foreach (var (id, mark) in _silent.Where(m => m.Value.Until <= now))
        {
            _silent.TryRemove(new KeyValuePair<string, (string, DateTimeOffset)>(id, mark));
        }
        return [.. _workers.Values.Where(w => w.LastSeen >= cutoff)
            .Select(w => w.NotTakingJobs is null && _silent.TryGetValue(w.WorkerId, out var mark) ? w with { NotTakingJobs = mark.Reason } : w)
            .OrderBy(w => w.WorkerId, StringComparer.Ordinal)];
    }
}
