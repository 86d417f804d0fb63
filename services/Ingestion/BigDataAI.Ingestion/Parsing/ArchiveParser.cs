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

    private sealed record Entry(string Path, byte[] Bytes);

    public static Table Parse(Stream data, string fileName, ArchiveLimits? limits = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        limits ??= ArchiveLimits.Default;
        var entries = ReadEntries(data, fileName, limits, cancellationToken);
        var labelsFile = entries.FirstOrDefault(e => e.Path.Equals("labels.csv", StringComparison.OrdinalIgnoreCase));
        var files = entries.Where(e => e != labelsFile).OrderBy(e => e.Path, StringComparer.Ordinal).ToList();
        if (files.Count == 0)
        {
            throw new DataFormatException(fileName, "the archive holds no image or text files", byteOffset: 0);
        }
        var kinds = files.Select(f => (f, Kind: KindOf(f.Path, fileName))).ToList();
        if (kinds.Select(k => k.Kind).Distinct().Count() > 1)
        {
            var image = kinds.First(k => k.Kind == Kind.Image).f.Path;
            var text = kinds.First(k => k.Kind == Kind.Text).f.Path;
            throw new DataFormatException(fileName, $"the archive mixes images ('{image}') and text files ('{text}'); upload each kind as its own dataset", entry: text);
        }
        var labels = ReadLabels(labelsFile, files, fileName);
        var paths = files.Select(f => (string?)f.Path).ToArray();
        var label = new ColumnSchema("label", ColumnType.String, ColumnRole.Label, Nullable: true);
        var path = new ColumnSchema("path", ColumnType.String, ColumnRole.Id, Nullable: false);
        var labelValues = files.Select(f => labels.TryGetValue(f.Path, out var l) ? l : FolderLabel(f.Path)).ToArray();
        List<Column> columns;
        if (kinds[0].Kind == Kind.Image)
        {
            var widths = new long?[files.Count];
            var heights = new long?[files.Count];
            for (var i = 0; i < files.Count; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var bitmap = TryDecode(files[i].Bytes)
                    ?? throw new DataFormatException(fileName, "the image does not decode (not a valid PNG or JPEG file)", entry: files[i].Path);
                (widths[i], heights[i]) = (bitmap.Width, bitmap.Height);
            }
            columns =
            [
                new Column(path, paths),
                new Column(new ColumnSchema("image", ColumnType.Binary, ColumnRole.Image, Nullable: false), files.Select(f => (byte[]?)f.Bytes).ToArray()),
                new Column(new ColumnSchema("width", ColumnType.Int64, ColumnRole.Ignored, Nullable: false), widths),
                new Column(new ColumnSchema("height", ColumnType.Int64, ColumnRole.Ignored, Nullable: false), heights),
                new Column(label, labelValues),
            ];
        }
        else
        {
            var texts = new string?[files.Count];
            for (var i = 0; i < files.Count; i++)
            {
                try
                {
                    var bytes = files[i].Bytes.AsSpan();
                    texts[i] = StrictUtf8.GetString(bytes.StartsWith("\uFEFF"u8) ? bytes[3..] : bytes);
                }
                catch (DecoderFallbackException e)
                {
                    throw new DataFormatException(fileName, $"the text is not UTF-8 ({e.Message}); save it as UTF-8", entry: files[i].Path, innerException: e);
                }
            }
            columns =
            [
                new Column(path, paths),
                new Column(new ColumnSchema("text", ColumnType.String, ColumnRole.Text, Nullable: false), texts),
                new Column(label, labelValues),
            ];
        }
        var schema = new DatasetSchema([.. columns.Select(c => c.Schema)]);
        return new Table(schema, columns, [.. Enumerable.Range(0, files.Count).Select(i => (long)i)]);
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

    private static Dictionary<string, string?> ReadLabels(Entry? labelsFile, List<Entry> files, string fileName)
    {
        var labels = new Dictionary<string, string?>(StringComparer.Ordinal);
        if (labelsFile is null)
        {
            return labels;
        }
        Table table;
        try
        {
            using var stream = new MemoryStream(labelsFile.Bytes, writable: false);
            table = TableParser.Parse(stream, $"{fileName}/labels.csv", ',', "label", labelRequired: true, [new ColumnHint("path", Type: ColumnType.String), new ColumnHint("label", Type: ColumnType.String)]);
        }
        catch (DataFormatException e)
        {
            throw new DataFormatException(fileName, e.Reason, row: e.Row, column: e.Column, entry: "labels.csv", innerException: e);
        }
        var pathColumn = table.Find("path") ?? throw new DataFormatException(fileName, "labels.csv needs a column 'path' (the file's path in the archive) and a column 'label'", entry: "labels.csv");
        var known = files.Select(f => f.Path).ToHashSet(StringComparer.Ordinal);
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

    private static List<Entry> ReadEntries(Stream data, string fileName, ArchiveLimits limits, CancellationToken cancellationToken)
    {
        // Buffered locally by the caller: a seekable file. Zip needs seeking; tar and gzip are read forward.
        Span<byte> head = stackalloc byte[262];
        var start = data.Position;
        var read = data.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        data.Position = start;
        var compressedSize = data.CanSeek ? data.Length - start : long.MaxValue;
        if (read >= 4 && head[..4].SequenceEqual("PK\u0003\u0004"u8))
        {
            return ReadZip(data, fileName, limits, cancellationToken);
        }
        if (read >= 2 && head[0] == 0x1f && head[1] == 0x8b)
        {
            using var gzip = new GZipStream(data, CompressionMode.Decompress, leaveOpen: true);
            return ReadTar(gzip, fileName, limits, compressedSize, cancellationToken);
        }
        if (read >= 262 && head.Slice(257, 5).SequenceEqual("ustar"u8))
        {
            return ReadTar(data, fileName, limits, long.MaxValue, cancellationToken);
        }
        throw new DataFormatException(fileName, "the file is not a zip, tar or gzipped tar archive", byteOffset: 0);
    }

    private static List<Entry> ReadZip(Stream data, string fileName, ArchiveLimits limits, CancellationToken cancellationToken)
    {
        ZipArchive zip;
        try
        {
            zip = new ZipArchive(data, ZipArchiveMode.Read, leaveOpen: true);
        }
        catch (InvalidDataException e)
        {
            throw new DataFormatException(fileName, $"the zip archive is damaged ({e.Message})", byteOffset: 0, innerException: e);
        }
        using (zip)
        {
            if (zip.Entries.Count > limits.MaxEntries)
            {
                throw new ArchiveLimitException($"{fileName}: the archive has {zip.Entries.Count:N0} entries; at most {limits.MaxEntries:N0} are allowed (Ingestion:MaxArchiveEntries).");
            }
            var entries = new List<Entry>();
            long total = 0;
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
                byte[] bytes;
                try
                {
                    using var stream = entry.Open();
                    bytes = ReadCapped(stream, entry.FullName, fileName, limits, ref total, Math.Max(entry.Length, 0));
                }
                catch (InvalidDataException e)
                {
                    throw new DataFormatException(fileName, $"the entry is damaged ({e.Message})", entry: entry.FullName, innerException: e);
                }
                entries.Add(new Entry(path, bytes));
            }
            return entries;
        }
    }

    private static List<Entry> ReadTar(Stream data, string fileName, ArchiveLimits limits, long compressedSize, CancellationToken cancellationToken)
    {
        var entries = new List<Entry>();
        long total = 0;
        var count = 0;
        try
        {
            using var tar = new TarReader(data, leaveOpen: true);
            while (tar.GetNextEntry(copyData: false) is { } entry)
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
                var bytes = ReadCapped(entry.DataStream, entry.Name, fileName, limits, ref total, entry.Length);
                if (compressedSize != long.MaxValue && total >= ArchiveLimits.RatioFloorBytes && total > limits.MaxCompressionRatio * Math.Max(1, compressedSize))
                {
                    throw new ArchiveLimitException($"{fileName}: the archive decompresses to more than {limits.MaxCompressionRatio:N0} times its size (Ingestion:MaxCompressionRatio), by entry '{entry.Name}': a decompression bomb?");
                }
                if (path is not null)
                {
                    entries.Add(new Entry(path, bytes));
                }
            }
        }
        catch (InvalidDataException e)
        {
            throw new DataFormatException(fileName, $"the tar archive is damaged or truncated ({e.Message})", byteOffset: 0, innerException: e);
        }
        return entries;
    }

    /// <summary>Reads an entry, counting its bytes against the archive's total; never more than it declared.</summary>
    private static byte[] ReadCapped(Stream stream, string entry, string fileName, ArchiveLimits limits, ref long total, long declared)
    {
        var buffer = new MemoryStream(checked((int)Math.Min(declared, 64L << 20)));
        var chunk = new byte[81920];
        int n;
        while ((n = stream.Read(chunk)) > 0)
        {
            total += n;
            if (total > limits.MaxDecompressedBytes)
            {
                throw new ArchiveLimitException($"{fileName}: the archive decompresses to more than {limits.MaxDecompressedBytes:N0} bytes (Ingestion:MaxDecompressedBytes), by entry '{entry}'.");
            }
            if (buffer.Length + n > int.MaxValue / 2)
            {
                throw new ArchiveLimitException($"{fileName}: entry '{entry}' is larger than 1 GiB.");
            }
            buffer.Write(chunk, 0, n);
        }
        return buffer.ToArray();
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
