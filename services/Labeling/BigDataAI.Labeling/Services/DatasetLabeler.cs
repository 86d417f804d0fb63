using System.Diagnostics;
using System.Diagnostics.Metrics;
using BigDataAI.Contracts.Labeling;
using BigDataAI.Datasets;
using BigDataAI.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace BigDataAI.Labeling.Services;

/// <summary>
/// Makes the labeled version of a dataset version: source labels carried over, a seeded stratified split of the
/// labeled rows (rows whose label is null are counted as unlabeled and left out of every split).
/// Idempotent: a version that is already labeled is announced again, never labeled twice.
/// </summary>
public sealed class DatasetLabeler(DatasetStore datasets, BoundedPublisher bus, IOptions<LabelingOptions> options, ILogger<DatasetLabeler> logger)
{
    public const string TelemetryName = "BigDataAI.Labeling";
    internal static readonly ActivitySource Source = new(TelemetryName);
    private static readonly Meter Meter = new(TelemetryName);
    private static readonly Counter<long> Labeled = Meter.CreateCounter<long>("bigdataai.labeling.versions", description: "Dataset versions labeled");

    public async Task<LabeledManifest> LabelAsync(string dataset, int version, CancellationToken cancellationToken)
    {
        using var activity = Source.StartActivity("label");
        activity?.SetTag("bigdataai.dataset", dataset);
        activity?.SetTag("bigdataai.dataset_version", version);

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
            var table = await datasets.ReadAsync(manifest, cancellationToken).ConfigureAwait(false);
            var o = options.Value;
            // Rows with a null label are unlabeled: they go to no split (people, rules or models label them later).
            // A regression target (a double label) has no classes: its labeled rows are split as one stratum.
            var label = table.Schema.Label;
            var regression = table.Schema.IsRegression;
            var classIndex = label is null || regression
                ? [.. Enumerable.Range(0, table.Rows).Select(r => label is not null && !table[label.Name].IsNull(r) ? 0L : -1L)]
                : table.ClassIndices(manifest.Classes);
            var labeledRows = Enumerable.Range(0, table.Rows).Where(r => classIndex[r] >= 0).ToArray();
            var unlabeled = table.Rows - labeledRows.Length;
            var split = StratifiedSplitter.Split([.. labeledRows.Select(r => classIndex[r])], regression ? 1 : manifest.Classes.Length, o.Fractions, o.SplitSeed);
            int[] Rows(int[] positions) => [.. positions.Select(p => labeledRows[p])];
            var parts = new Dictionary<string, Table>
            {
                [Splits.Train] = table.Select(Rows(split.Train)),
                [Splits.Validation] = table.Select(Rows(split.Validation)),
                [Splits.Test] = table.Select(Rows(split.Test)),
            };
            labeled = await datasets.CommitLabeledAsync(manifest, "source", o.SplitSeed, parts, unlabeled, cancellationToken).ConfigureAwait(false);
            Labeled.Add(1);
            logger.LogInformation("Labeled {Dataset} v{Version}: {Train} train, {Validation} validation, {Test} test rows, {Unlabeled} unlabeled (seed {Seed})",
                dataset, version, split.Train.Length, split.Validation.Length, split.Test.Length, unlabeled, o.SplitSeed);
        }
        // Bounded: a failure here is retried (the consumer's redelivery, or the reconciler's next pass announces again).
        await bus.PublishAsync(new DatasetLabeled(labeled.Dataset, labeled.Version, DatasetPaths.LabeledManifest(labeled.Dataset, labeled.Version),
            labeled.Splits[Splits.Train].Rows, labeled.Splits[Splits.Validation].Rows, labeled.Splits[Splits.Test].Rows, labeled.CreatedAt), cancellationToken).ConfigureAwait(false);
        return labeled;
    }
}
