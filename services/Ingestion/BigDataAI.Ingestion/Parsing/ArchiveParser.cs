using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using BigDataAI.Datasets;
using SkiaSharp;

namespace BigDataAI.Ingestion.Parsing;

/// <summary>An archive breaks a limit set against decompression bombs and oversized uploads (RESOURCE_EXHAUSTED).</summary>
public sealed class ArchiveLimitException(string message) : Exception(message);

/// <summary>Limits an archive must stay within; exceeding one is an <see cref="ArchiveLimitException"/>.</summary>
public sealed record ArchiveLimits(long MaxDecompressedBytes, int MaxEntries, double MaxCompressionRatio)
{
    public static readonly ArchiveLimits Default = new(8L << 30, 1_000_000, 100);

    /// <summary>Entries smaller than this are not judged by their compression ratio (a small file of zeros is no bomb).</summary>
    public const long RatioFloorBytes = 1 << 20;
}

/// <summary>
/// Reads a zip, a tar or a gzipped tar of images (PNG, JPEG) or of text files (.txt, UTF-8) into a table: one row per
/// file, its class from the folder it is in (<c>cat/001.png</c> is a "cat"; a file at the top has no label), or from a
/// <c>labels.csv</c> at the top (columns <c>path</c> and <c>label</c>), which wins over folders.
/// </summary>
/// <remarks>
/// Columns: <c>path</c> (string, role id: the entry's path), then for images <c>image</c> (binary, the encoded bytes as
/// uploaded, role image), <c>width</c> and <c>height</c> (int64, role ignored); for text <c>text</c> (string, role
/// text); then <c>label</c> (string, role label, null for unlabeled files). Rows are in ordinal order of path.
/// Refused, naming the entry: a path with <c>..</c>, an absolute path, a link, an image that does not decode, text that is
/// not UTF-8, any other kind of file, images and text in one archive. Folders, <c>__MACOSX/</c> and dot files are skipped.
/// </remarks>
public static class ArchiveParser
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private enum Kind
    {
        Image,
        Text,
    }

    /// <summary>A file of the archive as the first pass found it: its place in the archive, and what its row needs but its bytes.</summary>
    private sealed record FileEntry(string Path, int Position, string? Label, long Width, long Height, string? Problem);

    /// <summary>An entry the walk over the archive found; <see cref="Read"/> gives its bytes (counted against the limits).</summary>
    private sealed record WalkEntry(int Position, string Path, string Name, long Declared, Func<Stream> Open, bool Zip);

    /// <summary>Bytes decompressed so far in one walk over the archive.</summary>
    private sealed class Counter
    {
        public long Total;
    }

    /// <summary>Parses the whole archive (both passes, one chunk).</summary>
    public static Table Parse(Stream data, string fileName, ArchiveLimits? limits = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        return Open(StreamedTable.Rewindable(data), fileName, limits, RowPolicy.Strict, cancellationToken).ReadAll(cancellationToken);
    }

    /// <summary>
    /// The first pass: walks the archive once, checking every entry (paths, links, kinds, the limits against bombs),
    /// decoding each image for its size (text: checking it is UTF-8) and keeping per file only its path, place, label and
    /// size; then labels.csv and the kind are checked. The second pass (<see cref="StreamedTable.Read"/>) reads
    /// <c>chunkRows</c> files at a time, in path order, walking the archive again (a zip's entries are read directly;
    /// a tar is read forward, and opened again only when a chunk needs an entry the walk has passed).
    /// <paramref name="open"/> gives the file, seekable, from its start; the caller owns the streams.
    /// </summary>
    /// <param name="policy">Quarantine mode: an image that does not decode, or text that is not UTF-8, is a bad row
    /// (reasons <c>undecodable_image</c>, <c>invalid_utf8</c>) rather than an error.</param>
    public static StreamedTable Open(Func<Stream> open, string fileName, ArchiveLimits? limits, RowPolicy policy, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(open);
        ArgumentNullException.ThrowIfNull(policy);
        limits ??= ArchiveLimits.Default;
        var found = new List<(WalkEntry Entry, long Width, long Height, string? Problem)>();
        byte[]? labelsBytes = null;
        int? labelsPosition = null;
        var counter = new Counter();
        foreach (var entry in Walk(open(), fileName, limits, counter, readSkipped: true, cancellationToken))
        {
            var bytes = Read(entry, fileName, limits, counter);
            if (labelsPosition is null && entry.Path.Equals("labels.csv", StringComparison.OrdinalIgnoreCase))
            {
                (labelsBytes, labelsPosition) = (bytes, entry.Position);
                continue;
            }
            var (width, height, problem) = (0L, 0L, (string?)null);
            switch (Path.GetExtension(entry.Path).ToLowerInvariant())
            {
                case ".png" or ".jpg" or ".jpeg":
                    using (var bitmap = TryDecode(bytes))
                    {
                        (width, height, problem) = bitmap is null ? (0, 0, "the image does not decode (not a valid PNG or JPEG file)") : (bitmap.Width, bitmap.Height, null);
                    }
                    break;
                case ".txt":
                    problem = TextOf(bytes, out _);
                    break;
            }
            found.Add((entry, width, height, problem));
        }
        var sorted = found.OrderBy(f => f.Entry.Path, StringComparer.Ordinal).ToList();
        if (sorted.Count == 0)
        {
            throw new DataFormatException(fileName, "the archive holds no image or text files", byteOffset: 0);
        }
        var kinds = sorted.Select(f => (f.Entry.Path, Kind: KindOf(f.Entry.Path, fileName))).ToList();
        if (kinds.Select(k => k.Kind).Distinct().Count() > 1)
        {
            var image = kinds.First(k => k.Kind == Kind.Image).Path;
            var text = kinds.First(k => k.Kind == Kind.Text).Path;
            throw new DataFormatException(fileName, $"the archive mixes images ('{image}') and text files ('{text}'); upload each kind as its own dataset", entry: text);
        }
        var labels = ReadLabels(labelsBytes, [.. sorted.Select(f => f.Entry.Path)], fileName);
        var files = sorted.Select(f => new FileEntry(f.Entry.Path, f.Entry.Position, labels.TryGetValue(f.Entry.Path, out var l) ? l : FolderLabel(f.Entry.Path), f.Width, f.Height, f.Problem)).ToArray();
        if (!policy.Quarantine && files.FirstOrDefault(f => f.Problem is not null) is { } broken)
        {
            throw new DataFormatException(fileName, broken.Problem!, entry: broken.Path);
        }
        var kind = kinds[0].Kind;
        var label = new ColumnSchema("label", ColumnType.String, ColumnRole.Label, Nullable: true);
        var path = new ColumnSchema("path", ColumnType.String, ColumnRole.Id, Nullable: false);
        DatasetSchema schema = kind == Kind.Image
            ? new([path, new ColumnSchema("image", ColumnType.Binary, ColumnRole.Image, Nullable: false),
                new ColumnSchema("width", ColumnType.Int64, ColumnRole.Ignored, Nullable: false), new ColumnSchema("height", ColumnType.Int64, ColumnRole.Ignored, Nullable: false), label])
            : new([path, new ColumnSchema("text", ColumnType.String, ColumnRole.Text, Nullable: false), label]);
        return new ArchiveTable(schema, files, kind, open, fileName, limits);
    }

    /// <summary>The text of a .txt entry (a UTF-8 byte order mark dropped), or why it is not UTF-8.</summary>
    private static string? TextOf(byte[] bytes, out string? text)
    {
        try
        {
            var span = bytes.AsSpan();
            text = StrictUtf8.GetString(span.StartsWith("\uFEFF"u8) ? span[3..] : span);
            return null;
        }
        catch (DecoderFallbackException e)
        {
            text = null;
            return $"the text is not UTF-8 ({e.Message}); save it as UTF-8";
        }
    }

    /// <summary>The second pass: <c>chunkRows</c> files at a time in path order, their bytes read from a walk over the archive.</summary>
    private sealed class ArchiveTable(DatasetSchema schema, FileEntry[] files, Kind kind, Func<Stream> open, string fileName, ArchiveLimits limits)
        : StreamedTable(schema, files.Length)
    {
        public override IEnumerable<TableChunk> Read(int chunkRows, List<QuarantinedRow> bad, CancellationToken cancellationToken = default, bool reuse = false)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(chunkRows, 1);
            var chunk = new ChunkBuilder(Schema, Math.Min(chunkRows, files.Length), reuse);
            var window = new Dictionary<int, int>(); // position in the archive -> row
            var bytes = new byte[]?[Math.Min(chunkRows, files.Length)];
            IEnumerator<WalkEntry>? walk = null;
            var counter = new Counter();
            var walked = -1; // the position of the last entry the walk gave
            try
            {
                for (var start = 0; start < files.Length; start += chunkRows)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var end = Math.Min(files.Length, start + chunkRows);
                    window.Clear();
                    for (var r = start; r < end; r++)
                    {
                        if (files[r].Problem is null)
                        {
                            window[files[r].Position] = r;
                        }
                    }
                    if (window.Count > 0 && (walk is null || window.Keys.Min() <= walked))
                    {
                        walk?.Dispose();
                        counter.Total = 0;
                        walk = Walk(open(), fileName, limits, counter, readSkipped: false, cancellationToken).GetEnumerator();
                        walked = -1;
                    }
                    for (var wanted = window.Count; wanted > 0;)
                    {
                        if (!walk!.MoveNext())
                        {
                            throw new InvalidOperationException($"{fileName}: the archive holds fewer entries than its first reading found; it changed between the passes.");
                        }
                        walked = walk.Current.Position;
                        if (window.TryGetValue(walked, out var row))
                        {
                            bytes[row - start] = ArchiveParser.Read(walk.Current, fileName, limits, counter);
                            wanted--;
                        }
                    }
                    for (var r = start; r < end; r++)
                    {
                        var file = files[r];
                        if (file.Problem is not null)
                        {
                            bad.Add(new QuarantinedRow(r + 1, r, kind == Kind.Image ? "image" : "text", kind == Kind.Image ? "undecodable_image" : "invalid_utf8", file.Problem, file.Path));
                            continue;
                        }
                        chunk.BeginRow();
                        var at = chunk.Count;
                        ((string?[])chunk[0].Values)[at] = file.Path;
                        var content = bytes[r - start]!;
                        bytes[r - start] = null;
                        if (kind == Kind.Image)
                        {
                            ((byte[]?[])chunk[1].Values)[at] = content;
                            ((long?[])chunk[2].Values)[at] = file.Width;
                            ((long?[])chunk[3].Values)[at] = file.Height;
                            ((string?[])chunk[4].Values)[at] = file.Label;
                        }
                        else
                        {
                            TextOf(content, out var text);
                            ((string?[])chunk[1].Values)[at] = text;
                            ((string?[])chunk[2].Values)[at] = file.Label;
                        }
                        chunk.Commit(r, r + 1);
                    }
                    yield return chunk.Take();
                }
            }
            finally
            {
                walk?.Dispose();
            }
        }
    }

    /// <summary>The decoded image, or null when the bytes are not a complete image SkiaSharp can read.</summary>
    internal static SKBitmap? TryDecode(byte[] bytes)
    {
        using var data = SKData.CreateCopy(bytes);
        using var codec = SKCodec.Create(data);
        if (codec is null)
        {
            return null;
        }
        var bitmap = new SKBitmap(codec.Info.WithAlphaType(codec.Info.AlphaType == SKAlphaType.Unpremul ? SKAlphaType.Premul : codec.Info.AlphaType));
        var result = codec.GetPixels(bitmap.Info, bitmap.GetPixels());
        if (result is SKCodecResult.Success)
        {
            return bitmap;
        }
        bitmap.Dispose();
        return null;
    }

    private static Kind KindOf(string path, string fileName)
    {
        var extension = Path.GetExtension(path).ToLowerInvariant();
        return extension switch
        {
            ".png" or ".jpg" or ".jpeg" => Kind.Image,
            ".txt" => Kind.Text,
            _ => throw new DataFormatException(fileName, $"'{extension}' files are not supported; an archive holds images (.png, .jpg, .jpeg) or text (.txt), and optionally labels.csv at the top", entry: path),
        };
    }

    /// <summary>The class of a file from its folder (the innermost one), or null at the top.</summary>
    private static string? FolderLabel(string path)
    {
        var slash = path.LastIndexOf('/');
        if (slash < 0)
        {
            return null;
        }
        var folder = path[..slash];
        var parent = folder.LastIndexOf('/');
        return parent < 0 ? folder : folder[(parent + 1)..];
    }

    private static Dictionary<string, string?> ReadLabels(byte[]? labelsFile, IReadOnlyList<string> files, string fileName)
    {
        var labels = new Dictionary<string, string?>(StringComparer.Ordinal);
        if (labelsFile is null)
        {
            return labels;
        }
        Table table;
        try
        {
            using var stream = new MemoryStream(labelsFile, writable: false);
            table = TableParser.Parse(stream, $"{fileName}/labels.csv", ',', "label", labelRequired: true, [new ColumnHint("path", Type: ColumnType.String), new ColumnHint("label", Type: ColumnType.String)]);
        }
        catch (DataFormatException e)
        {
            throw new DataFormatException(fileName, e.Reason, row: e.Row, column: e.Column, entry: "labels.csv", innerException: e);
        }
        var pathColumn = table.Find("path") ?? throw new DataFormatException(fileName, "labels.csv needs a column 'path' (the file's path in the archive) and a column 'label'", entry: "labels.csv");
        var known = files.ToHashSet(StringComparer.Ordinal);
        var labelColumn = table["label"];
        for (var r = 0; r < table.Rows; r++)
        {
            var p = pathColumn.Format(r) ?? throw new DataFormatException(fileName, "the path is empty", row: r + 2, column: "path", entry: "labels.csv");
            if (!known.Contains(p))
            {
                throw new DataFormatException(fileName, $"'{p}' is not a file in the archive", row: r + 2, column: "path", entry: "labels.csv");
            }
            if (!labels.TryAdd(p, labelColumn.Format(r)))
            {
                throw new DataFormatException(fileName, $"'{p}' is labeled twice", row: r + 2, column: "path", entry: "labels.csv");
            }
        }
        return labels;
    }

    /// <summary>
    /// The archive's files (regular entries not skipped), in archive order, each checked (path, link, kind of entry, the
    /// limits). With <paramref name="readSkipped"/> the entries that are skipped (dot files, __MACOSX) are read too, so
    /// every byte counts against the limits; the caller reads the files it wants with <see cref="Read"/> before the next.
    /// </summary>
    private static IEnumerable<WalkEntry> Walk(Stream data, string fileName, ArchiveLimits limits, Counter counter, bool readSkipped, CancellationToken cancellationToken)
    {
        // Buffered locally by the caller: a seekable file. Zip needs seeking; tar and gzip are read forward.
        var head = new byte[262];
        var start = data.Position;
        var read = data.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        data.Position = start;
        var compressedSize = data.CanSeek ? data.Length - start : long.MaxValue;
        if (read >= 4 && head.AsSpan(0, 4).SequenceEqual("PK\u0003\u0004"u8))
        {
            return WalkZip(data, fileName, limits, cancellationToken);
        }
        if (read >= 2 && head[0] == 0x1f && head[1] == 0x8b)
        {
            return WalkTar(new GZipStream(data, CompressionMode.Decompress, leaveOpen: true), ownsStream: true, fileName, limits, counter, compressedSize, readSkipped, cancellationToken);
        }
        if (read >= 262 && head.AsSpan(257, 5).SequenceEqual("ustar"u8))
        {
            return WalkTar(data, ownsStream: false, fileName, limits, counter, long.MaxValue, readSkipped, cancellationToken);
        }
        throw new DataFormatException(fileName, "the file is not a zip, tar or gzipped tar archive", byteOffset: 0);
    }

    private static IEnumerable<WalkEntry> WalkZip(Stream data, string fileName, ArchiveLimits limits, CancellationToken cancellationToken)
    {
        using var zip = OpenZip(data, fileName);
        if (zip.Entries.Count > limits.MaxEntries)
        {
            throw new ArchiveLimitException($"{fileName}: the archive has {zip.Entries.Count:N0} entries; at most {limits.MaxEntries:N0} are allowed (Ingestion:MaxArchiveEntries).");
        }
        var position = 0;
        foreach (var entry in zip.Entries)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var path = CheckPath(entry.FullName, fileName);
            var mode = (entry.ExternalAttributes >> 16) & 0xF000;
            if (mode == 0xA000)
            {
                throw new DataFormatException(fileName, "the entry is a symbolic link; links are not allowed in an archive", entry: entry.FullName);
            }
            if (path is null || entry.FullName.EndsWith('/'))
            {
                continue;
            }
            if (entry.Length >= ArchiveLimits.RatioFloorBytes && entry.Length > limits.MaxCompressionRatio * Math.Max(1, entry.CompressedLength))
            {
                throw new ArchiveLimitException($"{fileName}: entry '{entry.FullName}' decompresses {entry.Length / (double)Math.Max(1, entry.CompressedLength):N0} times its compressed size; at most {limits.MaxCompressionRatio:N0} is allowed (Ingestion:MaxCompressionRatio): a decompression bomb?");
            }
            yield return new WalkEntry(position++, path, entry.FullName, Math.Max(entry.Length, 0), entry.Open, Zip: true);
        }
    }

    private static ZipArchive OpenZip(Stream data, string fileName)
    {
        try
        {
            return new ZipArchive(data, ZipArchiveMode.Read, leaveOpen: true);
        }
        catch (InvalidDataException e)
        {
            throw new DataFormatException(fileName, $"the zip archive is damaged ({e.Message})", byteOffset: 0, innerException: e);
        }
    }

    private static IEnumerable<WalkEntry> WalkTar(Stream data, bool ownsStream, string fileName, ArchiveLimits limits, Counter counter, long compressedSize, bool readSkipped, CancellationToken cancellationToken)
    {
        try
        {
            using var tar = new TarReader(data, leaveOpen: true);
            var count = 0;
            var position = 0;
            while (NextTarEntry(tar, fileName) is { } entry)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (++count > limits.MaxEntries)
                {
                    throw new ArchiveLimitException($"{fileName}: the archive has more than {limits.MaxEntries:N0} entries (Ingestion:MaxArchiveEntries).");
                }
                var path = CheckPath(entry.Name, fileName);
                switch (entry.EntryType)
                {
                    case TarEntryType.SymbolicLink or TarEntryType.HardLink:
                        throw new DataFormatException(fileName, "the entry is a link; links are not allowed in an archive", entry: entry.Name);
                    case TarEntryType.Directory or TarEntryType.GlobalExtendedAttributes or TarEntryType.ExtendedAttributes:
                        continue;
                    case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                        break;
                    default:
                        throw new DataFormatException(fileName, $"the entry is a {entry.EntryType}; only regular files and folders are allowed", entry: entry.Name);
                }
                if (entry.DataStream is null)
                {
                    continue;
                }
                var stream = entry.DataStream;
                var found = new WalkEntry(path is null ? -1 : position++, path ?? "", entry.Name, entry.Length, () => stream, Zip: false);
                if (path is not null)
                {
                    yield return found; // the caller reads it, or not
                }
                else if (readSkipped)
                {
                    Read(found, fileName, limits, counter);
                }
                if (compressedSize != long.MaxValue && counter.Total >= ArchiveLimits.RatioFloorBytes && counter.Total > limits.MaxCompressionRatio * Math.Max(1, compressedSize))
                {
                    throw new ArchiveLimitException($"{fileName}: the archive decompresses to more than {limits.MaxCompressionRatio:N0} times its size (Ingestion:MaxCompressionRatio), by entry '{entry.Name}': a decompression bomb?");
                }
            }
        }
        finally
        {
            if (ownsStream)
            {
                data.Dispose();
            }
        }
    }

    private static TarEntry? NextTarEntry(TarReader tar, string fileName)
    {
        try
        {
            return tar.GetNextEntry(copyData: false);
        }
        catch (InvalidDataException e)
        {
            throw TarDamaged(fileName, e);
        }
    }

    private static DataFormatException TarDamaged(string fileName, InvalidDataException e) =>
        new(fileName, $"the tar archive is damaged or truncated ({e.Message})", byteOffset: 0, innerException: e);

    /// <summary>An entry's bytes, counted against the archive's limits.</summary>
    private static byte[] Read(WalkEntry entry, string fileName, ArchiveLimits limits, Counter counter)
    {
        try
        {
            if (!entry.Zip)
            {
                return ReadCapped(entry.Open(), entry.Name, fileName, limits, counter, entry.Declared);
            }
            using var stream = entry.Open();
            return ReadCapped(stream, entry.Name, fileName, limits, counter, entry.Declared);
        }
        catch (InvalidDataException e)
        {
            throw entry.Zip ? new DataFormatException(fileName, $"the entry is damaged ({e.Message})", entry: entry.Name, innerException: e) : TarDamaged(fileName, e);
        }
    }

    /// <summary>Reads an entry, counting its bytes against the archive's total; never more than it declared.</summary>
    private static byte[] ReadCapped(Stream stream, string entry, string fileName, ArchiveLimits limits, Counter counter, long declared)
    {
        var buffer = new MemoryStream(checked((int)Math.Min(declared, 64L << 20)));
        var chunk = new byte[81920];
        int n;
        while ((n = stream.Read(chunk)) > 0)
        {
            counter.Total += n;
            if (counter.Total > limits.MaxDecompressedBytes)
            {
                throw new ArchiveLimitException($"{fileName}: the archive decompresses to more than {limits.MaxDecompressedBytes:N0} bytes (Ingestion:MaxDecompressedBytes), by entry '{entry}'.");
            }
            if (buffer.Length + n > int.MaxValue / 2)
            {
                throw new ArchiveLimitException($"{fileName}: entry '{entry}' is larger than 1 GiB.");
            }
            buffer.Write(chunk, 0, n);
        }
        return buffer.Length == buffer.Capacity ? buffer.GetBuffer() : buffer.ToArray();
    }

    /// <summary>The entry's normalised path, null for what is skipped (macOS metadata, dot files); refuses unsafe paths.</summary>
    private static string? CheckPath(string name, string fileName)
    {
        var path = name.Replace('\\', '/');
        if (path.StartsWith('/') || (path.Length >= 2 && path[1] == ':'))
        {
            throw new DataFormatException(fileName, "the entry has an absolute path; entries must be relative to the archive", entry: name);
        }
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(p => p != ".").ToArray();
        if (parts.Any(p => p == ".."))
        {
            throw new DataFormatException(fileName, "the entry's path contains '..'; entries must stay inside the archive", entry: name);
        }
        if (parts.Length == 0 || parts[0] == "__MACOSX" || parts.Any(p => p.StartsWith('.')))
        {
            return null;
        }
        return string.Join('/', parts);
    }
}
