using BigDataAI.Training.Model;

namespace BigDataAI.Training.Scheduling;

/// <summary>
/// A connected worker as the scheduler knows it from its latest announcement. <paramref name="NotTakingJobs"/> is null
/// when it may be given jobs, else why not (it says its queue delivers nothing, or it did not start a job handed to it).
/// <paramref name="Queue"/> is where its jobs are sent.
/// </summary>
public sealed record WorkerInfo(string WorkerId, int Gpus, int MemoryMiB, int Slots, string Device, IReadOnlyList<string> RunningJobs, DateTimeOffset LastSeen, string? NotTakingJobs = null, Uri? Queue = null)
{
    public override string ToString() => $"{WorkerId} ({Gpus} GPU, {MemoryMiB:N0} MiB, {Slots} slot{(Slots == 1 ? "" : "s")})";
}

/// <summary>A job handed to a worker.</summary>
public sealed record Assignment(string JobId, string WorkerId);

/// <summary>The outcome of one scheduling pass: jobs to hand out, and why the others wait.</summary>
public sealed record PlacementPlan(IReadOnlyList<Assignment> Assignments, IReadOnlyDictionary<string, string> Waiting);

/// <summary>
/// Where queued jobs go. Pure: the scheduler gives it the queued jobs (oldest first), the connected workers and how many
/// jobs each already has; it returns assignments. A job goes only to a worker with at least the GPUs and memory it
/// asks for and a free slot; among those, the smallest that fits (fewest GPUs, then least memory), so CPU jobs keep
/// off GPU workers while CPU workers are free and big workers stay free for big jobs. A job that cannot be placed now
/// does not hold back later jobs that can (backfill). A worker that is not taking jobs gets none, and a job that waits
/// because of it says so.
/// </summary>
public static class Placement
{
    public static bool Fits(JobResources need, WorkerInfo worker) =>
        worker.Gpus >= need.Gpus && (need.MemoryMiB == 0 || worker.MemoryMiB >= need.MemoryMiB);

    /// <param name="queued">Jobs waiting for a worker, oldest first.</param>
    /// <param name="workers">Connected workers.</param>
    /// <param name="busy">Jobs each worker has now (running or handed to it), by worker id.</param>
    public static PlacementPlan Plan(IReadOnlyList<JobRecord> queued, IReadOnlyList<WorkerInfo> workers, IReadOnlyDictionary<string, int> busy)
    {
        var free = workers.ToDictionary(w => w.WorkerId, w => w.Slots - busy.GetValueOrDefault(w.WorkerId), StringComparer.Ordinal);
        var ordered = workers.OrderBy(w => w.Gpus).ThenBy(w => w.MemoryMiB).ThenBy(w => w.WorkerId, StringComparer.Ordinal).ToList();
        var assignments = new List<Assignment>();
        var waiting = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var job in queued)
        {
            var need = job.Spec.Resources;
            var fitting = ordered.Where(w => Fits(need, w)).ToList();
            var chosen = fitting.FirstOrDefault(w => free[w.WorkerId] > 0 && w.NotTakingJobs is null);
            if (chosen is not null)
            {
                free[chosen.WorkerId]--;
                assignments.Add(new Assignment(job.JobId, chosen.WorkerId));
                continue;
            }
            waiting[job.JobId] = workers.Count == 0
                ? "no training worker is connected"
                : fitting.Count == 0
                    ? $"no connected worker has {need} (connected: {string.Join(", ", ordered)})"
                    : fitting.Any(w => w.NotTakingJobs is not null)
                        ? $"no worker with {need} can take it now ({string.Join("; ", fitting.Select(w => w.NotTakingJobs is null ? $"{w.WorkerId} is busy" : $"{w.WorkerId}: {w.NotTakingJobs}"))})"
                        : $"every worker with {need} is busy ({string.Join(", ", fitting.Select(w => w.WorkerId))})";
        }
        return new PlacementPlan(assignments, waiting);
    }
}
