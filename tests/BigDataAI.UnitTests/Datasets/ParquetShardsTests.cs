using System.Text;
using System.Text.Json.Serialization;
using BigDataAI.Datasets;
using Parquet;
using Parquet.Schema;
using Parquet.Serialization;
using Parquet.Serialization.Attributes;
using static BigDataAI.UnitTests.Datasets.TestTables;

namespace BigDataAI.UnitTests.Datasets;

public sealed class ParquetShardsTests
{
    private static readonly string[] Classes = ["zero", "one", "two", "three"];

    /// <summary>One row of an <see cref="AllTypes"/> shard as a general-purpose Parquet reader sees it (the object serializer, not the shard decoder).</summary>
    public sealed class AllTypesRow
    {
        [JsonPropertyName("_row")]
        public long Row { get; set; }

        public long? Count { get; set; }

        public double? Score { get; set; }

        public bool? Member { get; set; }

        public string? Comment { get; set; }

        public DateTime? Seen { get; set; }

        public byte[]? Photo { get; set; }

        [ParquetSimpleRepeatable]
        public List<float> Pixels { get; set; } = [];
    }

    /// <summary>The row id column of any shard, format 1 or 2.</summary>
    public sealed class RowIdOnly
    {
        [JsonPropertyName("_row")]
        public long Row { get; set; }
    }

    /// <summary>A Parquet file that is not a shard: a row column and a label, nothing else.</summary>
    public sealed class RowAndLabel
    {
        [JsonPropertyName("_row")]
        public long Row { get; set; }

        public long Label { get; set; }
    }

    /// <summary>A Parquet file with no row column at all.</summary>
    public sealed class LabelOnly
    {
        public long Label { get; set; }
    }

    /// <summary>The CLR type Parquet.Net gives a UTF-8 string field and a binary field (not string and byte[] since Parquet.Net 6).</summary>
    private static readonly Type StringClrType = new DataField("s", typeof(string)).ClrType;
    private static readonly Type BinaryClrType = new DataField("b", typeof(byte[])).ClrType;

    private static readonly ParquetOptions CaseInsensitive = new() { PropertyNameCaseInsensitive = true };

    /// <summary>The schema a format-1 shard is read with (what a format-1 manifest's effective schema is).</summary>
    public static DatasetSchema LegacySchemaOf(params int[] shape) => new([
        new ColumnSchema("features", ColumnType.Tensor, ColumnRole.Feature, Nullable: false, Shape: shape),
        new ColumnSchema("label", ColumnType.String, ColumnRole.Label, Nullable: false),
    ]);

    /// <summary>The <c>_row</c> column of a format-2 shard file, read without the production decoder.</summary>
    public static async Task<long[]> ReadRowIdsAsync(string file)
    {
        await using var stream = File.OpenRead(file);
        var rows = (await ParquetSerializer.DeserializeAsync<RowIdOnly>(stream, CaseInsensitive)).Data;
        return [.. rows.Select(r => r.Row)];
    }

    private static async Task<Table> RoundTripAsync(Table table, DatasetSchema? readAs = null)
    {
        var bytes = await ParquetShards.EncodeAsync(table, 0, table.Rows);
        return await ParquetShards.DecodeAsync(new MemoryStream(bytes), "shard.parquet", readAs ?? table.Schema);
    }

    /// <summary><paramref name="schema"/> with column <paramref name="name"/> replaced by <paramref name="replacement"/>.</summary>
    private static DatasetSchema Replace(DatasetSchema schema, string name, ColumnSchema replacement) =>
        new([.. schema.Columns.Select(c => c.Name == name ? replacement : c)]);

    [Fact]
    public async Task Encode_WritesStandardParquet_WithRowIdThenEachColumnUnderItsOwnNameAndType()
    {
        var table = AllTypes();

        var bytes = await ParquetShards.EncodeAsync(table, 0, table.Rows);

        Assert.Equal("PAR1", Encoding.ASCII.GetString(bytes, 0, 4));
        Assert.Equal("PAR1", Encoding.ASCII.GetString(bytes, bytes.Length - 4, 4));
        await using (var reader = await ParquetReader.CreateAsync(new MemoryStream(bytes)))
        {
            Assert.Equal(1, reader.RowGroupCount);
            Assert.Equal(7, reader.OpenRowGroupReader(0).RowCount);
            var fields = reader.Schema.GetDataFields();
            Assert.Equal(["_row", "count", "score", "member", "comment", "seen", "photo", "pixels"], fields.Select(f => f.Name));
            Assert.Equal(
                [typeof(long), typeof(long), typeof(double), typeof(bool), StringClrType, typeof(DateTime), BinaryClrType, typeof(float)],
                fields.Select(f => f.ClrType));
            Assert.Equal([false, false, false, false, false, false, false, true], fields.Select(f => f.IsArray));
            Assert.Equal([false, true, true, true, true, true, true], fields.Take(7).Select(f => f.IsNullable));
            var seen = Assert.IsType<DateTimeDataField>(fields[5]);
            Assert.Equal(DateTimeFormat.Timestamp, seen.DateTimeFormat);
            Assert.True(seen.IsAdjustedToUTC);
            Assert.Equal(DateTimeTimeUnit.Micros, seen.Unit);
        }

        var rows = (await ParquetSerializer.DeserializeAsync<AllTypesRow>(new MemoryStream(bytes), CaseInsensitive)).Data;
        Assert.Equal(table.RowIds, rows.Select(r => r.Row));
        Assert.Equal((long?[])table["count"].Values, rows.Select(r => r.Count));
        Assert.Equal(DoubleBits((double?[])table["score"].Values), DoubleBits([.. rows.Select(r => r.Score)]));
        Assert.Equal((bool?[])table["member"].Values, rows.Select(r => r.Member));
        Assert.Equal((string?[])table["comment"].Values, rows.Select(r => r.Comment));
        Assert.Equal(((DateTime?[])table["seen"].Values).Select(t => t?.Ticks), rows.Select(r => r.Seen?.Ticks));
        Assert.Equal(Hex((byte[]?[])table["photo"].Values), Hex([.. rows.Select(r => r.Photo)]));
        Assert.All(rows, r => Assert.Equal(6, r.Pixels.Count));
        Assert.Equal(Bits((float[])table["pixels"].Values), Bits([.. rows.SelectMany(r => r.Pixels)]));
    }

    [Fact]
    public async Task Decode_ReadsWhatEncodeWrote_EveryTypeNullAndRowIdExactly()
    {
        var table = AllTypes();

        var read = await RoundTripAsync(table);

        AssertSameRows(table, read);
        Assert.Null(((string?[])read["comment"].Values)[2]);
        Assert.Equal("", ((string?[])read["comment"].Values)[1]);
        Assert.Empty(((byte[]?[])read["photo"].Values)[1]!);
        Assert.Null(((byte[]?[])read["photo"].Values)[2]);
        Assert.True(read["count"].IsNull(3));
        Assert.False(read["count"].IsNull(0));
        Assert.True(double.IsNaN(((double?[])read["score"].Values)[1]!.Value));
    }

    [Fact]
    public async Task Decode_TensorColumn_KeepsSpecialFloatsBitForBit()
    {
        var table = Make(9, [3, 3], Classes);
        Assert.Equal(Bits(SpecialFloats), Bits(((float[])table["features"].Values)[..SpecialFloats.Length]));

        var read = await RoundTripAsync(table);

        AssertSameRows(table, read);
        Assert.Equal(0x7FC0_1234, BitConverter.SingleToInt32Bits(((float[])read["features"].Values)[8]));
        Assert.Equal(int.MinValue, BitConverter.SingleToInt32Bits(((float[])read["features"].Values)[0]));
    }

    [Fact]
    public async Task Decode_ColumnsThatNeverHoldNulls_RoundTrip_AndMayBeReadAsNullable()
    {
        var id = new ColumnSchema("id", ColumnType.Int64, ColumnRole.Id, Nullable: false);
        var name = new ColumnSchema("name", ColumnType.String, ColumnRole.Feature, Nullable: false);
        var weight = new ColumnSchema("weight", ColumnType.Double, ColumnRole.Feature, Nullable: false);
        var at = new ColumnSchema("at", ColumnType.Timestamp, ColumnRole.Feature, Nullable: false);
        var schema = new DatasetSchema([id, name, weight, at]);
        var table = new Table(schema,
            [
                new Column(id, new long?[] { 10, 20, 30 }), new Column(name, new string?[] { "a", "", "c" }),
                new Column(weight, new double?[] { 0.5, -0.0, double.NaN }), new Column(at, new DateTime?[] { Instants[0], Instants[2], Instants[3] }),
            ], [0, 1, 2]);

        AssertSameRows(table, await RoundTripAsync(table));

        var nullable = new DatasetSchema([.. schema.Columns.Select(c => c with { Nullable = true })]);
        var relaxed = await RoundTripAsync(table, nullable);
        Assert.Equal(nullable, relaxed.Schema);
        for (var c = 0; c < schema.Columns.Count; c++)
        {
            AssertSameValues(new Column(nullable.Columns[c], table.Columns[c].Values), relaxed.Columns[c]);
        }
    }

    [Fact]
    public async Task EncodeARange_ThenDecode_GivesThoseRowsWithTheirRowIds()
    {
        var table = AllTypes();

        var bytes = await ParquetShards.EncodeAsync(table, 2, 4);
        var read = await ParquetShards.DecodeAsync(new MemoryStream(bytes), "shard.parquet", table.Schema);

        AssertSameRows(table.Select([2, 3, 4, 5]), read);
        Assert.Equal([1000L, 0L, long.MaxValue, 5L], read.RowIds);
        Assert.Equal(new[] { 1000L, 0L, long.MaxValue, 5L }, await ParquetShards.ReadRowIdsAsync(new MemoryStream(bytes), "shard.parquet"));
    }

    [Fact]
    public async Task EncodeATensorRange_ThenDecode_GivesThoseRows()
    {
        var table = WithRowIds(Make(10, [3], Classes), [.. Enumerable.Range(0, 10).Select(i => 1000L + i * 3)]);

        var bytes = await ParquetShards.EncodeAsync(table, 4, 3);
        var read = await ParquetShards.DecodeAsync(new MemoryStream(bytes), "shard.parquet", table.Schema);

        Assert.Equal([1012L, 1015L, 1018L], read.RowIds);
        Assert.Equal(Bits(((float[])table["features"].Values)[12..21]), Bits((float[])read["features"].Values));
        Assert.Equal(((string?[])table["label"].Values)[4..7], (string?[])read["label"].Values);
    }

    [Fact]
    public async Task Decode_ShardOfSeveralRowGroups_ReadsThemInOrder()
    {
        // Other writers (pandas, Spark) may cut a file into row groups; EncodeAsync writes one.
        var count = new ColumnSchema("count", ColumnType.Int64, ColumnRole.Feature);
        var name = new ColumnSchema("name", ColumnType.String, ColumnRole.Feature);
        var rowField = new DataField(DatasetSchema.RowColumn, typeof(long), isNullable: false);
        var countField = ParquetShards.FieldOf(count);
        var nameField = ParquetShards.FieldOf(name);
        using var file = new MemoryStream();
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(rowField, countField, nameField), file))
        {
            foreach (var (ids, counts, names) in new[]
            {
                (new long[] { 5, 6 }, new long?[] { 1, null }, new string?[] { "a", null }),
                (new long[] { 9 }, new long?[] { 3 }, new string?[] { "" }),
            })
            {
                using var group = writer.CreateRowGroup();
                await group.WriteAsync<long>(rowField, ids.AsMemory(), null, null);
                await group.WriteAsync<long>(countField, counts.AsMemory(), null, null);
                await group.WriteAsync(nameField, (IReadOnlyCollection<string>)names!, null);
            }
        }

        var read = await ParquetShards.DecodeAsync(new MemoryStream(file.ToArray()), "groups.parquet", new DatasetSchema([count, name]));

        Assert.Equal([5L, 6L, 9L], read.RowIds);
        Assert.Equal(new long?[] { 1, null, 3 }, (long?[])read["count"].Values);
        Assert.Equal(new string?[] { "a", null, "" }, (string?[])read["name"].Values);
    }

    [Fact]
    public async Task Encode_SameRowsTwice_GivesTheSameBytes()
    {
        var table = AllTypes();

        var first = await ParquetShards.EncodeAsync(table, 0, 7);
        var second = await ParquetShards.EncodeAsync(AllTypes(), 0, 7);

        Assert.Equal(ParquetShards.Sha256(first), ParquetShards.Sha256(second));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    public async Task Decode_TensorOfOtherWidth_IsRejectedNamingTheShardAndTheColumn(int width)
    {
        var table = Make(4, [3], Classes);
        var bytes = await ParquetShards.EncodeAsync(table, 0, 4);
        var readAs = Replace(table.Schema, "features", table.Schema.Columns[0] with { Shape = [width] });

        var e = await Assert.ThrowsAsync<InvalidDataException>(() =>
            ParquetShards.DecodeAsync(new MemoryStream(bytes), "datasets/x/part-00000.parquet", readAs));

        Assert.Contains("Shard 'datasets/x/part-00000.parquet'", e.Message);
        Assert.Contains("column 'features'", e.Message);
    }

    [Theory]
    [InlineData("count", ColumnType.Double, "is stored as int64 (nullable); the manifest says double")]
    [InlineData("score", ColumnType.Int64, "is stored as double (nullable); the manifest says int64")]
    [InlineData("member", ColumnType.String, "is stored as bool (nullable); the manifest says string")]
    [InlineData("comment", ColumnType.Binary, "is stored as string (nullable); the manifest says binary.")]
    [InlineData("seen", ColumnType.Int64, "is stored as timestamp (nullable); the manifest says int64")]
    [InlineData("photo", ColumnType.String, "is stored as binary (nullable); the manifest says string.")]
    [InlineData("pixels", ColumnType.Double, "is stored as float list (nullable); the manifest says double.")]
    public async Task Decode_ColumnOfAnotherTypeThanTheSchema_IsRejectedNamingTheColumn(string name, ColumnType type, string detail)
    {
        var table = AllTypes();
        var bytes = await ParquetShards.EncodeAsync(table, 0, table.Rows);
        var readAs = Replace(table.Schema, name, new ColumnSchema(name, type, ColumnRole.Feature));

        var e = await Assert.ThrowsAsync<InvalidDataException>(() =>
            ParquetShards.DecodeAsync(new MemoryStream(bytes), "datasets/t/part-00001.parquet", readAs));

        Assert.StartsWith($"Shard 'datasets/t/part-00001.parquet': column '{name}' ", e.Message);
        Assert.Contains(detail, e.Message);
    }

    [Fact]
    public async Task Decode_ScalarColumnWhereTheSchemaSaysTensor_IsRejectedNamingTheColumn()
    {
        var table = AllTypes();
        var bytes = await ParquetShards.EncodeAsync(table, 0, table.Rows);
        var readAs = Replace(table.Schema, "score", new ColumnSchema("score", ColumnType.Tensor, ColumnRole.Feature, Nullable: false, Shape: [1]));

        var e = await Assert.ThrowsAsync<InvalidDataException>(() =>
            ParquetShards.DecodeAsync(new MemoryStream(bytes), "s.parquet", readAs));

        Assert.Contains("Shard 's.parquet'", e.Message);
        Assert.Contains("'score'", e.Message);
    }

    [Fact]
    public async Task Decode_NullableColumnWhereTheSchemaSaysNeverNull_IsRejected()
    {
        var table = AllTypes();
        var bytes = await ParquetShards.EncodeAsync(table, 0, table.Rows);
        var readAs = Replace(table.Schema, "count", table.Schema.Columns[0] with { Nullable = false });

        var e = await Assert.ThrowsAsync<InvalidDataException>(() =>
            ParquetShards.DecodeAsync(new MemoryStream(bytes), "s.parquet", readAs));

        Assert.Equal("Shard 's.parquet': column 'count' is stored as int64 (nullable); the manifest says int64 (not null).", e.Message);
    }

    [Fact]
    public async Task Decode_ShardWithoutAColumnOfTheSchema_IsRejectedNamingTheColumn()
    {
        var table = Make(3, [2], Classes);
        var bytes = await ParquetShards.EncodeAsync(table, 0, 3);
        var readAs = new DatasetSchema([.. table.Schema.Columns, new ColumnSchema("extra", ColumnType.Int64, ColumnRole.Feature)]);

        var e = await Assert.ThrowsAsync<InvalidDataException>(() =>
            ParquetShards.DecodeAsync(new MemoryStream(bytes), "s.parquet", readAs));

        Assert.Equal("Shard 's.parquet' has no column 'extra'.", e.Message);
    }

    [Fact]
    public async Task Decode_ParquetThatIsNotAShard_IsRejectedNamingTheMissingColumn()
    {
        using var other = new MemoryStream();
        await ParquetSerializer.SerializeAsync(new[] { new RowAndLabel { Row = 1, Label = 2 } }, other);

        var e = await Assert.ThrowsAsync<InvalidDataException>(() =>
            ParquetShards.DecodeAsync(new MemoryStream(other.ToArray()), "other.parquet", Make(1, [1], Classes).Schema));

        Assert.Equal("Shard 'other.parquet' has no column 'features'.", e.Message);
    }

    [Fact]
    public async Task Decode_FormatOneShard_IsRejectedForItsMissingRowIdColumn()
    {
        var dense = Dense(3, [2], Classes);
        var legacy = await ParquetShards.EncodeLegacyAsync(dense, 0, 3, [0, 1, 2]);

        var e = await Assert.ThrowsAsync<InvalidDataException>(() =>
            ParquetShards.DecodeAsync(new MemoryStream(legacy), "old.parquet", LegacySchemaOf(2)));

        Assert.Equal("Shard 'old.parquet' has no column '_row'.", e.Message);
    }

    [Fact]
    public async Task ReadRowIds_ReadsTheRowColumnOfBothFormats()
    {
        var table = WithRowIds(Make(4, [2], Classes), [9, 3, 12, 0]);
        var current = await ParquetShards.EncodeAsync(table, 1, 3);
        var legacy = await ParquetShards.EncodeLegacyAsync(Dense(4, [2], Classes), 0, 4, [40, 41, 42, 43]);

        Assert.Equal(new[] { 3L, 12L, 0L }, await ParquetShards.ReadRowIdsAsync(new MemoryStream(current), "new.parquet"));
        Assert.Equal(new[] { 40L, 41L, 42L, 43L }, await ParquetShards.ReadRowIdsAsync(new MemoryStream(legacy), "old.parquet"));
    }

    [Fact]
    public async Task ReadRowIds_ParquetWithoutARowColumn_IsRejected()
    {
        using var other = new MemoryStream();
        await ParquetSerializer.SerializeAsync(new[] { new LabelOnly { Label = 2 } }, other);

        var e = await Assert.ThrowsAsync<InvalidDataException>(() =>
            ParquetShards.ReadRowIdsAsync(new MemoryStream(other.ToArray()), "other.parquet"));

        Assert.Equal("Shard 'other.parquet' has no '_row' column.", e.Message);
    }

    [Fact]
    public async Task DecodeLegacy_ReadsFeaturesBitForBit_AndClassIndicesAsClassNames()
    {
        var dense = Dense(9, [2, 2], Classes);
        long[] rowIds = [.. Enumerable.Range(0, 9).Select(i => 100L + i)];
        var bytes = await ParquetShards.EncodeLegacyAsync(dense, 0, 9, rowIds);

        var table = await ParquetShards.DecodeLegacyAsync(new MemoryStream(bytes), "old.parquet", LegacySchemaOf(2, 2), Classes, 9);

        Assert.Equal(LegacySchemaOf(2, 2), table.Schema);
        Assert.Equal(rowIds, table.RowIds);
        Assert.Equal(Bits(dense.Features), Bits((float[])table["features"].Values));
        Assert.Equal(dense.Labels.Select(l => Classes[l]), (string?[])table["label"].Values);
        Assert.Equal(Classes.Order(StringComparer.Ordinal), table.DistinctClasses());
    }

    [Fact]
    public async Task DecodeLegacy_MoreRowsThanTheManifestDeclares_IsRejected()
    {
        var bytes = await ParquetShards.EncodeLegacyAsync(Dense(4, [3], Classes), 0, 4, [0, 1, 2, 3]);

        var e = await Assert.ThrowsAsync<InvalidDataException>(() =>
            ParquetShards.DecodeLegacyAsync(new MemoryStream(bytes), "s.parquet", LegacySchemaOf(3), Classes, 3));

        Assert.Equal("Shard 's.parquet' holds more rows than its manifest declares.", e.Message);
    }

    [Fact]
    public async Task DecodeLegacy_FewerRowsThanTheManifestDeclares_IsRejected()
    {
        var bytes = await ParquetShards.EncodeLegacyAsync(Dense(4, [3], Classes), 0, 4, [0, 1, 2, 3]);

        var e = await Assert.ThrowsAsync<InvalidDataException>(() =>
            ParquetShards.DecodeLegacyAsync(new MemoryStream(bytes), "s.parquet", LegacySchemaOf(3), Classes, 5));

        Assert.Equal("Shard 's.parquet' holds 4 rows, the manifest says 5.", e.Message);
    }

    [Fact]
    public async Task DecodeLegacy_OtherFeatureCount_IsRejectedNamingTheShard()
    {
        var bytes = await ParquetShards.EncodeLegacyAsync(Dense(4, [3], Classes), 0, 4, [0, 1, 2, 3]);

        // Read as 2 features per row: 12 values make 6 rows of 2, but the shard has 4 rows of 3.
        var e = await Assert.ThrowsAsync<InvalidDataException>(() =>
            ParquetShards.DecodeLegacyAsync(new MemoryStream(bytes), "datasets/x/part-00000.parquet", LegacySchemaOf(2), Classes, 4));

        Assert.Contains("'datasets/x/part-00000.parquet'", e.Message);
        Assert.Contains("2 features", e.Message);
    }

    [Fact]
    public async Task DecodeLegacy_LabelOutsideTheClasses_IsRejected()
    {
        string[] six = ["a", "b", "c", "d", "e", "f"];
        var bytes = await ParquetShards.EncodeLegacyAsync(Dense(3, [1], six, labels: [0, 5, 1]), 0, 3, [0, 1, 2]);

        var e = await Assert.ThrowsAsync<InvalidDataException>(() =>
            ParquetShards.DecodeLegacyAsync(new MemoryStream(bytes), "s.parquet", LegacySchemaOf(1), ["a", "b", "c"], 3));

        Assert.Equal("Shard 's.parquet': label 5 is outside the 3 classes.", e.Message);
    }

    [Fact]
    public void FieldOf_MapsEachColumnTypeToItsParquetField()
    {
        var fields = AllTypesSchema.Columns.Select(ParquetShards.FieldOf).ToArray();

        Assert.Equal(AllTypesSchema.Columns.Select(c => c.Name), fields.Select(f => f.Name));
        Assert.Equal([typeof(long), typeof(double), typeof(bool), StringClrType, typeof(DateTime), BinaryClrType, typeof(float)], fields.Select(f => f.ClrType));
        Assert.NotEqual(StringClrType, BinaryClrType);
        var seen = Assert.IsType<DateTimeDataField>(fields[4]);
        Assert.True(seen.IsAdjustedToUTC);
        Assert.Equal(DateTimeTimeUnit.Micros, seen.Unit);
        Assert.Equal([true, true, true, true, true, true, false], fields.Select(f => f.IsNullable));
        Assert.Equal([false, false, false, false, false, false, true], fields.Select(f => f.IsArray));
        Assert.False(ParquetShards.FieldOf(new ColumnSchema("id", ColumnType.Int64, ColumnRole.Id, Nullable: false)).IsNullable);
    }

    [Fact]
    public void Sha256_IsLowerCaseHexOfTheBytes() =>
        Assert.Equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", ParquetShards.Sha256("abc"u8));
}
