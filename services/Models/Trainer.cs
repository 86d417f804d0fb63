using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace BigDataAI.Models;

/// <summary>
/// Trains a classifier described by a <see cref="ModelSpec"/> with cross-entropy (against the labels, or against
/// <see cref="TrainingData.SoftTargets"/> when the data has them), minibatches and Adam or SGD.
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
        var fingerprint = resumeFrom?.CheckResumable(spec, options, train, nameof(resumeFrom));
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
            }
            model.to(device);
            var run = new TrainingRun(spec, options, train, device.ToString(), fingerprint);
            var epochs = Run(model, device, train, validation, options, run, resumeFrom, callbacks ?? new TrainingCallbacks(), cancellationToken);
            model.eval();
            return new TrainingResult(model, spec, device.ToString(), epochs, clock.Elapsed);
        }
        catch
        {
            model.Dispose();
            throw;
        }
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

    private static List<EpochResult> Run(
        nn.Module<Tensor, Tensor> model,
        Device device,
        TrainingData train,
        TrainingData? validation,
        TrainingOptions options,
        TrainingRun run,
        TrainingResume? resumeFrom,
        TrainingCallbacks callbacks,
        CancellationToken cancellationToken)
    {
        var results = new List<EpochResult>(options.Epochs);
        results.AddRange(resumeFrom?.History ?? []);
        if (results.Count == options.Epochs)
        {
            return results; // the checkpoint already has every epoch
        }
        using var optimizer = new TrainingOptimizer(model, options.Optimizer, options.LearningRate);
        if (resumeFrom is not null)
        {
            optimizer.Import(resumeFrom.Optimizer);
        }
        using var features = Devices.Upload(train.Features, train.Rows, train.FeatureCount, device);
        var regression = train.Targets is not null;
        using var labels = train.Targets is { } targets ? Devices.Upload(targets, device) : Devices.Upload(train.Labels, device);
        // Soft targets: a [rows, classes] tensor of probabilities the loss compares the log-softmax with.
        using var soft = train.SoftTargets is { } probabilities ? Devices.Upload(probabilities, train.Rows, probabilities.Length / Math.Max(1, train.Rows), device) : null;
        using var validationFeatures = validation is null ? null : Devices.Upload(validation.Features, validation.Rows, validation.FeatureCount, device);

        var rows = train.Rows;
        var batchSize = options.BatchSize;
        var batches = (rows + batchSize - 1) / batchSize;
        var order = new long[rows];

        for (var epoch = results.Count + 1; epoch <= options.Epochs; epoch++)
        {
            var epochClock = Stopwatch.StartNew();
            Shuffle(order, new Random(EpochSeed(options.Seed, epoch)));
            using var permutation = Devices.Upload(order, device);
            var lossSum = 0.0;

            model.train();
            for (var batch = 0; batch < batches; batch++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var start = batch * batchSize;
                var count = Math.Min(batchSize, rows - start);
                double loss;
                using (NewDisposeScope())
                {
                    var index = permutation.narrow(0, start, count);
                    var x = features.index_select(0, index);
                    var y = labels.index_select(0, index);
                    optimizer.ZeroGrad();
                    var output = regression
                        ? nn.functional.mse_loss(model.call(x).squeeze(1), y)
                        : soft is not null
                            // Cross-entropy against the soft targets: -(p * log_softmax(z)).sum(1).mean().
                            ? -(soft.index_select(0, index) * nn.functional.log_softmax(model.call(x), 1)).sum(1).mean()
                            : nn.functional.cross_entropy(model.call(x), y);
                    output.backward();
                    optimizer.Step();
                    loss = output.item<float>();
                }
                lossSum += loss * count;
                callbacks.Batch?.Report(new BatchProgress(epoch, batch + 1, batches, loss,
                    (start + count) / epochClock.Elapsed.TotalSeconds));
            }
            var trainSeconds = epochClock.Elapsed.TotalSeconds;

            double? accuracy = null;
            if (validation is not null && validationFeatures is not null)
            {
                if (regression)
                {
                    // For a regression the per-epoch score is R² on the validation split.
                    accuracy = Evaluator.R2(validation.Targets!, Inference.PredictValues(model, validationFeatures, EvaluationBatch));
                }
                else
                {
                    var predicted = Inference.PredictClasses(model, validationFeatures, EvaluationBatch);
                    accuracy = Evaluator.Accuracy(validation.Labels, predicted);
                }
            }
            var result = new EpochResult(epoch, lossSum / rows, accuracy, rows / trainSeconds, epochClock.Elapsed);
            results.Add(result);
            callbacks.Epoch?.Report(result);
            callbacks.Checkpoint?.Invoke(new TrainingCheckpoint(model, optimizer, results.ToArray(), run));
        }
        return results;
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
