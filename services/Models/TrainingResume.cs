namespace BigDataAI.Models;

/// <summary>
/// A full checkpoint read back (<see cref="TrainingCheckpoint.Write"/> wrote it), to continue its run with
/// <see cref="Trainer.Train(ModelSpec, TrainingData, TrainingData?, TrainingOptions, TrainingCallbacks?, TrainingResume?, CancellationToken)"/>.
/// Holds managed memory only (no tensors), so it can be read on any thread and kept as long as needed.
/// </summary>
/// <remarks>
/// The continued run matches an uninterrupted run with the same seed bit for bit on the CPU with the same libtorch and
/// thread count; on a GPU, cuDNN's nondeterministic kernels make it close but not identical.
/// </remarks>
public sealed class TrainingResume
{
    internal TrainingResume(CheckpointManifest manifest, byte[] weights, OptimizerState optimizer, byte[] rng, byte[]? dropoutRng = null, BestEpoch? best = null)
    {
        Manifest = manifest;
        Weights = weights;
        Optimizer = optimizer;
        Rng = rng;
        DropoutRng = dropoutRng;
        Best = best;
    }

    /// <summary>
    /// Reads a checkpoint from <paramref name="source"/> (left open; a stream that cannot seek is buffered) and checks
    /// everything but the weights: those are checked against a model of <see cref="Spec"/> when training resumes.
    /// </summary>
    /// <exception cref="InvalidDataException">
    /// Not a checkpoint, an unknown version, a different data order scheme, or a damaged entry; the message says which.
    /// </exception>
    public static TrainingResume Read(Stream source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return CheckpointFile.Read(source);
    }

    /// <summary>Epochs completed when the checkpoint was written; training resumes at the next one.</summary>
    public int Epoch => Manifest.Epoch;

    /// <summary>The results of epochs 1..<see cref="Epoch"/>, in order.</summary>
    public IReadOnlyList<EpochResult> History => Manifest.History;

    /// <summary>The architecture trained; resuming requires an equal spec.</summary>
    public ModelSpec Spec => Manifest.Spec;

    /// <summary>
    /// The hyper-parameters trained with (<see cref="TrainingOptions.Device"/> is null: it is not recorded). Resuming
    /// requires equal batch size, learning rate, optimizer, seed and recipe (decay, schedule, early stopping, class
    /// weights, clipping); <see cref="TrainingOptions.Epochs"/> may be raised, except with the cosine schedule.
    /// </summary>
    public TrainingOptions Options => Manifest.HyperParameters.ToOptions();

    internal CheckpointManifest Manifest { get; }
    internal byte[] Weights { get; }
    internal OptimizerState Optimizer { get; }
    internal byte[] Rng { get; }
    internal byte[]? DropoutRng { get; }
    internal BestEpoch? Best { get; }

    /// <summary>The best validation epoch so far (1-based), whose weights the checkpoint carries; null without validation.</summary>
    public int? BestEpoch => Best?.Epoch;

    /// <summary>Set when the checkpoint was written in the middle of an epoch: the epoch and how many of its batches were trained.</summary>
    public TrainingPosition? Position => Manifest.Position;

    /// <summary>
    /// Throws an <see cref="ArgumentException"/> naming the first field in which the run to resume differs from the
    /// checkpoint's; returns the data's fingerprint otherwise (computed once, reused by the resumed run's checkpoints).
    /// </summary>
    internal DataFingerprint CheckResumable(ModelSpec spec, TrainingOptions options, TrainingData train, string order, string parameterName)
    {
        CheckResumable(spec, options, order, parameterName);
        var data = Manifest.Data;
        Same("train.Rows", data.Rows, train.Rows, parameterName);
        Same("train.FeatureCount", data.FeatureCount, train.FeatureCount, parameterName);
        var given = DataFingerprint.Of(train);
        Same("train.Labels (SHA-256)", data.LabelsSha256, given.LabelsSha256, parameterName);
        Same("train.Features (SHA-256)", data.FeaturesSha256, given.FeaturesSha256, parameterName);
        return given;
    }

    /// <summary>As above for a run fed by a <see cref="ShuffleLoader"/>, whose data is identified by <paramref name="given"/>.</summary>
    internal void CheckResumable(ModelSpec spec, TrainingOptions options, DataFingerprint given, string order, string parameterName)
    {
        CheckResumable(spec, options, order, parameterName);
        var data = Manifest.Data;
        Same("train.Rows", data.Rows, given.Rows, parameterName);
        Same("train.FeatureCount", data.FeatureCount, given.FeatureCount, parameterName);
        Same("train shards (identity)", data.LabelsSha256, given.LabelsSha256, parameterName);
        Same("ShuffleLoader.ShuffleBuffer", data.FeaturesSha256, given.FeaturesSha256, parameterName);
    }

    private void CheckResumable(ModelSpec spec, TrainingOptions options, string order, string parameterName)
    {
        if (Manifest.Order != order)
        {
            throw new ArgumentException(
                $"The checkpoint orders its data by '{Manifest.Order}', but this run by '{order}': resume a loader's run with a loader and an in-memory run in memory.", parameterName);
        }
        var saved = Manifest.Spec;
        Same("ModelSpec.Architecture", saved.Architecture, spec.Architecture);
        Same("ModelSpec.InputShape", Show(saved.InputShape), Show(spec.InputShape));
        Same("ModelSpec.Classes", saved.Classes, spec.Classes);
        Same("ModelSpec.Regression", saved.Regression, spec.Regression);
        Same("ModelSpec.HiddenSizes", Show(saved.HiddenSizes), Show(spec.HiddenSizes));
        Same("ModelSpec.Channels", Show(saved.Channels), Show(spec.Channels));
        Same("ModelSpec.Dropout", saved.Dropout, spec.Dropout);

        var hyper = Manifest.HyperParameters;
        Same("TrainingOptions.BatchSize", hyper.BatchSize, options.BatchSize);
        Same("TrainingOptions.LearningRate", hyper.LearningRate, options.LearningRate);
        Same("TrainingOptions.Optimizer", hyper.Optimizer, options.Optimizer);
        Same("TrainingOptions.Seed", hyper.Seed, options.Seed);
        Same("TrainingOptions.WeightDecay", hyper.WeightDecay, options.WeightDecay);
        Same("TrainingOptions.Schedule", hyper.Schedule, options.Schedule);
        Same("TrainingOptions.WarmupEpochs", hyper.WarmupEpochs, options.WarmupEpochs);
        Same("TrainingOptions.StepEpochs", hyper.StepEpochs, options.StepEpochs);
        Same("TrainingOptions.StepGamma", hyper.StepGamma, options.StepGamma);
        Same("TrainingOptions.Patience", hyper.Patience, options.Patience);
        Same("TrainingOptions.MinDelta", hyper.MinDelta, options.MinDelta);
        Same("TrainingOptions.ClassWeights", Show(hyper.ClassWeights), Show(options.ClassWeights));
        Same("TrainingOptions.MaxGradientNorm", hyper.MaxGradientNorm, options.MaxGradientNorm);
        if (hyper.Schedule == "cosine" && options.Epochs != hyper.Epochs)
        {
            throw new ArgumentException(
                $"TrainingOptions.Epochs is {options.Epochs} but the checkpoint's cosine schedule spans {hyper.Epochs} epochs; " +
                "a cosine run resumes only with the Epochs it was started with.", parameterName);
        }
        if (options.Epochs < Epoch)
        {
            throw new ArgumentException(
                $"TrainingOptions.Epochs is {options.Epochs} but the checkpoint has already trained {Epoch} epochs; " +
                "Epochs may be raised on resume, not lowered.", parameterName);
        }

        void Same<T>(string field, T checkpoint, T run) => TrainingResume.Same(field, checkpoint, run, parameterName);
    }

    private static void Same<T>(string field, T checkpoint, T run, string parameterName)
    {
        if (!EqualityComparer<T>.Default.Equals(checkpoint, run))
        {
            throw new ArgumentException(
                $"The checkpoint was trained with {field} = {checkpoint}, but this run has {run}. A run resumes only with the " +
                "spec, hyper-parameters (all but Epochs) and training data its checkpoint was written with.", parameterName);
        }
    }

    private static string Show(int[]? values) => $"[{string.Join(", ", values ?? [])}]";

    private static string Show(float[]? values) =>
        values is null ? "none" : $"[{string.Join(", ", values.Select(value => value.ToString("R", System.Globalization.CultureInfo.InvariantCulture)))}]";
}
