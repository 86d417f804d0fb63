using BigDataAI.Datasets;
using BigDataAI.Ingestion.Parsing;
using static BigDataAI.UnitTests.Ingestion.TestFiles;

namespace BigDataAI.UnitTests.Ingestion;

public sealed class IdxParserTests
{
    private const string ImagesName = "train-images.idx";
    private const string LabelsName = "train-labels.idx";

    private static DatasetTable Parse(byte[] images, byte[] labels) =>
        IdxParser.Parse(Stream(images), ImagesName, Stream(labels), LabelsName);

    private static DataFormatException Fails(byte[] images, byte[] labels) =>
        Assert.Throws<DataFormatException>(() => Parse(images, labels));

    private static void AssertPixels(DatasetTable table, int count, int pixels)
    {
        Assert.Equal(count * pixels, table.Features.Length);
        for (var image = 0; image < count; image++)
        {
            for (var p = 0; p < pixels; p++)
            {
                Assert.Equal(Pixel(image, p) / 255f, table.Features[image * pixels + p]);
            }
        }
    }

    [Fact]
    public void Parse_PlainFiles_GivesExactPixelsShapeNamesAndClasses()
    {
        var table = Parse(IdxImages(3, 2, 3), IdxLabels(2, 0, 2));

        Assert.Equal(3, table.Rows);
        Assert.Equal(6, table.FeatureCount);
        Assert.Equal([2, 3], table.FeatureShape);
        Assert.Equal(["px0", "px1", "px2", "px3", "px4", "px5"], table.FeatureNames);
        Assert.Equal(["0", "2"], table.Classes);
        Assert.Equal([1L, 0L, 1L], table.Labels);
        AssertPixels(table, 3, 6);
        Assert.Equal(Pixel(1, 4) / 255f, table.Row(1)[4]);
    }

    [Fact]
    public void Parse_ExtremePixelBytes_ScaleToZeroAndOne()
    {
        byte[] images = [.. IdxHeader(0x803, 1, 1, 3), 0, 128, 255];

        var table = Parse(images, IdxLabels(5));

        Assert.Equal([0f, 128 / 255f, 1f], table.Features);
        Assert.Equal(["5"], table.Classes);
        Assert.Equal([0L], table.Labels);
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void Parse_GzippedFiles_AreDetectedByMagicNotName(bool gzipImages, bool gzipLabels)
    {
        var images = IdxImages(4, 5, 3);
        var labels = IdxLabels(9, 1, 1, 0);

        var table = IdxParser.Parse(Stream(gzipImages ? Gzip(images) : images), "images", Stream(gzipLabels ? Gzip(labels) : labels), "labels");

        AssertPixels(table, 4, 15);
        Assert.Equal(["0", "1", "9"], table.Classes);
        Assert.Equal([2L, 1L, 1L, 0L], table.Labels);
    }

    [Fact]
    public void Parse_NonSeekableStreamsWithTinyReads_GiveTheSameTable()
    {
        var images = IdxImages(7, 4, 4);
        var labels = IdxLabels(3, 1, 4, 1, 5, 9, 2);

        var plain = IdxParser.Parse(new TrickleStream(images, 3), "images", new TrickleStream(labels, 1), "labels");
        var gzipped = IdxParser.Parse(new TrickleStream(Gzip(images), 5), "images", new TrickleStream(Gzip(labels), 2), "labels");

        foreach (var table in new[] { plain, gzipped })
        {
            AssertPixels(table, 7, 16);
            Assert.Equal(["1", "2", "3", "4", "5", "9"], table.Classes);
            Assert.Equal([2L, 0L, 3L, 0L, 4L, 5L, 1L], table.Labels);
        }
    }

    [Fact]
    public void RoundTrip_1000Images_EveryDigitPresent_ClassesAreZeroToNineAndLabelsUnchanged()
    {
        var random = new Random(7);
        var digits = new byte[1000];
        for (var i = 0; i < digits.Length; i++)
        {
            digits[i] = (byte)(i < 10 ? i : random.Next(10));
        }

        var table = IdxParser.Parse(Stream(Gzip(IdxImages(1000, 28, 28))), "images", Stream(IdxLabels(digits)), "labels");

        Assert.Equal(1000, table.Rows);
        Assert.Equal([28, 28], table.FeatureShape);
        Assert.Equal(784, table.FeatureNames.Length);
        Assert.Equal("px783", table.FeatureNames[783]);
        Assert.Equal(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"], table.Classes);
        Assert.Equal(digits.Select(d => (long)d), table.Labels);
        AssertPixels(table, 1000, 784);
    }

    [Fact]
    public void RoundTrip_1000Images_WithDigitsMissing_MapsEachLabelToItsOwnClassName()
    {
        var random = new Random(11);
        byte[] used = [0, 1, 2, 4, 5, 6, 8, 9]; // no 3 and no 7
        var digits = new byte[1000];
        for (var i = 0; i < digits.Length; i++)
        {
            digits[i] = used[i < used.Length ? i : random.Next(used.Length)];
        }

        var table = Parse(IdxImages(1000, 28, 28), IdxLabels(digits));

        Assert.Equal(["0", "1", "2", "4", "5", "6", "8", "9"], table.Classes);
        for (var i = 0; i < digits.Length; i++)
        {
            Assert.Equal(digits[i].ToString(System.Globalization.CultureInfo.InvariantCulture), table.Classes[table.Labels[i]]);
        }
        Assert.Equal(3L, table.Labels[Array.IndexOf(digits, (byte)4)]);
        Assert.Equal(7L, table.Labels[Array.IndexOf(digits, (byte)9)]);
        AssertPixels(table, 1000, 784);
    }

    [Fact]
    public void WrongMagic_InImages_NamesFoundAndExpectedAtOffsetZero()
    {
        byte[] images = [.. IdxHeader(0x12345678, 1, 1, 1), 0];

        var e = Fails(images, IdxLabels(0));

        Assert.Equal(ImagesName, e.File);
        Assert.Equal(0L, e.ByteOffset);
        Assert.Null(e.Row);
        Assert.StartsWith($"{ImagesName}: byte offset 0: ", e.Message);
        Assert.Contains("0x12345678", e.Message);
        Assert.Contains("0x00000803", e.Message);
    }

    [Fact]
    public void WrongMagic_InLabels_NamesTheLabelsFile()
    {
        byte[] labels = [.. IdxHeader(0xDEADBEEF, 1), 0];

        var e = Fails(IdxImages(1, 2, 2), labels);

        Assert.Equal(LabelsName, e.File);
        Assert.Equal(0L, e.ByteOffset);
        Assert.Contains("0xDEADBEEF", e.Message);
        Assert.Contains("0x00000801", e.Message);
    }

    [Fact]
    public void WrongMagic_TextFile_SaysItIsProbablyNotIdx()
    {
        var e = Fails(Utf8("px0,px1,label\n1,2,3\n"), IdxLabels(0));

        Assert.Equal(0L, e.ByteOffset);
        Assert.Contains("0x7078302C", e.Message);
        Assert.Contains("'px0,'", e.Message);
    }

    [Fact]
    public void UnsupportedElementType_IsNamed()
    {
        var e = Fails([.. IdxHeader(0x00000D03, 1, 1, 1), 0, 0, 0, 0], IdxLabels(0));

        Assert.Equal(ImagesName, e.File);
        Assert.Equal(0L, e.ByteOffset);
        Assert.Contains("32-bit float", e.Message);
        Assert.Contains("0x00000D03", e.Message);
    }

    [Fact]
    public void WrongDimensionCount_IsReportedAtTheDimensionByte()
    {
        var e = Fails([.. IdxHeader(0x802, 1, 4), 0, 0, 0, 0], IdxLabels(0));

        Assert.Equal(ImagesName, e.File);
        Assert.Equal(3L, e.ByteOffset);
        Assert.Contains("declares 2 dimensions", e.Message);
        Assert.Contains("has 3", e.Message);
        Assert.Contains("0x00000802", e.Message);
    }

    [Fact]
    public void SwappedFiles_AreRecognised()
    {
        var e = Assert.Throws<DataFormatException>(() =>
            IdxParser.Parse(Stream(IdxLabels(1, 2)), "images", Stream(IdxImages(2, 2, 2)), "labels"));

        Assert.Equal("images", e.File);
        Assert.Equal(3L, e.ByteOffset);
        Assert.Contains("swapped", e.Message);
    }

    [Fact]
    public void EmptyImagesFile_IsReportedAtOffsetZero()
    {
        var e = Fails([], IdxLabels(1));

        Assert.Equal(ImagesName, e.File);
        Assert.Equal(0L, e.ByteOffset);
        Assert.Contains("empty", e.Message);
    }

    [Fact]
    public void TruncatedImagesHeader_SaysExpectedAndArrivedBytes()
    {
        var e = Fails(IdxImages(1, 2, 2)[..10], IdxLabels(1));

        Assert.Equal(ImagesName, e.File);
        Assert.Equal(10L, e.ByteOffset);
        Assert.Contains("expected 16 header bytes but only 10 arrived", e.Message);
    }

    [Fact]
    public void TruncatedLabelsHeader_SaysExpectedAndArrivedBytes()
    {
        var e = Fails(IdxImages(1, 2, 2), IdxLabels(1)[..6]);

        Assert.Equal(LabelsName, e.File);
        Assert.Equal(6L, e.ByteOffset);
        Assert.Contains("expected 8 header bytes but only 6 arrived", e.Message);
    }

    [Fact]
    public void TruncatedImageData_SaysExpectedArrivedAndWhereTheDataEnds()
    {
        // 5 images of 4x4 = 80 pixel bytes; only 50 arrive.
        var e = Fails(IdxImages(5, 4, 4)[..(16 + 50)], IdxLabels(0, 1, 2, 3, 4));

        Assert.Equal(ImagesName, e.File);
        Assert.Equal(66L, e.ByteOffset);
        Assert.Contains("5 images of 4x4 pixels (80 bytes", e.Message);
        Assert.Contains("only 50 bytes arrived (3 whole images)", e.Message);
        Assert.Contains("ends at byte offset 66", e.Message);
    }

    [Fact]
    public void TruncatedImageData_InsideCompleteGzip_CountsDecompressedOffsets()
    {
        var e = Fails(Gzip(IdxImages(5, 4, 4)[..(16 + 50)]), IdxLabels(0, 1, 2, 3, 4));

        Assert.Equal(66L, e.ByteOffset);
        Assert.Contains("byte offset 66 of the decompressed data", e.Message);
    }

    [Fact]
    public void TruncatedLabelData_SaysExpectedAndArrivedItems()
    {
        var e = Fails(IdxImages(5, 2, 2), IdxLabels(0, 1, 2, 3, 4)[..11]);

        Assert.Equal(LabelsName, e.File);
        Assert.Equal(11L, e.ByteOffset);
        Assert.Contains("declares 5 labels but only 3 arrived", e.Message);
    }

    [Fact]
    public void ImageAndLabelCountsDiffer_NamesBothFilesAndBothCounts()
    {
        var e = Fails(IdxImages(5, 2, 2), IdxLabels(0, 1, 2, 3));

        Assert.Equal(LabelsName, e.File);
        Assert.Equal(4L, e.ByteOffset);
        Assert.Contains($"'{LabelsName}' declares 4 labels", e.Message);
        Assert.Contains($"'{ImagesName}' declares 5 images", e.Message);
    }

    [Fact]
    public void ZeroImages_IsAnError()
    {
        var e = Fails(IdxImages(0, 28, 28), IdxLabels());

        Assert.Equal(ImagesName, e.File);
        Assert.Equal(4L, e.ByteOffset);
        Assert.Contains("0 images", e.Message);
    }

    [Fact]
    public void ZeroSizedImages_AreAnError()
    {
        var e = Fails(IdxHeader(0x803, 1, 28, 0), IdxLabels(1));

        Assert.Equal(12L, e.ByteOffset);
        Assert.Contains("28x0", e.Message);
    }

    [Fact]
    public void CorruptGzip_NamesTheFile()
    {
        var gz = Gzip(IdxImages(3, 4, 4));
        gz[10] = 0xFF; // first deflate block header: reserved block type 3

        var e = Fails(gz, IdxLabels(0, 1, 2));

        Assert.Equal(ImagesName, e.File);
        Assert.NotNull(e.ByteOffset);
        Assert.StartsWith($"{ImagesName}: byte offset ", e.Message);
        Assert.Contains("gzip data is corrupt", e.Message);
    }

    [Fact]
    public void TruncatedGzip_IsCaughtEvenThoughGZipStreamIgnoresIt()
    {
        var gz = Gzip(IdxLabels([.. Enumerable.Range(0, 3000).Select(i => (byte)(i * 7 % 10))]));
        var cut = gz[..(gz.Length - 6)]; // the deflate data is complete; the trailer is not

        var e = Fails(IdxImages(3000, 1, 1), cut);

        Assert.Equal(LabelsName, e.File);
        Assert.Equal(cut.Length, e.ByteOffset);
        Assert.Contains("gzip data is incomplete", e.Message);
    }

    [Fact]
    public void TrailingGarbage_AfterImageData_IsAnError()
    {
        byte[] images = [.. IdxImages(2, 3, 3), 1, 2, 3];

        var e = Fails(images, IdxLabels(0, 1));

        Assert.Equal(ImagesName, e.File);
        Assert.Equal(34L, e.ByteOffset);
        Assert.Contains("3 unexpected bytes after the last image", e.Message);
        Assert.Contains("2 images of 3x3 pixels", e.Message);
    }

    [Fact]
    public void TrailingGarbage_AfterLabelData_IsAnError()
    {
        byte[] labels = [.. IdxLabels(0, 1), 9];

        var e = Fails(IdxImages(2, 3, 3), labels);

        Assert.Equal(LabelsName, e.File);
        Assert.Equal(10L, e.ByteOffset);
        Assert.Contains("1 unexpected bytes after the last label", e.Message);
    }

    [Fact]
    public void TrailingGarbage_AfterGzipStream_IsAnError()
    {
        var e = Fails([.. Gzip(IdxImages(2, 3, 3)), .. Utf8("junk")], IdxLabels(0, 1));

        Assert.Equal(ImagesName, e.File);
        Assert.Contains("gzip", e.Message);
        Assert.Contains("extra bytes", e.Message);
    }

    [Fact]
    public void AbsurdHeader_IsRejectedBeforeAllocating()
    {
        var before = GC.GetAllocatedBytesForCurrentThread();

        var e = Fails([.. IdxHeader(0x803, 100_000, 60_000, 60_000), 0, 0], IdxLabels([.. new byte[100_000]]));

        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 4_000_000);
        Assert.Equal(ImagesName, e.File);
        Assert.Equal(4L, e.ByteOffset);
        Assert.Contains("100000 images of 60000x60000 pixels", e.Message);
        Assert.Contains("at most", e.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LyingHeader_UnderTheArrayLimit_DoesNotAllocateWhatItClaims(bool gzip)
    {
        // 1,000,000 images of 1000x1 = 10^9 floats (4 GB) declared; 100 bytes supplied.
        byte[] images = [.. IdxHeader(0x803, 1_000_000, 1000, 1), .. new byte[100]];
        var labels = IdxHeader(0x801, 1_000_000);
        var before = GC.GetAllocatedBytesForCurrentThread();

        var e = Assert.Throws<DataFormatException>(() =>
            IdxParser.Parse(Stream(gzip ? Gzip(images) : images), "images", Stream(labels), "labels"));

        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 64_000_000, "the parser allocated what the header claimed");
        Assert.Equal("images", e.File);
        Assert.Equal(116L, e.ByteOffset);
        Assert.Contains("only 100 bytes arrived", e.Message);
    }
}
