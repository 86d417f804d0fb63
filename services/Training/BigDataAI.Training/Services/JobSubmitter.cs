using System.Diagnostics;
using BigDataAI.Datasets;
using BigDataAI.Models;
using BigDataAI.Training.Model;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace BigDataAI.Training.Services;

/// <summary>The dataset version exists but labeling has not committed its labeled version yet.</summary>
public sealed class LabelsNotReadyException(string message) : Exception(message);

/// <summary>A request as a caller states it: zeros and empty strings mean "the default".</summary>
public sealed record TrainingRequest(string Dataset, int Version, string Model, int Epochs = 0, int BatchSize = 0, double LearningRate = 0, string? Optimizer = null, long Seed = 0, int Gpus = 0, int MemoryMiB = 0, string? ModelName = null)
{
    /// <summary>Train against the <c>_label_probs</c> column instead of the hard labels.</summary>
    public bool SoftTargets { get; init; }

    /// <summary>A k-fold job (null: an ordinary one).</summary>
    public CrossValidationSpec? CrossValidation { get; init; }

    // The training recipe, as the proto's HyperParameters fields 7-16 state it: zeros and empty strings are the defaults.
    public double WeightDecay { get; init; }
    public double Dropout { get; init; }
    public string? LrSchedule { get; init; }
    public int WarmupEpochs { get; init; }
    public int StepEpochs { get; init; }
    public double StepGamma { get; init; }
    public int EarlyStoppingPatience { get; init; }
    public double EarlyStoppingMinDelta { get; init; }
    public string? ClassWeights { get; init; }
    public double MaxGradNorm { get; init; }

    /// <summary>A checkpoint after every this many epochs (0 or 1: every epoch).</summary>
    public int CheckpointEveryEpochs { get; init; }

    /// <summary>The run's labels, for search; not part of its identity.</summary>
    public IReadOnlyDictionary<string, string>? Tags { get; init; }

    /// <summary>Columns the test metrics are broken down by, and which of them are sensitive.</summary>
    public IReadOnlyList<string>? SliceColumns { get; init; }
    public IReadOnlyList<string>? SensitiveColumns { get; init; }
}

/// <summary>
/// Validates requests, resolves defaults and versions, and stores queued jobs for the scheduler. The one way a job
/// starts.
/// </summary>
public sealed class JobSubmitter(DatasetStore datasets, JobTracker tracker, IOptions<TrainingOptions> options, ILogger<JobSubmitter> logger)
{
    /// <summary>The most classes a job's label may have.</summary>
    public const int MaxClasses = 10_000;

    /// <summary>The most folds a k-fold job may have.</summary>
    public const int MaxFolds = 100;

    /// <summary>The tensor column of probabilistic labels (one probability per class) that soft targets train against.</summary>
    public const string LabelProbabilitiesColumn = "_label_probs";

    /// <summary>
    /// Applies defaults and checks ranges. A blank model is the catalog's default for <paramref name="schema"/>'s
    /// columns (the MLP without a schema). Throws <see cref="ArgumentException"/> naming the field.
    /// </summary>
    public static (string Model, HyperParameters HyperParameters) Resolve(TrainingRequest request, DatasetSchema? schema = null)
    {
        var entry = string.IsNullOrWhiteSpace(request.Model)
            ? (schema is null ? ModelCatalog.Find("mlp")! : ModelCatalog.DefaultFor(schema))
            : ModelCatalog.Find(request.Model)
                ?? throw new ArgumentException($"Field 'model': '{request.Model}' is not a known model; use one of {string.Join(", ", ModelCatalog.Names)} (or leave it empty for the dataset's default).");
        var model = entry.Name;
        var optimizer = string.IsNullOrWhiteSpace(request.Optimizer) ? "adam" : request.Optimizer.Trim().ToLowerInvariant();
        if (!ModelCatalog.Optimizers.Contains(optimizer))
        {
            throw new ArgumentException($"Field 'optimizer': '{request.Optimizer}' is not supported; use one of {string.Join(", ", ModelCatalog.Optimizers)}.");
        }
        var epochs = request.Epochs == 0 ? entry.DefaultEpochs : request.Epochs;
        if (epochs is < 1 or > 1000)
        {
            throw new ArgumentException($"Field 'epochs': {request.Epochs} is out of range; use 1 to 1000.");
        }
        var batch = request.BatchSize == 0 ? 128 : request.BatchSize;
        if (batch is < 1 or > 65536)
        {
            throw new ArgumentException($"Field 'batch_size': {request.BatchSize} is out of range; use 1 to 65536.");
        }
        var lr = request.LearningRate == 0 ? (optimizer == "adam" ? entry.DefaultLearningRate : 0.05) : request.LearningRate;
        if (!double.IsFinite(lr) || lr <= 0 || lr > 10)
        {
            throw new ArgumentException($"Field 'learning_rate': {request.LearningRate} is out of range; use a number in (0, 10].");
        }
        var seed = request.Seed == 0 ? 1 : request.Seed;
        if (seed is < 0 or > int.MaxValue)
        {
            throw new ArgumentException($"Field 'seed': {request.Seed} is out of range; use 0 to {int.MaxValue}.");
        }
        if (request.CrossValidation is { } cv)
        {
            if (cv.Folds is < 2 or > MaxFolds)
            {
                throw new ArgumentException($"Field 'cross_validation.folds': {cv.Folds} is out of range; use 2 to {MaxFolds}.");
            }
            if (cv.Fold < 0 || cv.Fold >= cv.Folds)
            {
                throw new ArgumentException($"Field 'cross_validation.fold': {cv.Fold} is out of range; folds are numbered 0 to {cv.Folds - 1}.");
            }
        }
        return (model, ResolveRecipe(request, entry, epochs, new HyperParameters(epochs, batch, lr, optimizer, seed) { SoftTargets = request.SoftTargets }));
    }

    /// <summary>The recipe's defaults and ranges (docs/training.md); errors name the proto field.</summary>
    private static HyperParameters ResolveRecipe(TrainingRequest request, CatalogModel entry, int epochs, HyperParameters hyper)
    {
        static void Check(bool ok, string field, string message)
        {
            if (!ok)
            {
                throw new ArgumentException($"Field 'hyper_parameters.{field}': {message}");
            }
        }
        Check(double.IsFinite(request.WeightDecay) && request.WeightDecay is >= 0 and <= 1, "weight_decay", $"{request.WeightDecay} is out of range; use 0 (none) to 1.");
        Check(double.IsFinite(request.Dropout) && request.Dropout is >= 0 and < 1, "dropout", $"{request.Dropout} is out of range; use 0 (none) up to, not including, 1.");
        Check(request.Dropout == 0 || entry.Dropout, "dropout", $"'{entry.Name}' has no hidden layers to drop from; use 0, or a model with hidden layers (mlp, cnn, minilm, fasttext).");
        var schedule = string.IsNullOrWhiteSpace(request.LrSchedule) ? "constant" : request.LrSchedule.Trim().ToLowerInvariant();
        Check(ModelCatalog.Schedules.Contains(schedule), "lr_schedule", $"'{request.LrSchedule}' is not a schedule; use one of {string.Join(", ", ModelCatalog.Schedules)}.");
        Check(request.WarmupEpochs >= 0 && request.WarmupEpochs < epochs, "warmup_epochs", $"{request.WarmupEpochs} is out of range; use 0 to {epochs - 1} (below the job's {epochs} epochs).");
        Check(schedule == "step" ? request.StepEpochs is >= 1 && request.StepEpochs <= epochs : request.StepEpochs == 0, "step_epochs",
            schedule == "step" ? $"{request.StepEpochs} is out of range for the 'step' schedule; use 1 to {epochs}." : $"{request.StepEpochs} applies to lr_schedule 'step' only, not '{schedule}'.");
        var gamma = request.StepGamma == 0 ? 0.1 : request.StepGamma;
        Check(double.IsFinite(gamma) && gamma is > 0 and <= 1, "step_gamma", $"{request.StepGamma} is out of range; use a number in (0, 1] (0 means 0.1).");
        Check(request.EarlyStoppingPatience >= 0 && request.EarlyStoppingPatience <= epochs, "early_stopping_patience", $"{request.EarlyStoppingPatience} is out of range; use 0 (off) to {epochs}.");
        Check(double.IsFinite(request.EarlyStoppingMinDelta) && request.EarlyStoppingMinDelta is >= 0 and <= 1, "early_stopping_min_delta", $"{request.EarlyStoppingMinDelta} is out of range; use 0 to 1.");
        Check(request.CheckpointEveryEpochs >= 0 && request.CheckpointEveryEpochs <= epochs, "checkpoint_every_epochs", $"{request.CheckpointEveryEpochs} is out of range; use 0 (every epoch) to {epochs} (the job's epochs).");
        Check(double.IsFinite(request.MaxGradNorm) && request.MaxGradNorm >= 0, "max_grad_norm", $"{request.MaxGradNorm} is out of range; use 0 (no clipping) or a positive number.");
        var weights = (request.ClassWeights ?? "").Trim().ToLowerInvariant();
        if (weights.Length > 0 && weights != "balanced")
        {
            // Canonical form, so "1, 2" and "1,2.0" are the same job.
            weights = string.Join(",", ParseClassWeights(weights).Select(w => w.ToString("R", System.Globalization.CultureInfo.InvariantCulture)));
        }
        return hyper with
        {
            WeightDecay = request.WeightDecay,
            Dropout = request.Dropout,
            LrSchedule = schedule,
            WarmupEpochs = request.WarmupEpochs,
            StepEpochs = request.StepEpochs,
            StepGamma = gamma,
            EarlyStoppingPatience = request.EarlyStoppingPatience,
            EarlyStoppingMinDelta = request.EarlyStoppingMinDelta,
            ClassWeights = weights,
            MaxGradNorm = request.MaxGradNorm,
            CheckpointEveryEpochs = request.CheckpointEveryEpochs,
        };
    }

    /// <summary>The most tags a job or a model may have.</summary>
    public const int MaxTags = 64;

    /// <summary>Tags as given, checked: keys 1-64 characters, values up to 256, at most <see cref="MaxTags"/>. Errors name the field.</summary>
    public static IReadOnlyDictionary<string, string> CheckTags(IReadOnlyDictionary<string, string>? tags, string field)
    {
        if (tags is null || tags.Count == 0)
        {
            return JobRecord.NoTags;
        }
        if (tags.Count > MaxTags)
        {
            throw new ArgumentException($"Field '{field}': {tags.Count} tags; at most {MaxTags}.");
        }
        foreach (var (key, value) in tags)
        {
            if (key.Length is 0 or > 64 || key.Any(char.IsControl))
            {
                throw new ArgumentException($"Field '{field}': tag key '{key}' must be 1-64 characters without control characters.");
            }
            if (value.Length > 256)
            {
                throw new ArgumentException($"Field '{field}': the value of tag '{key}' has {value.Length} characters; at most 256.");
            }
        }
        return new SortedDictionary<string, string>(tags.ToDictionary(), StringComparer.Ordinal);
    }

    /// <summary>Explicit class weights, "1,2.5,1": every one a positive number. Throws <see cref="ArgumentException"/> naming the field.</summary>
    public static float[] ParseClassWeights(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var weights = new float[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            if (!float.TryParse(parts[i], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out weights[i])
                || !float.IsFinite(weights[i]) || weights[i] <= 0)
            {
                throw new ArgumentException(
                    $"Field 'hyper_parameters.class_weights': weight {i + 1} ('{parts[i]}') is not a positive number; give \"balanced\" or one positive weight per class, comma-separated (e.g. \"1,2.5,1\").");
            }
        }
        return weights;
    }

    /// <summary>
    /// Checks what a job asks of its worker against the most any worker will ever have. Throws
    /// <see cref="ArgumentException"/> naming the field.
    /// </summary>
    public static JobResources ResolveResources(TrainingRequest request, TrainingOptions.SchedulerSettings limits)
    {
        if (request.Gpus < 0 || request.Gpus > limits.MaxGpusPerWorker)
        {
            throw new ArgumentException(
                $"Field 'resources.gpus': {request.Gpus} is impossible; no training worker will ever have more than {limits.MaxGpusPerWorker} (Training:Scheduler:MaxGpusPerWorker).");
        }
        if (request.MemoryMiB < 0 || request.MemoryMiB > limits.MaxMemoryMiB)
        {
            throw new ArgumentException(
                $"Field 'resources.memory_mib': {request.MemoryMiB} is impossible; no training worker will ever have more than {limits.MaxMemoryMiB} MiB (Training:Scheduler:MaxMemoryMiB).");
        }
        return new JobResources(request.Gpus, request.MemoryMiB);
    }

    public async Task<JobRecord> SubmitAsync(TrainingRequest request, CancellationToken cancellationToken)
    {
        // Ranges first (no storage needed), then the dataset, then the model against the dataset's columns.
        Resolve(request);
        var resources = ResolveResources(request, options.Value.Scheduler);
        if (!DatasetPaths.IsValidName(request.Dataset))
        {
            throw new ArgumentException($"Field 'dataset': '{request.Dataset}' is not a valid dataset name.");
        }
        var manifest = await datasets.GetRequiredAsync(request.Dataset, request.Version, cancellationToken).ConfigureAwait(false);
        var labeled = await datasets.GetLabeledAsync(manifest.Dataset, manifest.Version, cancellationToken).ConfigureAwait(false)
            ?? throw new LabelsNotReadyException($"Dataset '{manifest.Dataset}' v{manifest.Version} has no labeled version yet (labeling runs after ingestion); try again shortly.");
        var schema = labeled.EffectiveSchema;
        var (model, hyper) = Resolve(request, schema);
        var entry = ModelCatalog.Find(model)!;
        if (!entry.CanTake(schema))
        {
            var features = schema.Columns.Where(c => c.Role == ColumnRole.Feature).Select(c => $"{c.Name} ({c.TypeName})");
            throw new ArgumentException($"Field 'model': '{model}' takes {entry.Accepts}, but the features of '{manifest.Dataset}' v{manifest.Version} are: {string.Join(", ", features)}. Use {ModelCatalog.DefaultFor(schema).Name}, or leave the model empty for the default.");
        }
        if (labeled.Classes.Length > MaxClasses)
        {
            throw new ArgumentException($"Field 'dataset': the label of '{manifest.Dataset}' v{manifest.Version} has {labeled.Classes.Length:N0} distinct values; a classifier here takes at most {MaxClasses:N0} classes.");
        }
        if (!schema.IsRegression && labeled.Classes.Length < 2)
        {
            throw new ArgumentException($"Field 'dataset': '{manifest.Dataset}' v{manifest.Version} has {labeled.Classes.Length} class(es) among its labeled rows; a classifier needs at least 2.");
        }
        if (schema.IsRegression && request.CrossValidation is not null)
        {
            throw new ArgumentException($"Field 'cross_validation': '{manifest.Dataset}' v{manifest.Version} is a regression (its label is a double); k-fold jobs predict class probabilities.");
        }
        if (request.SoftTargets)
        {
            CheckSoftTargets(schema, labeled.Classes, $"'{manifest.Dataset}' v{manifest.Version}");
        }
        if (hyper.ClassWeights.Length > 0)
        {
            if (schema.IsRegression)
            {
                throw new ArgumentException($"Field 'hyper_parameters.class_weights': '{manifest.Dataset}' v{manifest.Version} is a regression (its label is a double); class weights are for classifiers.");
            }
            if (hyper.ClassWeights != "balanced" && ParseClassWeights(hyper.ClassWeights).Length is var count && count != labeled.Classes.Length)
            {
                throw new ArgumentException($"Field 'hyper_parameters.class_weights': {count} weights given, but '{manifest.Dataset}' v{manifest.Version} has {labeled.Classes.Length} classes ({string.Join(", ", labeled.Classes.Take(10))}{(labeled.Classes.Length > 10 ? ", ..." : "")}), in that order.");
            }
        }
        if (hyper.EarlyStoppingPatience > 0 && request.CrossValidation is null
            && (!labeled.Splits.TryGetValue(Splits.Validation, out var validationSplit) || validationSplit.Rows == 0))
        {
            throw new ArgumentException($"Field 'hyper_parameters.early_stopping_patience': '{manifest.Dataset}' v{manifest.Version} has no validation rows, and early stopping watches the validation score.");
        }
        var modelName = string.IsNullOrWhiteSpace(request.ModelName) ? null : request.ModelName.Trim();
        if (modelName is not null && !DatasetPaths.IsValidName(modelName))
        {
            throw new ArgumentException($"Field 'model_name': '{request.ModelName}' is not a valid name (1-64 characters of [a-z0-9-], starting with a letter).");
        }
        var (slices, sensitive) = CheckSlices(request, schema, $"'{manifest.Dataset}' v{manifest.Version}");
        var spec = new JobSpec(manifest.Dataset, manifest.Version, model, hyper, resources)
        {
            ModelName = modelName == manifest.Dataset ? null : modelName,
            CrossValidation = request.CrossValidation,
            SliceColumns = slices,
            SensitiveColumns = sensitive,
        };
        // The job runs later, elsewhere: it carries the submitting trace so its training joins the dataset's trace.
        var tags = CheckTags(request.Tags, "tags");
        var (job, created) = await tracker.SubmitAsync(spec, Activity.Current?.Id, cancellationToken, tags).ConfigureAwait(false);
        if (created)
        {
            logger.LogInformation("Queued job {JobId}: {Model} on {Dataset} v{Version}, {Epochs} epochs, needs {Resources}", job.JobId, model, spec.Dataset, spec.Version, hyper.Epochs, resources);
        }
        return job;
    }

    /// <summary>The most columns a job may slice by.</summary>
    public const int MaxSliceColumns = 10;

    /// <summary>
    /// The slice and sensitive columns, checked against <paramref name="schema"/> (ArgumentException naming the field):
    /// every sensitive column is sliced; null when none. Sorted, so the same set is the same job.
    /// </summary>
    public static (IReadOnlyList<string>? Slices, IReadOnlyList<string>? Sensitive) CheckSlices(TrainingRequest request, DatasetSchema schema, string what)
    {
        var sensitive = (request.SensitiveColumns ?? []).Select(c => c.Trim()).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var slices = (request.SliceColumns ?? []).Select(c => c.Trim()).Concat(sensitive).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        if (slices.Count == 0)
        {
            return (null, null);
        }
        if (schema.IsRegression)
        {
            throw new ArgumentException($"Field 'evaluation.slice_columns': {what} is a regression (its label is a double); slices break classification metrics down.");
        }
        if (request.CrossValidation is not null)
        {
            throw new ArgumentException("Field 'evaluation.slice_columns': a k-fold job measures its held-out rows only; slice a job that registers a model.");
        }
        if (slices.Count > MaxSliceColumns)
        {
            throw new ArgumentException($"Field 'evaluation.slice_columns': {slices.Count} columns given; a job slices by at most {MaxSliceColumns}.");
        }
        foreach (var name in slices)
        {
            var field = sensitive.Contains(name) && !(request.SliceColumns ?? []).Contains(name) ? "evaluation.sensitive_columns" : "evaluation.slice_columns";
            var column = schema.Find(name)
                ?? throw new ArgumentException($"Field '{field}': {what} has no column '{name}'; its columns: {string.Join(", ", schema.Columns.Where(c => !c.Name.StartsWith('_')).Select(c => c.Name))}.");
            if (column.Role == ColumnRole.Label)
            {
                throw new ArgumentException($"Field '{field}': '{name}' is the label; slice by another column.");
            }
            if (column.Type is ColumnType.Tensor or ColumnType.Binary)
            {
                throw new ArgumentException($"Field '{field}': '{name}' is {column.TypeName}; slices take numeric, boolean, string or timestamp columns.");
            }
        }
        return (slices, sensitive.Count == 0 ? null : sensitive);
    }

    /// <summary>
    /// Throws <see cref="ArgumentException"/> (naming the field) unless <paramref name="schema"/> has a tensor column
    /// <see cref="LabelProbabilitiesColumn"/> of one value per class, for a classifier.
    /// </summary>
    public static void CheckSoftTargets(DatasetSchema schema, IReadOnlyList<string> classes, string what)
    {
        if (schema.IsRegression)
        {
            throw new ArgumentException($"Field 'hyper_parameters.soft_targets': {what} is a regression (its label is a double); soft targets are class probabilities.");
        }
        var column = schema.Find(LabelProbabilitiesColumn)
            ?? throw new ArgumentException($"Field 'hyper_parameters.soft_targets': {what} has no column '{LabelProbabilitiesColumn}' of probabilistic labels (labeling functions write one); train without soft targets or apply rules first.");
        if (column.Type != ColumnType.Tensor || column.Width != classes.Count)
        {
            throw new ArgumentException($"Field 'hyper_parameters.soft_targets': column '{LabelProbabilitiesColumn}' of {what} is {column.TypeName}, but soft targets need a tensor of {classes.Count} values (one per class: {string.Join(", ", classes.Take(10))}{(classes.Count > 10 ? ", ..." : "")}).");
        }
    }
}
