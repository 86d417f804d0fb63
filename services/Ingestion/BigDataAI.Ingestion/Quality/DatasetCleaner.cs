using System.Diagnostics;
using BigDataAI.Contracts.Ingestion;
using BigDataAI.Datasets;
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
/// first. Idempotent: the version of the same parent and recipe is found by its lineage and returned.
/// </summary>
internal sealed class DatasetCleaner(DatasetStore datasets, BoundedPublisher publisher, IOptions<IngestionOptions> options, ILogger<DatasetCleaner> logger)
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
                await writer.AppendAsync(rows, cancellationToken).ConfigureAwait(false);
            }
        }
        if (writer.Rows == 0)
        {
            throw new QualityPreconditionException($"The steps leave no row of {parent.Dataset} v{parent.Version} ({parent.Rows} rows): {string.Join(", ", tallies.Select(t => $"steps[{t.Index}] {t.Step} dropped {t.RowsDropped}"))}.");
        }
        var counts = tallies.Select(t => new LineageStepCounts(t.Step, t.RowsIn, t.RowsDropped, t.CellsChanged,
            t.Found.Count > 0 ? new SortedDictionary<string, long>(t.Found, StringComparer.Ordinal) : null, t.Bounds.Count > 0 ? [.. t.Bounds] : null)).ToList();
        var source = new DatasetSource(Step, [DatasetPaths.Manifest(parent.Dataset, parent.Version)], sha, $"cleaning of {parent.Dataset} v{parent.Version}");
        var manifest = await writer.CommitAsync(source, new DatasetLineage(Step, source.Files, parent.Version, json) { StepCounts = counts }, cancellationToken: cancellationToken).ConfigureAwait(false);
        activity?.SetTag("bigdataai.cleaned_version", manifest.Version);
        logger.LogInformation("Cleaned {Dataset} v{Parent} into v{Version}: {Rows} of {ParentRows} rows kept, {Steps} in {Elapsed:0.000} s",
            parent.Dataset, parent.Version, manifest.Version, manifest.Rows, parent.Rows,
            string.Join("; ", counts.Select(c => $"{c.Step} -{c.RowsDropped} rows, {c.CellsChanged} cells")), Stopwatch.GetElapsedTime(started).TotalSeconds);
        IngestionTelemetry.Rows.Add(manifest.Rows);
        await AnnounceAsync(manifest, CancellationToken.None).ConfigureAwait(false);
        return new CleaningResult(manifest, parent, json, counts, Existing: false);
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
