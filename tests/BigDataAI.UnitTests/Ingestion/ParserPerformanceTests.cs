using System.Diagnostics;
using Xunit.Abstractions;
using BigDataAI.Datasets;
using BigDataAI.Ingestion.Parsing;
using static BigDataAI.UnitTests.Ingestion.TestFiles;

namespace BigDataAI.UnitTests.Ingestion;

/// <summary>
/// 10,000 x 784 (MNIST test-set sized) inputs: parsed well within the time budget and without holding much more
/// than the result. Allocation is measured with the thread's allocation counter, which is deterministic, unlike
/// wall time on a shared machine; the time limits are generous guards against an accidental O(n^2) (a CSV that parses in about 2 s alone took 20 s
/// beside the other test classes on 2 cores, so these tests run in a collection of their own, not in parallel).
/// </summary>
[Collection(PerformanceCollection.Name)]
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
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"parsing took {clock.Elapsed}");
        Assert.True(allocated < ResultBytes + 1_000_000, $"allocated {allocated:N0} bytes for a {ResultBytes:N0}-byte result");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Csv_10000x784_IsFastAndHoldsLittleMoreThanItsTextAndTheResult(bool gzip)
    {
        var (csv, features, labels) = MnistLikeCsv(Rows, Pixels, seed: 1);
        using var stream = Stream(gzip ? Gzip(csv) : csv);

        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        var table = TableParser.Parse(stream, "data.csv");
        clock.Stop();
        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;

        // Typed columns hold a nullable 8-byte number per cell (16 bytes); until the types are known, the cells are kept
        // as their UTF-8 text plus a 4-byte end offset each (never a string per cell).
        var typedBytes = (long)Rows * (Pixels + 1) * 16;
        output.WriteLine($"CSV gzip={gzip}: {csv.Length:N0} bytes in {clock.ElapsedMilliseconds} ms, allocated {allocated:N0} bytes for a {typedBytes:N0}-byte typed result");
        Assert.Equal(Rows, table.Rows);
        Assert.Equal(Pixels + 1, table.Columns.Count);
        for (var f = 0; f < Pixels; f += 97)
        {
            var column = table[$"px{f}"];
            for (var r = 0; r < Rows; r += 13)
            {
                var value = column.Values switch
                {
                    double?[] d => d[r]!.Value,
                    long?[] l => l[r]!.Value,
                    _ => throw new InvalidOperationException($"px{f} is {column.Schema.TypeName}"),
                };
                Assert.Equal(features[r * Pixels + f], (float)value);
            }
        }
        Assert.Equal(labels.Select(l => (long?)l), (long?[])table["label"].Values);
        Assert.Equal(ColumnRole.Label, table.Schema.Label!.Role);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"parsing took {clock.Elapsed}");
        // The text and offset buffers grow by doubling (up to 2x each); a string per cell would add ~30 bytes a cell more.
        Assert.True(allocated < typedBytes + 4L * csv.Length + (long)Rows * (Pixels + 1) * 12 + 8_000_000,
            $"allocated {allocated:N0} bytes for a {typedBytes:N0}-byte result from {csv.Length:N0} bytes of CSV");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Jsonl_10000x784_AsKeysOrAsOneArray_IsFastAndHoldsLittleMoreThanItsTextAndTheResult(bool asArray)
    {
        var (csv, features, labels) = MnistLikeCsv(Rows, Pixels, seed: 1);
        var lines = new System.Text.StringBuilder();
        foreach (var row in System.Text.Encoding.UTF8.GetString(csv).Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1))
        {
            var cells = row.Split(',');
            lines.Append(asArray
                ? $"{{\"pixels\": [{string.Join(", ", cells[..^1])}], \"label\": {cells[^1]}}}\n"
                : $"{{{string.Join(", ", cells[..^1].Select((c, i) => $"\"px{i}\": {c}"))}, \"label\": {cells[^1]}}}\n");
        }
        var text = Utf8(lines.ToString());
        using var stream = Stream(text);

        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        var table = JsonLinesParser.Parse(stream, "data.jsonl");
        clock.Stop();
        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;

        // As keys, like the CSV: a nullable 8-byte number per cell, the text and 4-byte offsets until the types are known.
        // As one array: the tensor's floats (gathered in a list that grows by doubling, then copied once).
        var resultBytes = asArray ? ResultBytes : (long)Rows * (Pixels + 1) * 16;
        output.WriteLine($"JSONL asArray={asArray}: {text.Length:N0} bytes in {clock.ElapsedMilliseconds} ms, allocated {allocated:N0} bytes for a {resultBytes:N0}-byte result");
        Assert.Equal(Rows, table.Rows);
        Assert.Equal(labels.Select(l => (long?)l), (long?[])table["label"].Values);
        if (asArray)
        {
            Assert.Equal(features, (float[])table["pixels"].Values);
        }
        else
        {
            for (var f = 0; f < Pixels; f += 97)
            {
                var column = table[$"px{f}"];
                for (var r = 0; r < Rows; r += 13)
                {
                    var value = column.Values switch
                    {
                        double?[] d => d[r]!.Value,
                        long?[] l => l[r]!.Value,
                        _ => throw new InvalidOperationException($"px{f} is {column.Schema.TypeName}"),
                    };
                    Assert.Equal(features[r * Pixels + f], (float)value);
                }
            }
        }
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"parsing took {clock.Elapsed}");
        Assert.True(allocated < 4 * resultBytes + 2L * text.Length + 8_000_000,
            $"allocated {allocated:N0} bytes for a {resultBytes:N0}-byte result from {text.Length:N0} bytes of JSON Lines");
    }
}

/// <summary>Tests that measure time and allocation: run alone, not beside the other test classes.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class PerformanceCollection
{
    public const string Name = "Performance";
}
