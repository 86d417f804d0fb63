using BigDataAI.Datasets;
using System.Text;
using BigDataAI.Ingestion.Parsing;
using static BigDataAI.UnitTests.Ingestion.TestFiles;

namespace BigDataAI.UnitTests.Ingestion;

public sealed class CsvParserTests
{
    private const string FileName = "data.csv";

    private static DatasetTable Parse(string csv, string labelColumn = "label") => CsvParser.Parse(Stream(Utf8(csv)), FileName, labelColumn);

    private static DataFormatException Fails(string csv, string labelColumn = "label") => Fails(Utf8(csv), labelColumn);

    private static DataFormatException Fails(byte[] csv, string labelColumn = "label")
    {
        var e = Assert.Throws<DataFormatException>(() => CsvParser.Parse(Stream(csv), FileName, labelColumn));
        Assert.Equal(FileName, e.File);
        Assert.StartsWith($"{FileName}: ", e.Message);
        return e;
    }

    [Fact]
    public void Parse_SimpleFile_GivesExactValuesNamesShapeAndClasses()
    {
        var table = Parse("a,b,label\n1,-2.5,cat\n1e-3,4,dog\n0.1,+7,cat\n");

        Assert.Equal(3, table.Rows);
        Assert.Equal(2, table.FeatureCount);
        Assert.Equal([2], table.FeatureShape);
        Assert.Equal(["a", "b"], table.FeatureNames);
        Assert.Equal([1f, -2.5f, 0.001f, 4f, 0.1f, 7f], table.Features);
        Assert.Equal(["cat", "dog"], table.Classes);
        Assert.Equal([0L, 1L, 0L], table.Labels);
    }

    [Fact]
    public void Parse_LabelColumnAnywhereWithAnyName_FeaturesKeepFileOrder()
    {
        var table = Parse("x,kind,y,z\n1,b,2,3\n4,a,5,6\n", labelColumn: "kind");

        Assert.Equal(["x", "y", "z"], table.FeatureNames);
        Assert.Equal([1f, 2f, 3f, 4f, 5f, 6f], table.Features);
        Assert.Equal(["a", "b"], table.Classes);
        Assert.Equal([1L, 0L], table.Labels);
    }

    [Fact]
    public void Parse_QuotedCells_UnescapeDoubledQuotesAndKeepCommasAndLineBreaks()
    {
        var table = Parse("\"a\",\"b \"\"q\"\"\",label\n\"1\",\"2\",\"x, \"\"y\"\"\nz\"\n3,4,\"\"\"\"\n");

        Assert.Equal(["a", "b \"q\""], table.FeatureNames);
        Assert.Equal([1f, 2f, 3f, 4f], table.Features);
        Assert.Equal(["\"", "x, \"y\"\nz"], table.Classes);
        Assert.Equal([1L, 0L], table.Labels);
    }

    [Fact]
    public void Parse_CrLfLineEndsByteOrderMarkAndNoFinalNewline_AreAccepted()
    {
        byte[] csv = [0xEF, 0xBB, 0xBF, .. Utf8("a,label\r\n1,x\r\n2,y")];

        var table = CsvParser.Parse(Stream(csv), FileName);

        Assert.Equal(["a"], table.FeatureNames);
        Assert.Equal([1f, 2f], table.Features);
        Assert.Equal(["x", "y"], table.Classes);
    }

    [Fact]
    public void Parse_NothingIsTrimmedButTheCarriageReturn()
    {
        var table = Parse("a, label,label\n1, 2 ,y \r\n");

        Assert.Equal(["a", " label"], table.FeatureNames); // a header name is verbatim
        Assert.Equal(["y "], table.Classes);
        Assert.Equal([1f, 2f], table.Features);

        var spaced = Parse("a,label\n 3 , x\n");
        Assert.Equal(3f, spaced.Features[0]); // a number may have spaces around it
        Assert.Equal([" x"], spaced.Classes); // a label is verbatim
    }

    [Fact]
    public void Parse_TrailingBlankLines_AreIgnored()
    {
        var table = Parse("a,label\n1,x\n2,y\n\n\r\n");

        Assert.Equal(2, table.Rows);
    }

    [Fact]
    public void Parse_GzippedData_IsDetectedByMagic()
    {
        const string csv = "a,b,label\n1,2,x\n3,4,y\n";

        var table = CsvParser.Parse(Stream(Gzip(Utf8(csv))), "data.csv");

        Assert.Equal([1f, 2f, 3f, 4f], table.Features);
        Assert.Equal(["x", "y"], table.Classes);
    }

    [Fact]
    public void Parse_OneByteReads_GiveTheSameTable()
    {
        byte[] csv = [0xEF, 0xBB, 0xBF, .. Utf8("\"a\",b,label\r\n\"1\",2,\"q\"\"x\"\r\n3,4,\"multi\r\nline\"\r\n5,6,plain\r\n")];

        foreach (var bytes in new[] { csv, Gzip(csv) })
        {
            var table = CsvParser.Parse(new TrickleStream(bytes, 1), FileName);

            Assert.Equal(["a", "b"], table.FeatureNames);
            Assert.Equal([1f, 2f, 3f, 4f, 5f, 6f], table.Features);
            Assert.Equal(["multi\r\nline", "plain", "q\"x"], table.Classes);
            Assert.Equal([2L, 0L, 1L], table.Labels);
        }
    }

    [Fact]
    public void Parse_NumericLabels_SortNumerically()
    {
        var table = Parse("a,label\n1,10\n2,9\n3,2\n4,9\n5,-1.5\n");

        Assert.Equal(["-1.5", "2", "9", "10"], table.Classes);
        Assert.Equal([3L, 2L, 1L, 2L, 0L], table.Labels);
    }

    [Fact]
    public void Parse_TextLabels_SortOrdinally()
    {
        var table = Parse("a,label\n1,b\n2,A\n3,10\n4,a\n");

        Assert.Equal(["10", "A", "a", "b"], table.Classes);
        Assert.Equal([3L, 1L, 0L, 2L], table.Labels);
    }

    [Fact]
    public void Parse_MnistLikeFile_ValuesMatchExactly()
    {
        var (csv, features, labels) = MnistLikeCsv(rows: 300, features: 50, seed: 3);

        var table = CsvParser.Parse(Stream(csv), FileName);

        Assert.Equal(features, table.Features);
        Assert.Equal(labels.Select(l => l.ToString(System.Globalization.CultureInfo.InvariantCulture)), table.Labels.Select(l => table.Classes[l]));
    }

    [Fact]
    public void EmptyFile_IsReportedAtRowOne()
    {
        var e = Fails("");

        Assert.Equal(1L, e.Row);
        Assert.Contains("the file is empty", e.Message);
    }

    [Fact]
    public void ByteOrderMarkOnly_IsAnEmptyFile()
    {
        var e = Fails([0xEF, 0xBB, 0xBF]);

        Assert.Equal(1L, e.Row);
        Assert.Contains("empty", e.Message);
    }

    [Fact]
    public void BlankHeader_IsReported()
    {
        var e = Fails("\n1,2\n");

        Assert.Equal("data.csv: row 1: the header row is blank; the first line must name the columns, e.g. 'px0,px1,label'", e.Message);
    }

    [Fact]
    public void MissingLabelColumn_ListsTheColumnsFound()
    {
        var e = Fails("a,b,class\n1,2,x\n");

        Assert.Equal(1L, e.Row);
        Assert.Contains("no label column 'label'", e.Message);
        Assert.Contains("'a', 'b', 'class'", e.Message);
    }

    [Fact]
    public void MissingLabelColumn_SuggestsADifferentlyCasedName()
    {
        var e = Fails("a,Label\n1,x\n");

        Assert.Contains("did you mean 'Label'?", e.Message);
    }

    [Fact]
    public void MissingLabelColumn_InAWideFile_ListsTwentyColumnsAndCountsTheRest()
    {
        var header = string.Join(',', Enumerable.Range(0, 784).Select(i => $"px{i}"));

        var e = Fails(header + "\n");

        Assert.Contains("'px19' and 764 more", e.Message);
        Assert.DoesNotContain("'px20'", e.Message);
    }

    [Fact]
    public void DuplicateColumnNames_AreReported()
    {
        var e = Fails("a,b,a,label\n1,2,3,x\n");

        Assert.Equal(1L, e.Row);
        Assert.Equal("a", e.Column);
        Assert.Equal("data.csv: row 1, column 'a': the column name appears twice (columns 1 and 3); column names must be unique", e.Message);
    }

    [Fact]
    public void EmptyColumnName_IsReported()
    {
        var e = Fails(",a,label\n0,1,x\n");

        Assert.Equal(1L, e.Row);
        Assert.Contains("column 1 has an empty name", e.Message);
    }

    [Fact]
    public void OnlyALabelColumn_IsReported()
    {
        var e = Fails("label\nx\n");

        Assert.Equal(1L, e.Row);
        Assert.Contains("at least one numeric feature column", e.Message);
    }

    [Fact]
    public void RowWithTooFewCells_SaysExpectedAndFound()
    {
        var e = Fails("a,b,label\n1,2,x\n3,y\n");

        Assert.Equal(3L, e.Row);
        Assert.Null(e.Column);
        Assert.Equal("data.csv: row 3: expected 3 cells (one per header column) but found 2", e.Message);
    }

    [Fact]
    public void RowWithTooManyCells_SaysExpectedAndFound()
    {
        var e = Fails("a,b,label\n1,2,x\n3,4,y\n5,6,z,\n");

        Assert.Equal(4L, e.Row);
        Assert.Contains("expected 3 cells", e.Message);
        Assert.Contains("found 4", e.Message);
    }

    [Fact]
    public void NonNumericCell_NamesRowColumnAndValue()
    {
        var e = Fails("a,b,label\n1,2,x\n1,abc,y\n");

        Assert.Equal(3L, e.Row);
        Assert.Equal("b", e.Column);
        Assert.Null(e.ByteOffset);
        Assert.Equal("'abc' is not a number", e.Reason);
        Assert.Equal("data.csv: row 3, column 'b': 'abc' is not a number", e.Message);
    }

    [Fact]
    public void NonNumericCell_LongValueIsCutToFortyCharacters()
    {
        var e = Fails($"a,label\n{new string('z', 100)},x\n");

        Assert.Contains($"'{new string('z', 40)}…' is not a number", e.Message);
        Assert.DoesNotContain(new string('z', 41), e.Message);
    }

    [Fact]
    public void NonNumericCell_WithLineBreaks_StaysOnOneLine()
    {
        var e = Fails("a,label\n\"1\n2\",x\n");

        Assert.Equal(2L, e.Row);
        Assert.Contains("'1\\n2' is not a number", e.Message);
    }

    [Theory]
    [InlineData("NaN")]
    [InlineData("nan")]
    [InlineData("Infinity")]
    [InlineData("-Infinity")]
    public void NotFiniteNumbers_AreRejected(string value)
    {
        var e = Fails($"a,b,label\n1,2,x\n{value},3,y\n");

        Assert.Equal(3L, e.Row);
        Assert.Equal("a", e.Column);
        Assert.Contains($"'{value}' is not allowed: feature values must be finite numbers", e.Message);
    }

    [Fact]
    public void NumberTooLargeForFloat_IsRejected()
    {
        var e = Fails("a,label\n1e39,x\n");

        Assert.Equal(2L, e.Row);
        Assert.Contains("'1e39' is too large for a 32-bit float", e.Message);
    }

    [Fact]
    public void DecimalComma_GetsAHint()
    {
        var e = Fails("a,label\n\"1,5\",x\n");

        Assert.Contains("'1,5' is not a number (use a dot as the decimal separator)", e.Message);
    }

    [Fact]
    public void EmptyFeatureCell_IsReported()
    {
        var e = Fails("a,b,label\n1,,x\n");

        Assert.Equal(2L, e.Row);
        Assert.Equal("b", e.Column);
        Assert.Contains("the cell is empty", e.Message);
    }

    [Fact]
    public void EmptyLabel_IsReported()
    {
        var e = Fails("a,label,b\n1,x,2\n3,,4\n");

        Assert.Equal(3L, e.Row);
        Assert.Equal("label", e.Column);
        Assert.Equal("data.csv: row 3, column 'label': the label is empty; every row needs a class label", e.Message);
    }

    [Fact]
    public void NoDataRows_IsReported()
    {
        foreach (var csv in new[] { "a,label\n", "a,label", "a,label\r\n\r\n\n" })
        {
            var e = Fails(csv);

            Assert.Equal(2L, e.Row);
            Assert.Equal("data.csv: row 2: the file has a header row but no data rows", e.Message);
        }
    }

    [Fact]
    public void UnterminatedQuote_NamesTheRowWhereItStarted()
    {
        var e = Fails("a,label\n1,x\n2,\"y\n3,z\n");

        Assert.Equal(3L, e.Row);
        Assert.Equal("label", e.Column);
        Assert.Contains("a quoted cell is never closed", e.Message);
    }

    [Fact]
    public void BlankLineInTheMiddle_IsAnError()
    {
        var e = Fails("a,label\n1,x\n\n2,y\n");

        Assert.Equal(3L, e.Row);
        Assert.Contains("the row is blank; blank lines are only allowed at the end of the file", e.Message);
    }

    [Fact]
    public void QuoteInsideUnquotedCell_IsAnError()
    {
        var e = Fails("a,label\n1,ab\"c\n");

        Assert.Equal(2L, e.Row);
        Assert.Equal("label", e.Column);
        Assert.Contains("a double quote inside an unquoted cell", e.Message);
    }

    [Fact]
    public void TextAfterClosingQuote_IsAnError()
    {
        var e = Fails("a,label\n\"1\"2,x\n");

        Assert.Equal(2L, e.Row);
        Assert.Equal("a", e.Column);
        Assert.Contains("unexpected text after the closing double quote", e.Message);
    }

    [Fact]
    public void InvalidUtf8Label_IsReported()
    {
        byte[] csv = [.. Utf8("a,label\n1,"), 0xC3, 0x28, (byte)'\n'];

        var e = Fails(csv);

        Assert.Equal(2L, e.Row);
        Assert.Equal("label", e.Column);
        Assert.Contains("not valid UTF-8", e.Message);
    }

    [Fact]
    public void Utf16File_IsReported()
    {
        byte[] csv = [0xFF, 0xFE, .. Encoding.Unicode.GetBytes("a,label\n1,x\n")];

        var e = Fails(csv);

        Assert.Equal(1L, e.Row);
        Assert.Contains("UTF-16", e.Message);
    }

    [Fact]
    public void CorruptGzip_NamesTheFile()
    {
        var gz = Gzip(Utf8("a,label\n1,x\n2,y\n"));
        gz[10] = 0xFF;

        var e = Fails(gz);

        Assert.NotNull(e.ByteOffset);
        Assert.Contains("gzip data is corrupt", e.Message);
    }

    [Fact]
    public void TruncatedGzip_IsAnErrorNotFewerRows()
    {
        var (csv, _, _) = MnistLikeCsv(rows: 2000, features: 20, seed: 5);
        var gz = Gzip(csv);
        var cut = gz[..(gz.Length / 2)];

        var e = Fails(cut);

        Assert.Equal(cut.Length, e.ByteOffset);
        Assert.Contains("gzip data is incomplete (the file looks truncated)", e.Message);
    }

    [Fact]
    public void ExtraBytesAfterGzip_AreAnError()
    {
        var e = Fails([.. Gzip(Utf8("a,label\n1,x\n")), .. Utf8("1,y\n")]);

        Assert.Contains("extra bytes", e.Message);
    }
}
