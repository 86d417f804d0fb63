using System.Collections.Concurrent;
using BigDataAI.Training.Messages;
using BigDataAI.Training.Services;
using Microsoft.Extensions.Options;

namespace BigDataAI.Training.Scheduling;

/// <summary>The workers the control plane has heard from recently: what each has and runs.</summary>
public sealed class WorkerRegistry(IOptions<TrainingOptions> options, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, WorkerInfo> _workers = new(StringComparer.Ordinal);

    /// <summary>Raised when a worker appears, leaves, or its running jobs change.</summary>
    public event Action? Changed;

    public void Update(WorkerAnnounced announced)
    {
        var info = new WorkerInfo(announced.WorkerId, announced.Gpus, announced.MemoryMiB, announced.Slots, announced.Device,
            [.. announced.RunningJobs.Order(StringComparer.Ordinal)], time.GetUtcNow());
        var before = _workers.TryGetValue(info.WorkerId, out var old) ? old : null;
        _workers[info.WorkerId] = info;
        if (before is null || !before.RunningJobs.SequenceEqual(info.RunningJobs) || before.Slots != info.Slots)
        {
            Changed?.Invoke();
        }
    }

    public void Remove(string workerId)
    {
        if (_workers.TryRemove(workerId, out _))
        {
            Changed?.Invoke();
        }
    }

    /// <summary>Workers heard from within <c>Training:Scheduler:WorkerTimeout</c>, by id; the others are dropped.</summary>
    public IReadOnlyList<WorkerInfo> Live()
    {
        var cutoff = time.GetUtcNow() - options.Value.Scheduler.WorkerTimeout;
        foreach (var stale in _workers.Values.Where(w => w.LastSeen < cutoff))
        {
            _workers.TryRemove(new KeyValuePair<string, WorkerInfo>(stale.WorkerId, stale));
        }
        return [.. _workers.Values.Where(w => w.LastSeen >= cutoff).OrderBy(w => w.WorkerId, StringComparer.Ordinal)];
    }
}
