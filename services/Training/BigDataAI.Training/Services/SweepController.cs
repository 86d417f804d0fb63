using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using BigDataAI.Datasets;
using BigDataAI.Models.Registry;
using BigDataAI.Storage;
using BigDataAI.Training.Model;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace BigDataAI.Training.Services;

/// <summary>
/// Sweeps (docs/sweeps.md): a search space and a strategy, run as ordinary jobs. <see cref="SubmitAsync"/> draws the
/// trials and queues each as a job (tagged sweep and trial), so the scheduler spreads them over the workers like any
/// job, and a lost worker's trial resumes from its checkpoint like any job. The loop watches the trials' epochs: with
/// ASHA, a trial that reaches a rung below the top 1/factor is stopped at once (its worker's slot goes to the next queued
/// trial). When every trial has ended, the best succeeded trial (by validation score) is reported and its model tagged.
/// The record is <c>sweeps/{id}/sweep.json</c>; after a restart the loop picks unfinished sweeps up again.
/// </summary>
public sealed class SweepController(
    JobSubmitter submitter,
    JobTracker tracker,
    JobStopper stopper,
    DatasetStore datasets,
    ModelRegistry registry,
    ModelIndex index,
    IObjectStore store,
    ILogger<SweepController> logger) : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);
    private readonly ConcurrentDictionary<string, SweepRecord> _sweeps = new(StringComparer.Ordinal);
    private readonly Wakeup _wake = new();

    /// <summary>Raised when a sweep's record changes.</summary>
    public event Action? Changed;

    public static string SweepPath(string sweepId) => $"sweeps/{sweepId}/sweep.json";

    /// <summary>
    /// Checks <paramref name="spec"/> (ArgumentException naming the field), draws its trials and queues their jobs.
    /// The same spec again returns the same sweep.
    /// </summary>
    public async Task<SweepRecord> SubmitAsync(SweepSpec spec, CancellationToken cancellationToken)
    {
        spec = Resolve(spec);
        if (!DatasetPaths.IsValidName(spec.Base.Dataset))
        {
            throw new ArgumentException($"Field 'base.dataset': '{spec.Base.Dataset}' is not a valid dataset name.");
        }
        // The version is part of what the sweep is: "the newest" is resolved now, so a later version is a new sweep.
        var manifest = await datasets.GetRequiredAsync(spec.Base.Dataset, spec.Base.Version, cancellationToken).ConfigureAwait(false);
        spec = spec with { Base = spec.Base with { Version = manifest.Version } };
        var id = IdOf(spec);
        if (await GetOrLoadAsync(id, cancellationToken).ConfigureAwait(false) is { } existing)
        {
            return existing;
        }
        var drawn = SearchSpace.Trials(spec.Space, spec.Strategy, spec.Trials, spec.Seed);
        var requests = drawn.Select(values => SearchSpace.Apply(spec.Base, values)).ToList();
        // Every trial's fields before any job is queued, so a bad value refuses the sweep instead of half of it.
        var budgets = new List<int>();
        for (var i = 0; i < requests.Count; i++)
        {
            try
            {
                budgets.Add(JobSubmitter.Resolve(requests[i]).HyperParameters.Epochs);
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException($"Trial {i} ({Describe(drawn[i])}): {e.Message}", e);
            }
        }
        if (spec.Strategy == "asha")
        {
            if (budgets.Any(b => b <= spec.MinEpochs))
            {
                throw new ArgumentException($"Field 'min_epochs': ASHA's first rung ({spec.MinEpochs} epochs) must be below every trial's epochs (the budget; the smallest is {budgets.Min()}), or no trial can be stopped early.");
            }
            var labeled = await datasets.GetLabeledAsync(manifest.Dataset, manifest.Version, cancellationToken).ConfigureAwait(false);
            if (labeled is not null && (!labeled.Splits.TryGetValue(Splits.Validation, out var validation) || validation.Rows == 0))
            {
                throw new ArgumentException($"Field 'strategy': ASHA compares trials on the validation score, and '{labeled.Dataset}' v{labeled.Version} has no validation rows; use grid or random.");
            }
        }
        var trials = new List<TrialRecord>();
        for (var i = 0; i < requests.Count; i++)
        {
            var tags = new Dictionary<string, string>(spec.Base.Tags ?? JobRecord.NoTags, StringComparer.Ordinal) { ["sweep"] = id, ["trial"] = i.ToString(CultureInfo.InvariantCulture) };
            try
            {
                var job = await submitter.SubmitAsync(requests[i] with { Tags = tags }, cancellationToken).ConfigureAwait(false);
                trials.Add(new TrialRecord(i, drawn[i], job.JobId));
            }
            catch (Exception e) when (e is ArgumentException or DatasetNotFoundException or LabelsNotReadyException && i > 0)
            {
                // Later trials can only fail on what the dataset says of their values (e.g. class weights): that trial
                // fails, the sweep goes on.
                trials.Add(new TrialRecord(i, drawn[i], null) { Error = e.Message });
            }
        }
        var now = DateTimeOffset.UtcNow;
        var record = new SweepRecord(id, spec, trials, SweepStatus.Running, now, now) { Revision = 1 };
        await SaveAsync(record, cancellationToken).ConfigureAwait(false);
        _sweeps[id] = record;
        logger.LogInformation("Sweep {SweepId}: {Strategy} over {Parameters}, {Trials} trials queued", id, spec.Strategy, string.Join(", ", spec.Space.Select(p => p.Name)), trials.Count);
        Changed?.Invoke();
        _wake.Set();
        return record;
    }

    public SweepRecord? Get(string sweepId) => _sweeps.TryGetValue(sweepId, out var record) ? record : null;

    public async Task<SweepRecord?> GetOrLoadAsync(string sweepId, CancellationToken cancellationToken)
    {
        if (Get(sweepId) is { } known)
        {
            return known;
        }
        var stored = await ReadAsync(SweepPath(sweepId), cancellationToken).ConfigureAwait(false);
        return stored is null ? null : _sweeps.GetOrAdd(sweepId, stored);
    }

    /// <summary>The sweep now, then after every change of it or of its trials' jobs, until it ends.</summary>
    public async IAsyncEnumerable<SweepRecord> WatchAsync(string sweepId, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var wake = new Wakeup();
        tracker.Changed += wake.Set;
        Changed += wake.Set;
        try
        {
            while (true)
            {
                var record = Get(sweepId) ?? throw new InvalidOperationException($"Sweep {sweepId} is not loaded.");
                yield return record;
                if (record.Status != SweepStatus.Running)
                {
                    yield break;
                }
                await wake.WaitAsync(Interval, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            tracker.Changed -= wake.Set;
            Changed -= wake.Set;
        }
    }

    /// <summary>Loads every stored sweep; false (to be tried again) when storage did not answer.</summary>
    private async Task<bool> LoadAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var path in store.ListAsync("sweeps/", stoppingToken).ConfigureAwait(false))
            {
                if (path.EndsWith("/sweep.json", StringComparison.Ordinal) && await TryReadAsync(path, stoppingToken).ConfigureAwait(false) is { } record)
                {
                    _sweeps.TryAdd(record.SweepId, record);
                }
            }
            logger.LogInformation("Sweeps loaded: {Running} running", _sweeps.Values.Count(s => s.Status == SweepStatus.Running));
            return true;
        }
        catch (Exception e) when (!stoppingToken.IsCancellationRequested)
        {
            logger.LogWarning(e, "Could not load the stored sweeps; trying again");
            return false;
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var loaded = false;
        tracker.Changed += _wake.Set;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                // Until every stored sweep is loaded, running ones would neither stop trials nor finish.
                loaded = loaded || await LoadAsync(stoppingToken).ConfigureAwait(false);
                foreach (var sweep in _sweeps.Values.Where(s => s.Status == SweepStatus.Running).ToList())
                {
                    try
                    {
                        await StepAsync(sweep, stoppingToken).ConfigureAwait(false);
                    }
                    catch (Exception e) when (!stoppingToken.IsCancellationRequested)
                    {
                        // Storage or the broker is away for a moment: the next pass tries again.
                        logger.LogWarning(e, "Sweep {SweepId}: pass failed; trying again", sweep.SweepId);
                    }
                }
                await _wake.WaitAsync(Interval, stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            tracker.Changed -= _wake.Set;
        }
    }

    /// <summary>One look at a running sweep: ASHA's rung decisions, then its end once every trial has ended.</summary>
    private async Task StepAsync(SweepRecord sweep, CancellationToken cancellationToken)
    {
        var spec = sweep.Spec;
        var trials = sweep.Trials.ToList();
        var changed = false;
        // From storage when this control plane's view has not loaded a trial's job yet (just after a restart): a job
        // not known here must never count as ended.
        foreach (var trial in trials.Where(t => t.JobId is not null && tracker.Get(t.JobId) is null))
        {
            if (await tracker.GetOrLoadAsync(trial.JobId!, cancellationToken).ConfigureAwait(false) is null)
            {
                logger.LogWarning("Sweep {SweepId}: trial {Trial}'s job {JobId} has no record in storage", sweep.SweepId, trial.Index, trial.JobId);
            }
        }
        if (spec.Strategy == "asha")
        {
            for (var i = 0; i < trials.Count; i++)
            {
                var trial = trials[i];
                if (trial.JobId is null || trial.StopReason is not null || tracker.Get(trial.JobId) is not { } job)
                {
                    continue;
                }
                foreach (var rung in Asha.Rungs(spec.MinEpochs, spec.ReductionFactor, job.Spec.HyperParameters.Epochs))
                {
                    if (trial.RungScores.ContainsKey(rung) || job.History.Count < rung)
                    {
                        continue;
                    }
                    var score = job.History.Take(rung).Max(e => e.ValidationAccuracy);
                    trial = trial with { RungScores = new Dictionary<int, double>(trial.RungScores) { [rung] = score } };
                    var recorded = trials.Where((t, j) => j != i && t.RungScores.ContainsKey(rung)).Select(t => t.RungScores[rung]).Append(score).ToList();
                    var (goesOn, cutoff) = Asha.Decide(recorded, score, spec.ReductionFactor);
                    if (goesOn)
                    {
                        trial = trial with { RungsPassed = [.. trial.RungsPassed, rung] };
                    }
                    // Only a job this sweep queued: one with the same spec submitted before (by a user or another sweep)
                    // is shared, and is not this sweep's to stop.
                    else if (!job.IsFinished && job.Tags.TryGetValue("sweep", out var owner) && owner == sweep.SweepId)
                    {
                        var reason = string.Create(CultureInfo.InvariantCulture,
                            $"ASHA: validation score {score:F4} after epoch {rung} is not in the top 1/{spec.ReductionFactor} of the {recorded.Count} trials that reached it (cutoff {cutoff:F4})");
                        trial = trial with { StopReason = reason };
                        trials[i] = trial;
                        logger.LogInformation("Sweep {SweepId}: stopping trial {Trial} (job {JobId}): {Reason}", sweep.SweepId, trial.Index, trial.JobId, reason);
                        await stopper.StopAsync(trial.JobId, reason, cancellationToken).ConfigureAwait(false);
                        changed = true;
                        break;
                    }
                    trials[i] = trial;
                    changed = true;
                }
            }
        }
        var jobs = trials.Select(t => t.JobId is null ? null : tracker.Get(t.JobId)).ToList();
        var next = sweep with { Trials = trials };
        // A trial without a job (its submission failed, or its record is gone) has ended too.
        if (jobs.All(j => j is null || j.IsFinished))
        {
            next = await FinishAsync(next, jobs, cancellationToken).ConfigureAwait(false);
            changed = true;
        }
        if (changed)
        {
            next = next with { Revision = sweep.Revision + 1, UpdatedAt = DateTimeOffset.UtcNow };
            await SaveAsync(next, cancellationToken).ConfigureAwait(false);
            _sweeps[sweep.SweepId] = next;
            Changed?.Invoke();
        }
    }

    private async Task<SweepRecord> FinishAsync(SweepRecord sweep, IReadOnlyList<JobRecord?> jobs, CancellationToken cancellationToken)
    {
        var succeeded = sweep.Trials.Zip(jobs).Where(p => p.Second is { Status: JobStatus.Succeeded, ModelId: not null }).ToList();
        if (succeeded.Count == 0)
        {
            var first = sweep.Trials.Zip(jobs).Select(p => p.First.Error ?? p.Second?.Error).FirstOrDefault(e => e is not null);
            logger.LogWarning("Sweep {SweepId} failed: no trial succeeded", sweep.SweepId);
            return sweep with { Status = SweepStatus.Failed, Error = $"No trial succeeded ({sweep.Trials.Count} trials){(first is null ? "" : $"; the first error: {first}")}" };
        }
        var best = succeeded.OrderByDescending(p => Score(p.Second!)).ThenBy(p => p.First.Index).First();
        var modelId = best.Second!.ModelId!;
        if (await registry.GetAsync(modelId, cancellationToken).ConfigureAwait(false) is { } model)
        {
            var tags = new Dictionary<string, string>(await registry.GetTagsAsync(modelId, cancellationToken).ConfigureAwait(false), StringComparer.Ordinal)
            {
                ["sweep"] = sweep.SweepId,
                ["sweep-best"] = "true",
            };
            await index.SetTagsAsync(model, tags, cancellationToken).ConfigureAwait(false);
        }
        logger.LogInformation("Sweep {SweepId} done: best trial {Trial} ({Parameters}), validation {Validation:F4}, test {Test:F4}, model {ModelId}",
            sweep.SweepId, best.First.Index, Describe(best.First.Parameters), Score(best.Second!), best.Second!.TestMetrics?.Accuracy, modelId);
        return sweep with { Status = SweepStatus.Succeeded, BestTrial = best.First.Index, BestModelId = modelId };
    }

    /// <summary>A trial's score: its best validation score (its registered epoch), else its test score without validation rows.</summary>
    public static double Score(JobRecord job) =>
        job.History.Count > 0 && job.History.Any(e => e.ValidationAccuracy != 0)
            ? job.History.Max(e => e.ValidationAccuracy)
            : job.TestMetrics?.Accuracy ?? 0;

    public static string Describe(IReadOnlyDictionary<string, string> values) =>
        string.Join(" ", values.OrderBy(v => v.Key, StringComparer.Ordinal).Select(v => $"{v.Key}={v.Value}"));

    private static SweepSpec Resolve(SweepSpec spec)
    {
        var strategy = (spec.Strategy ?? "").Trim().ToLowerInvariant();
        if (!SearchSpace.Strategies.Contains(strategy))
        {
            throw new ArgumentException($"Field 'strategy': '{spec.Strategy}' is not a strategy; use one of {string.Join(", ", SearchSpace.Strategies)}.");
        }
        SearchSpace.Check(spec.Space);
        if (spec.Trials < 0 || spec.Trials > SearchSpace.MaxTrials)
        {
            throw new ArgumentException($"Field 'trials': {spec.Trials} is out of range; use 0 (8) to {SearchSpace.MaxTrials}.");
        }
        if (strategy == "grid" && spec.Trials != 0)
        {
            throw new ArgumentException("Field 'trials': a grid runs every combination; leave trials at 0.");
        }
        if (strategy != "asha" && (spec.MinEpochs != 0 || spec.ReductionFactor != 0))
        {
            throw new ArgumentException("Fields 'min_epochs' and 'reduction_factor' are ASHA's; leave them at 0 or use strategy asha.");
        }
        if (spec.MinEpochs < 0)
        {
            throw new ArgumentException($"Field 'min_epochs': {spec.MinEpochs} is an ASHA budget below one epoch; a trial is judged after whole epochs (0 means 1).");
        }
        if (spec.ReductionFactor is < 0 or 1 || spec.ReductionFactor > 100)
        {
            throw new ArgumentException($"Field 'reduction_factor': {spec.ReductionFactor} is out of range; use 0 (3) or 2 to 100.");
        }
        if (spec.Base.CrossValidation is not null)
        {
            throw new ArgumentException("Field 'base.cross_validation': a sweep's trials register models; k-fold jobs do not.");
        }
        var tags = spec.Base.Tags is null ? null : new SortedDictionary<string, string>(spec.Base.Tags.ToDictionary(), StringComparer.Ordinal);
        return spec with
        {
            Base = spec.Base with { Tags = tags is null || tags.Count == 0 ? null : new Dictionary<string, string>(tags, StringComparer.Ordinal) },
            Strategy = strategy,
            Trials = strategy == "grid" ? 0 : spec.Trials == 0 ? 8 : spec.Trials,
            Seed = spec.Seed == 0 ? 1 : spec.Seed,
            MinEpochs = strategy == "asha" ? Math.Max(1, spec.MinEpochs) : 0,
            ReductionFactor = strategy == "asha" ? (spec.ReductionFactor == 0 ? 3 : spec.ReductionFactor) : 0,
        };
    }

    private static string IdOf(SweepSpec spec)
    {
        var text = JsonSerializer.Serialize(spec, JobTracker.Json);
        return $"sweep-{spec.Base.Dataset}-{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..10]}";
    }

    private async Task SaveAsync(SweepRecord record, CancellationToken cancellationToken)
    {
        using var content = new MemoryStream(JsonSerializer.SerializeToUtf8Bytes(record, JobTracker.Json), writable: false);
        await store.PutAsync(SweepPath(record.SweepId), content, cancellationToken).ConfigureAwait(false);
    }

    private async Task<SweepRecord?> ReadAsync(string path, CancellationToken cancellationToken)
    {
        await using var stream = await store.OpenReadAsync(path, cancellationToken).ConfigureAwait(false);
        return stream is null ? null : await JsonSerializer.DeserializeAsync<SweepRecord>(stream, JobTracker.Json, cancellationToken).ConfigureAwait(false);
    }

    private async Task<SweepRecord?> TryReadAsync(string path, CancellationToken cancellationToken)
    {
        try
        {
            return await ReadAsync(path, cancellationToken).ConfigureAwait(false);
        }
        catch (JsonException e)
        {
            logger.LogError(e, "Sweep record {Path} is not valid JSON; it is left in storage and ignored", path);
            return null;
        }
        catch (InvalidDataException e)
        {
            logger.LogError(e, "Sweep record {Path} cannot be read; it is left in storage and ignored", path);
            return null;
        }
    }

    public override void Dispose()
    {
        _wake.Dispose();
        base.Dispose();
    }
}
