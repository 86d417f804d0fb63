using System.Diagnostics;
using System.Diagnostics.Metrics;
using BigDataAI.Contracts.Labeling;
using BigDataAI.Datasets;
using BigDataAI.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace BigDataAI.Labeling.Services;

/// <summary>
/// Makes the labeled version of a dataset version, streaming its shards: source labels carried over, a seeded stratified
/// split of the labeled rows (rows whose label is null are counted as unlabeled and left out of every split).
/// Idempotent: a version that is already labeled is announced again, never labeled twice.
/// </summary>
public sealed class DatasetLabeler(DatasetStore datasets, BoundedPublisher bus, IOptions<LabelingOptions> options, ILogger<DatasetLabeler> logger)
{
    public const string TelemetryName = "BigDataAI.Labeling";
    internal static readonly ActivitySource Source = new(TelemetryName);
    private static readonly Meter Meter = new(TelemetryName);
    private static readonly Counter<long> Labeled = Meter.CreateCounter<long>("bigdataai.labeling.versions", description: "Dataset versions labeled");

    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string, int), SemaphoreSlim> _gates = new();

    public async Task<LabeledManifest> LabelAsync(string dataset, int version, CancellationToken cancellationToken)
    {
        using var activity = Source.StartActivity("label");
        activity?.SetTag("bigdataai.dataset", dataset);
        activity?.SetTag("bigdataai.dataset_version", version);

        // One labeling of a version at a time in this process: the reconciler's pass and a DatasetIngested can ask for
        // the same version at once, and two streams of a large version would double the memory for nothing (the
        // second would lose the create-only race anyway). The one that waited finds the labels and announces them.
        var gate = _gates.GetOrAdd((dataset, version), _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await LabelOnceAsync(dataset, version, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            gate.Release();
        }
    }

    private async Task<LabeledManifest> LabelOnceAsync(string dataset, int version, CancellationToken cancellationToken)
    {
        var labeled = await datasets.GetLabeledAsync(dataset, version, cancellationToken).ConfigureAwait(false);
        if (labeled is not null)
        {
            logger.LogInformation("{Dataset} v{Version} is already labeled; announcing it again", dataset, version);
        }
        else
        {
            var manifest = await datasets.GetRequiredAsync(dataset, version, cancellationToken).ConfigureAwait(false);
            if (manifest.Lineage?.Step == "augment")
            {
                // An augmented version carries its own split (generated rows in train only), committed by Augment right
                // after the version; a stratified split here would mix generated rows into validation and test. A
                // retried Augment completes it.
                throw new InvalidOperationException($"{dataset} v{version} is an augmented version without its labeled manifest yet; Augment commits it (call it again if it was interrupted).");
            }
            var o = options.Value;
            labeled = await SplitAsync(datasets, manifest, o.Fractions, o.SplitSeed, logger, cancellationToken).ConfigureAwait(false);
            Labeled.Add(1);
            logger.LogInformation("Labeled {Dataset} v{Version} shard by shard: {Train} train, {Validation} validation, {Test} test rows, {Unlabeled} unlabeled (seed {Seed}); {Shards} source shards read",
                dataset, version, labeled.Splits[Splits.Train].Rows, labeled.Splits[Splits.Validation].Rows, labeled.Splits[Splits.Test].Rows, labeled.UnlabeledRows, o.SplitSeed, manifest.Shards.Count);
        }
        // Bounded: a failure here is retried (the consumer's redelivery, or the reconciler's next pass announces again).
        await bus.PublishAsync(new DatasetLabeled(labeled.Dataset, labeled.Version, DatasetPaths.LabeledManifest(labeled.Dataset, labeled.Version),
            labeled.Splits[Splits.Train].Rows, labeled.Splits[Splits.Validation].Rows, labeled.Splits[Splits.Test].Rows, labeled.CreatedAt), cancellationToken).ConfigureAwait(false);
        return labeled;
    }

    /// <summary>
    /// Splits <paramref name="manifest"/>'s labeled rows into train, validation and test, reading one source shard at a
    /// time and writing each split shard by shard (<see cref="LabeledVersionWriter"/>), so memory holds about one source
    /// shard and one pending shard per split whatever the version's size. Each class is cut by
    /// <see cref="StreamedStratifiedSplit"/> from its row count (the manifest's class counts; counted in a first pass when
    /// they do not add up), so the split is seeded, stratified and the same on every run; each stored shard's rows are
    /// shuffled with the split seed. Rows with a null label are unlabeled and go to no split; a regression target (a double
    /// label) is split as one stratum.
    /// </summary>
    public static async Task<LabeledManifest> SplitAsync(DatasetStore datasets, DatasetManifest manifest, SplitFractions fractions, int seed, ILogger logger, CancellationToken cancellationToken)
    {
        var schema = manifest.EffectiveSchema;
        var counts = schema.Label is null ? []
            : schema.IsRegression ? [manifest.Rows - manifest.UnlabeledRows]
            : manifest.ClassCounts;
        if (schema.Label is not null && (counts.Length != (schema.IsRegression ? 1 : manifest.Classes.Length) || counts.Sum() + manifest.UnlabeledRows != manifest.Rows))
        {
            logger.LogWarning("{Dataset} v{Version}: the manifest's class counts do not add up to its rows; counting them in a first pass", manifest.Dataset, manifest.Version);
            counts = new long[schema.IsRegression ? 1 : manifest.Classes.Length];
            await foreach (var shard in datasets.StreamAsync(manifest, cancellationToken).ConfigureAwait(false))
            {
                foreach (var c in ClassIndex(shard, manifest))
                {
                    if (c >= 0)
                    {
                        counts[c]++;
                    }
                }
            }
        }
        var assign = new StreamedStratifiedSplit(counts, fractions, seed);
        var writer = new LabeledVersionWriter(datasets, manifest, "source", seed, Splits.All, shuffleSeed: seed);
        long unlabeled = 0;
        var parts = new[] { new List<int>(), new List<int>(), new List<int>() };
        await foreach (var shard in datasets.StreamAsync(manifest, cancellationToken).ConfigureAwait(false))
        {
            foreach (var part in parts)
            {
                part.Clear();
            }
            var classIndex = ClassIndex(shard, manifest);
            for (var r = 0; r < shard.Rows; r++)
            {
                if (classIndex[r] < 0)
                {
                    unlabeled++;
                    continue;
                }
                parts[assign.Assign(classIndex[r])].Add(r);
            }
            await writer.AppendAsync(Splits.Train, shard.Select(parts[StreamedStratifiedSplit.Train]), cancellationToken).ConfigureAwait(false);
            await writer.AppendAsync(Splits.Validation, shard.Select(parts[StreamedStratifiedSplit.Validation]), cancellationToken).ConfigureAwait(false);
            await writer.AppendAsync(Splits.Test, shard.Select(parts[StreamedStratifiedSplit.Test]), cancellationToken).ConfigureAwait(false);
        }
        assign.EnsureComplete();
        return await writer.CommitAsync(unlabeled, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Each row's stratum: its class index, 0 for any labeled row of a regression, -1 for an unlabeled row.</summary>
    private static long[] ClassIndex(Table shard, DatasetManifest manifest)
    {
        var label = shard.Schema.Label;
        if (label is null || shard.Schema.IsRegression)
        {
            var column = label is null ? null : shard[label.Name];
            return [.. Enumerable.Range(0, shard.Rows).Select(r => column is not null && !column.IsNull(r) ? 0L : -1L)];
        }
        return shard.ClassIndices(manifest.Classes);
    }
}
