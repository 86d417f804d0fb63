using System.Diagnostics;
using Xunit.Abstractions;
using BigDataAI.Ingestion.Parsing;
using static BigDataAI.UnitTests.Ingestion.TestFiles;

namespace BigDataAI.UnitTests.Ingestion;

/// <summary>
/// 10,000 x 784 (MNIST test-set sized) inputs: parsed well within the time budget and without holding much more
/// than the result. Allocation is measured with the thread's allocation counter, which is deterministic, unlike
/// wall time on a shared machine; the time limits are generous guards against an accidental O(n^2).
/// </summary>
public sealed class ParserPerformanceTests(ITestOutputHelper output)
{
    private const int Rows = 10_000;
    private const int Pixels = 784;
    private const long ResultBytes = (long)Rows * Pixels * sizeof(float) + Rows * sizeof(long);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Idx_10000x784_IsFastAndHoldsLittleMoreThanTheResult(bool gzip)
    {
        var images = IdxImages(Rows, 28, 28);
        var labels = IdxLabels([.. Enumerable.Range(0, Rows).Select(i => (byte)(i % 10))]);
        if (gzip)
        {
            images = Gzip(images);
            labels = Gzip(labels);
        }
        using var imageStream = Stream(images);
        using var labelStream = Stream(labels);

        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        var table = IdxParser.Parse(imageStream, "images", labelStream, "labels");
        clock.Stop();
        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;

        output.WriteLine($"IDX gzip={gzip}: {clock.ElapsedMilliseconds} ms, allocated {allocated:N0} bytes for a {ResultBytes:N0}-byte result");
        Assert.Equal(Rows, table.Rows);
        Assert.Equal(Pixel(9_999, 783) / 255f, table.Features[^1]);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"parsing took {clock.Elapsed}");
        Assert.True(allocated < ResultBytes + 1_000_000, $"allocated {allocated:N0} bytes for a {ResultBytes:N0}-byte result");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Csv_10000x784_IsFastAndHoldsAtMostTwiceTheResult(bool gzip)
    {
        var (csv, features, labels) = MnistLikeCsv(Rows, Pixels, seed: 1);
        using var stream = Stream(gzip ? Gzip(csv) : csv);

        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        var table = CsvParser.Parse(stream, "data.csv");
        clock.Stop();
        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;

        output.WriteLine($"CSV gzip={gzip}: {csv.Length:N0} bytes in {clock.ElapsedMilliseconds} ms, allocated {allocated:N0} bytes for a {ResultBytes:N0}-byte result");
        Assert.Equal(Rows, table.Rows);
        Assert.Equal(features, table.Features);
        Assert.Equal(labels.Select(l => (long)l), table.Labels);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"parsing took {clock.Elapsed}");
        // Chunks while the row count is unknown, then one exact copy: about 2x the result, never the whole text.
        Assert.True(allocated < 2 * ResultBytes + 6_000_000, $"allocated {allocated:N0} bytes for a {ResultBytes:N0}-byte result from {csv.Length:N0} bytes of CSV");
    }
}
