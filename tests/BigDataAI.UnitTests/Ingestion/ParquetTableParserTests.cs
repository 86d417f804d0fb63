using BigDataAI.Datasets;
using BigDataAI.Ingestion.Parsing;
using Parquet.Schema;
using static BigDataAI.UnitTests.Ingestion.ParquetFiles;
using static BigDataAI.UnitTests.Ingestion.TestFiles;

namespace BigDataAI.UnitTests.Ingestion;

public sealed class ParquetTableParserTests
{
    private static Task<Table> ParseAsync(byte[] file, string label = "label", bool labelRequired = false, params ColumnHint[] hints) =>
        ParquetTableParser.ParseAsync(Stream(file), "data.parquet", label, labelRequired, hints);

    private static Task<DataFormatException> RefusedAsync(byte[] file, string label = "label", bool labelRequired = false, params ColumnHint[] hints) =>
        Assert.ThrowsAsync<DataFormatException>(() => ParseAsync(file, label, labelRequired, hints));

    private static IEnumerable<string?> Texts(Column column) => (string?[])column.Values;

    private static readonly DateTime Noon = new(2024, 5, 6, 12, 30, 15, DateTimeKind.Utc);

    [Fact]
    public async Task EveryStorableTypeIsRead_FromEveryRowGroup_KeepingNullability()
    {
        var vec = new ListField("vec", new DataField("element", typeof(float), isNullable: false));
        Field[] fields =
        [
            new DataField("i8", typeof(sbyte), isNullable: false),
            new DataField("u16", typeof(ushort), isNullable: true),
            new DataField("i32", typeof(int), isNullable: true),
            new DataField("u32", typeof(uint), isNullable: false),
            new DataField("i64", typeof(long), isNullable: true),
            new DataField("u64", typeof(ulong), isNullable: false),
            new DataField("f", typeof(float), isNullable: true),
            new DataField("d", typeof(double), isNullable: false),
            new DataField("b", typeof(bool), isNullable: true),
            new DataField("s", typeof(string), isNullable: true),
            new DataField("bin", typeof(byte[]), isNullable: true),
            new DateTimeDataField("ts", DateTimeFormat.Timestamp, isAdjustedToUTC: true, unit: DateTimeTimeUnit.Micros, isNullable: true),
            new DateTimeDataField("local", DateTimeFormat.Timestamp, isAdjustedToUTC: false, unit: DateTimeTimeUnit.Millis, isNullable: false),
            new DataField("int96", typeof(DateTime), isNullable: false),
            new DateTimeDataField("day", DateTimeFormat.Date, isNullable: true),
            vec,
            new DataField("legacy", typeof(double), isNullable: false, isArray: true), // a repeated field, as the shards store tensors
            new DataField("label", typeof(string), isNullable: true),
        ];
        var file = await WriteAsync(fields,
            async (g, f) =>
            {
                await g.WriteAsync<sbyte>(f[0], new sbyte[] { -128, 127 }.AsMemory(), null, null, default);
                await g.WriteAsync<ushort>(f[1], new ushort?[] { 65535, null }.AsMemory(), null, null, default);
                await g.WriteAsync<int>(f[2], new int?[] { int.MinValue, null }.AsMemory(), null, null, default);
                await g.WriteAsync<uint>(f[3], new uint[] { uint.MaxValue, 0 }.AsMemory(), null, null, default);
                await g.WriteAsync<long>(f[4], new long?[] { long.MaxValue, null }.AsMemory(), null, null, default);
                await g.WriteAsync<ulong>(f[5], new ulong[] { long.MaxValue, 1 }.AsMemory(), null, null, default);
                await g.WriteAsync<float>(f[6], new float?[] { 0.5f, null }.AsMemory(), null, null, default);
                await g.WriteAsync<double>(f[7], new double[] { 1.25, -2 }.AsMemory(), null, null, default);
                await g.WriteAsync<bool>(f[8], new bool?[] { true, null }.AsMemory(), null, null, default);
                await g.WriteAsync(f[9], new[] { "Oslo", null! }, null);
                await g.WriteAsync(f[10], new[] { new byte[] { 1, 2, 3 }, null! }, null);
                await g.WriteAsync<DateTime>(f[11], new DateTime?[] { Noon, null }.AsMemory(), null, null, default);
                await g.WriteAsync<DateTime>(f[12], new[] { Noon, Noon }.AsMemory(), null, null, default);
                await g.WriteAsync<DateTime>(f[13], new[] { Noon, Noon }.AsMemory(), null, null, default);
                await g.WriteAsync<DateTime>(f[14], new DateTime?[] { Noon.Date, null }.AsMemory(), null, null, default);
                await WriteListAsync<float>(g, f[15], [1f, 2f], [3f, 4f]);
                await g.WriteAsync<double>(f[16], new double[] { 1, 2, 3, 4, 5, 6 }.AsMemory(), new[] { 0, 1, 1, 0, 1, 1 }, null, default);
                await g.WriteAsync(f[17], new[] { "cat", "dog" }, null);
            },
            async (g, f) =>
            {
                await g.WriteAsync<sbyte>(f[0], new sbyte[] { 0 }.AsMemory(), null, null, default);
                await g.WriteAsync<ushort>(f[1], new ushort?[] { 1 }.AsMemory(), null, null, default);
                await g.WriteAsync<int>(f[2], new int?[] { 2 }.AsMemory(), null, null, default);
                await g.WriteAsync<uint>(f[3], new uint[] { 3 }.AsMemory(), null, null, default);
                await g.WriteAsync<long>(f[4], new long?[] { 4 }.AsMemory(), null, null, default);
                await g.WriteAsync<ulong>(f[5], new ulong[] { 5 }.AsMemory(), null, null, default);
                await g.WriteAsync<float>(f[6], new float?[] { 6 }.AsMemory(), null, null, default);
                await g.WriteAsync<double>(f[7], new double[] { 7 }.AsMemory(), null, null, default);
                await g.WriteAsync<bool>(f[8], new bool?[] { false }.AsMemory(), null, null, default);
                await g.WriteAsync(f[9], new[] { "Bergen" }, null);
                await g.WriteAsync(f[10], new[] { Array.Empty<byte>() }, null);
                await g.WriteAsync<DateTime>(f[11], new DateTime?[] { Noon.AddDays(1) }.AsMemory(), null, null, default);
                await g.WriteAsync<DateTime>(f[12], new[] { Noon }.AsMemory(), null, null, default);
                await g.WriteAsync<DateTime>(f[13], new[] { Noon }.AsMemory(), null, null, default);
                await g.WriteAsync<DateTime>(f[14], new DateTime?[] { Noon.Date }.AsMemory(), null, null, default);
                await WriteListAsync<float>(g, f[15], [5f, 6f]);
                await g.WriteAsync<double>(f[16], new double[] { 7, 8, 9 }.AsMemory(), new[] { 0, 1, 1 }, null, default);
                await g.WriteAsync(f[17], new string[] { null! }, null);
            });

        var table = await ParseAsync(file);

        Assert.Equal(
            [("i8", "int64", false), ("u16", "int64", true), ("i32", "int64", true), ("u32", "int64", false), ("i64", "int64", true), ("u64", "int64", false),
             ("f", "double", true), ("d", "double", false), ("b", "bool", true), ("s", "string", true), ("bin", "binary", true), ("ts", "timestamp", true),
             ("local", "timestamp", false), ("int96", "timestamp", false), ("day", "timestamp", true), ("vec", "tensor[2]", false), ("legacy", "tensor[3]", false),
             ("label", "string", true)],
            table.Schema.Columns.Select(c => (c.Name, c.TypeName, c.Nullable)));
        Assert.Equal(3, table.Rows);
        Assert.Equal([0L, 1L, 2L], table.RowIds);
        Assert.Equal([-128L, 127L, 0L], (long?[])table["i8"].Values);
        Assert.Equal([65535L, null, 1L], (long?[])table["u16"].Values);
        Assert.Equal([int.MinValue, null, 2L], (long?[])table["i32"].Values);
        Assert.Equal([uint.MaxValue, 0L, 3L], (long?[])table["u32"].Values);
        Assert.Equal([long.MaxValue, null, 4L], (long?[])table["i64"].Values);
        Assert.Equal([long.MaxValue, 1L, 5L], (long?[])table["u64"].Values);
        Assert.Equal([0.5, null, 6.0], (double?[])table["f"].Values);
        Assert.Equal([1.25, -2.0, 7.0], (double?[])table["d"].Values);
        Assert.Equal([true, null, false], (bool?[])table["b"].Values);
        Assert.Equal(["Oslo", null, "Bergen"], Texts(table["s"]));
        Assert.Equal([[1, 2, 3], null, []], (byte[]?[])table["bin"].Values);
        Assert.Equal([Noon, null, Noon.AddDays(1)], (DateTime?[])table["ts"].Values);
        Assert.All((DateTime?[])table["local"].Values, t => Assert.Equal((Noon, DateTimeKind.Utc), (t!.Value, t.Value.Kind)));
        Assert.All((DateTime?[])table["int96"].Values, t => Assert.Equal((Noon, DateTimeKind.Utc), (t!.Value, t.Value.Kind)));
        Assert.Equal([Noon.Date, null, Noon.Date], (DateTime?[])table["day"].Values);
        Assert.Equal(DateTimeKind.Utc, ((DateTime?[])table["day"].Values)[0]!.Value.Kind);
        Assert.Equal([1f, 2f, 3f, 4f, 5f, 6f], (float[])table["vec"].Values);
        Assert.Equal([1f, 2f, 3f, 4f, 5f, 6f, 7f, 8f, 9f], (float[])table["legacy"].Values);
        Assert.Equal(("label", ColumnRole.Label), (table.Schema.Label!.Name, table.Schema.Label.Role));
        Assert.Equal(["cat", "dog"], table.DistinctClasses());
        Assert.Equal([0L, 1L, -1L], table.ClassIndices(table.DistinctClasses()));
        Assert.All(table.Schema.Columns.Where(c => c.Name != "label"), c => Assert.Equal(ColumnRole.Feature, c.Role));
    }

    [Fact]
    public async Task ARequiredColumnReadAfterANullableOneWithNulls_KeepsItsOwnValues()
    {
        // Parquet.Net 6.1 read the required column into nullable memory with the previous column's nulls.
        var file = await WriteAsync([new DataField("n", typeof(int), isNullable: true), new DataField("u", typeof(uint), isNullable: false)],
            async (g, f) =>
            {
                await g.WriteAsync<int>(f[0], new int?[] { int.MinValue, null }.AsMemory(), null, null, default);
                await g.WriteAsync<uint>(f[1], new uint[] { uint.MaxValue, 0 }.AsMemory(), null, null, default);
            });

        var table = await ParseAsync(file);

        Assert.Equal([uint.MaxValue, 0L], (long?[])table["u"].Values);
        Assert.False(table["u"].Schema.Nullable);
    }

    [Fact]
    public async Task NaNIsANull_AsInCsv_AndAnInfinityIsRefused()
    {
        var nan = await ParseAsync(await WriteAsync([new DataField("x", typeof(double), isNullable: false)],
            (g, f) => g.WriteAsync<double>(f[0], new[] { 1.0, double.NaN }.AsMemory(), null, null, default)));
        Assert.Equal([1.0, null], (double?[])nan["x"].Values);
        Assert.True(nan["x"].Schema.Nullable);

        var e = await RefusedAsync(await ColumnAsync<double>("x", 1.0, null, double.NegativeInfinity));
        Assert.Equal((3L, "x"), (e.Row, e.Column));
        Assert.Contains("-infinity", e.Message);
    }

    [Fact]
    public async Task AnUnsignedValueAboveTheLargestInt64_IsRefusedNamingItsRow()
    {
        var file = await WriteAsync([new DataField("big", typeof(ulong), isNullable: true)],
            (g, f) => g.WriteAsync<ulong>(f[0], new ulong?[] { 1, null }.AsMemory(), null, null, default),
            (g, f) => g.WriteAsync<ulong>(f[0], new ulong?[] { 2, (ulong)long.MaxValue + 1 }.AsMemory(), null, null, default));

        var e = await RefusedAsync(file);

        Assert.Equal((4L, "big"), (e.Row, e.Column));
        Assert.StartsWith("data.parquet: row 4, column 'big': the value 9223372036854775808 (uint64) is larger than the largest int64", e.Message);
    }

    public sealed class Address
    {
        public string? City { get; set; }
    }

    public sealed class WithStruct
    {
        public Address? Address { get; set; }
    }

    public sealed class WithMap
    {
        public Dictionary<string, int>? Counts { get; set; }
    }

    public sealed class WithNestedList
    {
        public List<List<double>>? Grid { get; set; }
    }

    public sealed class WithStrings
    {
        public List<string>? Tags { get; set; }
    }

    public sealed class WithInts
    {
        public List<int>? Pixels { get; set; }
    }

    public sealed class WithDecimal
    {
        public decimal Price { get; set; }
    }

    public sealed class WithGuid
    {
        public Guid Id { get; set; }
    }

    public static TheoryData<string, string, string> UnstorableTypes => new()
    {
        { "struct", "Address", "struct<City: string>" },
        { "map", "Counts", "map<string, int32>" },
        { "nested list", "Grid", "list<list<double>>" },
        { "list of strings", "Tags", "list<string>" },
        { "list of integers", "Pixels", "list<int32>" },
        { "decimal", "Price", "decimal(" },
        { "uuid", "Id", "uuid" },
        { "time", "at", "time" },
    };

    [Theory]
    [MemberData(nameof(UnstorableTypes))]
    public async Task AColumnOfATypeThatCannotBeStored_IsRefusedNamingTheColumnAndItsParquetType(string kind, string column, string parquetType)
    {
        var file = kind switch
        {
            "struct" => await SerializeAsync(new WithStruct { Address = new Address { City = "Oslo" } }),
            "map" => await SerializeAsync(new WithMap { Counts = new() { ["a"] = 1 } }),
            "nested list" => await SerializeAsync(new WithNestedList { Grid = [[1.0]] }),
            "list of strings" => await SerializeAsync(new WithStrings { Tags = ["a"] }),
            "list of integers" => await SerializeAsync(new WithInts { Pixels = [1, 2] }),
            "decimal" => await SerializeAsync(new WithDecimal { Price = 1.25m }),
            "uuid" => await SerializeAsync(new WithGuid { Id = Guid.NewGuid() }),
            _ => await WriteAsync([new TimeDataField("at", TimeUnitPrecision.Millis, isNullable: true)],
                (g, f) => g.WriteAsync<int>(f[0], new int?[] { 1000 }.AsMemory(), null, null, default)),
        };

        var e = await RefusedAsync(file);

        Assert.Equal((null, column), (e.Row, e.Column));
        Assert.StartsWith($"data.parquet: column '{column}': the column has Parquet type {parquetType}", e.Message);
        Assert.Contains("which ingestion cannot store", e.Message);
    }

    public static TheoryData<string, long, string> BadTensors => new()
    {
        { "lengths", 3, "holds 3 numbers, the first row's 2" },
        { "null list", 2, "null, empty or holds a null" },
        { "empty list", 2, "null, empty or holds a null" },
        { "null element", 3, "null, empty or holds a null" },
        { "NaN element", 3, "element 2 of the list is NaN" },
    };

    [Theory]
    [MemberData(nameof(BadTensors))]
    public async Task AListColumnThatIsNotOneLengthOfNumbersInEveryRow_IsRefusedNamingTheRow(string kind, long row, string reason)
    {
        var nullableElement = kind == "null element";
        var leaf = new DataField("element", typeof(double), isNullable: nullableElement);
        var file = await WriteAsync([new ListField("emb", leaf)],
            (g, f) => WriteListAsync<double>(g, f[0], [1, 2], kind switch { "null list" => null, "empty list" => [], _ => [3, 4] }),
            (g, f) => WriteListAsync<double>(g, f[0], kind switch { "lengths" => [5, 6, 7], "null element" => [5, null], "NaN element" => [5, double.NaN], _ => [5, 6] }));

        var e = await RefusedAsync(file);

        Assert.Equal((row, "emb"), (e.Row, e.Column));
        Assert.Contains(reason, e.Message);
    }

    [Fact]
    public async Task AColumnNamedRow_IsRefused()
    {
        var e = await RefusedAsync(await ColumnAsync<long>("_row", 1));

        Assert.Equal((null, "_row"), (e.Row, e.Column));
        Assert.Contains("reserved for the row index", e.Message);
    }

    [Fact]
    public async Task TheLabelColumnAndRoleHints_WorkAsForCsv_AndInt64MayBeDeclaredDoubleOrString()
    {
        var file = await WriteAsync(
            [new DataField("id", typeof(long), isNullable: false), new DataField("zip", typeof(int), isNullable: true), new DataField("n", typeof(long), isNullable: false),
             new DataField("note", typeof(string), isNullable: true), new DataField("digit", typeof(byte), isNullable: true)],
            async (g, f) =>
            {
                await g.WriteAsync<long>(f[0], new long[] { 7, 8, 9 }.AsMemory(), null, null, default);
                await g.WriteAsync<int>(f[1], new int?[] { 123, null, 4000 }.AsMemory(), null, null, default);
                await g.WriteAsync<long>(f[2], new long[] { 1, 2, 3 }.AsMemory(), null, null, default);
                await g.WriteAsync(f[3], new[] { "a", "b", "c" }, null);
                await g.WriteAsync<byte>(f[4], new byte?[] { 10, 9, null }.AsMemory(), null, null, default);
            });

        var table = await ParseAsync(file, label: "digit", labelRequired: true,
            new ColumnHint("id", ColumnRole.Id, ColumnType.Int64), new ColumnHint("zip", Type: ColumnType.String), new ColumnHint("n", Type: ColumnType.Double),
            new ColumnHint("note", ColumnRole.Text));

        Assert.Equal(
            [("id", "int64", "Id"), ("zip", "string", "Feature"), ("n", "double", "Feature"), ("note", "string", "Text"), ("digit", "int64", "Label")],
            table.Schema.Columns.Select(c => (c.Name, c.TypeName, c.Role.ToString())));
        Assert.Equal(["123", null, "4000"], Texts(table["zip"]));
        Assert.Equal([1.0, 2.0, 3.0], (double?[])table["n"].Values);
        Assert.False(table["n"].Schema.Nullable);
        Assert.Equal(["9", "10"], table.DistinctClasses());
        Assert.Equal(1, table.ClassIndices(table.DistinctClasses()).Count(i => i < 0));
    }

    [Theory]
    [InlineData("x", ColumnType.Int64, "declares type int64, but the column is double in the Parquet file (double)")]
    [InlineData("s", ColumnType.Timestamp, "declares type timestamp, but the column is string in the Parquet file (string)")]
    [InlineData("i", ColumnType.Bool, "declares type bool, but the column is int64 in the Parquet file (int32)")]
    public async Task ADeclaredTypeOtherThanTheColumnsOwn_OrDoubleOrStringForInt64_IsRefused(string column, ColumnType type, string reason)
    {
        var file = await WriteAsync([new DataField("x", typeof(double), isNullable: true), new DataField("s", typeof(string), isNullable: true), new DataField("i", typeof(int), isNullable: true)],
            async (g, f) =>
            {
                await g.WriteAsync<double>(f[0], new double?[] { 1.5 }.AsMemory(), null, null, default);
                await g.WriteAsync(f[1], new[] { "2024-01-01" }, null);
                await g.WriteAsync<int>(f[2], new int?[] { 1 }.AsMemory(), null, null, default);
            });

        var e = await RefusedAsync(file, hints: new ColumnHint(column, Type: type));

        Assert.Equal((null, column), (e.Row, e.Column));
        Assert.Contains(reason, e.Message);
        Assert.Contains("an int64 column may be declared double or string", e.Message);
    }

    [Fact]
    public async Task AMissingLabelColumn_AnUnknownHint_AndTwoLabels_AreRefused()
    {
        var file = await ColumnAsync<int>("a", 1);

        var label = await RefusedAsync(file, label: "species", labelRequired: true);
        Assert.Equal("data.parquet: the file has no label column 'species' (columns: a); name the label column, matching case", label.Message);

        var hint = await RefusedAsync(file, hints: new ColumnHint("b", ColumnRole.Id));
        Assert.Contains("the upload declares column 'b', which the file does not have (columns: a)", hint.Message);

        var labelFile = await WriteAsync([new DataField("a", typeof(int), isNullable: true), new DataField("label", typeof(int), isNullable: true)],
            async (g, f) =>
            {
                await g.WriteAsync<int>(f[0], new int?[] { 1 }.AsMemory(), null, null, default);
                await g.WriteAsync<int>(f[1], new int?[] { 1 }.AsMemory(), null, null, default);
            });
        var twoLabels = await RefusedAsync(labelFile, hints: new ColumnHint("a", ColumnRole.Label));
        Assert.Contains("Only one column may be the label", twoLabels.Message);
    }

    [Fact]
    public async Task WhatIsNotAWholeParquetFile_IsRefusedNamingTheByteOffset()
    {
        var csv = await RefusedAsync(Utf8("a,label\n1,x\n"));
        Assert.Equal(0, csv.ByteOffset);
        Assert.Contains("not a Parquet file", csv.Message);

        var good = await ColumnAsync<int>("a", 1, 2, 3);
        var truncated = await RefusedAsync(good[..^10]);
        Assert.Equal(good.Length - 14, truncated.ByteOffset);
        Assert.Contains("does not end with the bytes PAR1", truncated.Message);

        var gzipped = await RefusedAsync(Gzip(good));
        Assert.Contains("gzip-compressed", gzipped.Message);

        var corrupt = await ColumnAsync<int>("a", 1, 2, 3);
        corrupt.AsSpan(4, 12).Fill(0xFF); // the first page header
        var page = await RefusedAsync(corrupt);
        Assert.Equal((null, "a"), (page.Row, page.Column));
        Assert.Contains("row group 0 cannot be read", page.Message);

        var empty = await RefusedAsync(await WriteAsync([new DataField("a", typeof(int))]));
        Assert.Equal("data.parquet: the Parquet file holds no rows", empty.Message);
    }
}
