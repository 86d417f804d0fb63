using System.Diagnostics;
using System.Globalization;
using BigDataAI.Protos.Training.V1;

namespace BigDataAI.Cli;

/// <summary>
/// Hyper-parameter trials in parallel: the same request with N seeds, submitted at once, followed to the end. The
/// scheduler spreads them over the connected workers; more workers, more trials at once.
/// </summary>
public static class Trials
{
    /// <summary>
    /// Submits the trials through <paramref name="flows"/> (which waits for labeling, and prints each job), follows them
    /// all with its progress view, and prints one summary line: <c>trials: N in S s on W worker(s) [...]: X epochs/s, Y trials/min</c>.
    /// </summary>
    public static async Task<int> RunAsync(Flows flows, TrainingService.TrainingServiceClient client, StartTrainingRequest template, int trials, int waitForWorkers, TextWriter output, CancellationToken ct)
    {
        if (trials < 1)
        {
            throw new ArgumentException($"--trials must be at least 1, not {trials}.");
        }
        if (waitForWorkers > 0)
        {
            await WaitForWorkersAsync(client, waitForWorkers, ct);
        }
        var seed = template.HyperParameters.Seed == 0 ? 1 : template.HyperParameters.Seed;
        var clock = Stopwatch.StartNew();
        var jobs = new List<string>();
        for (var i = 0; i < trials; i++)
        {
            var request = template.Clone();
            request.HyperParameters.Seed = seed + i;
            jobs.Add((await flows.StartTrainingAsync(request, TimeSpan.FromMinutes(2), ct)).JobId);
        }
        var finished = await flows.WatchAsync(jobs, charts: null, ct);
        var wall = clock.Elapsed.TotalSeconds;
        foreach (var j in finished)
        {
            var accuracy = j.TestMetrics is null ? "-" : j.TestMetrics.Accuracy.ToString("P2", CultureInfo.InvariantCulture);
            output.WriteLine($"  {j.JobId}: {j.State} on {j.WorkerId}, seed {j.HyperParameters.Seed}, test accuracy {accuracy}{(j.Error.Length > 0 ? ", " + j.Error : "")}");
        }
        var epochs = finished.Sum(j => j.EpochsCompleted);
        var workers = finished.Select(j => j.WorkerId).Distinct().Order(StringComparer.Ordinal).ToList();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"trials: {trials} in {wall:F1} s on {workers.Count} worker(s) [{string.Join(", ", workers)}]: {epochs / wall:F3} epochs/s, {trials * 60 / wall:F2} trials/min"));
        return finished.All(j => j.State == JobState.Succeeded) ? 0 : 1;
    }

    public static async Task WaitForWorkersAsync(TrainingService.TrainingServiceClient client, int count, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var workers = await client.ListWorkersAsync(new ListWorkersRequest(), cancellationToken: ct);
            if (workers.Workers.Count >= count)
            {
                return;
            }
            if (clock.Elapsed > TimeSpan.FromMinutes(2))
            {
                throw new TimeoutException($"Only {workers.Workers.Count} of {count} training workers connected within 2 minutes.");
            }
            await Task.Delay(250, ct);
        }
    }

    public static async Task PrintWorkersAndQueueAsync(TrainingService.TrainingServiceClient client, TextWriter output, CancellationToken ct)
    {
        var workers = await client.ListWorkersAsync(new ListWorkersRequest(), cancellationToken: ct);
        output.WriteLine(workers.Workers.Count == 0 ? "No training worker is connected." : $"{workers.Workers.Count} training worker(s):");
        foreach (var w in workers.Workers)
        {
            output.WriteLine($"  {w.WorkerId}: {w.Gpus} GPU, {w.MemoryMib:N0} MiB, {w.Slots} slot(s), running {(w.RunningJobs.Count == 0 ? "nothing" : string.Join(", ", w.RunningJobs))}{(w.NotTakingJobs.Length == 0 ? "" : $"; takes no jobs: {w.NotTakingJobs}")}");
        }
        var jobs = await client.ListJobsAsync(new ListJobsRequest(), cancellationToken: ct);
        foreach (var j in jobs.Jobs.Where(j => j.State is JobState.Queued or JobState.Running))
        {
            output.WriteLine(j.State == JobState.Queued
                ? $"  queued  {j.JobId}: {j.WaitingReason}"
                : $"  running {j.JobId} on {j.WorkerId}: epoch {j.Epoch}/{j.Epochs}, batch {j.Batch}/{j.Batches}");
        }
    }
}
