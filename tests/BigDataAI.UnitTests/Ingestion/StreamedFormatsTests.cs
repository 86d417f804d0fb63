using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using BigDataAI.Datasets;
using BigDataAI.Ingestion.Parsing;
using Parquet.Schema;
using SkiaSharp;
using Xunit.Abstractions;
using static BigDataAI.UnitTests.Ingestion.TestFiles;

namespace BigDataAI.UnitTests.Ingestion;

/// <summary>
/// Parquet, IDX and archives read in two passes: any chunk size gives the table read whole (cell by cell, row id by row
/// id, with or without reused arrays), and a large file is read with one chunk (or one row group) in memory, which the
/// allocation counter and the bytes read before the first chunk show.
/// </summary>
[Collection(PerformanceCollection.Name)]
public sealed class StreamedFormatsTests(ITestOutputHelper output)
{
    public static TheoryData<int> ChunkSizes => [1, 7, 100_000];

    // --- IDX ---

    [Theory]
    [MemberData(nameof(ChunkSizes))]
    public void IDX_read_in_chunks_is_the_table_read_whole(int chunkRows)
    {
        var images = IdxImages(23, 3, 2);
        var labels = IdxLabels([.. Enumerable.Range(0, 23).Select(i => (byte)(i * 7 % 5 + 3))]);
        foreach (var gzip in new[] { false, true })
        {
            var (i, l) = gzip ? (Gzip(images), Gzip(labels)) : (images, labels);
            var whole = Table.FromDense(IdxParser.Parse(Stream(i), "images", Stream(l), "labels"), "pixels", "label", labelsAsIntegers: true);
            var table = IdxParser.Open(StreamedTable.Rewindable(Stream(i)), "images", StreamedTable.Rewindable(Stream(l)), "labels");

            AssertChunked(whole, table, chunkRows, expectedChunks: (23 + chunkRows - 1) / chunkRows);
            Assert.Equal(Pixel(22, 5) / 255f, ((float[])whole["pixels"].Values)[^1]);
            Assert.Equal(22 * 7 % 5 + 3, ((long?[])whole["label"].Values)[^1]);
        }
    }

    [Fact]
    public void IDX_errors_are_found_in_the_first_pass_before_a_row_is_read()
    {
        var images = IdxImages(10, 2, 2);
        var labels = IdxLabels([.. new byte[10]]);
        var truncated = Assert.Throws<DataFormatException>(() => IdxParser.Open(StreamedTable.Rewindable(Stream(Gzip(images[..^3]))), "images", StreamedTable.Rewindable(Stream(labels)), "labels"));
        Assert.Contains("only 37 bytes arrived (9 whole images)", truncated.Message, StringComparison.Ordinal);
        Assert.Equal(53L, truncated.ByteOffset);
        var extra = Assert.Throws<DataFormatException>(() => IdxParser.Open(StreamedTable.Rewindable(Stream(images)), "images", StreamedTable.Rewindable(Stream([.. labels, 1, 2])), "labels"));
        Assert.Equal("labels", extra.File);
        Assert.Contains("2 unexpected bytes after the last label", extra.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_200000_image_IDX_file_is_read_with_one_chunk_in_memory()
    {
        const int rows = 200_000, side = 8, chunk = 4096;
        var images = IdxImages(rows, side, side);
        var labels = IdxLabels([.. Enumerable.Range(0, rows).Select(i => (byte)(i % 10))]);
        var table = IdxParser.Open(StreamedTable.Rewindable(Stream(images)), "images", StreamedTable.Rewindable(Stream(labels)), "labels");
        const long decoded = (long)rows * side * side * sizeof(float);

        var before = GC.GetAllocatedBytesForCurrentThread();
        long count = 0, largest = 0;
        float last = -1;
        foreach (var c in table.Read(chunk, [], reuse: true))
        {
            count += c.Rows.Rows;
            largest = Math.Max(largest, c.Rows.Columns[0].Values.Length);
            last = ((float[])c.Rows.Columns[0].Values)[^1];
        }
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        output.WriteLine($"IDX {rows:N0} x {side * side}: allocated {allocated:N0} bytes for {decoded:N0} bytes of pixels");

        Assert.Equal(rows, count);
        Assert.Equal(chunk * side * side, largest);
        Assert.Equal(Pixel(rows - 1, side * side - 1) / 255f, last);
        // Whole, the pixels alone are 51 MB; streamed, one chunk (1 MB) and each chunk's row numbers (16 bytes a row).
        Assert.True(allocated < decoded / 8, $"allocated {allocated:N0} bytes reading a table of {decoded:N0} bytes of pixels");
    }

    // --- Parquet ---

    private static async Task<byte[]> MixedParquetAsync(params int[] groups)
    {
        var fields = new Field[]
        {
            new DataField("id", typeof(int), isNullable: false),
            new DataField("score", typeof(double), isNullable: false),
            new DataField("name", typeof(string), isNullable: true),
            new ListField("v", new DataField("element", typeof(float), isNullable: false)),
            new DataField("label", typeof(string), isNullable: true),
        };
        var first = 0;
        var writers = groups.Select(n =>
        {
            var start = first;
            first += n;
            return (Func<Parquet.ParquetRowGroupWriter, DataField[], Task>)(async (g, f) =>
            {
                var ids = Enumerable.Range(start, n).ToArray();
                await g.WriteAsync<int>(f[0], ids.AsMemory(), null, null, default);
                await g.WriteAsync<double>(f[1], ids.Select(i => i % 4 == 3 ? double.NaN : i * 0.5).ToArray().AsMemory(), null, null, default);
                await g.WriteAsync(f[2], ids.Select(i => i % 3 == 0 ? null! : $"n{i}").ToArray(), null);
                await ParquetFiles.WriteListAsync<float>(g, f[3], [.. ids.Select(i => (float?[])[i, -i, 0.25f])]);
                await g.WriteAsync(f[4], ids.Select(i => i % 5 == 0 ? null! : i % 2 == 0 ? "even" : "odd").ToArray(), null);
            });
        }).ToArray();
        return await ParquetFiles.WriteAsync(fields, writers);
    }

    [Theory]
    [MemberData(nameof(ChunkSizes))]
    public async Task Parquet_read_in_chunks_is_the_table_read_whole_joining_and_splitting_row_groups(int chunkRows)
    {
        var file = await MixedParquetAsync(5, 3, 9, 1);
        var whole = await ParquetTableParser.ParseAsync(Stream(file), "data.parquet", hints: [new ColumnHint("id", Type: ColumnType.Double)]);
        var table = await ParquetTableParser.OpenAsync(StreamedTable.Rewindable(Stream(file)), "data.parquet", "label", false, [new ColumnHint("id", Type: ColumnType.Double)], RowPolicy.Strict);

        AssertChunked(whole, table, chunkRows, expectedChunks: (18 + chunkRows - 1) / chunkRows);
        Assert.Equal(
            [("id", "double", false), ("score", "double", true), ("name", "string", true), ("v", "tensor[3]", false), ("label", "string", true)],
            whole.Schema.Columns.Select(c => (c.Name, c.TypeName, c.Nullable)));
        Assert.Equal([17f, -17f, 0.25f], ((float[])whole["v"].Values)[^3..]);
        Assert.Null(whole["score"].Values.GetValue(3)); // NaN in a required column: a null, so the column is nullable
        Assert.Equal(8.0, whole["score"].Values.GetValue(16));
    }

    [Fact]
    public async Task Parquet_quarantine_takes_rows_with_an_infinity_or_a_broken_list_and_still_refuses_lists_of_two_lengths()
    {
        var fields = new Field[] { new DataField("x", typeof(double), isNullable: true), new ListField("v", new DataField("element", typeof(double), isNullable: true)) };
        var file = await ParquetFiles.WriteAsync(fields,
            async (g, f) =>
            {
                await g.WriteAsync<double>(f[0], new double?[] { 1, double.PositiveInfinity, 3 }.AsMemory(), null, null, default);
                await ParquetFiles.WriteListAsync<double>(g, f[1], [1, 2], [3, 4], null);
            },
            async (g, f) =>
            {
                await g.WriteAsync<double>(f[0], new double?[] { 4, 5 }.AsMemory(), null, null, default);
                await ParquetFiles.WriteListAsync<double>(g, f[1], [5, double.NaN], [7, 8]);
            });
        var table = await ParquetTableParser.OpenAsync(StreamedTable.Rewindable(Stream(file)), "data.parquet", "label", false, null, new RowPolicy(true, 0.9));
        var bad = new List<QuarantinedRow>();
        var rows = DatasetStore.Concat(table.Schema, [.. table.Read(2, bad).Select(c => c.Rows)]);

        Assert.Equal([1.0, 5.0], ((double?[])rows["x"].Values).Select(v => v!.Value));
        Assert.Equal([0L, 4], rows.RowIds);
        Assert.Equal([1f, 2, 7, 8], (float[])rows["v"].Values);
        Assert.Equal(
            new (long, long, string?, string)[] { (2, 1, "x", "non_finite"), (3, 2, "v", "tensor_shape"), (4, 3, "v", "non_finite") },
            bad.Select(b => (b.SourceRow, b.RowId, b.Column, b.Reason)));
        var strict = await Assert.ThrowsAsync<DataFormatException>(() =>
            ParquetTableParser.OpenAsync(StreamedTable.Rewindable(Stream(file)), "data.parquet", "label", false, null, RowPolicy.Strict));
        Assert.StartsWith("data.parquet: row 2, column 'x': the value is infinity", strict.Message, StringComparison.Ordinal);

        var twoLengths = await ParquetFiles.WriteAsync([new ListField("v", new DataField("element", typeof(double), isNullable: false))],
            (g, f) => ParquetFiles.WriteListAsync<double>(g, f[0], [1, 2], [3, 4, 5]));
        var refused = await Assert.ThrowsAsync<DataFormatException>(() =>
            ParquetTableParser.OpenAsync(StreamedTable.Rewindable(Stream(twoLengths)), "data.parquet", "label", false, null, new RowPolicy(true, 0.9)));
        Assert.StartsWith("data.parquet: row 2, column 'v': the list holds 3 numbers, the first row's 2", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_200000_row_Parquet_file_is_read_one_row_group_at_a_time()
    {
        const int rows = 200_000, group = 10_000, chunk = 4096;
        var fields = new Field[] { new DataField("a", typeof(long), isNullable: false), new DataField("b", typeof(double), isNullable: true) };
        var file = await ParquetFiles.WriteAsync(fields, [.. Enumerable.Range(0, rows / group).Select(g => (Func<Parquet.ParquetRowGroupWriter, DataField[], Task>)(async (w, f) =>
        {
            // Values that do not compress away, so the file's bytes follow its rows.
            await w.WriteAsync<long>(f[0], Enumerable.Range(g * group, group).Select(i => (long)i * 2_654_435_761 % 1_000_003).ToArray().AsMemory(), null, null, default);
            await w.WriteAsync<double>(f[1], Enumerable.Range(g * group, group).Select(i => (double?)Math.Sin(i)).ToArray().AsMemory(), null, null, default);
        }))]);
        var opened = new List<CountingStream>();
        var table = await ParquetTableParser.OpenAsync(() =>
        {
            var s = new CountingStream(file);
            opened.Add(s);
            return s;
        }, "data.parquet", "label", false, null, RowPolicy.Strict);

        long atFirstChunk = -1, count = 0;
        var largest = 0;
        Array? firstArray = null;
        var reused = true;
        foreach (var c in table.Read(chunk, [], reuse: true))
        {
            atFirstChunk = atFirstChunk < 0 ? opened[^1].BytesRead : atFirstChunk;
            count += c.Rows.Rows;
            largest = Math.Max(largest, c.Rows.Columns[0].Values.Length);
            firstArray ??= c.Rows.Columns[0].Values;
            reused &= c.Rows.Rows < chunk || ReferenceEquals(firstArray, c.Rows.Columns[0].Values);
        }

        Assert.Equal(2, opened.Count); // one stream per pass
        Assert.Equal(rows, count);
        Assert.Equal(chunk, largest);
        Assert.True(reused, "a full chunk's arrays are reused");
        // Whole-file parsing reads every row group before the first chunk; streamed, the footer and the first row group.
        output.WriteLine($"Parquet {rows:N0} rows in {rows / group} row groups: {atFirstChunk:N0} of {file.Length:N0} bytes read before the first chunk");
        Assert.True(atFirstChunk < file.Length / 5, $"{atFirstChunk:N0} of {file.Length:N0} bytes read before the first chunk");
        Assert.Equal((long)199_999 * 2_654_435_761 % 1_000_003, table.ReadAll()["a"].Values.GetValue(rows - 1));
    }

    // --- archives ---

    private static byte[] Png(int seed)
    {
        using var bitmap = new SKBitmap(3 + seed % 4, 2 + seed % 3);
        bitmap.Erase(new SKColor((byte)(seed * 40), (byte)(255 - seed * 9), 7));
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    /// <summary>Files for an archive, in an order that is not the paths' (so the second pass of a tar must look back).</summary>
    private static (string Path, byte[] Bytes)[] Entries(bool images, int count) =>
        [.. Enumerable.Range(0, count).Reverse().Select(i => ($"{(i % 3 == 0 ? "cats" : "dogs")}/{i:D3}.{(images ? "png" : "txt")}",
            images ? Png(i) : Encoding.UTF8.GetBytes($"note {i}: {new string('x', i)}")))];

    private static byte[] Zip((string Path, byte[] Bytes)[] entries)
    {
        using var buffer = new MemoryStream();
        using (var zip = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (path, bytes) in entries)
            {
                using var e = zip.CreateEntry(path).Open();
                e.Write(bytes);
            }
        }
        return buffer.ToArray();
    }

    private static byte[] Tar((string Path, byte[] Bytes)[] entries, bool gzip)
    {
        using var buffer = new MemoryStream();
        using (Stream target = gzip ? new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true) : buffer)
        using (var tar = new TarWriter(target, TarEntryFormat.Ustar, leaveOpen: true))
        {
            foreach (var (path, bytes) in entries)
            {
                tar.WriteEntry(new UstarTarEntry(TarEntryType.RegularFile, path) { DataStream = new MemoryStream(bytes) });
            }
        }
        return buffer.ToArray();
    }

    public static TheoryData<string, bool, int> ArchiveCases()
    {
        var cases = new TheoryData<string, bool, int>();
        foreach (var kind in new[] { "zip", "tar", "tar.gz" })
        {
            foreach (var images in new[] { true, false })
            {
                foreach (var chunk in new[] { 1, 7, 100_000 })
                {
                    cases.Add(kind, images, chunk);
                }
            }
        }
        return cases;
    }

    [Theory]
    [MemberData(nameof(ArchiveCases))]
    public void An_archive_read_in_chunks_is_the_table_read_whole(string kind, bool images, int chunkRows)
    {
        var entries = Entries(images, 20);
        var file = kind == "zip" ? Zip(entries) : Tar(entries, gzip: kind == "tar.gz");
        var whole = ArchiveParser.Parse(Stream(file), "archive");
        var opens = 0;
        var table = ArchiveParser.Open(() =>
        {
            opens++;
            return Stream(file);
        }, "archive", null, RowPolicy.Strict);

        AssertChunked(whole, table, chunkRows, expectedChunks: (20 + chunkRows - 1) / chunkRows);
        Assert.Equal(entries.Select(e => e.Path).Order(StringComparer.Ordinal), ((string?[])whole["path"].Values)!);
        Assert.Equal(entries.Single(e => e.Path == "dogs/019." + (images ? "png" : "txt")).Bytes,
            images ? ((byte[]?[])whole["image"].Values)[^1] : Encoding.UTF8.GetBytes(((string?[])whole["text"].Values)[^1]!));
        Assert.Equal("dogs", whole["label"].Format(19));
        if (images)
        {
            Assert.Equal(3L + 19 % 4, whole["width"].Values.GetValue(19));
        }
        if (kind != "zip" && chunkRows == 1)
        {
            Assert.True(opens > 3, "a tar is opened again when a chunk needs an entry the walk has passed");
        }
    }

    [Fact]
    public void An_undecodable_image_refuses_the_archive_in_the_first_pass_and_is_a_bad_row_in_quarantine()
    {
        (string, byte[])[] entries = [("cats/1.png", Png(1)), ("cats/2.png", [0x89, 0x50, 0x4E, 0x47, 1, 2, 3]), ("dogs/3.png", Png(3))];
        var file = Tar(entries, gzip: true);
        var strict = Assert.Throws<DataFormatException>(() => ArchiveParser.Open(StreamedTable.Rewindable(Stream(file)), "archive", null, RowPolicy.Strict));
        Assert.Equal("cats/2.png", strict.Entry);
        Assert.Contains("does not decode", strict.Message, StringComparison.Ordinal);

        var table = ArchiveParser.Open(StreamedTable.Rewindable(Stream(file)), "archive", null, new RowPolicy(true, 0.5));
        var bad = new List<QuarantinedRow>();
        var rows = DatasetStore.Concat(table.Schema, [.. table.Read(10, bad).Select(c => c.Rows)]);
        Assert.Equal(new string?[] { "cats/1.png", "dogs/3.png" }.AsEnumerable(), ((string?[])rows["path"].Values).AsEnumerable());
        Assert.Equal([0L, 2], rows.RowIds);
        var row = Assert.Single(bad);
        Assert.Equal((2L, 1L, "image", "undecodable_image", "cats/2.png"), (row.SourceRow, row.RowId, row.Column, row.Reason, row.Raw));
    }

    [Fact]
    public void A_20000_file_tar_gz_is_read_forward_a_chunk_at_a_time()
    {
        const int files = 20_000, chunk = 1024;
        var entries = Enumerable.Range(0, files).Select(i => ($"c{i * 7 / files}/{i:D5}.txt", Encoding.UTF8.GetBytes($"note {i} {i * 2_654_435_761L % 1_000_003} {Math.Sin(i)}"))).ToArray();
        var file = Tar(entries, gzip: true);
        var opened = new List<CountingStream>();
        var table = ArchiveParser.Open(() =>
        {
            var s = new CountingStream(file);
            opened.Add(s);
            return s;
        }, "archive", ArchiveLimits.Default with { MaxCompressionRatio = 1000 }, RowPolicy.Strict);

        long atFirstChunk = -1, count = 0;
        var largest = 0;
        foreach (var c in table.Read(chunk, [], reuse: true))
        {
            atFirstChunk = atFirstChunk < 0 ? opened[^1].BytesRead : atFirstChunk;
            count += c.Rows.Rows;
            largest = Math.Max(largest, c.Rows.Columns[1].Values.Length);
        }

        Assert.Equal(files, count);
        Assert.Equal(chunk, largest);
        Assert.Equal(2, opened.Count); // the paths' order is the archive's: one walk per pass
        // Whole-file parsing reads every entry before the first row; streamed, about the first chunk's share.
        output.WriteLine($"tar.gz of {files:N0} files: {atFirstChunk:N0} of {file.Length:N0} bytes read before the first chunk");
        Assert.True(atFirstChunk < file.Length / 4, $"{atFirstChunk:N0} of {file.Length:N0} bytes read before the first chunk");
    }

    // --- helpers ---

    /// <summary>Reads <paramref name="table"/> in chunks, plain and with reused arrays, and compares with <paramref name="whole"/>.</summary>
    private static void AssertChunked(Table whole, StreamedTable table, int chunkRows, int expectedChunks)
    {
        var bad = new List<QuarantinedRow>();
        var chunks = table.Read(chunkRows, bad).ToList();
        Assert.Empty(bad);
        Assert.Equal(expectedChunks, chunks.Count);
        Assert.All(chunks, c => Assert.True(c.Rows.Rows <= chunkRows));
        Assert.Equal(whole.Rows, table.SourceRows);
        AssertSame(whole, DatasetStore.Concat(table.Schema, [.. chunks.Select(c => c.Rows)]));
        Assert.Equal(whole.RowIds.Select(id => id + 1), chunks.SelectMany(c => c.SourceRows));
        // Reused arrays give the same rows, as long as each chunk is used before the next is read.
        var copies = table.Read(chunkRows, bad, reuse: true).Select(c => c.Rows.Slice(0, c.Rows.Rows)).ToList();
        AssertSame(whole, DatasetStore.Concat(table.Schema, copies));
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

    /// <summary>A seekable read-only stream over bytes that counts what was read from it.</summary>
    private sealed class CountingStream(byte[] data) : MemoryStream(data, writable: false)
    {
        public long BytesRead { get; private set; }

        public override int Read(byte[] buffer, int offset, int count) => Counted(base.Read(buffer, offset, count));
        public override int Read(Span<byte> buffer) => Counted(base.Read(buffer));
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Counted(await base.ReadAsync(buffer, cancellationToken));
        public override int ReadByte()
        {
            var b = base.ReadByte();
            BytesRead += b >= 0 ? 1 : 0;
            return b;
        }

        private int Counted(int n)
        {
            BytesRead += n;
            return n;
        }
    }
}
