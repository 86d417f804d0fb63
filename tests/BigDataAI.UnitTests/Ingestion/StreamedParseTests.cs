using System.Text;
using BigDataAI.Datasets;
using BigDataAI.Ingestion.Parsing;
using static BigDataAI.UnitTests.Ingestion.TestFiles;

namespace BigDataAI.UnitTests.Ingestion;

/// <summary>
/// The two-pass parsers: reading a table chunk by chunk gives exactly the table read whole (types, nullability, values,
/// row ids), and quarantine mode turns bad rows into quarantined rows instead of errors.
/// </summary>
public sealed class StreamedParseTests
{
    private const string Csv = "id,height,member,seen,city,label\n"
        + "1,1.5,true,2025-01-01,Oslo,cat\n"
        + "2,NA,false,2025-01-02T10:00:00Z,\"Ber,gen\",dog\n"
        + "3,2.25,true,2025-01-03,,cat\n"
        + "\n"
        + "4,3,false,2025-01-04,Tromsø,\n"
        + "5,-1e3,true,2025-01-05,\"multi\nline\",dog\n"
        + "6,7,true,2025-01-06,Oslo,cat\n"
        + "7,8.5,false,2025-01-07,Bergen,dog\n";

    private const string Jsonl = "{\"id\": 1, \"address\": {\"city\": \"Oslo\", \"zip\": null}, \"v\": [1, 2], \"score\": 1.5, \"label\": \"cat\"}\n"
        + "\n"
        + "{\"id\": 2, \"address\": {\"city\": \"Bergen\", \"zip\": \"5003\"}, \"v\": [3, 4.5], \"label\": \"dog\"}\n"
        + "{\"id\": 3, \"address\": null, \"v\": [5, 6], \"score\": 2, \"label\": null}\n"
        + "{\"id\": 4, \"address\": {\"city\": \"Tromsø\"}, \"v\": [7, 8], \"score\": 3.25, \"label\": \"cat\"}\n"
        + "{\"id\": 5, \"v\": [9, 10], \"score\": -4, \"label\": \"dog\", \"extra\": true}\n";

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(1000)]
    public void A_CSV_read_in_chunks_is_the_table_read_whole(int chunkRows)
    {
        var whole = TableParser.Parse(Stream(Utf8(Csv)), "data.csv");
        var table = TableParser.Open(StreamedTable.Rewindable(Stream(Utf8(Csv))), "data.csv", ',', "label", false, null, RowPolicy.Strict, null);
        var bad = new List<QuarantinedRow>();
        var chunks = table.Read(chunkRows, bad).ToList();

        Assert.Empty(bad);
        Assert.All(chunks, c => Assert.True(c.Rows.Rows <= chunkRows));
        Assert.Equal((7 + chunkRows - 1) / chunkRows, chunks.Count);
        AssertSame(whole, DatasetStore.Concat(table.Schema, [.. chunks.Select(c => c.Rows)]));
        // Reusing the arrays gives the same rows, as long as each chunk is used before the next is read.
        var copies = table.Read(chunkRows, bad, reuse: true).Select(c => c.Rows.Slice(0, c.Rows.Rows)).ToList();
        AssertSame(whole, DatasetStore.Concat(table.Schema, copies));
        Assert.Equal([2L, 3, 4, 5, 6, 7, 8], chunks.SelectMany(c => c.SourceRows)); // a blank line is skipped; a quoted line break is one row
        Assert.Equal(
            [("id", ColumnType.Int64, false), ("height", ColumnType.Double, true), ("member", ColumnType.Bool, false), ("seen", ColumnType.Timestamp, false),
             ("city", ColumnType.String, true), ("label", ColumnType.String, true)],
            whole.Schema.Columns.Select(c => (c.Name, c.Type, c.Nullable)));
        Assert.Equal("multi\nline", whole["city"].Format(4));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(1000)]
    public void A_JSONL_file_read_in_chunks_is_the_table_read_whole(int chunkRows)
    {
        var whole = JsonLinesParser.Parse(Stream(Utf8(Jsonl)), "data.jsonl");
        var table = JsonLinesParser.Open(StreamedTable.Rewindable(Stream(Utf8(Jsonl))), "data.jsonl", "label", false, null, RowPolicy.Strict, null);
        var chunks = table.Read(chunkRows, []).ToList();

        AssertSame(whole, DatasetStore.Concat(table.Schema, [.. chunks.Select(c => c.Rows)]));
        var copies = table.Read(chunkRows, [], reuse: true).Select(c => c.Rows.Slice(0, c.Rows.Rows)).ToList();
        AssertSame(whole, DatasetStore.Concat(table.Schema, copies));
        Assert.Equal([1L, 3, 4, 5, 6], chunks.SelectMany(c => c.SourceRows)); // line numbers, the blank line counted
        Assert.Equal(
            [("id", "int64", false), ("address.city", "string", true), ("address.zip", "string", true), ("v", "tensor[2]", false),
             ("score", "double", true), ("label", "string", true), ("extra", "bool", true)],
            whole.Schema.Columns.Select(c => (c.Name, c.TypeName, c.Nullable)));
        Assert.Equal([1f, 2, 3, 4.5f, 5, 6, 7, 8, 9, 10], (float[])whole["v"].Values);
        Assert.Equal(new string?[] { null, "5003", null, null, null }.AsEnumerable(), ((string?[])whole["address.zip"].Values).AsEnumerable());
    }

    [Fact]
    public void Quarantine_keeps_a_mostly_numeric_column_numeric_and_reports_each_bad_row_with_its_row_column_and_reason()
    {
        var csv = "age,name,label\n30,a,x\nabc,b,y\n40,c\n50,d\0,x\n60,e,y\n70,f,x\n80,g,y\n90,h,x\n";
        var strict = TableParser.Open(StreamedTable.Rewindable(Stream(Utf8(csv.Replace("40,c\n", "40,c,x\n", StringComparison.Ordinal).Replace("\0", "", StringComparison.Ordinal)))),
            "data.csv", ',', "label", false, null, RowPolicy.Strict, null);
        Assert.Equal(ColumnType.String, strict.Schema.Columns[0].Type); // strict: the first type that fits every cell

        var table = TableParser.Open(StreamedTable.Rewindable(Stream(Utf8(csv))), "data.csv", ',', "label", false, null, new RowPolicy(true, 0.5), null);
        var bad = new List<QuarantinedRow>();
        var rows = DatasetStore.Concat(table.Schema, [.. table.Read(2, bad).Select(c => c.Rows)]);

        Assert.Equal(ColumnType.Int64, table.Schema.Columns[0].Type);
        Assert.Equal(8, table.SourceRows);
        Assert.Equal([30L, 60, 70, 80, 90], (long?[])rows["age"].Values);
        Assert.Equal([0L, 4, 5, 6, 7], rows.RowIds);
        Assert.Equal(
            new (long, long, string?, string, string?)[] { (3, 1, "age", "type_mismatch", "abc"), (4, 2, null, "cell_count", "40,c"), (5, 3, "name", "nul_character", "d\uFFFD") },
            bad.Select(b => (b.SourceRow, b.RowId, b.Column, b.Reason, b.Raw)));
        Assert.Contains("'abc' is not an int64", bad[0].Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Quarantine_of_JSONL_skips_lines_that_are_not_objects_and_values_of_the_wrong_kind()
    {
        var text = "{\"n\": 1, \"label\": \"a\"}\n[1]\n{\"n\": 2, \"label\": \"b\"}\n{\"n\": \"two\", \"label\": \"b\"}\n{\"n\": 3, \"label\": \"a\"}\n{\"n\": , }\n";
        var table = JsonLinesParser.Open(StreamedTable.Rewindable(Stream(Utf8(text))), "data.jsonl", "label", false, null, new RowPolicy(true, 0.5), null);
        var bad = new List<QuarantinedRow>();
        var rows = DatasetStore.Concat(table.Schema, [.. table.Read(10, bad).Select(c => c.Rows)]);

        Assert.Equal(ColumnType.Int64, table.Schema.Find("n")!.Type);
        Assert.Equal([1L, 2, 3], (long?[])rows["n"].Values);
        Assert.Equal(new (long, string, string?)[] { (2, "invalid_json", null), (4, "type_mismatch", "n"), (6, "invalid_json", null) }, bad.Select(b => (b.SourceRow, b.Reason, b.Column)));
        var strict = Assert.Throws<DataFormatException>(() => JsonLinesParser.Parse(Stream(Utf8(text)), "data.jsonl"));
        Assert.StartsWith("data.jsonl: line 2:", strict.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_type_the_expectations_declare_is_read_and_a_cell_that_does_not_fit_it_is_named()
    {
        var csv = "zip,label\n0101,a\n0202,b\nx,a\n";
        var table = TableParser.Open(StreamedTable.Rewindable(Stream(Utf8(csv))), "data.csv", ',', "label", false, null, new RowPolicy(true, 0.5),
            new Dictionary<string, ColumnType> { ["zip"] = ColumnType.Int64, ["absent"] = ColumnType.Bool });
        var bad = new List<QuarantinedRow>();
        var rows = DatasetStore.Concat(table.Schema, [.. table.Read(10, bad).Select(c => c.Rows)]);

        Assert.Equal([101L, 202], (long?[])rows["zip"].Values);
        Assert.Equal("expectation_type", Assert.Single(bad).Reason);
        Assert.Contains("the type the dataset's expectations declare", bad[0].Message, StringComparison.Ordinal);
        var strict = Assert.Throws<DataFormatException>(() => TableParser.Open(StreamedTable.Rewindable(Stream(Utf8(csv))), "data.csv", ',', "label", false, null, RowPolicy.Strict,
            new Dictionary<string, ColumnType> { ["zip"] = ColumnType.Int64 }));
        Assert.StartsWith("data.csv: row 4, column 'zip': 'x' is not an int64", strict.Message, StringComparison.Ordinal);
    }

    private static void AssertSame(Table expected, Table actual)
    {
        Assert.Equal(expected.Schema, actual.Schema);
        Assert.Equal(expected.RowIds, actual.RowIds);
        for (var c = 0; c < expected.Columns.Count; c++)
        {
            Assert.Equal(expected.Columns[c].Values.Cast<object?>(), actual.Columns[c].Values.Cast<object?>());
        }
    }
}
