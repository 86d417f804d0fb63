namespace BigDataAI.Datasets;

/// <summary>
/// Rows held in memory: features row-major in one array (the layout tensors want), one class index per row.
/// </summary>
public sealed class DatasetTable
{
    public DatasetTable(float[] features, long[] labels, int featureCount, int[] featureShape, string[] classes, string[]? featureNames = null)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(featureShape);
        ArgumentNullException.ThrowIfNull(classes);
        if (featureCount <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(featureCount), featureCount, "A row needs at least one feature.");
        }
        if ((long)labels.Length * featureCount != features.LongLength)
        {
            throw new ArgumentException($"{features.LongLength} feature values do not make {labels.Length} rows of {featureCount}.", nameof(features));
        }
        if (featureShape.Length == 0 || featureShape.Aggregate(1L, (a, d) => a * d) != featureCount)
        {
            throw new ArgumentException($"Feature shape [{string.Join(", ", featureShape)}] does not hold {featureCount} features.", nameof(featureShape));
        }
        if (featureNames is { Length: > 0 } && featureNames.Length != featureCount)
        {
            throw new ArgumentException($"{featureNames.Length} feature names for {featureCount} features.", nameof(featureNames));
        }
        foreach (var label in labels)
        {
            if (label < 0 || label >= classes.Length)
            {
                throw new ArgumentException($"Label {label} is outside the {classes.Length} classes.", nameof(labels));
            }
        }
        Features = features;
        Labels = labels;
        FeatureCount = featureCount;
        FeatureShape = featureShape;
        Classes = classes;
        FeatureNames = featureNames ?? [];
    }

    public float[] Features { get; }
    public long[] Labels { get; }
    public int Rows => Labels.Length;
    public int FeatureCount { get; }
    public int[] FeatureShape { get; }
    public string[] Classes { get; }
    public string[] FeatureNames { get; }

    public ReadOnlySpan<float> Row(int index) => Features.AsSpan(checked(index * FeatureCount), FeatureCount);

    /// <summary>The rows at <paramref name="indices"/>, in that order, as a new table.</summary>
    public DatasetTable Select(IReadOnlyList<int> indices)
    {
        var features = new float[(long)indices.Count * FeatureCount];
        var labels = new long[indices.Count];
        for (var i = 0; i < indices.Count; i++)
        {
            Row(indices[i]).CopyTo(features.AsSpan(i * FeatureCount, FeatureCount));
            labels[i] = Labels[indices[i]];
        }
        return new DatasetTable(features, labels, FeatureCount, FeatureShape, Classes, FeatureNames);
    }

    public long[] ClassCounts()
    {
        var counts = new long[Classes.Length];
        foreach (var label in Labels)
        {
            counts[label]++;
        }
        return counts;
    }
}
