using BigDataAI.Ingestion.Parsing;
using static BigDataAI.UnitTests.Ingestion.TestFiles;

namespace BigDataAI.UnitTests.Ingestion;

public sealed class DataFormatExceptionTests
{
    [Fact]
    public void Message_NamesFileRowAndColumn()
    {
        var e = new DataFormatException("data.csv", "'abc' is not a number", row: 17, column: "px3");

        Assert.Equal("data.csv: row 17, column 'px3': 'abc' is not a number", e.Message);
        Assert.Equal("data.csv", e.File);
        Assert.Equal(17L, e.Row);
        Assert.Equal("px3", e.Column);
        Assert.Null(e.ByteOffset);
        Assert.Equal("'abc' is not a number", e.Reason);
    }

    [Fact]
    public void Message_NamesFileAndByteOffset()
    {
        var e = new DataFormatException("images", "bad", byteOffset: 0);

        Assert.Equal("images: byte offset 0: bad", e.Message);
    }

    [Fact]
    public void Message_NamesFileAndColumnAlone_ForAProblemOfTheWholeColumn()
    {
        var e = new DataFormatException("data", "decimal(10,2) cannot be stored", column: "price");

        Assert.Equal("data: column 'price': decimal(10,2) cannot be stored", e.Message);
        Assert.Null(e.Row);
    }

    [Fact]
    public void AProblemOfTheColumnsAsAWhole_NamesOnlyTheFile()
    {
        var e = DataFormatException.ForWholeFile("data", "only one column may be the label");

        Assert.Equal("data: only one column may be the label", e.Message);
        Assert.Equal((null, null, null), (e.Row, e.ByteOffset, e.Column));
    }

    [Fact]
    public void AnErrorWithoutRowOffsetOrColumn_IsAProgrammingError()
    {
        Assert.Throws<ArgumentException>(() => new DataFormatException("data.csv", "somewhere"));
    }

    [Fact]
    public void Parsers_HonourCancellation()
    {
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();

        Assert.ThrowsAny<OperationCanceledException>(() =>
            TableParser.Parse(Stream(Utf8("a,label\n1,x\n")), "data.csv", cancellationToken: cancelled.Token));
        Assert.ThrowsAny<OperationCanceledException>(() =>
            IdxParser.Parse(Stream(IdxImages(2, 2, 2)), "images", Stream(IdxLabels(0, 1)), "labels", cancelled.Token));
    }
}
