using System.Diagnostics;
using BigDataAI.Contracts.Ingestion;
using BigDataAI.Datasets;
using BigDataAI.Hosting;
using BigDataAI.Labeling.Services;
using BigDataAI.Protos.Labeling.V1;
using Microsoft.Extensions.Logging;

namespace BigDataAI.Labeling.Augmentation;

/// <summary>What an augmentation made: the new version, its labeled form, and the train rows added per class.</summary>
public sealed record AugmentationResult(DatasetManifest Version, LabeledManifest Labeled, long ParentTrainRows, long[] AddedPerClass, string[] Classes, string Recipe)
{
    public long AddedRows => Labeled.Splits[Splits.Train].Rows - ParentTrainRows;
}

/// <summary>
/// Augments a labeled version's train split and commits the result as a new version, derived from it: the raw version
/// holds the parent's train, validation and test rows and the generated ones (lineage step <c>augment</c>, the parent,
/// the recipe with its seed), and its labeled form is committed at once with train = the parent's train rows and the
/// generated ones, validation and test = exactly the parent's rows. Then DatasetIngested is published: the labeler finds
/// the version labeled and announces it, and training takes it from there like any upload.
/// </summary>
/// <remarks>
/// Idempotent: the version's source hash is the recipe's, so the same request on the same parent returns the version it
/// made before (labeling it first if a crash came between the two manifests) and announces it again.
/// </remarks>
public sealed class DatasetAugmenter(DatasetStore datasets, BoundedPublisher bus, ILogger<DatasetAugmenter> logger)
{
    public const string Step = "augment";
    public const string SourceFormat = "augment";

    public async Task<AugmentationResult> AugmentAsync(AugmentRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        using var activity = DatasetLabeler.Source.StartActivity("augment");
        var parent = await datasets.GetRequiredAsync(request.Dataset, request.Version, cancellationToken).ConfigureAwait(false);
        activity?.SetTag("bigdataai.dataset", parent.Dataset);
        activity?.SetTag("bigdataai.dataset_version", parent.Version);
        var parentLabeled = await datasets.GetLabeledAsync(parent.Dataset, parent.Version, cancellationToken).ConfigureAwait(false)
            ?? throw new AugmentationPreconditionException($"Dataset '{parent.Dataset}' v{parent.Version} is not labeled yet; augment it once its DatasetLabeled is out.");
        var recipe = AugmentationRecipe.Resolve(request, parentLabeled.EffectiveSchema, parent.Version);
        var parentTrain = parentLabeled.Splits[Splits.Train];
        if (parentTrain.Rows == 0)
        {
            throw new AugmentationPreconditionException($"Dataset '{parent.Dataset}' v{parent.Version} has no train rows to augment.");
        }
        var planned = PlannedRows(recipe, parentTrain);
        if (planned > AugmentationRecipe.MaxGeneratedRows)
        {
            throw new AugmentationRecipeException(recipe.Table is null ? "copies" : "table.target_per_class",
                $"the recipe would add about {planned} rows to {parentTrain.Rows} train rows, more than {AugmentationRecipe.MaxGeneratedRows} in one request.");
        }
        bus.EnsureConnected();
        var json = recipe.ToJson();
        var sha = recipe.Sha256();
        var source = new DatasetSource(SourceFormat, [DatasetPaths.Manifest(parent.Dataset, parent.Version)], sha, $"augmentation of {parent.Dataset} v{parent.Version}");
        var started = Stopwatch.GetTimestamp();

        var manifest = await datasets.FindBySourceAsync(parent.Dataset, sha, cancellationToken).ConfigureAwait(false);
        var labeled = manifest is null ? null : await datasets.GetLabeledAsync(manifest.Dataset, manifest.Version, cancellationToken).ConfigureAwait(false);
        if (labeled is null)
        {
            var train = await datasets.ReadSplitAsync(parentLabeled, Splits.Train, cancellationToken).ConfigureAwait(false);
            var validation = await datasets.ReadSplitAsync(parentLabeled, Splits.Validation, cancellationToken).ConfigureAwait(false);
            var test = await datasets.ReadSplitAsync(parentLabeled, Splits.Test, cancellationToken).ConfigureAwait(false);
            var firstRowId = await FirstFreeRowIdAsync(parent, [train, validation, test], cancellationToken).ConfigureAwait(false);
            var generated = TrainSplitAugmenter.Generate(train, parentLabeled.Classes, recipe, firstRowId);
            var schema = parentLabeled.EffectiveSchema;
            manifest ??= await datasets.CommitAsync(parent.Dataset, DatasetStore.Concat(schema, [train, validation, test, generated]), source,
                new DatasetLineage(Step, source.Files, parent.Version, json), cancellationToken: cancellationToken).ConfigureAwait(false);
            var splits = new Dictionary<string, Table>
            {
                [Splits.Train] = DatasetStore.Concat(schema, [train, generated]),
                [Splits.Validation] = validation,
                [Splits.Test] = test,
            };
            labeled = await datasets.CommitLabeledAsync(manifest, parentLabeled.LabelSource, parentLabeled.SplitSeed, splits, 0, cancellationToken).ConfigureAwait(false);
            if (labeled.Splits[Splits.Train].Rows != train.Rows + generated.Rows)
            {
                // The reconciler labeled the raw version (a stratified split) between our two manifests: its splits mix
                // generated rows into validation and test, and a create-only manifest cannot be replaced.
                throw new InvalidOperationException($"Dataset '{manifest.Dataset}' v{manifest.Version} was labeled by another step before the augmentation's split was stored; do not train on it, augment again.");
            }
            logger.LogInformation("Augmented {Dataset} v{Parent} into v{Version}: {Added} train rows added to {Train} in {Elapsed:0.000} s (seed {Seed})",
                parent.Dataset, parent.Version, manifest.Version, generated.Rows, train.Rows, Stopwatch.GetElapsedTime(started).TotalSeconds, recipe.Seed);
        }
        else if (labeled.Splits[Splits.Validation].Rows != parentLabeled.Splits[Splits.Validation].Rows
            || labeled.Splits[Splits.Test].Rows != parentLabeled.Splits[Splits.Test].Rows)
        {
            throw new InvalidOperationException($"Dataset '{manifest!.Dataset}' v{manifest.Version} (this augmentation of v{parent.Version}) was labeled by another step, not with the parent's validation and test rows; do not train on it.");
        }
        else
        {
            logger.LogInformation("{Dataset} v{Version} is this augmentation of v{Parent} already; announcing it again", manifest!.Dataset, manifest.Version, parent.Version);
        }
        activity?.SetTag("bigdataai.augmented_version", manifest.Version);

        // The labeler finds the version labeled and announces DatasetLabeled; a failure here is UNAVAILABLE, and the
        // caller's retry finds the version and announces it again.
        await bus.PublishAsync(new DatasetIngested(manifest.Dataset, manifest.Version, DatasetPaths.Manifest(manifest.Dataset, manifest.Version),
            manifest.Rows, manifest.Source.Sha256, manifest.CreatedAt), cancellationToken).ConfigureAwait(false);

        var before = parentTrain.ClassCounts;
        var after = labeled.Splits[Splits.Train].ClassCounts;
        var added = parentLabeled.Classes.Select((_, c) => (c < after.Length ? after[c] : 0) - (c < before.Length ? before[c] : 0)).ToArray();
        return new AugmentationResult(manifest, labeled, parentTrain.Rows, added, parentLabeled.Classes, json);
    }

    /// <summary>An upper bound of the rows the recipe adds (SMOTE's classes with too few usable rows add fewer).</summary>
    private static long PlannedRows(AugmentationRecipe recipe, SplitInfo train)
    {
        var rows = recipe.Image is null && recipe.Text is null ? 0 : train.Rows * recipe.Copies;
        if (recipe.Table is { } smote && train.ClassCounts.Length > 0)
        {
            var target = smote.TargetPerClass > 0 ? smote.TargetPerClass : train.ClassCounts.Max();
            rows += train.ClassCounts.Sum(c => Math.Max(0, target - c));
        }
        return rows;
    }

    /// <summary>One past the largest row id of the parent version (its unlabeled rows included, which are in no split).</summary>
    private async Task<long> FirstFreeRowIdAsync(DatasetManifest parent, IReadOnlyList<Table> splits, CancellationToken cancellationToken)
    {
        var max = splits.SelectMany(t => t.RowIds).DefaultIfEmpty(-1).Max();
        if (parent.UnlabeledRows > 0)
        {
            var all = await datasets.ReadAsync(parent, cancellationToken).ConfigureAwait(false);
            max = Math.Max(max, all.RowIds.DefaultIfEmpty(-1).Max());
        }
        return max + 1;
    }
}
