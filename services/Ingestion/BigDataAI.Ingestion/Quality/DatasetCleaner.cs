using System.Diagnostics;
using BigDataAI.Contracts.Ingestion;
using System.Globalization;
using BigDataAI.Datasets;
using BigDataAI.Datasets.Expectations;
using BigDataAI.Hosting;
using BigDataAI.Ingestion.Services;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Proto = BigDataAI.Protos.Quality.V1;

namespace BigDataAI.Ingestion.Quality;

/// <summary>What a cleaning made: the version, its parent, the recipe and each step's counts; whether it existed.</summary>
public sealed record CleaningResult(DatasetManifest Version, DatasetManifest Parent, string Recipe, IReadOnlyList<LineageStepCounts> Steps, bool Existing);

/// <summary>
/// Runs a recipe of cleaning steps over one version and commits the result as a new version derived from it (lineage
/// step <c>clean</c>: the parent, the recipe, the counts per step), then announces it with DatasetIngested. Streams:
/// each pass reads the parent shard by shard (<see cref="DatasetStore.StreamAsync"/>) and the result is written shard by
/// shard (<see cref="DatasetStore.BeginVersion"/>); a step that needs statistics of its input gets a pass of its own
/// first. Idempotent: the version of the same parent and recipe is found by its lineage and returned. The cleaned rows
/// are checked against the dataset's expectations (SetExpectations) as they are written, uniqueness across the whole
/// version: a version that breaks one is refused whole (FAILED_PRECONDITION) and its shards are deleted.
/// </summary>
internal sealed class DatasetCleaner(DatasetStore datasets, ExpectationStore expectationStore, BoundedPublisher publisher, IOptions<IngestionOptions> options, ILogger<DatasetCleaner> logger)
{
    public const string Step = "clean";

    public async Task<CleaningResult> CleanAsync(string dataset, int version, IReadOnlyList<Proto.CleaningStep> steps, CancellationToken cancellationToken)
    {
        using var activity = IngestionTelemetry.Source.StartActivity("clean");
        activity?.SetTag("bigdataai.dataset", dataset);
        QualityArguments.Dataset("dataset", dataset);
        QualityArguments.Version("version", version);
        if (steps.Count == 0)
        {
            throw new QualityRequestException("steps", "give at least one step.");
        }
        var parent = await datasets.GetRequiredAsync(dataset, version, cancellationToken).ConfigureAwait(false);
        activity?.SetTag("bigdataai.dataset_version", parent.Version);
        var schema = parent.EffectiveSchema;
        var (recipe, runners) = CleaningRecipe.Resolve(steps, schema, parent.Version);
        var json = recipe.ToJson();

        var existing = (await datasets.ListAsync(parent.Dataset, cancellationToken).ConfigureAwait(false))
            .FirstOrDefault(m => m.Lineage is { Step: Step } l && l.ParentVersion == parent.Version && l.Recipe == json);
        if (existing is not null)
        {
            logger.LogInformation("{Dataset} v{Version} is this cleaning of v{Parent} already; announcing it again", existing.Dataset, existing.Version, parent.Version);
            activity?.SetTag("bigdataai.cleaned_version", existing.Version);
            await AnnounceAsync(existing, cancellationToken).ConfigureAwait(false);
            return new CleaningResult(existing, parent, json, existing.Lineage!.StepCounts ?? [], Existing: true);
        }
        var checker = await CheckerAsync(parent, schema, cancellationToken).ConfigureAwait(false);
        publisher.EnsureConnected();
        var started = Stopwatch.GetTimestamp();

        // Steps that need statistics of their input see it first: the parent through the steps before them.
        var scratch = runners.Select(r => new StepTally(r.Index, r.Name)).ToArray();
        for (var k = 0; k < runners.Count; k++)
        {
            if (!runners[k].NeedsFit)
            {
                continue;
            }
            for (var j = 0; j <= k; j++)
            {
                runners[j].BeginPass();
            }
            await foreach (var shard in datasets.StreamAsync(parent, cancellationToken).ConfigureAwait(false))
            {
                var rows = shard;
                for (var j = 0; j < k && rows.Rows > 0; j++)
                {
                    rows = runners[j].Apply(rows, scratch[j]);
                }
                if (rows.Rows > 0)
                {
                    runners[k].Fit(rows);
                }
            }
            runners[k].EndFit(scratch[k]);
        }

        var tallies = runners.Select(r => new StepTally(r.Index, r.Name)).ToArray();
        for (var k = 0; k < runners.Count; k++)
        {
            tallies[k].Found.Clear();
            foreach (var (what, n) in scratch[k].Found)
            {
                tallies[k].Found[what] = n;
            }
            tallies[k].Bounds.AddRange(scratch[k].Bounds);
            runners[k].BeginPass();
        }
        var sha = recipe.Sha256();
        var writer = datasets.BeginVersion(parent.Dataset, schema, sha, options.Value.RowsPerShard);
        var breaches = new ExpectationBreaches();
        DatasetManifest manifest;
        List<LineageStepCounts> counts;
        try
        {
            await foreach (var shard in datasets.StreamAsync(parent, cancellationToken).ConfigureAwait(false))
            {
                var rows = shard;
                for (var k = 0; k < runners.Count && rows.Rows > 0; k++)
                {
                    var before = rows.Rows;
                    tallies[k].RowsIn += before;
                    rows = runners[k].Apply(rows, tallies[k]);
                    tallies[k].RowsDropped += before - rows.Rows;
                }
                if (rows.Rows > 0)
                {
                    breaches.Add(checker.Check(rows));
                    if (breaches.Rows == 0)
                    {
                        await writer.AppendAsync(rows, cancellationToken).ConfigureAwait(false);
                    }
                    // Once a row breaks an expectation nothing more is stored; the pass goes on only to count.
                }
            }
            if (breaches.Rows > 0)
            {
                throw new QualityPreconditionException(
                    $"The cleaned version of {parent.Dataset} v{parent.Version} breaks the dataset's expectations, so it is not committed: {breaches.Describe()}.");
            }
            if (writer.Rows == 0)
            {
                throw new QualityPreconditionException($"The steps leave no row of {parent.Dataset} v{parent.Version} ({parent.Rows} rows): {string.Join(", ", tallies.Select(t => $"steps[{t.Index}] {t.Step} dropped {t.RowsDropped}"))}.");
            }
            counts = Counts(tallies);
            var source = new DatasetSource(Step, [DatasetPaths.Manifest(parent.Dataset, parent.Version)], sha, $"cleaning of {parent.Dataset} v{parent.Version}");
            manifest = await writer.CommitAsync(source, new DatasetLineage(Step, source.Files, parent.Version, json) { StepCounts = counts }, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await DeleteAsync(await writer.AbandonAsync().ConfigureAwait(false)).ConfigureAwait(false);
            throw;
        }
        activity?.SetTag("bigdataai.cleaned_version", manifest.Version);
        logger.LogInformation("Cleaned {Dataset} v{Parent} into v{Version}: {Rows} of {ParentRows} rows kept, {Steps} in {Elapsed:0.000} s",
            parent.Dataset, parent.Version, manifest.Version, manifest.Rows, parent.Rows,
            string.Join("; ", counts.Select(c => $"{c.Step} -{c.RowsDropped} rows, {c.CellsChanged} cells")), Stopwatch.GetElapsedTime(started).TotalSeconds);
        IngestionTelemetry.Rows.Add(manifest.Rows);
        await AnnounceAsync(manifest, CancellationToken.None).ConfigureAwait(false);
        return new CleaningResult(manifest, parent, json, counts, Existing: false);
    }

    private static List<LineageStepCounts> Counts(StepTally[] tallies) =>
        [.. tallies.Select(t => new LineageStepCounts(t.Step, t.RowsIn, t.RowsDropped, t.CellsChanged,
            t.Found.Count > 0 ? new SortedDictionary<string, long>(t.Found, StringComparer.Ordinal) : null, t.Bounds.Count > 0 ? [.. t.Bounds] : null))];

    /// <summary>The checker of the dataset's expectations for the cleaned version (its columns are the parent's).</summary>
    private async Task<ExpectationChecker> CheckerAsync(DatasetManifest parent, DatasetSchema schema, CancellationToken cancellationToken)
    {
        var expectations = await expectationStore.GetAsync(parent.Dataset, cancellationToken).ConfigureAwait(false);
        try
        {
            return new ExpectationChecker(expectations, schema);
        }
        catch (ExpectationException e)
        {
            throw new QualityPreconditionException($"{parent.Dataset} v{parent.Version} cannot be cleaned into a new version while the dataset's expectations do not fit its columns: {e.Message}; set them again (SetExpectations).");
        }
    }

    /// <summary>Deletes the shards of a refused version (no manifest names them); one that cannot be deleted is only logged.</summary>
    private async Task DeleteAsync(IReadOnlyList<ShardInfo> shards)
    {
        foreach (var shard in shards)
        {
            try
            {
                await datasets.Objects.DeleteAsync(shard.Path, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                logger.LogWarning("Could not delete {Path}, a shard of a refused cleaning ({Reason}); no version names it", shard.Path, e.Message);
            }
        }
    }

    /// <summary>
    /// The rows of a cleaned version that break the dataset's expectations, by column and expectation: how many, and the
    /// first (by row id, which the cleaned version keeps from its parent).
    /// </summary>
    private sealed class ExpectationBreaches
    {
        private const int Shown = 5;
        private readonly Dictionary<(string Column, string Expectation), (long Count, ExpectationViolation First)> _groups = [];
        private readonly List<(string Column, string Expectation)> _order = [];

        public long Rows { get; private set; }

        public void Add(IReadOnlyList<ExpectationViolation> violations)
        {
            foreach (var v in violations)
            {
                Rows++;
                var key = (v.Column, v.Expectation);
                if (_groups.TryGetValue(key, out var group))
                {
                    _groups[key] = (group.Count + 1, group.First);
                }
                else
                {
                    _groups[key] = (1, v);
                    _order.Add(key);
                }
            }
        }

        public string Describe()
        {
            var inv = CultureInfo.InvariantCulture;
            var parts = _order.Take(Shown).Select(k =>
            {
                var (count, first) = _groups[k];
                return string.Create(inv, $"column '{k.Column}', expectation {k.Expectation}: {count} {(count == 1 ? "row" : "rows")}, the first row id {first.RowId} ({first.Reason})");
            });
            var more = _order.Count > Shown ? string.Create(inv, $"; and {_order.Count - Shown} more column and expectation pairs") : "";
            return string.Join("; ", parts) + more;
        }
    }

    /// <summary>Publishes DatasetIngested; a committed version is never failed for want of it (labeling's reconciler finds it).</summary>
    private async Task AnnounceAsync(DatasetManifest manifest, CancellationToken cancellationToken)
    {
        try
        {
            await publisher.PublishAsync(new DatasetIngested(manifest.Dataset, manifest.Version, DatasetPaths.Manifest(manifest.Dataset, manifest.Version),
                manifest.Rows, manifest.Source.Sha256, manifest.CreatedAt), cancellationToken).ConfigureAwait(false);
        }
        catch (MessagingUnavailableException e)
        {
            logger.LogWarning("{Dataset} v{Version} is committed but could not be announced ({Reason}); labeling's reconciler will find it",
                manifest.Dataset, manifest.Version, e.Message);
        }
    }
}
