using BigDataAI.Datasets;
using BigDataAI.Ingestion.Parsing;
using static BigDataAI.UnitTests.Ingestion.TestFiles;

namespace BigDataAI.UnitTests.Ingestion;

public sealed class TableParserTests
{
    private static Table Parse(string text, char separator = ',', string label = "label", bool labelRequired = false, params ColumnHint[] hints) =>
        TableParser.Parse(Stream(Utf8(text)), "data.csv", separator, label, labelRequired, hints);

    private static DataFormatException Refused(string text, char separator = ',', string label = "label", bool labelRequired = false, params ColumnHint[] hints) =>
        Assert.Throws<DataFormatException>(() => Parse(text, separator, label, labelRequired, hints));

    private static IEnumerable<string?> Texts(Column column) => (string?[])column.Values;

    [Fact]
    public void PlainDigitCells_TakeTheFastPathWithoutChangingWhatIsRead()
    {
        // Digit-only cells are read without the general conversion: leading zeros, the 18/19-digit boundary of int64,
        // integers too long for int64 (a double column), digits beside decimals (exact up to 15 digits), digits in a
        // string, bool or hinted column, and a declared type they do not fit.
        var table = Parse(
            "a,b,c,d,e,s,label\n" +
            "007,999999999999999999,99999999999999999999,1234567890123456,12,x,1\n" +
            "0,9223372036854775807,1,1.5,3,42,2\n" +
            "-5,+7,2, 8,4,, 3\n");

        Assert.Equal([7L, 0L, -5L], (long?[])table["a"].Values);
        Assert.Equal([999_999_999_999_999_999L, long.MaxValue, 7L], (long?[])table["b"].Values);
        Assert.Equal(ColumnType.Double, table["c"].Schema.Type);
        Assert.Equal([1e20, 1.0, 2.0], (double?[])table["c"].Values);
        Assert.Equal([1234567890123456.0, 1.5, 8.0], (double?[])table["d"].Values);
        Assert.Equal(["x", "42", null], Texts(table["s"]));
        Assert.Equal([1L, 2L, 3L], (long?[])table["label"].Values); // " 3" is trimmed, as before

        var hinted = Parse("e,label\n12,a\n", hints: new ColumnHint("e", Type: ColumnType.String));
        Assert.Equal(["12"], Texts(hinted["e"]));
        var refused = Refused("e,label\n1,a\n", hints: new ColumnHint("e", Type: ColumnType.Bool));
        Assert.Equal(("e", 2L), (refused.Column, refused.Row));
    }

    [Fact]
    public void EachColumnGetsTheFirstTypeThatFitsAllItsCells_AndNullTokensAreNulls()
    {
        var table = Parse(
            "n,x,flag,when,city,empty,label\n" +
            "1,1.5,true,2024-01-02,Oslo,,cat\n" +
            "NA,2,FALSE,2024-01-02T03:04:05Z,,NA,dog\n" +
            "-3,NaN,null,2024-01-02 03:04:05.25+02:00,N/A,,\n");

        var types = table.Schema.Columns.Select(c => (c.Name, c.Type, c.Nullable)).ToArray();
        Assert.Equal(
            [("n", ColumnType.Int64, true), ("x", ColumnType.Double, true), ("flag", ColumnType.Bool, true), ("when", ColumnType.Timestamp, false),
             ("city", ColumnType.String, true), ("empty", ColumnType.String, true), ("label", ColumnType.String, true)],
            types);
        Assert.Equal([1L, null, -3L], (long?[])table["n"].Values);
        Assert.Equal([1.5, 2.0, null], (double?[])table["x"].Values);
        Assert.Equal([true, false, null], (bool?[])table["flag"].Values);
        Assert.Equal(
            [new DateTime(2024, 1, 2, 0, 0, 0, DateTimeKind.Utc), new DateTime(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc), new DateTime(2024, 1, 2, 1, 4, 5, 250, DateTimeKind.Utc)],
            (DateTime?[])table["when"].Values);
        Assert.Equal(["Oslo", null, null], Texts(table["city"]));
        Assert.Equal([null, null, null], Texts(table["empty"]));
        Assert.Equal(["cat", "dog", null], Texts(table["label"]));
        Assert.Equal(ColumnRole.Label, table.Schema.Label!.Role);
        Assert.All(table.Schema.Columns.Where(c => c.Name != "label"), c => Assert.Equal(ColumnRole.Feature, c.Role));
        Assert.Equal([0L, 1L, 2L], table.RowIds);
    }

    [Fact]
    public void NumbersAreCultureInvariant_AndAMixedColumnIsText()
    {
        var table = Parse("a,b,c,label\n1.5,10,x,1\n\"1,5\",1e3,2,0\n");

        Assert.Equal(ColumnType.String, table["a"].Schema.Type); // "1,5" is not a number in the invariant culture
        Assert.Equal(["1.5", "1,5"], Texts(table["a"]));
        Assert.Equal(ColumnType.Double, table["b"].Schema.Type);
        Assert.Equal([10.0, 1000.0], (double?[])table["b"].Values);
        Assert.Equal(["x", "2"], Texts(table["c"]));
        Assert.Equal(ColumnType.Int64, table["label"].Schema.Type);
    }

    [Fact]
    public void QuotedCellsHoldSeparatorsQuotesAndLineBreaks_AndRowsCountRecordsNotLines()
    {
        var table = Parse("text,label\n\"a, \"\"quoted\"\"\nline\",1\nplain,2\n");
        Assert.Equal(["a, \"quoted\"\nline", "plain"], Texts(table["text"]));

        // The record after a two-line record is row 3, as a spreadsheet shows it.
        var e = Refused("text,n,label\n\"two\nlines\",1,a\nx,oops,b,extra\n");
        Assert.Equal(3, e.Row);
        Assert.Contains("4 cell(s) but the header names 3 columns", e.Message);
    }

    [Fact]
    public void TabSeparated_AndGzipped_AreRead()
    {
        var tsv = "a\tlabel\n1,5\tx\n2\ty\n";
        var table = TableParser.Parse(Stream(Gzip(Utf8(tsv))), "data.tsv", '\t');
        Assert.Equal(["1,5", "2"], Texts(table["a"]));
        Assert.Equal(["x", "y"], Texts(table["label"]));
    }

    [Fact]
    public void WithoutItsLabelColumn_ATableIsUnlabeled_UnlessTheLabelWasNamed()
    {
        var table = Parse("a,b\n1,2\n");
        Assert.Null(table.Schema.Label);
        Assert.Empty(table.DistinctClasses());

        var e = Refused("a,b\n1,2\n", label: "species", labelRequired: true);
        Assert.Equal(1, e.Row);
        Assert.Contains("no label column 'species'", e.Message);
        Assert.Contains("a, b", e.Message);
    }

    [Fact]
    public void IntegerLabelsAreClassesInNumericOrder()
    {
        var table = Parse("x,label\n1,10\n2,9\n3,2\n4,9\n");
        Assert.Equal(["2", "9", "10"], table.DistinctClasses());
        Assert.Equal([2L, 1L, 0L, 1L], table.ClassIndices(table.DistinctClasses()));
    }

    [Fact]
    public void HintsOverrideRolesAndTypes()
    {
        var table = Parse("id,zip,note,label\n7,00123,hello,a\n8,04000,bye,b\n",
            hints: [new ColumnHint("id", ColumnRole.Id), new ColumnHint("zip", Type: ColumnType.String), new ColumnHint("note", ColumnRole.Ignored)]);

        Assert.Equal(ColumnRole.Id, table["id"].Schema.Role);
        Assert.Equal(ColumnType.Int64, table["id"].Schema.Type);
        Assert.Equal(["00123", "04000"], Texts(table["zip"]));
        Assert.Equal(ColumnRole.Ignored, table["note"].Schema.Role);
    }

    [Fact]
    public void ACellThatDoesNotFitItsDeclaredType_NamesRowColumnValueAndType()
    {
        var e = Refused("age,label\n41,a\nforty,b\n", hints: new ColumnHint("age", Type: ColumnType.Int64));
        Assert.Equal((3L, "age"), (e.Row, e.Column));
        Assert.Contains("'forty' is not an int64", e.Message);
        Assert.StartsWith("data.csv: row 3, column 'age'", e.Message);
    }

    [Fact]
    public void AHintForAColumnTheFileLacks_IsRefused()
    {
        var e = Refused("a,label\n1,x\n", hints: new ColumnHint("b", ColumnRole.Id));
        Assert.Contains("column 'b', which the header does not have", e.Message);
    }

    [Fact]
    public void HintsThatBreakTheRulesOfRoles_AreRefused()
    {
        var e = Refused("a,label\n1,x\n", hints: new ColumnHint("a", ColumnRole.Label));
        Assert.Contains("Only one column may be the label", e.Message);
    }

    [Fact]
    public void ANulByteInACell_IsAnErrorNotANumber()
    {
        var e = Refused("a,label\n1\0,x\n");
        Assert.Equal((2L, "a"), (e.Row, e.Column));
        Assert.Contains("NUL", e.Message);
    }

    [Fact]
    public void InvalidUtf8_NamesRowAndColumn()
    {
        var bytes = Utf8("a,label\nok,x\nbad,y\n");
        bytes["a,label\nok,x\n".Length] = 0xFF; // the 'b' of "bad"
        var e = Assert.Throws<DataFormatException>(() => TableParser.Parse(Stream(bytes), "data.csv"));
        Assert.Equal((3L, "a"), (e.Row, e.Column));
        Assert.Contains("UTF-8", e.Message);
    }

    [Fact]
    public void AnUnterminatedQuote_IsRefused()
    {
        var e = Refused("a,label\n1,x\n\"open,y\n2,z\n");
        Assert.Contains("never closed", e.Message);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("a,label\n", "no data rows")]
    [InlineData("a,a\n1,2\n", "appears twice")]
    [InlineData("a,,label\n1,2,3\n", "header cell 2 is empty")]
    [InlineData("_row,label\n1,2\n", "reserved")]
    public void BadHeaders_AreRefusedAtRow1(string text, string reason)
    {
        var e = Refused(text);
        Assert.Equal(1, e.Row);
        Assert.Contains(reason, e.Message);
    }

    [Fact]
    public void ABlankLineIsSkipped()
    {
        var table = Parse("a,label\n1,x\n\n2,y\n\n");
        Assert.Equal([1L, 2L], (long?[])table["a"].Values);
    }
}
