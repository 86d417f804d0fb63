using System.Text;
using BigDataAI.Datasets;
using Parquet;
using Parquet.Serialization;
using Parquet.Serialization.Attributes;
using static BigDataAI.UnitTests.Datasets.TestTables;

namespace BigDataAI.UnitTests.Datasets;

public sealed class ParquetShardsTests
{
    private static readonly string[] Classes = ["zero", "one", "two", "three"];

    /// <summary>One shard row as a general-purpose Parquet reader sees it (the object serializer, not the shard decoder).</summary>
    public sealed class ShardRow
    {
        public long Row { get; set; }

        [ParquetSimpleRepeatable]
        public List<float> Features { get; set; } = [];

        public long Label { get; set; }
    }

    /// <summary>A Parquet file that is not a shard: it lacks the features column.</summary>
    public sealed class RowAndLabel
    {
        public long Row { get; set; }

        public long Label { get; set; }
    }

    private static readonly ParquetOptions CaseInsensitive = new() { PropertyNameCaseInsensitive = true };

    /// <summary>The <c>row</c> column of a shard file, read without the production decoder.</summary>
    public static async Task<long[]> ReadRowIdsAsync(string file)
    {
        await using var stream = File.OpenRead(file);
        var rows = (await ParquetSerializer.DeserializeAsync<ShardRow>(stream, CaseInsensitive)).Data;
        return [.. rows.Select(r => r.Row)];
    }

    [Fact]
    public async Task Encode_WritesStandardParquet_WithRowFeaturesAndLabelColumns()
    {
        var table = Make(6, [2, 3], Classes);
        long[] rowIds = [100, 101, 102, 103, 104, 105];

        var bytes = await ParquetShards.EncodeAsync(table, 0, table.Rows, rowIds);

        Assert.Equal("PAR1", Encoding.ASCII.GetString(bytes, 0, 4));
        Assert.Equal("PAR1", Encoding.ASCII.GetString(bytes, bytes.Length - 4, 4));
        await using var reader = await ParquetReader.CreateAsync(new MemoryStream(bytes));
        Assert.Equal(1, reader.RowGroupCount);
        var fields = reader.Schema.GetDataFields();
        Assert.Equal(["row", "features", "label"], fields.Select(f => f.Name));
        Assert.Equal([typeof(long), typeof(float), typeof(long)], fields.Select(f => f.ClrType));
        Assert.Equal([false, true, false], fields.Select(f => f.IsArray));
        Assert.False(fields[0].IsNullable);
        Assert.False(fields[2].IsNullable);
        Assert.Equal(6, reader.OpenRowGroupReader(0).RowCount);

        var rows = (await ParquetSerializer.DeserializeAsync<ShardRow>(new MemoryStream(bytes), CaseInsensitive)).Data;
        Assert.Equal(rowIds, rows.Select(r => r.Row));
        Assert.Equal(table.Labels, rows.Select(r => r.Label));
        Assert.All(rows, r => Assert.Equal(6, r.Features.Count));
        Assert.Equal(Bits(table.Features), Bits([.. rows.SelectMany(r => r.Features)]));
    }

    [Fact]
    public async Task Decode_ReadsWhatEncodeWrote_BitForBit()
    {
        var table = Make(9, [4], Classes);
        var bytes = await ParquetShards.EncodeAsync(table, 0, table.Rows, [.. Enumerable.Range(0, 9).Select(i => (long)i)]);
        var features = new float[table.Features.Length];
        var labels = new long[table.Rows];

        var read = await ParquetShards.DecodeAsync(new MemoryStream(bytes), "shard.parquet", 4, features, labels, 0);

        Assert.Equal(9, read);
        Assert.Equal(Bits(table.Features), Bits(features));
        Assert.Equal(table.Labels, labels);
    }

    [Fact]
    public async Task EncodeARange_ThenDecodeAtAnOffset_PlacesThoseRowsThereAndKeepsTheirRowIds()
    {
        var table = Make(10, [3], Classes);
        long[] rowIds = [.. Enumerable.Range(0, 10).Select(i => 1000L + i * 3)];

        var bytes = await ParquetShards.EncodeAsync(table, 4, 3, rowIds);
        var features = new float[5 * 3];
        var labels = new long[5];
        var read = await ParquetShards.DecodeAsync(new MemoryStream(bytes), "shard.parquet", 3, features, labels, 2);

        Assert.Equal(3, read);
        Assert.Equal(Bits(table.Features[12..21]), Bits(features[6..15]));
        Assert.Equal(new float[6], features[..6]);
        Assert.Equal(table.Labels[4..7], labels[2..5]);
        var rows = (await ParquetSerializer.DeserializeAsync<ShardRow>(new MemoryStream(bytes), CaseInsensitive)).Data;
        Assert.Equal([1012L, 1015L, 1018L], rows.Select(r => r.Row));
    }

    [Fact]
    public async Task Encode_SameRowsTwice_GivesTheSameBytes()
    {
        var table = Make(7, [5], Classes);
        long[] ids = [.. Enumerable.Range(0, 7).Select(i => (long)i)];

        var first = await ParquetShards.EncodeAsync(table, 0, 7, ids);
        var second = await ParquetShards.EncodeAsync(table, 0, 7, ids);

        Assert.Equal(ParquetShards.Sha256(first), ParquetShards.Sha256(second));
    }

    [Fact]
    public async Task Decode_ShardOfOtherFeatureCount_IsRejectedNamingTheShard()
    {
        var table = Make(4, [3], Classes);
        var bytes = await ParquetShards.EncodeAsync(table, 0, 4, [0, 1, 2, 3]);

        // Read as 2 features per row: 12 values make 6 rows of 2, but the shard has 4 rows of 3.
        var e = await Assert.ThrowsAsync<InvalidDataException>(() =>
            ParquetShards.DecodeAsync(new MemoryStream(bytes), "datasets/x/part-00000.parquet", 2, new float[8], new long[4], 0));

        Assert.Contains("'datasets/x/part-00000.parquet'", e.Message);
        Assert.Contains("2 features", e.Message);
    }

    [Fact]
    public async Task Decode_MoreRowsThanTheDestinationHolds_IsRejected()
    {
        var table = Make(4, [3], Classes);
        var bytes = await ParquetShards.EncodeAsync(table, 0, 4, [0, 1, 2, 3]);

        var e = await Assert.ThrowsAsync<InvalidDataException>(() =>
            ParquetShards.DecodeAsync(new MemoryStream(bytes), "s.parquet", 3, new float[9], new long[3], 0));

        Assert.Equal("Shard 's.parquet' holds more rows than its manifest declares.", e.Message);
    }

    [Fact]
    public async Task Decode_ParquetWithoutTheShardColumns_IsRejectedNamingTheColumn()
    {
        using var other = new MemoryStream();
        await ParquetSerializer.SerializeAsync(new[] { new RowAndLabel { Row = 1, Label = 2 } }, other);

        var e = await Assert.ThrowsAsync<InvalidDataException>(() =>
            ParquetShards.DecodeAsync(new MemoryStream(other.ToArray()), "other.parquet", 1, new float[1], new long[1], 0));

        Assert.Equal("Shard 'other.parquet' has no 'features' column.", e.Message);
    }

    [Fact]
    public void Sha256_IsLowerCaseHexOfTheBytes() =>
        Assert.Equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", ParquetShards.Sha256("abc"u8));
}
