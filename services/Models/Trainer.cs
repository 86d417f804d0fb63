using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace BigDataAI.Models;

/// <summary>
/// Trains a classifier described by a <see cref="ModelSpec"/> with cross-entropy (against the labels, or against
/// <see cref="TrainingData.SoftTargets"/> when the data has them), minibatches and Adam or SGD, with the recipe of
/// <see cref="TrainingOptions"/>: L2 weight decay, a learning-rate schedule with warmup, class weights, gradient clipping and
/// early stopping; dropout comes with the <see cref="ModelSpec"/>. The result holds the best validation epoch's weights.
/// </summary>
/// <remarks>
/// The loop follows the TorchSharp examples: the device is chosen once; the whole training set is uploaded once as one
/// tensor, and each batch is gathered from it with <c>index_select</c> through a per-epoch permutation; one dispose scope
/// per batch; <c>model.train()</c> for training and <c>model.eval()</c> with <c>no_grad</c> for validation. Epoch k's
/// permutation depends only on the seed and k (<see cref="OrderScheme"/>), so a run can be continued from a checkpoint of
/// any epoch. On the CPU, equal seeds give identical losses and weights, and so does a run resumed from a full checkpoint
/// (<see cref="TrainingCheckpoint.Write"/>), given the same libtorch and thread count; on a GPU, cuDNN's nondeterministic
/// kernels make runs close but not identical. The optimizers follow <c>torch.optim.Adam</c> and <c>torch.optim.SGD</c> but
/// are our own (<see cref="TrainingOptimizer"/> says why).
/// </remarks>
public static class Trainer
{
    /// <summary>
    /// Rows per forward pass when validating. Larger batches are slower on the CPU, not faster: a CNN's activations for
    /// 1,024 digits take about 75 MB, which libtorch allocates afresh (page faults) on every pass.
    /// </summary>
    internal const int EvaluationBatch = 128;

    /// <summary>
    /// How each epoch's data order is drawn, recorded in every checkpoint: a Fisher-Yates shuffle of 0..rows-1 with
    /// <c>System.Random(int)</c> seeded by the top 31 bits of SplitMix64 of <c>(uint)seed &lt;&lt; 32 | epoch</c>.
    /// Change the scheme and this text together: checkpoints of another scheme are refused, as they cannot be continued
    /// identically.
    /// </summary>
    public const string OrderScheme = "fisher-yates(System.Random(splitmix64((uint)seed << 32 | epoch) >> 33))";

    /// <summary>
    /// Builds the model of <paramref name="spec"/> (weights seeded with <see cref="TrainingOptions.Seed"/>) and trains it,
    /// or continues the run a full checkpoint (<paramref name="resumeFrom"/>) was written from.
    /// Synchronous and CPU-bound: run it on a dedicated thread or a background service, not in a request.
    /// </summary>
    /// <param name="spec">The architecture to train.</param>
    /// <param name="train">Training examples; must fit the spec (feature count, labels below <see cref="ModelSpec.Classes"/>).</param>
    /// <param name="validation">Examples to measure accuracy on after each epoch; null for none.</param>
    /// <param name="options">Hyper-parameters and device.</param>
    /// <param name="callbacks">Progress, per-epoch results and the checkpoint hook; null for none. A resumed run reports only its new epochs.</param>
    /// <param name="resumeFrom">
    /// A checkpoint of this run (<see cref="TrainingResume.Read"/>) to continue from: the weights, optimizer state and torch's
    /// generator are restored and training goes on at epoch <see cref="TrainingResume.Epoch"/> + 1 up to
    /// <see cref="TrainingOptions.Epochs"/> (which may be raised, not lowered). When the checkpoint already has all epochs the
    /// model is returned without training. Null (default) trains from scratch.
    /// </param>
    /// <param name="cancellationToken">Checked before every batch; cancellation throws <see cref="OperationCanceledException"/>.</param>
    /// <returns>The trained model and per-epoch results (a resumed run's include the checkpoint's); the caller disposes it.</returns>
    /// <exception cref="ArgumentException">
    /// Invalid spec, options or device; data that does not fit the spec (the message names the row); on a CPU whose
    /// libtorch computes some convolution gradients wrongly, a CNN that would hit that defect (the message names the field);
    /// or a <paramref name="resumeFrom"/> written for another spec, other hyper-parameters or other training data (the
    /// message names the field that differs).
    /// </exception>
    /// <exception cref="InvalidDataException">The weights or optimizer state in <paramref name="resumeFrom"/> do not fit the spec.</exception>
    public static TrainingResult Train(
        ModelSpec spec,
        TrainingData train,
        TrainingData? validation,
        TrainingOptions options,
        TrainingCallbacks? callbacks = null,
        TrainingResume? resumeFrom = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(options);
        spec.Validate();
        options.Validate();
        train.CheckFits(spec, nameof(train));
        validation?.CheckFits(spec, nameof(validation));
        if (train.Rows == 0)
        {
            throw new ArgumentException("train has no rows.", nameof(train));
        }
        CheckRecipe(spec, options, validation?.Rows ?? 0);
        var fingerprint = resumeFrom?.CheckResumable(spec, options, train, OrderScheme, nameof(resumeFrom));
        return BuildAndTrain(spec, options, resumeFrom, cancellationToken, (model, device) =>
        {
            var run = new TrainingRun(spec, options, train, device.ToString(), fingerprint);
            using var feed = new MemoryFeed(train, options, device);
            using var validationFeatures = validation is null ? null : Devices.Upload(validation.Features, validation.Rows, validation.FeatureCount, device);
            return Run(model, device, feed, m => Validate(m, validation, validationFeatures), options, run, resumeFrom, callbacks ?? new TrainingCallbacks(), cancellationToken);
        });
    }

    /// <summary>
    /// The signature before <c>resumeFrom</c> existed, for callers that pass the token by position. Same as the
    /// overload above without a checkpoint.
    /// </summary>
    /// <inheritdoc cref="Train(ModelSpec, TrainingData, TrainingData?, TrainingOptions, TrainingCallbacks?, TrainingResume?, CancellationToken)"/>
    public static TrainingResult Train(
        ModelSpec spec,
        TrainingData train,
        TrainingData? validation,
        TrainingOptions options,
        TrainingCallbacks? callbacks,
        CancellationToken cancellationToken) =>
        Train(spec, train, validation, options, callbacks, resumeFrom: null, cancellationToken);

    /// <summary>
    /// Trains on shards streamed by <paramref name="train"/> (<see cref="ShuffleLoader"/>: a per-epoch shard order drawn
    /// from the seed, a shuffle buffer, the next shard read in the background), validating shard by shard on
    /// <paramref name="validation"/>, so memory holds the loader's buffer and a shard or two, not the data. Otherwise as
    /// <see cref="Train(ModelSpec, TrainingData, TrainingData?, TrainingOptions, TrainingCallbacks?, TrainingResume?, CancellationToken)"/>:
    /// equal seeds give identical weights on the CPU, and a run resumed from any full checkpoint (at an epoch's end, or
    /// in the middle of one with <see cref="TrainingOptions.CheckpointEveryBatches"/>) ends bit for bit like an
    /// uninterrupted one. The loader's batch size is <see cref="TrainingOptions.BatchSize"/>, its seed
    /// <see cref="TrainingOptions.Seed"/>.
    /// </summary>
    /// <exception cref="ArgumentException">As the in-memory overload; also a loader whose batch size or seed is not the options'.</exception>
    public static TrainingResult Train(
        ModelSpec spec,
        ShuffleLoader train,
        ITrainingShards? validation,
        TrainingOptions options,
        TrainingCallbacks? callbacks = null,
        TrainingResume? resumeFrom = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(options);
        spec.Validate();
        options.Validate();
        if (train.BatchSize != options.BatchSize || train.Seed != options.Seed)
        {
            throw new ArgumentException($"The loader draws batches of {train.BatchSize} with seed {train.Seed}, the options say {options.BatchSize} and {options.Seed}.", nameof(train));
        }
        CheckShards(spec, train.Shards, nameof(train));
        if (validation is not null)
        {
            CheckShards(spec, validation, nameof(validation));
        }
        if (train.Shards.Rows == 0)
        {
            throw new ArgumentException("train has no rows.", nameof(train));
        }
        CheckRecipe(spec, options, validation?.Rows ?? 0);
        var fingerprint = DataFingerprint.Of(train);
        resumeFrom?.CheckResumable(spec, options, fingerprint, ShuffleLoader.Scheme, nameof(resumeFrom));
        return BuildAndTrain(spec, options, resumeFrom, cancellationToken, (model, device) =>
        {
            var run = new TrainingRun(spec, options, null, device.ToString(), fingerprint, ShuffleLoader.Scheme);
            // A split small enough (TrainingOptions.CacheBytes) is read once and kept on the device: the same batches and
            // the same validation score, without reading, hashing and decoding every shard again each epoch.
            var trainBytes = SplitCache.BytesOf(train.Shards);
            var cacheTrain = trainBytes <= options.CacheBytes;
            var left = options.CacheBytes - (cacheTrain ? trainBytes : 0);
            using var validationCache = validation is { Rows: > 0 } && SplitCache.BytesOf(validation) <= left
                ? SplitCache.Read(validation, device, cancellationToken)
                : null;
            using IBatchFeed feed = cacheTrain ? new CachedLoaderFeed(train, SplitCache.Read(train.Shards, device, cancellationToken), device) : new LoaderFeed(train, device);
            Func<nn.Module<Tensor, Tensor>, double?> validate = validationCache is not null
                ? m => validationCache.Score(m, EvaluationBatch)
                : m => ValidateShards(m, device, validation, cancellationToken);
            return Run(model, device, feed, validate, options, run, resumeFrom, callbacks ?? new TrainingCallbacks(), cancellationToken);
        });
    }

    /// <summary>
    /// The setup both overloads share once their data is checked: resolves the device, refuses on the CPU a CNN its
    /// libtorch would train wrongly, builds the model seeded with <see cref="TrainingOptions.Seed"/>, restores
    /// <paramref name="resumeFrom"/>'s weights and torch's generator, moves the model to the device and hands it to
    /// <paramref name="epochs"/>, which trains it. The model comes back in eval mode, or is disposed when anything throws.
    /// The order of these steps is part of the seeded result: the generator is restored after the model's weights are
    /// drawn and before any batch is. At the end the model is given the best validation epoch's weights.
    /// </summary>
    private static TrainingResult BuildAndTrain(
        ModelSpec spec,
        TrainingOptions options,
        TrainingResume? resumeFrom,
        CancellationToken cancellationToken,
        Func<nn.Module<Tensor, Tensor>, Device, RunOutcome> epochs)
    {
        var device = Devices.Resolve(options.Device);
        if (device.type == DeviceType.CPU)
        {
            ConvolutionCheck.EnsureTrainable(spec);
        }
        cancellationToken.ThrowIfCancellationRequested();
        var clock = Stopwatch.StartNew();
        var model = ModelFactory.Create(spec, options.Seed);
        try
        {
            if (resumeFrom is not null)
            {
                using var weights = new MemoryStream(resumeFrom.Weights, writable: false);
                ModelWeights.LoadInto(model, spec, weights);
                CheckpointFile.SetRngState(resumeFrom.Rng);
                if (ModelFactory.NoiseOf(model) is { } noise && resumeFrom.DropoutRng is { } dropoutState)
                {
                    noise.State = dropoutState;
                }
            }
            model.to(device);
            var outcome = epochs(model, device);
            if (outcome.Best is { } best && best.Epoch != outcome.Epochs.Count)
            {
                using var weights = new MemoryStream(best.Weights, writable: false);
                ModelWeights.LoadInto(model, spec, weights);
            }
            model.eval();
            return new TrainingResult(model, spec, device.ToString(), outcome.Epochs, clock.Elapsed, outcome.Best?.Epoch, outcome.StoppedEarly);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>The recipe checks that need the spec or the data: class weights per class, early stopping with validation.</summary>
    private static void CheckRecipe(ModelSpec spec, TrainingOptions options, int validationRows)
    {
        if (options.ClassWeights is { } weights)
        {
            if (spec.Regression)
            {
                throw new ArgumentException($"TrainingOptions.ClassWeights applies to classifiers; the model ({spec}) is a regression.", nameof(options));
            }
            if (weights.Length != spec.Classes)
            {
                throw new ArgumentException($"TrainingOptions.ClassWeights has {weights.Length} weights but the model ({spec}) has {spec.Classes} classes.", nameof(options));
            }
        }
        if (options.Patience > 0 && validationRows == 0)
        {
            throw new ArgumentException(
                $"TrainingOptions.Patience is {options.Patience} but there is no validation data: early stopping watches the validation score.", nameof(options));
        }
    }

    /// <summary>
    /// Whether <paramref name="score"/> improves on <paramref name="best"/> (Keras' rule: by more than
    /// <see cref="TrainingOptions.MinDelta"/>; the first finite score always does).
    /// </summary>
    internal static bool Improves(double score, double? best, double minDelta) =>
        double.IsFinite(score) && (best is not { } value || score - minDelta > value);

    /// <summary>The best validation epoch of <paramref name="history"/> by <see cref="Improves"/>; null when no epoch was validated.</summary>
    internal static int? BestOf(IReadOnlyList<EpochResult> history, double minDelta)
    {
        int? best = null;
        double? score = null;
        foreach (var epoch in history)
        {
            if (epoch.ValidationAccuracy is { } value && Improves(value, score, minDelta))
            {
                (best, score) = (epoch.Epoch, value);
            }
        }
        return best;
    }

    /// <summary>
    /// Early stopping, decided from the history alone (so a resumed run stops where an uninterrupted one did): true when
    /// <see cref="TrainingOptions.Patience"/> epochs have passed since the best one.
    /// </summary>
    internal static bool ShouldStop(IReadOnlyList<EpochResult> history, TrainingOptions options) =>
        options.Patience > 0 && BestOf(history, options.MinDelta) is { } best && history.Count - best >= options.Patience;

    private static void CheckShards(ModelSpec spec, ITrainingShards shards, string name)
    {
        if (shards.FeatureCount != spec.FeatureCount)
        {
            throw new ArgumentException($"{name} has {shards.FeatureCount} features per row but the model ({spec}) expects {spec.FeatureCount}.", name);
        }
        if (spec.Regression != shards.Regression)
        {
            throw new ArgumentException(
                spec.Regression ? $"{name} has class labels but the model ({spec}) is a regression; give it targets." : $"{name} has regression targets but the model ({spec}) is a classifier.", name);
        }
    }

    /// <summary>Validation accuracy (R² for a regression) over shards read one at a time; the same figure the in-memory path computes.</summary>
    private static double? ValidateShards(nn.Module<Tensor, Tensor> model, Device device, ITrainingShards? validation, CancellationToken cancellationToken)
    {
        if (validation is null || validation.Rows == 0)
        {
            return null;
        }
        // Labels and predictions are one number per row (0.5 % of an MNIST row's features): kept, so the figure is exact.
        var actual = new List<long>(validation.Rows);
        var predicted = new List<long>(validation.Rows);
        var targets = new List<float>();
        var values = new List<float>();
        for (var i = 0; i < validation.Count; i++)
        {
            var data = validation.ReadAsync(i, cancellationToken).GetAwaiter().GetResult();
            using var features = Devices.Upload(data.Features, data.Rows, data.FeatureCount, device);
            if (validation.Regression)
            {
                targets.AddRange(data.Targets!);
                values.AddRange(Inference.PredictValues(model, features, EvaluationBatch));
            }
            else
            {
                actual.AddRange(data.Labels);
                predicted.AddRange(Inference.PredictClasses(model, features, EvaluationBatch));
            }
        }
        return validation.Regression
            ? Evaluator.R2([.. targets], [.. values])
            : Evaluator.Accuracy([.. actual], [.. predicted]);
    }

    /// <summary>Where the trainer's batches come from: the whole set on the device, or a <see cref="ShuffleLoader"/>.</summary>
    private interface IBatchFeed : IDisposable
    {
        int Rows { get; }
        int Batches { get; }

        /// <summary>Starts epoch <paramref name="epoch"/> at batch <paramref name="skipBatches"/> (0-based).</summary>
        void StartEpoch(int epoch, int skipBatches);

        /// <summary>Moves to the next batch; false after the epoch's last. Gives the batch's row count.</summary>
        bool Next(out int count);

        /// <summary>The current batch's tensors, created in the caller's dispose scope.</summary>
        (Tensor X, Tensor Y, Tensor? Soft) Tensors();
    }

    /// <summary>The whole training set uploaded once; each batch gathered through the epoch's permutation (<see cref="OrderScheme"/>).</summary>
    private sealed class MemoryFeed : IBatchFeed
    {
        private readonly Tensor _features;
        private readonly Tensor _labels;
        private readonly Tensor? _soft;
        private readonly Device _device;
        private readonly int _seed;
        private readonly int _batchSize;
        private readonly long[] _order;
        private Tensor? _permutation;
        private int _batch;
        private int _start;
        private int _count;

        public MemoryFeed(TrainingData train, TrainingOptions options, Device device)
        {
            _features = Devices.Upload(train.Features, train.Rows, train.FeatureCount, device);
            _labels = train.Targets is { } targets ? Devices.Upload(targets, device) : Devices.Upload(train.Labels, device);
            // Soft targets: a [rows, classes] tensor of probabilities the loss compares the log-softmax with.
            _soft = train.SoftTargets is { } probabilities ? Devices.Upload(probabilities, train.Rows, probabilities.Length / Math.Max(1, train.Rows), device) : null;
            _device = device;
            _seed = options.Seed;
            _batchSize = options.BatchSize;
            _order = new long[train.Rows];
            Rows = train.Rows;
            Batches = (Rows + _batchSize - 1) / _batchSize;
        }

        public int Rows { get; }
        public int Batches { get; }

        public void StartEpoch(int epoch, int skipBatches)
        {
            Shuffle(_order, new Random(EpochSeed(_seed, epoch)));
            _permutation?.Dispose();
            _permutation = Devices.Upload(_order, _device);
            _batch = skipBatches;
        }

        public bool Next(out int count)
        {
            if (_batch >= Batches)
            {
                count = 0;
                return false;
            }
            _start = _batch * _batchSize;
            count = _count = Math.Min(_batchSize, Rows - _start);
            _batch++;
            return true;
        }

        public (Tensor X, Tensor Y, Tensor? Soft) Tensors()
        {
            var index = _permutation!.narrow(0, _start, _count);
            return (_features.index_select(0, index), _labels.index_select(0, index), _soft?.index_select(0, index));
        }

        public void Dispose()
        {
            _permutation?.Dispose();
            _features.Dispose();
            _labels.Dispose();
            _soft?.Dispose();
        }
    }

    /// <summary>
    /// A <see cref="ShuffleLoader"/>'s batches gathered from its split held on the device (<see cref="SplitCache"/>):
    /// each epoch's rows in the loader's <see cref="ShuffleLoader.RowOrder"/>, cut into batches of its size, so every batch
    /// holds the rows, in the order, that <see cref="LoaderFeed"/> would upload, as the bare loop gathers them.
    /// </summary>
    private sealed class CachedLoaderFeed(ShuffleLoader loader, SplitCache cache, Device device) : IBatchFeed
    {
        private readonly long[] _order = new long[loader.Shards.Rows];
        private Tensor? _permutation;
        private int _batch;
        private int _start;
        private int _count;

        public int Rows => loader.Shards.Rows;
        public int Batches => loader.BatchesPerEpoch;

        public void StartEpoch(int epoch, int skipBatches)
        {
            var i = 0;
            foreach (var row in loader.RowOrder(epoch))
            {
                _order[i++] = row;
            }
            if (i != _order.Length)
            {
                throw new InvalidOperationException($"The loader's order of epoch {epoch} has {i} rows, not {_order.Length}.");
            }
            _permutation?.Dispose();
            _permutation = Devices.Upload(_order, device);
            _batch = skipBatches;
        }

        public bool Next(out int count)
        {
            if (_batch >= Batches)
            {
                count = 0;
                return false;
            }
            _start = _batch * loader.BatchSize;
            count = _count = Math.Min(loader.BatchSize, Rows - _start);
            _batch++;
            return true;
        }

        public (Tensor X, Tensor Y, Tensor? Soft) Tensors()
        {
            var index = _permutation!.narrow(0, _start, _count);
            return (cache.Features.index_select(0, index), cache.Labels.index_select(0, index), null);
        }

        public void Dispose()
        {
            _permutation?.Dispose();
            cache.Dispose();
        }
    }

    /// <summary>Batches from a <see cref="ShuffleLoader"/>, each uploaded as it comes.</summary>
    private sealed class LoaderFeed(ShuffleLoader loader, Device device) : IBatchFeed
    {
        private IEnumerator<LoaderBatch>? _batches;

        public int Rows => loader.Shards.Rows;
        public int Batches => loader.BatchesPerEpoch;

        public void StartEpoch(int epoch, int skipBatches)
        {
            _batches?.Dispose();
            _batches = loader.Epoch(epoch, skipBatches).GetEnumerator();
        }

        public bool Next(out int count)
        {
            var more = _batches!.MoveNext();
            count = more ? _batches.Current.Rows : 0;
            return more;
        }

        public (Tensor X, Tensor Y, Tensor? Soft) Tensors()
        {
            var batch = _batches!.Current;
            var x = Devices.Upload(batch.Features, batch.Rows, loader.Shards.FeatureCount, device);
            var y = batch.Targets is { } targets ? Devices.Upload(targets, device) : Devices.Upload(batch.Labels, device);
            return (x, y, null);
        }

        public void Dispose() => _batches?.Dispose();
    }

    /// <summary>What <see cref="Run"/> gives back: every epoch's result, the best validation epoch, and whether early stopping ended it.</summary>
    private sealed record RunOutcome(List<EpochResult> Epochs, BestEpoch? Best, bool StoppedEarly);

    private static RunOutcome Run(
        nn.Module<Tensor, Tensor> model,
        Device device,
        IBatchFeed feed,
        Func<nn.Module<Tensor, Tensor>, double?> validate,
        TrainingOptions options,
        TrainingRun run,
        TrainingResume? resumeFrom,
        TrainingCallbacks callbacks,
        CancellationToken cancellationToken)
    {
        var results = new List<EpochResult>(options.Epochs);
        results.AddRange(resumeFrom?.History ?? []);
        var best = resumeFrom?.Best;
        if (results.Count == options.Epochs || ShouldStop(results, options))
        {
            return new RunOutcome(results, best, results.Count < options.Epochs); // the checkpoint already has every epoch
        }
        using var optimizer = new TrainingOptimizer(model, options.Optimizer, options.WeightDecay);
        if (resumeFrom is not null)
        {
            optimizer.Import(resumeFrom.Optimizer);
        }
        var regression = run.Spec.Regression;
        using var classWeights = options.ClassWeights is { } weights && !regression ? Devices.Upload(weights, device) : null;
        var rows = feed.Rows;
        var batches = feed.Batches;
        // A checkpoint written in the middle of an epoch: continue that epoch after its last trained batch.
        var position = resumeFrom?.Position;

        for (var epoch = results.Count + 1; epoch <= options.Epochs; epoch++)
        {
            var epochClock = Stopwatch.StartNew();
            var firstBatch = position is { } p && p.Epoch == epoch ? p.Batches : 0;
            var lossSum = firstBatch > 0 ? position!.LossSum : 0.0;
            var samples = firstBatch > 0 ? position!.Samples : 0;
            position = null;
            feed.StartEpoch(epoch, firstBatch);

            model.train();
            for (var batch = firstBatch; feed.Next(out var count); batch++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var learningRate = options.LearningRateAt(epoch, batch, batches);
                double loss;
                using (NewDisposeScope())
                {
                    var (x, y, soft) = feed.Tensors();
                    optimizer.ZeroGrad();
                    var output = regression
                        ? nn.functional.mse_loss(model.call(x).squeeze(1), y)
                        : soft is not null
                            // Cross-entropy against the soft targets: -(p * log_softmax(z) * w).sum(1).mean(), as torch's
                            // cross_entropy with probability targets (the class weights, when given, scale each class's term).
                            ? -(classWeights is null
                                ? soft * nn.functional.log_softmax(model.call(x), 1)
                                : soft * nn.functional.log_softmax(model.call(x), 1) * classWeights).sum(1).mean()
                            : nn.functional.cross_entropy(model.call(x), y, weight: classWeights);
                    output.backward();
                    if (options.MaxGradientNorm > 0)
                    {
                        optimizer.ClipGradients(options.MaxGradientNorm);
                    }
                    optimizer.Step(learningRate);
                    loss = output.item<float>();
                }
                lossSum += loss * count;
                samples += count;
                callbacks.Batch?.Report(new BatchProgress(epoch, batch + 1, batches, loss,
                    samples / epochClock.Elapsed.TotalSeconds) { LearningRate = learningRate });
                if (options.CheckpointEveryBatches > 0 && (batch + 1) % options.CheckpointEveryBatches == 0 && batch + 1 < batches)
                {
                    callbacks.Checkpoint?.Invoke(new TrainingCheckpoint(model, optimizer, results.ToArray(), run, new TrainingPosition(epoch, batch + 1, lossSum, samples), best));
                }
            }
            var trainSeconds = epochClock.Elapsed.TotalSeconds;

            var accuracy = validate(model);
            var result = new EpochResult(epoch, lossSum / rows, accuracy, rows / trainSeconds, epochClock.Elapsed)
            {
                LearningRate = options.LearningRateAt(epoch, 0, batches),
            };
            results.Add(result);
            if (accuracy is { } score && Improves(score, best?.Score, options.MinDelta))
            {
                // The best epoch's weights, kept in memory: the run ends with them (and checkpoints carry them as best.pt).
                using var copy = new MemoryStream();
                ModelWeights.Save(model, copy);
                best = new BestEpoch(epoch, score, copy.ToArray());
            }
            callbacks.Epoch?.Report(result);
            callbacks.Checkpoint?.Invoke(new TrainingCheckpoint(model, optimizer, results.ToArray(), run, best: best));
            if (ShouldStop(results, options))
            {
                return new RunOutcome(results, best, results.Count < options.Epochs);
            }
        }
        return new RunOutcome(results, best, false);
    }

    /// <summary>Accuracy (R² for a regression) on the validation set uploaded once; null without one.</summary>
    private static double? Validate(nn.Module<Tensor, Tensor> model, TrainingData? validation, Tensor? features)
    {
        if (validation is null || features is null)
        {
            return null;
        }
        // For a regression the per-epoch score is R² on the validation split.
        return validation.Targets is { } targets
            ? Evaluator.R2(targets, Inference.PredictValues(model, features, EvaluationBatch))
            : Evaluator.Accuracy(validation.Labels, Inference.PredictClasses(model, features, EvaluationBatch));
    }

    /// <summary>
    /// The seed of epoch <paramref name="epoch"/>'s shuffle (<see cref="OrderScheme"/>): SplitMix64's output for
    /// <c>(uint)seed &lt;&lt; 32 | epoch</c>, top 31 bits, so every (seed, epoch) gets its own well-mixed, non-negative seed.
    /// </summary>
    internal static int EpochSeed(int seed, int epoch)
    {
        var z = ((ulong)(uint)seed << 32 | (uint)epoch) + 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (int)(z >> 33);
    }

    /// <summary>Fisher-Yates over 0..n-1, drawn from <paramref name="random"/> only (so seeded runs repeat).</summary>
    private static void Shuffle(long[] order, Random random)
    {
        for (var i = 0; i < order.Length; i++)
        {
            order[i] = i;
        }
        for (var i = order.Length - 1; i > 0; i--)
        {
            var j = random.Next(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
    }
}
