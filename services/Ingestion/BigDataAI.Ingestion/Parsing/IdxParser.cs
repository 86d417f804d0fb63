using BigDataAI.Datasets;
using System.Buffers.Binary;
using System.Globalization;

namespace BigDataAI.Ingestion.Parsing;

/// <summary>
/// Reads an IDX image file and its IDX label file (the MNIST format: big-endian header, unsigned bytes), each
/// optionally gzipped (recognised by magic bytes, not by name), as a <see cref="StreamedTable"/> or a <see cref="DatasetTable"/>.
/// </summary>
/// <remarks>
/// <para>Images: magic 0x00000803, then image count, rows, columns (uint32 each), then count*rows*columns pixel bytes.
/// Labels: magic 0x00000801, then the count, then one byte per label. Nothing may follow the declared data.</para>
/// <para>Pixels become <c>v / 255f</c>. Feature names are "px0".."px{rows*columns-1}" in row-major order. Classes
/// are the label values that occur, sorted numerically, as strings; each row's label is the index of its value
/// there (MNIST: "0".."9"; a value that never occurs is not a class, so with no 3s, "4" is class 3).</para>
/// <para>Errors carry byte offsets. For gzipped files they count decompressed bytes, except for errors about
/// the gzip stream itself.</para>
/// <para>Memory: <see cref="Open"/> reads in two passes (see there), so it holds one chunk of pixels whatever the
/// file's size, and a header that lies about its size is refused from the file's length (or from the bytes that
/// arrived, when gzipped) before anything is allocated for it. <see cref="Parse"/> reads the whole table in one chunk.</para>
/// </remarks>
public static class IdxParser
{
    public const int ImagesMagic = 0x00000803;
    public const int LabelsMagic = 0x00000801;

    private const int ImagesHeaderBytes = 16;
    private const int LabelsHeaderBytes = 8;
    private const byte UnsignedByteType = 0x08;
    private const int ScratchBytes = 64 * 1024;

    private static readonly float[] PixelValues = CreatePixelValues();

    /// <summary>Parses both files whole (the streamed table read in one chunk), with each label mapped to its class index.</summary>
    public static DatasetTable Parse(Stream images, string imagesName, Stream labels, string labelsName, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        var table = Open(StreamedTable.Rewindable(images), imagesName, StreamedTable.Rewindable(labels), labelsName, cancellationToken: cancellationToken);
        var shape = table.Schema.Columns[0].Shape!;
        var all = table.ReadAll(cancellationToken);
        var values = (long?[])all.Columns[1].Values;
        var labelValues = new long[values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            labelValues[i] = values[i]!.Value;
        }
        var classes = MapClasses(labelValues);
        var pixels = shape[0] * shape[1];
        var featureNames = new string[pixels];
        for (var i = 0; i < featureNames.Length; i++)
        {
            featureNames[i] = string.Create(CultureInfo.InvariantCulture, $"px{i}");
        }
        return new DatasetTable((float[])all.Columns[0].Values, labelValues, pixels, shape, classes, featureNames);
    }

    /// <summary>
    /// The first pass: both headers are read and checked, and both files' lengths against them (from the file length when
    /// the file is plain and seekable, else by reading it through, a 64 KB buffer at a time), so a truncated file, extra
    /// bytes, a corrupt gzip stream or a count mismatch is refused before anything is stored. The second pass
    /// (<see cref="StreamedTable.Read"/>) converts <c>chunkRows</c> images and labels at a time into a tensor column
    /// <paramref name="imageColumn"/> [rows, columns] of pixels in [0, 1] and an int64 label column holding each label byte.
    /// </summary>
    /// <param name="openImages">Gives the images file from its start; called once per pass. The caller owns the streams.</param>
    /// <param name="openLabels">The same for the labels file.</param>
    public static StreamedTable Open(Func<Stream> openImages, string imagesName, Func<Stream> openLabels, string labelsName,
        string imageColumn = "pixels", string labelColumn = "label", CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(openImages);
        ArgumentNullException.ThrowIfNull(imagesName);
        ArgumentNullException.ThrowIfNull(openLabels);
        ArgumentNullException.ThrowIfNull(labelsName);

        using var imageInput = ParserInput.Open(openImages(), imagesName);
        using var labelInput = ParserInput.Open(openLabels(), labelsName);
        var shape = ReadHeaders(imageInput, imagesName, labelInput, labelsName);

        var imageBytes = RemainingBytes(imageInput, cancellationToken);
        if (imageBytes < shape.TotalPixels)
        {
            throw Truncated(imagesName, shape, imageBytes, imageInput);
        }
        if (imageBytes > shape.TotalPixels)
        {
            var end = ImagesHeaderBytes + shape.TotalPixels;
            throw new DataFormatException(imagesName,
                $"{imageBytes - shape.TotalPixels} unexpected bytes after the last image: the header declares {shape.Describe()}, so the data should end at byte offset {end}{OffsetNote(imageInput)}; "
                + "remove the extra bytes or correct the image count",
                byteOffset: end);
        }
        var labelBytes = RemainingBytes(labelInput, cancellationToken);
        if (labelBytes < shape.Count)
        {
            throw TruncatedLabels(labelsName, shape.Count, labelBytes, LabelsHeaderBytes + labelBytes, labelInput);
        }
        if (labelBytes > shape.Count)
        {
            var end = LabelsHeaderBytes + (long)shape.Count;
            throw new DataFormatException(labelsName,
                $"{labelBytes - shape.Count} unexpected bytes after the last label: the header declares {shape.Count} labels, so the data should end at byte offset {end}{OffsetNote(labelInput)}; "
                + "remove the extra bytes or correct the label count",
                byteOffset: end);
        }
        var schema = new DatasetSchema(
        [
            new ColumnSchema(imageColumn, ColumnType.Tensor, ColumnRole.Feature, Nullable: false, Shape: [shape.Rows, shape.Columns]),
            new ColumnSchema(labelColumn, ColumnType.Int64, ColumnRole.Label, Nullable: false),
        ]);
        return new IdxTable(schema, shape, openImages, imagesName, openLabels, labelsName);
    }

    /// <summary>Reads and checks both headers; the shape they declare.</summary>
    private static IdxShape ReadHeaders(ParserInput imageInput, string imagesName, ParserInput labelInput, string labelsName)
    {
        Span<byte> imageHeader = stackalloc byte[ImagesHeaderBytes];
        ReadHeader(imageInput, imagesName, imageHeader, ImagesMagic, "images");
        Span<byte> labelHeader = stackalloc byte[LabelsHeaderBytes];
        ReadHeader(labelInput, labelsName, labelHeader, LabelsMagic, "labels");

        var count = BinaryPrimitives.ReadUInt32BigEndian(imageHeader[4..]);
        var rows = BinaryPrimitives.ReadUInt32BigEndian(imageHeader[8..]);
        var columns = BinaryPrimitives.ReadUInt32BigEndian(imageHeader[12..]);
        var labelCount = BinaryPrimitives.ReadUInt32BigEndian(labelHeader[4..]);

        if (rows == 0 || columns == 0)
        {
            throw new DataFormatException(imagesName,
                $"the header declares images of {rows}x{columns} pixels; rows and columns must both be at least 1",
                byteOffset: rows == 0 ? 8 : 12);
        }
        if (count != labelCount)
        {
            throw new DataFormatException(labelsName,
                $"'{labelsName}' declares {labelCount} labels but '{imagesName}' declares {count} images; they must have one label per image",
                byteOffset: 4);
        }
        if (count == 0)
        {
            throw new DataFormatException(imagesName, "the header declares 0 images; a data set needs at least one", byteOffset: 4);
        }
        var pixelsPerImage = (UInt128)rows * columns;
        var totalPixels = pixelsPerImage * count;
        if (totalPixels > (UInt128)Array.MaxLength)
        {
            throw new DataFormatException(imagesName,
                $"the header declares {count} images of {rows}x{columns} pixels, {totalPixels} values in all; one data set holds at most {Array.MaxLength} "
                + "(is the header damaged, or the file not IDX?)",
                byteOffset: 4);
        }
        return new IdxShape((int)count, (int)rows, (int)columns);
    }

    /// <summary>The data bytes after the header: the file's length when known, else counted by reading to the (verified) end.</summary>
    private static long RemainingBytes(ParserInput input, CancellationToken cancellationToken) =>
        input.KnowsRemainingLength ? input.RemainingLength : input.Drain(cancellationToken);

    private static DataFormatException Truncated(string name, IdxShape shape, long arrived, ParserInput input)
    {
        var end = ImagesHeaderBytes + arrived;
        return new DataFormatException(name,
            $"the image data is truncated: the header declares {shape.Describe()} ({shape.TotalPixels} bytes after the {ImagesHeaderBytes}-byte header) "
            + $"but only {arrived} bytes arrived ({arrived / shape.PixelsPerImage} whole images); the data ends at byte offset {end}{OffsetNote(input)}",
            byteOffset: end);
    }

    private static DataFormatException TruncatedLabels(string name, int count, long arrived, long end, ParserInput input) =>
        new(name,
            $"the label data is truncated: the header declares {count} labels but only {arrived} arrived; the data ends at byte offset {end}{OffsetNote(input)}",
            byteOffset: end);

    /// <summary>The second pass: both files read again from their start, <c>chunkRows</c> images and labels at a time.</summary>
    private sealed class IdxTable(DatasetSchema schema, IdxShape shape, Func<Stream> openImages, string imagesName, Func<Stream> openLabels, string labelsName)
        : StreamedTable(schema, shape.Count)
    {
        public override IEnumerable<TableChunk> Read(int chunkRows, List<QuarantinedRow> bad, CancellationToken cancellationToken = default, bool reuse = false)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(chunkRows, 1);
            using var imageInput = ParserInput.Open(openImages(), imagesName);
            using var labelInput = ParserInput.Open(openLabels(), labelsName);
            ReadHeaders(imageInput, imagesName, labelInput, labelsName); // checked in the first pass; read past them
            var scratch = new byte[ScratchBytes];
            var capacity = Math.Min(chunkRows, shape.Count);
            float[]? pixels = null;
            long?[]? labels = null;
            for (var start = 0; start < shape.Count; start += capacity)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var rows = Math.Min(capacity, shape.Count - start);
                // A full chunk's arrays are filled again when reused (the caller is done with the last chunk); a shorter last chunk gets its own.
                if (pixels is null || !reuse || rows != capacity)
                {
                    pixels = GC.AllocateUninitializedArray<float>(rows * shape.PixelsPerImage);
                    labels = new long?[rows];
                }
                FillPixels(imageInput, imagesName, shape, pixels, scratch, cancellationToken);
                FillLabels(labelInput, labelsName, shape.Count, start, labels!, scratch);
                var ids = new long[rows];
                var sources = new long[rows];
                for (var i = 0; i < rows; i++)
                {
                    ids[i] = start + i;
                    sources[i] = start + i + 1L;
                }
                yield return new TableChunk(new Table(Schema, [new Column(Schema.Columns[0], pixels), new Column(Schema.Columns[1], labels!)], ids), sources);
            }
        }
    }

    private readonly record struct IdxShape(int Count, int Rows, int Columns)
    {
        public int PixelsPerImage => Rows * Columns;

        public long TotalPixels => (long)Count * PixelsPerImage;

        public string Describe() => $"{Count} images of {Rows}x{Columns} pixels";
    }

    private static void ReadHeader(ParserInput input, string name, Span<byte> header, int expectedMagic, string kind)
    {
        var got = input.ReadUpTo(header);
        if (got >= 4)
        {
            CheckMagic(name, header, expectedMagic, kind);
        }
        if (got == 0)
        {
            throw new DataFormatException(name, $"the file is empty; an IDX {kind} file starts with a {header.Length}-byte header", byteOffset: 0);
        }
        if (got < header.Length)
        {
            throw new DataFormatException(name,
                $"the file ends inside the IDX {kind} header: expected {header.Length} header bytes but only {got} arrived; the data ends at byte offset {got}{OffsetNote(input)}",
                byteOffset: got);
        }
    }

    private static void CheckMagic(string name, ReadOnlySpan<byte> header, int expectedMagic, string kind)
    {
        var magic = BinaryPrimitives.ReadUInt32BigEndian(header);
        if (magic == (uint)expectedMagic)
        {
            return;
        }
        var expectedDims = expectedMagic & 0xFF;
        var expected = $"0x{expectedMagic:X8} (unsigned bytes, {expectedDims} dimension{(expectedDims == 1 ? "" : "s")})";
        var found = $"0x{magic:X8}";
        if (header[0] == 0 && header[1] == 0 && header[2] == UnsignedByteType)
        {
            var dims = header[3];
            var swapped = (kind, dims) switch
            {
                ("images", 1) => "; this looks like an IDX labels file: were the images and labels files swapped?",
                ("labels", 3) => "; this looks like an IDX images file: were the images and labels files swapped?",
                _ => "",
            };
            throw new DataFormatException(name,
                $"wrong dimension count: the IDX header (magic {found}) declares {dims} dimension{(dims == 1 ? "" : "s")}, but an IDX {kind} file has {expectedDims}, magic {expected}{swapped}",
                byteOffset: 3);
        }
        if (header[0] == 0 && header[1] == 0 && TypeName(header[2]) is { } typeName)
        {
            throw new DataFormatException(name,
                $"magic number {found} declares {typeName} values; only unsigned bytes are supported, magic {expected}",
                byteOffset: 0);
        }
        var hint = header[0] == (byte)'P' && header[1] == (byte)'K'
            ? "; it looks like a ZIP archive: upload the IDX file itself (plain or gzipped)"
            : IsPrintable(header[..4]) ? $"; it starts with the text '{System.Text.Encoding.ASCII.GetString(header[..4])}', so it is probably not an IDX file" : "";
        throw new DataFormatException(name,
            $"not an IDX {kind} file: found magic number {found} where {expected} was expected{hint}",
            byteOffset: 0);
    }

    private static void FillPixels(ParserInput input, string name, IdxShape shape, Span<float> destination, byte[] scratch, CancellationToken cancellationToken)
    {
        var table = PixelValues;
        while (!destination.IsEmpty)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var n = input.Read(scratch.AsSpan(0, Math.Min(scratch.Length, destination.Length)));
            if (n == 0)
            {
                var arrived = input.Position - ImagesHeaderBytes;
                throw new DataFormatException(name,
                    $"the image data is truncated: the header declares {shape.Describe()} ({shape.TotalPixels} bytes after the {ImagesHeaderBytes}-byte header) "
                    + $"but only {arrived} bytes arrived ({arrived / shape.PixelsPerImage} whole images); the data ends at byte offset {input.Position}{OffsetNote(input)}",
                    byteOffset: input.Position);
            }
            for (var i = 0; i < n; i++)
            {
                destination[i] = table[scratch[i]];
            }
            destination = destination[n..];
        }
    }

    /// <summary>Reads the labels of rows [<paramref name="start"/>, start + target.Length) as their byte values.</summary>
    private static void FillLabels(ParserInput input, string name, int count, int start, long?[] target, byte[] scratch)
    {
        var filled = 0;
        while (filled < target.Length)
        {
            var n = input.Read(scratch.AsSpan(0, Math.Min(scratch.Length, target.Length - filled)));
            if (n == 0)
            {
                throw TruncatedLabels(name, count, start + filled, input.Position, input);
            }
            for (var i = 0; i < n; i++)
            {
                target[filled + i] = scratch[i];
            }
            filled += n;
        }
    }

    /// <summary>Replaces each label byte by its index among the values that occur (sorted) and returns their names.</summary>
    private static string[] MapClasses(long[] labels)
    {
        Span<bool> present = stackalloc bool[256];
        foreach (var value in labels)
        {
            present[(int)value] = true;
        }
        Span<int> index = stackalloc int[256];
        var classes = new List<string>();
        for (var value = 0; value < 256; value++)
        {
            if (present[value])
            {
                index[value] = classes.Count;
                classes.Add(value.ToString(CultureInfo.InvariantCulture));
            }
        }
        for (var i = 0; i < labels.Length; i++)
        {
            labels[i] = index[(int)labels[i]];
        }
        return [.. classes];
    }

    private static string OffsetNote(ParserInput input) => input.IsGzip ? " of the decompressed data" : "";

    private static string? TypeName(byte type) => type switch
    {
        0x09 => "signed byte",
        0x0B => "16-bit integer",
        0x0C => "32-bit integer",
        0x0D => "32-bit float",
        0x0E => "64-bit float",
        _ => null,
    };

    private static bool IsPrintable(ReadOnlySpan<byte> bytes)
    {
        foreach (var b in bytes)
        {
            if (b is < 0x20 or > 0x7E)
            {
                return false;
            }
        }
        return true;
    }

    private static float[] CreatePixelValues()
    {
        var values = new float[256];
        for (var v = 0; v < values.Length; v++)
        {
            values[v] = v / 255f;
        }
        return values;
    }
}
