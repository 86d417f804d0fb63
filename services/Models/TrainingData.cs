namespace BigDataAI.Models;

/// <summary>
/// Labelled examples in memory: <see cref="Rows"/> rows of <see cref="FeatureCount"/> floats (row-major) and one class
/// index per row. The arrays are used as given, not copied: do not change them while a training or evaluation runs.
/// </summary>
public sealed class TrainingData
{
    /// <summary>Wraps the arrays after checking that their lengths agree.</summary>
    /// <param name="features">Row-major features, <c>labels.Length * featureCount</c> floats.</param>
    /// <param name="labels">Class index of each row, in [0, classes).</param>
    /// <param name="featureCount">Floats per row (the model's <see cref="ModelSpec.FeatureCount"/>).</param>
    /// <exception cref="ArgumentException">The lengths do not agree; the message gives both.</exception>
    public TrainingData(float[] features, long[] labels, int featureCount)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(labels);
        if (featureCount <= 0)
        {
            throw new ArgumentException($"featureCount must be positive, not {featureCount}.", nameof(featureCount));
        }
        if (features.LongLength != (long)labels.Length * featureCount)
        {
            throw new ArgumentException(
                $"features has {features.LongLength} values but {labels.Length} labels x {featureCount} features per row need " +
                $"{(long)labels.Length * featureCount}.", nameof(features));
        }
        Features = features;
        Labels = labels;
        FeatureCount = featureCount;
    }

    /// <summary>Regression data: a target number per row instead of a class.</summary>
    /// <param name="features">Row-major features, <c>targets.Length * featureCount</c> floats.</param>
    /// <param name="targets">The value to predict for each row.</param>
    /// <param name="featureCount">Floats per row.</param>
    public TrainingData(float[] features, float[] targets, int featureCount)
        : this(features, new long[(targets ?? throw new ArgumentNullException(nameof(targets))).Length], featureCount)
    {
        Targets = targets;
    }

    /// <summary>
    /// Classification only, optional: a probability per class for each row (row-major, <c>Rows * classes</c> floats), to
    /// train against instead of <see cref="Labels"/> (the loss is the cross-entropy against them). Labels stay what
    /// validation and evaluation measure. Null (default) trains on the labels.
    /// </summary>
    public float[]? SoftTargets { get; init; }

    /// <summary>Regression only: the value to predict for each row; null for classification.</summary>
    public float[]? Targets { get; }

    /// <summary>Row-major features: row <c>r</c> is <c>Features[r * FeatureCount .. (r + 1) * FeatureCount]</c>.</summary>
    public float[] Features { get; }

    /// <summary>Class index of each row.</summary>
    public long[] Labels { get; }

    /// <summary>Floats per row.</summary>
    public int FeatureCount { get; }

    /// <summary>Number of rows (examples).</summary>
    public int Rows => Labels.Length;

    /// <summary>Throws an <see cref="ArgumentException"/> when the data does not fit <paramref name="spec"/>, naming the first bad row.</summary>
    internal void CheckFits(ModelSpec spec, string name)
    {
        if (FeatureCount != spec.FeatureCount)
        {
            throw new ArgumentException(
                $"{name} has {FeatureCount} features per row but the model ({spec}) expects {spec.FeatureCount}.", name);
        }
        if (spec.Regression != Targets is not null)
        {
            throw new ArgumentException(
                spec.Regression ? $"{name} has class labels but the model ({spec}) is a regression; give it targets." : $"{name} has regression targets but the model ({spec}) is a classifier.", name);
        }
        if (SoftTargets is { } soft && (spec.Regression || soft.LongLength != (long)Labels.Length * spec.Classes))
        {
            throw new ArgumentException(
                spec.Regression ? $"{name} has soft targets but the model ({spec}) is a regression." : $"{name}.SoftTargets has {soft.LongLength} values but {Labels.Length} rows x {spec.Classes} classes need {(long)Labels.Length * spec.Classes}.", name);
        }
        for (var row = 0; row < Labels.Length && !spec.Regression; row++)
        {
            if ((ulong)Labels[row] >= (ulong)spec.Classes)
            {
                throw new ArgumentException(
                    $"{name}: label {Labels[row]} at row {row} is outside 0..{spec.Classes - 1} (ModelSpec.Classes = {spec.Classes}).", name);
            }
        }
    }
}
