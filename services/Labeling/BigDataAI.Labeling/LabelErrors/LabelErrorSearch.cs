using BigDataAI.Client;
using BigDataAI.Datasets;
using BigDataAI.Labeling.Services;
using BigDataAI.Protos.Training.V1;
using Microsoft.Extensions.Logging;

namespace BigDataAI.Labeling.LabelErrors;

/// <summary>The dataset version exists but labeling has not committed its labeled version yet.</summary>
public sealed class DatasetNotLabeledException(string message) : Exception(message);

/// <summary>A fold job of a label-error search failed; the message carries the job's own error.</summary>
public sealed class FoldJobFailedException(string message) : Exception(message);

/// <summary>A label-error search as a caller states it (zeros mean the defaults of <c>FindLabelErrorsRequest</c>).</summary>
public sealed record LabelErrorSearchRequest(string Dataset, int Version = 0, int Folds = 0, string Model = "", int Epochs = 0, long Seed = 0, int MaxRows = 0);

/// <summary>What a search found over one labeled version, and the fold jobs that gave its probabilities.</summary>
public sealed record LabelErrorSearchResult(string Dataset, int Version, string[] Classes, IReadOnlyList<string> JobIds, ConfidentLearningResult Found);

/// <summary>
/// Finds likely label errors of a labeled version: starts its k fold jobs through the training service (each trains on
/// the rows outside its fold and predicts those inside: out-of-fold probabilities), waits for all of them, reads the
/// given labels from the labeled version's splits and runs <see cref="ConfidentLearning"/> over the jobs' files.
/// The fold jobs have ids fixed by their spec, so the same search again finds the jobs (and files) of the first.
/// </summary>
public sealed class LabelErrorSearch(PlatformClients clients, DatasetStore datasets, ConfidentLearning learning, ILogger<LabelErrorSearch> logger)
{
    public const int DefaultFolds = 5;
    public const int MaxFolds = 100;
    public const int DefaultMaxRows = 100;

    /// <summary>Runs the search.</summary>
    /// <exception cref="ArgumentException">A field is out of range, or the dataset is a regression (the message names the field).</exception>
    /// <exception cref="DatasetNotFoundException">The dataset version does not exist.</exception>
    /// <exception cref="DatasetNotLabeledException">It exists but is not labeled yet.</exception>
    /// <exception cref="FoldJobFailedException">A fold job failed.</exception>
    /// <exception cref="Grpc.Core.RpcException">The training service refused a fold job (e.g. INVALID_ARGUMENT for an unknown model).</exception>
    public async Task<LabelErrorSearchResult> RunAsync(LabelErrorSearchRequest request, CancellationToken cancellationToken)
    {
        var folds = request.Folds == 0 ? DefaultFolds : request.Folds;
        if (folds is < 2 or > MaxFolds)
        {
            throw new ArgumentException($"Field 'folds': {request.Folds} is out of range; use 2 to {MaxFolds} (0 means {DefaultFolds}).");
        }
        var maxRows = request.MaxRows == 0 ? DefaultMaxRows : request.MaxRows;
        if (maxRows < 1)
        {
            throw new ArgumentException($"Field 'max_rows': {request.MaxRows} is out of range; use a positive number (0 means {DefaultMaxRows}).");
        }
        if (!DatasetPaths.IsValidName(request.Dataset ?? ""))
        {
            throw new ArgumentException($"Field 'dataset': '{request.Dataset}' is not a valid dataset name.");
        }
        if (request.Version < 0)
        {
            throw new ArgumentException($"Field 'version': {request.Version} is out of range; use 0 for the newest version, or a version number.");
        }
        var manifest = await datasets.GetRequiredAsync(request.Dataset!, request.Version, cancellationToken).ConfigureAwait(false);
        var labeled = await datasets.GetLabeledAsync(manifest.Dataset, manifest.Version, cancellationToken).ConfigureAwait(false)
            ?? throw new DatasetNotLabeledException($"Field 'version': dataset '{manifest.Dataset}' v{manifest.Version} has no labeled version yet (labeling runs after ingestion); try again shortly.");
        if (labeled.EffectiveSchema.IsRegression)
        {
            throw new ArgumentException($"Field 'dataset': '{manifest.Dataset}' v{manifest.Version} is a regression (its label is a double); label errors are found among classes.");
        }
        if (labeled.Classes.Length < 2)
        {
            throw new ArgumentException($"Field 'dataset': '{manifest.Dataset}' v{manifest.Version} has {labeled.Classes.Length} class(es); confident learning needs at least 2.");
        }

        var training = clients.Training;
        var started = new List<Job>(folds);
        for (var fold = 0; fold < folds; fold++)
        {
            started.Add(await training.StartTrainingAsync(new StartTrainingRequest
            {
                Dataset = manifest.Dataset,
                Version = manifest.Version,
                Model = request.Model ?? "",
                HyperParameters = new HyperParameters { Epochs = request.Epochs, Seed = request.Seed },
                CrossValidation = new CrossValidation { Folds = folds, Fold = fold },
            }, cancellationToken: cancellationToken).ConfigureAwait(false));
        }
        logger.LogInformation("Label-error search on {Dataset} v{Version}: {Folds} fold jobs {JobIds}", manifest.Dataset, manifest.Version, folds, string.Join(", ", started.Select(j => j.JobId)));

        // Every job ends (succeeds, or fails after its own bounded attempts): waiting for all of them cannot hang.
        var finished = await Task.WhenAll(started.Select(j => training.WatchToEndAsync(j.JobId, cancellationToken: cancellationToken))).ConfigureAwait(false);
        if (finished.FirstOrDefault(j => j.State != JobState.Succeeded) is { } failed)
        {
            throw new FoldJobFailedException($"Fold {failed.CrossValidation?.Fold} of {folds} (job {failed.JobId}) failed: {failed.Error}");
        }

        // The given labels, split by split and shard by shard: memory holds one shard's rows and a class per row.
        var given = new Dictionary<long, int>();
        foreach (var split in labeled.Splits.Keys.Order(StringComparer.Ordinal))
        {
            await foreach (var table in datasets.StreamSplitAsync(labeled, split, cancellationToken).ConfigureAwait(false))
            {
                var classes = table.ClassIndices(labeled.Classes);
                for (var r = 0; r < table.Rows; r++)
                {
                    given[table.RowIds[r]] = checked((int)classes[r]);
                }
            }
        }
        var paths = finished.SelectMany(j => j.OutOfFoldPaths).ToArray();
        var found = await learning.FindAsync(paths, given, labeled.Classes.Length, maxRows, cancellationToken).ConfigureAwait(false);
        logger.LogInformation("Label-error search on {Dataset} v{Version}: {Flagged} of {Rows} rows flagged", manifest.Dataset, manifest.Version, found.Flagged, found.Rows);
        return new LabelErrorSearchResult(manifest.Dataset, manifest.Version, labeled.Classes, [.. finished.Select(j => j.JobId)], found);
    }
}
