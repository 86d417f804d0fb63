using System.Text;
using BigDataAI.Datasets;

namespace BigDataAI.UnitTests.Datasets;

/// <summary>Deterministic tables and sources for the dataset tests.</summary>
internal static class TestTables
{
    /// <summary>
    /// <paramref name="rows"/> rows of the given shape whose values depend on <paramref name="salt"/>; row 0 holds
    /// the awkward floats (negative zero, the smallest subnormal, the extremes, NaN, infinities) when it has room.
    /// Labels follow <c>(row * 7 + salt) % classes</c> unless given.
    /// </summary>
    public static DatasetTable Make(int rows, int[] shape, string[] classes, int salt = 0, long[]? labels = null, string[]? featureNames = null)
    {
        var featureCount = shape.Aggregate(1, (a, d) => a * d);
        var features = new float[rows * featureCount];
        for (var r = 0; r < rows; r++)
        {
            for (var f = 0; f < featureCount; f++)
            {
                features[r * featureCount + f] = (float)(Math.Sin(r * 31.0 + f * 7.0 + salt) * 1000.0);
            }
        }
        float[] specials = [-0f, float.Epsilon, float.MaxValue, float.MinValue, float.NaN, float.PositiveInfinity, float.NegativeInfinity, 1e-38f];
        if (rows > 0)
        {
            specials.AsSpan(0, Math.Min(specials.Length, featureCount)).CopyTo(features);
        }
        labels ??= [.. Enumerable.Range(0, rows).Select(r => (long)((r * 7 + salt) % classes.Length))];
        return new DatasetTable(features, labels, featureCount, shape, classes, featureNames);
    }

    public static DatasetSource Source(string text, string format = "csv") =>
        new(format, ["data"], ParquetShards.Sha256(Encoding.UTF8.GetBytes(text)), $"test upload '{text}'");

    /// <summary>The exact bits of each float, so -0 and 0 (and NaN payloads) are told apart.</summary>
    public static int[] Bits(float[] values) => [.. values.Select(BitConverter.SingleToInt32Bits)];

    public static void AssertSameRows(DatasetTable expected, DatasetTable actual)
    {
        Assert.Equal(expected.Rows, actual.Rows);
        Assert.Equal(expected.FeatureCount, actual.FeatureCount);
        Assert.Equal(expected.FeatureShape, actual.FeatureShape);
        Assert.Equal(expected.Classes, actual.Classes);
        Assert.Equal(expected.FeatureNames, actual.FeatureNames);
        Assert.Equal(expected.Labels, actual.Labels);
        Assert.Equal(Bits(expected.Features), Bits(actual.Features));
    }
}
