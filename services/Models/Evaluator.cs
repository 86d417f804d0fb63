using static TorchSharp.torch;

namespace BigDataAI.Models;

/// <summary>
/// Classification metrics. Undefined ratios (a class never predicted, or never present) are 0, as scikit-learn's
/// <c>zero_division=0</c>, so every value is a finite number and serialises to JSON.
/// </summary>
/// <param name="Classes">Number of classes.</param>
/// <param name="Samples">Number of examples evaluated.</param>
/// <param name="Accuracy">Share of examples classified correctly, in [0, 1].</param>
/// <param name="Precision">Per class: correct predictions of the class / predictions of the class.</param>
/// <param name="Recall">Per class: correct predictions of the class / examples of the class.</param>
/// <param name="F1">Per class: harmonic mean of precision and recall.</param>
/// <param name="ConfusionMatrix">Row-major [Classes x Classes] counts; row = actual class, column = predicted class.</param>
public sealed record EvaluationResult(
    int Classes,
    long Samples,
    double Accuracy,
    double[] Precision,
    double[] Recall,
    double[] F1,
    long[] ConfusionMatrix)
{
    /// <summary>Unweighted mean of the per-class F1 scores.</summary>
    public double MacroF1 => F1.Length == 0 ? 0 : F1.Average();

    /// <summary>How many examples of class <paramref name="actual"/> were predicted as <paramref name="predicted"/>.</summary>
    public long Count(int actual, int predicted) => ConfusionMatrix[actual * Classes + predicted];
}

/// <summary>Regression metrics.</summary>
/// <param name="Samples">Number of examples evaluated.</param>
/// <param name="Mae">Mean absolute error.</param>
/// <param name="Rmse">Root mean squared error.</param>
/// <param name="R2">Coefficient of determination (1 is perfect, 0 is no better than the mean).</param>
public sealed record RegressionResult(long Samples, double Mae, double Rmse, double R2);

/// <summary>Measures a classifier: accuracy, per-class precision, recall and F1, and the confusion matrix.</summary>
public static class Evaluator
{
    /// <summary>
    /// Runs <paramref name="model"/> (built from <paramref name="spec"/>) on every row of <paramref name="data"/> in eval mode
    /// under <c>no_grad</c>, on the model's device, and compares its most likely class with the labels.
    /// </summary>
    /// <exception cref="ArgumentException">The data does not fit the spec (feature count, a label out of range; the message names the row).</exception>
    public static EvaluationResult Evaluate(nn.Module<Tensor, Tensor> model, ModelSpec spec, TrainingData data, int batchSize = Trainer.EvaluationBatch)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        data.CheckFits(spec, nameof(data));
        TorchRuntime.EnsureLoadable();
        using var features = Devices.Upload(data.Features, data.Rows, data.FeatureCount, Devices.Of(model));
        return Compute(data.Labels, Inference.PredictClasses(model, features, batchSize), spec.Classes);
    }

    /// <summary>
    /// The softmax probabilities <paramref name="model"/> (a classifier built from <paramref name="spec"/>) gives every row
    /// of <paramref name="data"/>, [rows, classes] row-major, computed in batches under <c>inference_mode</c> on the model's
    /// device (e.g. a k-fold job's out-of-fold predictions).
    /// </summary>
    /// <exception cref="ArgumentException">The data does not fit the spec, or the spec is a regression.</exception>
    public static float[] Probabilities(nn.Module<Tensor, Tensor> model, ModelSpec spec, TrainingData data, int batchSize = Trainer.EvaluationBatch)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        if (spec.Regression)
        {
            throw new ArgumentException($"The model ({spec}) is a regression; it has no class probabilities.", nameof(spec));
        }
        data.CheckFits(spec, nameof(data));
        TorchRuntime.EnsureLoadable();
        var device = Devices.Of(model);
        var classes = spec.Classes;
        var result = new float[(long)data.Rows * classes];
        for (var start = 0; start < data.Rows; start += batchSize)
        {
            var count = Math.Min(batchSize, data.Rows - start);
            Inference.Probabilities(model, device, data.Features.AsSpan(start * data.FeatureCount, count * data.FeatureCount), count, data.FeatureCount, classes)
                .CopyTo(result.AsSpan(start * classes));
        }
        return result;
    }

    /// <summary>The metrics of <paramref name="predicted"/> classes against <paramref name="actual"/> ones (pure arithmetic).</summary>
    /// <param name="actual">True class per example, in [0, classes).</param>
    /// <param name="predicted">Predicted class per example, in [0, classes); as many as <paramref name="actual"/>.</param>
    /// <param name="classes">Number of classes, at least 1.</param>
    /// <exception cref="ArgumentException">Lengths differ or a class is out of range (the message names the index).</exception>
    public static EvaluationResult Compute(ReadOnlySpan<long> actual, ReadOnlySpan<long> predicted, int classes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(classes, 1);
        if (actual.Length != predicted.Length)
        {
            throw new ArgumentException($"actual has {actual.Length} labels but predicted has {predicted.Length}; they must pair up.", nameof(predicted));
        }

        var confusion = new long[(long)classes * classes];
        long correct = 0;
        for (var i = 0; i < actual.Length; i++)
        {
            var (a, p) = (actual[i], predicted[i]);
            if ((ulong)a >= (ulong)classes)
            {
                throw new ArgumentException($"actual[{i}] = {a} is outside 0..{classes - 1}.", nameof(actual));
            }
            if ((ulong)p >= (ulong)classes)
            {
                throw new ArgumentException($"predicted[{i}] = {p} is outside 0..{classes - 1}.", nameof(predicted));
            }
            confusion[a * classes + p]++;
            if (a == p)
            {
                correct++;
            }
        }

        var precision = new double[classes];
        var recall = new double[classes];
        var f1 = new double[classes];
        for (var c = 0; c < classes; c++)
        {
            long truePositives = confusion[(long)c * classes + c], predictedAsC = 0, actuallyC = 0;
            for (var k = 0; k < classes; k++)
            {
                predictedAsC += confusion[(long)k * classes + c];
                actuallyC += confusion[(long)c * classes + k];
            }
            precision[c] = Ratio(truePositives, predictedAsC);
            recall[c] = Ratio(truePositives, actuallyC);
            f1[c] = precision[c] + recall[c] == 0 ? 0 : 2 * precision[c] * recall[c] / (precision[c] + recall[c]);
        }
        return new EvaluationResult(classes, actual.Length, Ratio(correct, actual.Length), precision, recall, f1, confusion);
    }

    /// <summary>A regression's metrics on <paramref name="data"/> (targets), from the model's outputs.</summary>
    public static RegressionResult EvaluateRegression(nn.Module<Tensor, Tensor> model, ModelSpec spec, TrainingData data, int batchSize = Trainer.EvaluationBatch)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        data.CheckFits(spec, nameof(data));
        using var features = Devices.Upload(data.Features, data.Rows, data.FeatureCount, Devices.Of(model));
        return ComputeRegression(data.Targets!, Inference.PredictValues(model, features, batchSize));
    }

    /// <summary>
    /// <see cref="Evaluate(nn.Module{Tensor, Tensor}, ModelSpec, TrainingData, int)"/> over shards read one at a time (the
    /// labels and predicted classes, one number per row, are kept to compute the same figures).
    /// </summary>
    public static EvaluationResult Evaluate(nn.Module<Tensor, Tensor> model, ModelSpec spec, ITrainingShards data, CancellationToken cancellationToken = default)
    {
        var (actual, predicted, _, _) = PredictShards(model, spec, data, cancellationToken);
        return Compute(actual, predicted, spec.Classes);
    }

    /// <summary>
    /// A classifier's evaluation over shards read one at a time, with what the figures beyond accuracy need: the softmax
    /// probabilities ([rows, classes]), the true and the predicted (most likely) class of every row, in shard order.
    /// </summary>
    public static (EvaluationResult Result, float[] Probabilities, long[] Actual, long[] Predicted) EvaluateWithProbabilities(
        nn.Module<Tensor, Tensor> model, ModelSpec spec, ITrainingShards data, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        if (spec.Regression)
        {
            throw new ArgumentException($"The model ({spec}) is a regression; it has no class probabilities.", nameof(spec));
        }
        model.eval();
        var device = Devices.Of(model);
        var classes = spec.Classes;
        var probabilities = new float[(long)data.Rows * classes];
        var actual = new long[data.Rows];
        var predicted = new long[data.Rows];
        var at = 0;
        for (var i = 0; i < data.Count; i++)
        {
            var shard = data.ReadAsync(i, cancellationToken).GetAwaiter().GetResult();
            shard.CheckFits(spec, nameof(data));
            for (var start = 0; start < shard.Rows; start += Trainer.EvaluationBatch)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var count = Math.Min(Trainer.EvaluationBatch, shard.Rows - start);
                var batch = Inference.Probabilities(model, device, shard.Features.AsSpan(start * shard.FeatureCount, count * shard.FeatureCount), count, shard.FeatureCount, classes);
                batch.CopyTo(probabilities.AsSpan((at + start) * classes));
                for (var r = 0; r < count; r++)
                {
                    var row = batch.AsSpan(r * classes, classes);
                    var top = 0;
                    for (var c = 1; c < classes; c++)
                    {
                        if (row[c] > row[top])
                        {
                            top = c;
                        }
                    }
                    predicted[at + start + r] = top;
                }
            }
            shard.Labels.AsSpan(0, shard.Rows).CopyTo(actual.AsSpan(at));
            at += shard.Rows;
        }
        return (Compute(actual, predicted, classes), probabilities, actual, predicted);
    }

    /// <summary><see cref="EvaluateRegression(nn.Module{Tensor, Tensor}, ModelSpec, TrainingData, int)"/> over shards read one at a time.</summary>
    public static RegressionResult EvaluateRegression(nn.Module<Tensor, Tensor> model, ModelSpec spec, ITrainingShards data, CancellationToken cancellationToken = default)
    {
        var (_, _, targets, values) = PredictShards(model, spec, data, cancellationToken);
        return ComputeRegression(targets, values);
    }

    private static (long[] Actual, long[] Predicted, float[] Targets, float[] Values) PredictShards(nn.Module<Tensor, Tensor> model, ModelSpec spec, ITrainingShards data, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        var actual = new List<long>();
        var predicted = new List<long>();
        var targets = new List<float>();
        var values = new List<float>();
        var device = Devices.Of(model);
        for (var i = 0; i < data.Count; i++)
        {
            var shard = data.ReadAsync(i, cancellationToken).GetAwaiter().GetResult();
            shard.CheckFits(spec, nameof(data));
            using var features = Devices.Upload(shard.Features, shard.Rows, shard.FeatureCount, device);
            if (spec.Regression)
            {
                targets.AddRange(shard.Targets!);
                values.AddRange(Inference.PredictValues(model, features, Trainer.EvaluationBatch));
            }
            else
            {
                actual.AddRange(shard.Labels);
                predicted.AddRange(Inference.PredictClasses(model, features, Trainer.EvaluationBatch));
            }
        }
        return ([.. actual], [.. predicted], [.. targets], [.. values]);
    }

    /// <summary>MAE, RMSE and R² of <paramref name="predicted"/> against <paramref name="actual"/> (pure arithmetic).</summary>
    public static RegressionResult ComputeRegression(ReadOnlySpan<float> actual, ReadOnlySpan<float> predicted)
    {
        if (actual.Length != predicted.Length)
        {
            throw new ArgumentException($"actual has {actual.Length} values but predicted has {predicted.Length}; they must pair up.", nameof(predicted));
        }
        double absolute = 0, squared = 0;
        for (var i = 0; i < actual.Length; i++)
        {
            var error = (double)predicted[i] - actual[i];
            absolute += Math.Abs(error);
            squared += error * error;
        }
        var n = Math.Max(1, actual.Length);
        return new RegressionResult(actual.Length, absolute / n, Math.Sqrt(squared / n), R2(actual, predicted));
    }

    /// <summary>The coefficient of determination: 1 - residual / total sum of squares (0 when the targets do not vary).</summary>
    internal static double R2(ReadOnlySpan<float> actual, ReadOnlySpan<float> predicted)
    {
        if (actual.Length == 0)
        {
            return 0;
        }
        double mean = 0;
        foreach (var a in actual)
        {
            mean += a;
        }
        mean /= actual.Length;
        double residual = 0, total = 0;
        for (var i = 0; i < actual.Length; i++)
        {
            residual += ((double)actual[i] - predicted[i]) * ((double)actual[i] - predicted[i]);
            total += ((double)actual[i] - mean) * ((double)actual[i] - mean);
        }
        return total == 0 ? 0 : 1 - residual / total;
    }

    /// <summary>Share of equal entries; 0 for none.</summary>
    internal static double Accuracy(long[] actual, long[] predicted)
    {
        long correct = 0;
        for (var i = 0; i < actual.Length; i++)
        {
            if (actual[i] == predicted[i])
            {
                correct++;
            }
        }
        return Ratio(correct, actual.Length);
    }

    private static double Ratio(long numerator, long denominator) => denominator == 0 ? 0 : (double)numerator / denominator;
}
