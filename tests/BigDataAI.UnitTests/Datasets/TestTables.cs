using System.Text;
using BigDataAI.Datasets;

namespace BigDataAI.UnitTests.Datasets;

/// <summary>Deterministic tables and sources for the dataset tests.</summary>
internal static class TestTables
{
    /// <summary>
    /// Format-1 style rows: <paramref name="rows"/> rows of the given shape whose values depend on <paramref name="salt"/>;
    /// row 0 holds the awkward floats (negative zero, the smallest subnormal, the extremes, NaN, infinities) when it has
    /// room. Labels follow <c>(row * 7 + salt) % classes</c> unless given.
    /// </summary>
    public static DatasetTable Dense(int rows, int[] shape, string[] classes, int salt = 0, long[]? labels = null, string[]? featureNames = null)
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
        if (rows > 0)
        {
            SpecialFloats.AsSpan(0, Math.Min(SpecialFloats.Length, featureCount)).CopyTo(features);
        }
        labels ??= [.. Enumerable.Range(0, rows).Select(r => (long)((r * 7 + salt) % classes.Length))];
        return new DatasetTable(features, labels, featureCount, shape, classes, featureNames);
    }

    /// <summary>Negative zero, the smallest subnormal, the extremes, NaN (two payloads), infinities and a tiny normal.</summary>
    public static readonly float[] SpecialFloats =
    [
        -0f, float.Epsilon, float.MaxValue, float.MinValue, float.NaN, float.PositiveInfinity, float.NegativeInfinity, 1e-38f,
        BitConverter.Int32BitsToSingle(0x7FC0_1234),
    ];

    /// <summary>
    /// A format-2 table of a tensor column <c>features</c> (role feature) and a string label column <c>label</c> of
    /// class names, holding <see cref="Dense"/>'s rows; row ids 0..rows-1.
    /// </summary>
    public static Table Make(int rows, int[] shape, string[] classes, int salt = 0, long[]? labels = null) =>
        Table.FromDense(Dense(rows, shape, classes, salt, labels));

    /// <summary>The same columns with other row ids.</summary>
    public static Table WithRowIds(Table table, long[] rowIds) => new(table.Schema, table.Columns, rowIds);

    public static DatasetSource Source(string text, string format = "csv") =>
        new(format, ["data"], ParquetShards.Sha256(Encoding.UTF8.GetBytes(text)), $"test upload '{text}'");

    /// <summary>Timestamps that need microseconds, cross the epoch and are far from it; all UTC.</summary>
    public static readonly DateTime[] Instants =
    [
        new DateTime(2024, 2, 29, 13, 45, 56, DateTimeKind.Utc).AddTicks(1_234_560),
        DateTime.UnixEpoch,
        new DateTime(1969, 12, 31, 23, 59, 59, DateTimeKind.Utc).AddTicks(9_999_990),
        new DateTime(2038, 1, 19, 3, 14, 8, DateTimeKind.Utc).AddTicks(10),
    ];

    /// <summary>The schema of <see cref="AllTypes"/>: one column of each type; every one but the tensor nullable.</summary>
    public static readonly DatasetSchema AllTypesSchema = new([
        new ColumnSchema("count", ColumnType.Int64, ColumnRole.Feature),
        new ColumnSchema("score", ColumnType.Double, ColumnRole.Feature),
        new ColumnSchema("member", ColumnType.Bool, ColumnRole.Feature),
        new ColumnSchema("comment", ColumnType.String, ColumnRole.Text),
        new ColumnSchema("seen", ColumnType.Timestamp, ColumnRole.Feature),
        new ColumnSchema("photo", ColumnType.Binary, ColumnRole.Image),
        new ColumnSchema("pixels", ColumnType.Tensor, ColumnRole.Feature, Nullable: false, Shape: [2, 3]),
    ]);

    /// <summary>
    /// Seven rows of <see cref="AllTypesSchema"/> with nulls in every nullable column, empty strings and byte arrays
    /// beside nulls, NaN, negative zero and infinities in the double column, special floats in the tensor, and row ids
    /// that are not 0..6.
    /// </summary>
    public static Table AllTypes()
    {
        long?[] counts = [0, long.MinValue, long.MaxValue, null, -1, 42, null];
        double?[] scores = [1.5, double.NaN, null, -0.0, double.PositiveInfinity, double.Epsilon, BitConverter.Int64BitsToDouble(0x7FF8_0000_0000_0ABC)];
        bool?[] members = [true, false, null, true, null, false, true];
        string?[] comments = ["héllo", "", null, "a,b\"c\nd", "日本語", " ", null];
        DateTime?[] seen = [Instants[0], Instants[1], null, Instants[2], Instants[3], null, new DateTime(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc)];
        byte[]?[] photos = [[1, 2, 3], [], null, [0], [.. Enumerable.Range(0, 256).Select(i => (byte)i)], null, [0xFF]];
        var pixels = new float[7 * 6];
        for (var i = 0; i < pixels.Length; i++)
        {
            pixels[i] = i < SpecialFloats.Length ? SpecialFloats[i] : i * 0.25f - 3f;
        }
        var s = AllTypesSchema.Columns;
        return new Table(AllTypesSchema,
        [
            new Column(s[0], counts), new Column(s[1], scores), new Column(s[2], members), new Column(s[3], comments),
            new Column(s[4], seen), new Column(s[5], photos), new Column(s[6], pixels),
        ], [7, 3, 1000, 0, long.MaxValue, 5, 6]);
    }

    /// <summary>A table of a nullable label column of <paramref name="type"/> holding <paramref name="labels"/>, and an int64 feature.</summary>
    public static Table Labeled(ColumnType type, Array labels)
    {
        var label = new ColumnSchema("target", type, ColumnRole.Label);
        var feature = new ColumnSchema("x", ColumnType.Int64, ColumnRole.Feature);
        var target = new Column(label, labels);
        var x = new Column(feature, Enumerable.Range(0, target.Rows).Select(i => (long?)i * 10).ToArray());
        return new Table(new DatasetSchema([feature, label]), [x, target], [.. Enumerable.Range(0, target.Rows).Select(i => (long)i)]);
    }

    /// <summary>The exact bits of each float, so -0 and 0 (and NaN payloads) are told apart.</summary>
    public static int[] Bits(float[] values) => [.. values.Select(BitConverter.SingleToInt32Bits)];

    /// <summary>Same schema, same row ids, and every value the same: null stays null, "" stays "", floats bit for bit.</summary>
    public static void AssertSameRows(Table expected, Table actual)
    {
        Assert.Equal(expected.Schema, actual.Schema);
        Assert.Equal(expected.Rows, actual.Rows);
        Assert.Equal(expected.RowIds, actual.RowIds);
        Assert.Equal(expected.Columns.Count, actual.Columns.Count);
        for (var c = 0; c < expected.Columns.Count; c++)
        {
            AssertSameValues(expected.Columns[c], actual.Columns[c]);
        }
    }

    /// <summary>Same schema and values, compared exactly: doubles and floats by their bits, timestamps by ticks and kind, bytes as hex.</summary>
    public static void AssertSameValues(Column expected, Column actual)
    {
        Assert.Equal(expected.Schema, actual.Schema);
        Assert.Equal(expected.Values.GetType(), actual.Values.GetType());
        switch (expected.Schema.Type)
        {
            case ColumnType.Int64:
                Assert.Equal((long?[])expected.Values, (long?[])actual.Values);
                break;
            case ColumnType.Double:
                Assert.Equal(DoubleBits((double?[])expected.Values), DoubleBits((double?[])actual.Values));
                break;
            case ColumnType.Bool:
                Assert.Equal((bool?[])expected.Values, (bool?[])actual.Values);
                break;
            case ColumnType.String:
                Assert.Equal((string?[])expected.Values, (string?[])actual.Values);
                break;
            case ColumnType.Timestamp:
                Assert.Equal(Instant((DateTime?[])expected.Values), Instant((DateTime?[])actual.Values));
                break;
            case ColumnType.Binary:
                Assert.Equal(Hex((byte[]?[])expected.Values), Hex((byte[]?[])actual.Values));
                break;
            case ColumnType.Tensor:
                Assert.Equal(Bits((float[])expected.Values), Bits((float[])actual.Values));
                break;
            default:
                Assert.Fail($"Unknown column type {expected.Schema.Type}.");
                break;
        }
    }

    public static long?[] DoubleBits(double?[] values) => [.. values.Select(v => v is { } d ? BitConverter.DoubleToInt64Bits(d) : (long?)null)];

    /// <summary>Ticks and kind, so a UTC instant read back as local or unspecified time does not pass.</summary>
    public static string?[] Instant(DateTime?[] values) => [.. values.Select(v => v is { } t ? $"{t.Ticks} {t.Kind}" : null)];

    /// <summary>Hex of each byte array; an empty array is "0x", a null stays null.</summary>
    public static string?[] Hex(byte[]?[] values) => [.. values.Select(v => v is null ? null : "0x" + Convert.ToHexString(v))];
}
