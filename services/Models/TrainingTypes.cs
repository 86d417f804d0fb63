using TorchSharp;
using static TorchSharp.torch;

namespace BigDataAI.Models;

/// <summary>Hyper-parameters and placement of one training run.</summary>
public sealed record TrainingOptions
{
    /// <summary>The optimizers <see cref="Trainer"/> supports.</summary>
    public static IReadOnlyList<string> Optimizers => ModelCatalog.Optimizers;

    /// <summary>The learning-rate schedules <see cref="Schedule"/> may name.</summary>
    public static IReadOnlyList<string> Schedules => ModelCatalog.Schedules;

    /// <summary>Passes over the training data (default 10).</summary>
    public int Epochs { get; init; } = 10;

    /// <summary>Examples per optimisation step (default 128); the last batch of an epoch may be smaller.</summary>
    public int BatchSize { get; init; } = 128;

    /// <summary>Learning rate (default 1e-3).</summary>
    public double LearningRate { get; init; } = 1e-3;

    /// <summary>"adam" (default) or "sgd" (with momentum 0.9).</summary>
    public string Optimizer { get; init; } = "adam";

    /// <summary>
    /// Seeds torch's generator (initial weights) and the shuffling (epoch k's order is drawn from a generator seeded with
    /// a mix of this seed and k); equal seeds give equal runs on the CPU (default 1).
    /// </summary>
    public int Seed { get; init; } = 1;

    /// <summary>"cpu", "cuda" or "cuda:N"; null (default) picks CUDA when <c>torch.cuda.is_available()</c>, else the CPU.</summary>
    public string? Device { get; init; }

    /// <summary>
    /// Also hand the checkpoint hook a full checkpoint after every this many batches within an epoch (its
    /// <see cref="TrainingCheckpoint.Position"/> says where), so a long epoch can be resumed in the middle; 0 (default):
    /// at the end of each epoch only. Not part of what a run resumes from: it may differ between runs.
    /// </summary>
    public int CheckpointEveryBatches { get; init; }

    /// <summary>
    /// A run fed by a <see cref="ShuffleLoader"/> keeps a split in memory (on the training device) after reading it once
    /// when its model inputs take at most this many bytes (rows x (features x 4 + 8)); the train split first, then the
    /// validation split with what is left. Later epochs gather their batches from it by the loader's
    /// <see cref="ShuffleLoader.RowOrder"/>, so they are the very batches the shards would give, without reading,
    /// hashing and decoding every shard again each epoch. 0: never (memory stays at the loader's buffer, whatever the
    /// data's size). Default 128 MiB. Not part of what a run resumes from.
    /// </summary>
    public long CacheBytes { get; init; } = DefaultCacheBytes;

    /// <summary>The default of <see cref="CacheBytes"/>: 128 MiB.</summary>
    public const long DefaultCacheBytes = 128L << 20;

    /// <summary>
    /// L2 weight decay: <c>decay x weight</c> is added to every parameter's gradient before the optimizer's update, as
    /// <c>weight_decay</c> in <c>torch.optim.Adam</c> and <c>torch.optim.SGD</c> (default 0: none).
    /// </summary>
    public double WeightDecay { get; init; }

    /// <summary>
    /// How the learning rate changes: "constant" (default); "step" (multiplied by <see cref="StepGamma"/> every
    /// <see cref="StepEpochs"/> epochs, as <c>StepLR</c>); "cosine" (from <see cref="LearningRate"/> to 0 over the batches
    /// after the warmup, as <c>CosineAnnealingLR</c> stepped per batch). <see cref="LearningRateAt"/> gives each batch's rate.
    /// </summary>
    public string Schedule { get; init; } = "constant";

    /// <summary>Linear warmup: over the first this many epochs the rate climbs batch by batch to <see cref="LearningRate"/> (default 0: none).</summary>
    public int WarmupEpochs { get; init; }

    /// <summary>"step" schedule: epochs between reductions (required, at least 1, for "step").</summary>
    public int StepEpochs { get; init; }

    /// <summary>"step" schedule: the factor of each reduction, in (0, 1] (default 0.1).</summary>
    public double StepGamma { get; init; } = 0.1;

    /// <summary>
    /// Early stopping: stop when the validation score has not improved by more than <see cref="MinDelta"/> for this many
    /// epochs (needs validation data). 0 (default): train all <see cref="Epochs"/>. Either way the best validation epoch's
    /// weights are the result.
    /// </summary>
    public int Patience { get; init; }

    /// <summary>The least rise of the validation score that counts as an improvement (default 0), as Keras' <c>min_delta</c>.</summary>
    public double MinDelta { get; init; }

    /// <summary>
    /// A weight per class in the cross-entropy (as <c>torch.nn.functional.cross_entropy</c>'s <c>weight</c>), e.g. from
    /// <see cref="BalancedClassWeights"/> for imbalanced data; null (default): all 1. Classifiers only.
    /// </summary>
    public float[]? ClassWeights { get; init; }

    /// <summary>
    /// Gradient clipping: when the gradients' total L2 norm exceeds this, they are scaled down to it, as
    /// <c>torch.nn.utils.clip_grad_norm_</c> (default 0: no clipping).
    /// </summary>
    public double MaxGradientNorm { get; init; }

    /// <summary>True when any option of the recipe (decay, schedule, early stopping, class weights, clipping) differs from the default.</summary>
    public bool HasRecipe =>
        WeightDecay != 0 || Schedule != "constant" || WarmupEpochs != 0 || StepEpochs != 0 || StepGamma != 0.1
        || Patience != 0 || MinDelta != 0 || ClassWeights is not null || MaxGradientNorm != 0;

    /// <summary>
    /// The learning rate of batch <paramref name="batch"/> (0-based) of epoch <paramref name="epoch"/> (1-based), with
    /// <paramref name="batches"/> batches per epoch: the warmup's linear climb, then the schedule.
    /// </summary>
    public double LearningRateAt(int epoch, int batch, int batches)
    {
        var step = (long)(epoch - 1) * batches + batch; // 0-based step of the whole run
        var warmup = (long)WarmupEpochs * batches;
        if (step < warmup)
        {
            return LearningRate * (step + 1) / warmup;
        }
        return Schedule switch
        {
            "step" => LearningRate * Math.Pow(StepGamma, (epoch - 1) / StepEpochs),
            "cosine" => LearningRate * 0.5 * (1 + Math.Cos(Math.PI * (step - warmup) / Math.Max(1, (long)Epochs * batches - warmup))),
            _ => LearningRate,
        };
    }

    /// <summary>
    /// Weights that balance classes of the given sizes: <c>rows / (classes x count)</c>, as scikit-learn's
    /// <c>class_weight="balanced"</c>; a class with no rows gets 1.
    /// </summary>
    public static float[] BalancedClassWeights(IReadOnlyList<long> counts)
    {
        ArgumentNullException.ThrowIfNull(counts);
        var total = counts.Sum();
        return counts.Select(count => count > 0 ? (float)(total / ((double)counts.Count * count)) : 1f).ToArray();
    }

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first invalid option; returns the options otherwise.</summary>
    public TrainingOptions Validate()
    {
        if (Epochs < 1)
        {
            throw new ArgumentException($"TrainingOptions.Epochs must be at least 1, not {Epochs}.");
        }
        if (CacheBytes < 0)
        {
            throw new ArgumentException($"TrainingOptions.CacheBytes must be 0 or more, not {CacheBytes}.");
        }
        if (CheckpointEveryBatches < 0)
        {
            throw new ArgumentException($"TrainingOptions.CheckpointEveryBatches must be 0 (epoch ends only) or positive, not {CheckpointEveryBatches}.");
        }
        if (BatchSize < 1)
        {
            throw new ArgumentException($"TrainingOptions.BatchSize must be at least 1, not {BatchSize}.");
        }
        if (!double.IsFinite(LearningRate) || LearningRate <= 0)
        {
            throw new ArgumentException($"TrainingOptions.LearningRate must be a positive number, not {LearningRate}.");
        }
        if (!Optimizers.Contains(Optimizer, StringComparer.Ordinal))
        {
            throw new ArgumentException(
                $"TrainingOptions.Optimizer '{Optimizer}' is unknown. Valid optimizers: {string.Join(", ", Optimizers)}.");
        }
        if (!double.IsFinite(WeightDecay) || WeightDecay < 0)
        {
            throw new ArgumentException($"TrainingOptions.WeightDecay must be 0 or a positive number, not {WeightDecay}.");
        }
        if (!Schedules.Contains(Schedule, StringComparer.Ordinal))
        {
            throw new ArgumentException(
                $"TrainingOptions.Schedule '{Schedule}' is unknown. Valid schedules: {string.Join(", ", Schedules)}.");
        }
        if (WarmupEpochs < 0 || WarmupEpochs >= Epochs)
        {
            throw new ArgumentException($"TrainingOptions.WarmupEpochs must be at least 0 and below Epochs ({Epochs}), not {WarmupEpochs}.");
        }
        if (Schedule == "step" ? StepEpochs < 1 : StepEpochs != 0)
        {
            throw new ArgumentException(Schedule == "step"
                ? $"TrainingOptions.StepEpochs must be at least 1 for the 'step' schedule, not {StepEpochs}."
                : $"TrainingOptions.StepEpochs ({StepEpochs}) applies to the 'step' schedule only, not '{Schedule}'.");
        }
        if (!double.IsFinite(StepGamma) || StepGamma <= 0 || StepGamma > 1)
        {
            throw new ArgumentException($"TrainingOptions.StepGamma must be above 0 and at most 1, not {StepGamma}.");
        }
        if (Patience < 0)
        {
            throw new ArgumentException($"TrainingOptions.Patience must be 0 (no early stopping) or positive, not {Patience}.");
        }
        if (!double.IsFinite(MinDelta) || MinDelta < 0)
        {
            throw new ArgumentException($"TrainingOptions.MinDelta must be 0 or a positive number, not {MinDelta}.");
        }
        if (ClassWeights is { } weights)
        {
            var bad = Array.FindIndex(weights, weight => !float.IsFinite(weight) || weight <= 0);
            if (weights.Length < 2 || bad >= 0)
            {
                throw new ArgumentException(weights.Length < 2
                    ? $"TrainingOptions.ClassWeights has {weights.Length} weights; give one per class (at least 2)."
                    : $"TrainingOptions.ClassWeights[{bad}] is {weights[bad]}; every class weight must be a positive number.");
            }
        }
        if (!double.IsFinite(MaxGradientNorm) || MaxGradientNorm < 0)
        {
            throw new ArgumentException($"TrainingOptions.MaxGradientNorm must be 0 (no clipping) or a positive number, not {MaxGradientNorm}.");
        }
        return this;
    }
}

/// <summary>Progress after one optimisation step.</summary>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="Batch">1-based batch within the epoch.</param>
/// <param name="Batches">Batches per epoch.</param>
/// <param name="Loss">Mean cross-entropy of this batch.</param>
/// <param name="SamplesPerSecond">Training throughput of the epoch so far.</param>
public readonly record struct BatchProgress(int Epoch, int Batch, int Batches, double Loss, double SamplesPerSecond)
{
    /// <summary>The learning rate this step used (<see cref="TrainingOptions.LearningRateAt"/>).</summary>
    public double LearningRate { get; init; }
}

/// <summary>Result of one epoch.</summary>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="TrainLoss">Mean cross-entropy over the epoch's training examples.</param>
/// <param name="ValidationAccuracy">Share of validation examples classified correctly after the epoch, in [0, 1]; null without validation data.</param>
/// <param name="SamplesPerSecond">Training throughput of the epoch (validation excluded).</param>
/// <param name="Duration">Wall time of the epoch, validation included.</param>
public sealed record EpochResult(int Epoch, double TrainLoss, double? ValidationAccuracy, double SamplesPerSecond, TimeSpan Duration)
{
    /// <summary>The learning rate of the epoch's first batch (<see cref="TrainingOptions.LearningRateAt"/>); null in checkpoints older than the schedules.</summary>
    public double? LearningRate { get; init; }
}

/// <summary>
/// Handed to the checkpoint hook after each epoch, on the training thread, while training waits: save the state of that
/// moment with <see cref="Write"/> (everything needed to continue the run) or <see cref="WriteWeights"/> (the weights
/// only). Valid only during the call.
/// </summary>
public sealed class TrainingCheckpoint
{
    private readonly nn.Module<Tensor, Tensor> _model;
    private readonly TrainingOptimizer _optimizer;
    private readonly TrainingRun _run;

    private readonly BestEpoch? _best;

    internal TrainingCheckpoint(nn.Module<Tensor, Tensor> model, TrainingOptimizer optimizer, IReadOnlyList<EpochResult> history, TrainingRun run, TrainingPosition? position = null, BestEpoch? best = null)
    {
        _model = model;
        _optimizer = optimizer;
        _run = run;
        _best = best;
        History = history;
        Position = position;
    }

    /// <summary>
    /// The epoch with the best validation score so far (1-based), whose weights the run will end with; null without
    /// validation data.
    /// </summary>
    public int? Best => _best?.Epoch;

    /// <summary>
    /// The epoch just finished; for a checkpoint in the middle of an epoch (<see cref="Position"/> set) the last finished
    /// one. Throws <see cref="InvalidOperationException"/> in the middle of the first epoch, when none has finished.
    /// </summary>
    public EpochResult Epoch => History.Count > 0 ? History[^1] : throw new InvalidOperationException("No epoch has finished yet: this checkpoint is in the middle of epoch 1 (see Position).");

    /// <summary>
    /// Where in an epoch a checkpoint written in its middle (<see cref="TrainingOptions.CheckpointEveryBatches"/>) was
    /// taken; null for one written at an epoch's end.
    /// </summary>
    public TrainingPosition? Position { get; }

    /// <summary>The results of all epochs so far, this one included (a resumed run's earlier epochs too).</summary>
    public IReadOnlyList<EpochResult> History { get; }

    /// <summary>Writes the current weights to <paramref name="destination"/> (left open), as <see cref="ModelWeights.Save"/> does.</summary>
    public void WriteWeights(Stream destination) => ModelWeights.Save(_model, destination);

    /// <summary>
    /// Writes a full checkpoint to <paramref name="destination"/> (left open; it need not be seekable): a zip of
    /// <c>checkpoint.json</c> (format version, epochs done, history, data order scheme, and the fingerprint of the run: spec,
    /// hyper-parameters, rows, feature count and SHA-256 of labels and features), <c>model.pt</c> (weights, as
    /// <see cref="WriteWeights"/>), <c>optimizer.bin</c> (step count and Adam moments or SGD momentum buffers) and
    /// <c>rng.bin</c> (torch's default CPU generator). Read it with <see cref="TrainingResume.Read"/> to continue the run.
    /// </summary>
    /// <remarks>The first call of a run hashes the training data once (SHA-256: about 0.6 s per GB on a 2-core EPYC).</remarks>
    public void Write(Stream destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        CheckpointFile.Write(destination, _model, _optimizer, History, _run, Position, _best);
    }
}

/// <summary>A point in the middle of an epoch: <paramref name="Batches"/> of epoch <paramref name="Epoch"/>'s batches trained.</summary>
/// <param name="Epoch">The epoch in progress (1-based).</param>
/// <param name="Batches">Batches of it already trained; a resumed run continues with the next.</param>
/// <param name="LossSum">Sum over those batches of loss x rows (the epoch's mean loss needs it).</param>
/// <param name="Samples">Rows trained in those batches.</param>
public sealed record TrainingPosition(int Epoch, int Batches, double LossSum, long Samples);

/// <summary>Optional observers of a training run. All are called synchronously on the training thread: keep them short.</summary>
public sealed record TrainingCallbacks
{
    /// <summary>After every optimisation step. <see cref="Progress{T}"/> works and marshals to its context.</summary>
    public IProgress<BatchProgress>? Batch { get; init; }

    /// <summary>After every epoch (after validation, before the checkpoint); <see cref="EpochResult.LearningRate"/> is set.</summary>
    public IProgress<EpochResult>? Epoch { get; init; }

    /// <summary>
    /// After every epoch, to persist the run (<see cref="TrainingCheckpoint.Write"/>) or its weights
    /// (<see cref="TrainingCheckpoint.WriteWeights"/>), and also every <see cref="TrainingOptions.CheckpointEveryBatches"/>
    /// batches within an epoch when that is set (<see cref="TrainingCheckpoint.Position"/> non-null). An exception here
    /// ends the training.
    /// </summary>
    public Action<TrainingCheckpoint>? Checkpoint { get; init; }
}

/// <summary>A finished training run. Owns the trained model: dispose it when done.</summary>
public sealed class TrainingResult : IDisposable
{
    internal TrainingResult(nn.Module<Tensor, Tensor> model, ModelSpec spec, string device, IReadOnlyList<EpochResult> epochs, TimeSpan duration, int? best = null, bool stoppedEarly = false)
    {
        Model = model;
        Spec = spec;
        Device = device;
        Epochs = epochs;
        Duration = duration;
        Best = best;
        StoppedEarly = stoppedEarly;
    }

    /// <summary>
    /// The epoch (1-based) whose weights <see cref="Model"/> holds: the best validation score's (the earliest of equals,
    /// improvements smaller than <see cref="TrainingOptions.MinDelta"/> ignored); null without validation data, when the
    /// model holds the last epoch's weights.
    /// </summary>
    public int? Best { get; }

    /// <summary>True when early stopping (<see cref="TrainingOptions.Patience"/>) ended the run before <see cref="TrainingOptions.Epochs"/>.</summary>
    public bool StoppedEarly { get; }

    /// <summary>The trained model, in eval mode, on <see cref="Device"/>, with the weights of epoch <see cref="Best"/> (the last epoch without validation). Save it with <see cref="ModelWeights.Save"/>.</summary>
    public nn.Module<Tensor, Tensor> Model { get; }

    /// <summary>The architecture trained.</summary>
    public ModelSpec Spec { get; }

    /// <summary>The device trained on, e.g. "cpu" or "cuda:0".</summary>
    public string Device { get; }

    /// <summary>One entry per epoch, in order; for a resumed run the checkpoint's epochs come first.</summary>
    public IReadOnlyList<EpochResult> Epochs { get; }

    /// <summary>Wall time of this call (a resumed run's earlier epochs excluded), data upload and validation included.</summary>
    public TimeSpan Duration { get; }

    /// <summary>Disposes the model.</summary>
    public void Dispose() => Model.Dispose();
}

/// <summary>The best validation epoch so far and a copy of its weights (<see cref="ModelWeights.Save"/>'s bytes).</summary>
internal sealed record BestEpoch(int Epoch, double Score, byte[] Weights);
