namespace BigDataAI.Ingestion.Parsing;

/// <summary>
/// One uploaded data set in memory: features row-major in one array (<see cref="Rows"/> x <see cref="FeatureCount"/>),
/// one class index per row into <see cref="Classes"/>.
/// </summary>
/// <remarks>
/// <para>IDX: <see cref="FeatureShape"/> is [rows, columns] of one image (e.g. [28, 28]), pixels scaled to [0, 1]
/// by <c>v / 255f</c>, <see cref="FeatureNames"/> are "px0".."px{n-1}" in row-major pixel order, and
/// <see cref="Classes"/> are the label values that occur, sorted numerically, as invariant strings
/// ("0".."9" for MNIST; a digit that never occurs gets no class).</para>
/// <para>CSV: <see cref="FeatureShape"/> is [FeatureCount], <see cref="FeatureNames"/> the header names of the
/// feature columns in file order, <see cref="Classes"/> the distinct label strings, sorted numerically when every
/// one is a number, otherwise ordinally.</para>
/// </remarks>
public sealed class ParsedTable
{
    public ParsedTable(float[] features, long[] labels, int featureCount, int[] featureShape, string[] featureNames, string[] classes)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(featureShape);
        ArgumentNullException.ThrowIfNull(featureNames);
        ArgumentNullException.ThrowIfNull(classes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(featureCount);
        if ((long)labels.Length * featureCount != features.LongLength)
        {
            throw new ArgumentException($"{features.LongLength} feature values do not make {labels.Length} rows of {featureCount}.", nameof(features));
        }
        long shapeProduct = 1;
        foreach (var d in featureShape)
        {
            shapeProduct *= d;
        }
        if (featureShape.Length == 0 || shapeProduct != featureCount)
        {
            throw new ArgumentException($"Feature shape [{string.Join(", ", featureShape)}] does not hold {featureCount} features.", nameof(featureShape));
        }
        if (featureNames.Length != 0 && featureNames.Length != featureCount)
        {
            throw new ArgumentException($"{featureNames.Length} feature names for {featureCount} features.", nameof(featureNames));
        }
        foreach (var label in labels)
        {
            if ((ulong)label >= (ulong)classes.Length)
            {
                throw new ArgumentException($"Label {label} is outside the {classes.Length} classes.", nameof(labels));
            }
        }
        Features = features;
        Labels = labels;
        FeatureCount = featureCount;
        FeatureShape = featureShape;
        FeatureNames = featureNames;
        Classes = classes;
    }

    /// <summary>Row-major feature values, <see cref="Rows"/> * <see cref="FeatureCount"/> of them.</summary>
    public float[] Features { get; }

    /// <summary>Class index per row, 0 .. <see cref="Classes"/>.Length - 1.</summary>
    public long[] Labels { get; }

    public int Rows => Labels.Length;

    public int FeatureCount { get; }

    /// <summary>Shape of one row's features: [28, 28] for MNIST images, [FeatureCount] for CSV.</summary>
    public int[] FeatureShape { get; }

    /// <summary>One name per feature (CSV header names; "px0".. for IDX).</summary>
    public string[] FeatureNames { get; }

    /// <summary>Class names indexed by label.</summary>
    public string[] Classes { get; }

    /// <summary>The features of one row.</summary>
    public ReadOnlySpan<float> Row(int index) => Features.AsSpan(checked(index * FeatureCount), FeatureCount);
}
