using BigDataAI.Datasets;
using System.Buffers.Binary;
using System.Globalization;

namespace BigDataAI.Ingestion.Parsing;

/// <summary>
/// Reads an IDX image file and its IDX label file (the MNIST format: big-endian header, unsigned bytes), each
/// optionally gzipped (recognised by magic bytes, not by name), into a <see cref="DatasetTable"/>.
/// </summary>
/// <remarks>
/// <para>Images: magic 0x00000803, then image count, rows, columns (uint32 each), then count*rows*columns pixel bytes.
/// Labels: magic 0x00000801, then the count, then one byte per label. Nothing may follow the declared data.</para>
/// <para>Pixels become <c>v / 255f</c>. Feature names are "px0".."px{rows*columns-1}" in row-major order. Classes
/// are the label values that occur, sorted numerically, as strings; each row's label is the index of its value
/// there (MNIST: "0".."9"; a value that never occurs is not a class, so with no 3s, "4" is class 3).</para>
/// <para>Errors carry byte offsets. For gzipped files they count decompressed bytes, except for errors about
/// the gzip stream itself.</para>
/// <para>Memory: the result is allocated once when its size is known to be real (the header's size is at most
/// 64 M values, or the file is uncompressed and long enough); otherwise pixels are collected in 4 MB chunks as they
/// arrive, so a header that lies about its size cannot make the parser allocate more than the data that arrived.</para>
/// </remarks>
public static class IdxParser
{
    public const int ImagesMagic = 0x00000803;
    public const int LabelsMagic = 0x00000801;

    private const int ImagesHeaderBytes = 16;
    private const int LabelsHeaderBytes = 8;
    private const byte UnsignedByteType = 0x08;
    private const int ScratchBytes = 64 * 1024;

    /// <summary>Above this many values, and unless the file length proves the data is there, grow as data arrives.</summary>
    internal const long ExactAllocationLimit = 64L * 1024 * 1024;

    private static readonly float[] PixelValues = CreatePixelValues();

    public static DatasetTable Parse(Stream images, string imagesName, Stream labels, string labelsName, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(imagesName);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(labelsName);

        using var imageInput = ParserInput.Open(images, imagesName);
        using var labelInput = ParserInput.Open(labels, labelsName);

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

        var shape = new IdxShape((int)count, (int)rows, (int)columns);
        var scratch = new byte[ScratchBytes];
        var features = ReadPixels(imageInput, imagesName, shape, scratch, cancellationToken);
        var extraImageBytes = imageInput.Drain(cancellationToken);
        if (extraImageBytes > 0)
        {
            var end = ImagesHeaderBytes + shape.TotalPixels;
            throw new DataFormatException(imagesName,
                $"{extraImageBytes} unexpected bytes after the last image: the header declares {shape.Describe()}, so the data should end at byte offset {end}{OffsetNote(imageInput)}; "
                + "remove the extra bytes or correct the image count",
                byteOffset: end);
        }

        var labelValues = ReadLabels(labelInput, labelsName, shape.Count, scratch, cancellationToken);
        var extraLabelBytes = labelInput.Drain(cancellationToken);
        if (extraLabelBytes > 0)
        {
            var end = LabelsHeaderBytes + (long)shape.Count;
            throw new DataFormatException(labelsName,
                $"{extraLabelBytes} unexpected bytes after the last label: the header declares {shape.Count} labels, so the data should end at byte offset {end}{OffsetNote(labelInput)}; "
                + "remove the extra bytes or correct the label count",
                byteOffset: end);
        }

        var classes = MapClasses(labelValues);
        var featureNames = new string[shape.PixelsPerImage];
        for (var i = 0; i < featureNames.Length; i++)
        {
            featureNames[i] = string.Create(CultureInfo.InvariantCulture, $"px{i}");
        }
        return new DatasetTable(features, labelValues, shape.PixelsPerImage, [shape.Rows, shape.Columns], classes, featureNames);
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

    private static float[] ReadPixels(ParserInput input, string name, IdxShape shape, byte[] scratch, CancellationToken cancellationToken)
    {
        var total = shape.TotalPixels;
        if (total <= ExactAllocationLimit || input.KnowsRemainingLength && input.RemainingLength >= total)
        {
            var features = GC.AllocateUninitializedArray<float>((int)total);
            FillPixels(input, name, shape, features, scratch, cancellationToken);
            return features;
        }
        var buffer = new FloatRowBuffer(shape.PixelsPerImage);
        while (buffer.Rows < shape.Count)
        {
            var span = buffer.AppendRows(shape.Count - buffer.Rows, out _);
            FillPixels(input, name, shape, span, scratch, cancellationToken);
        }
        return buffer.ToArray();
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

    private static long[] ReadLabels(ParserInput input, string name, int count, byte[] scratch, CancellationToken cancellationToken)
    {
        var labels = new long[count];
        var filled = 0;
        while (filled < count)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var n = input.Read(scratch.AsSpan(0, Math.Min(scratch.Length, count - filled)));
            if (n == 0)
            {
                throw new DataFormatException(name,
                    $"the label data is truncated: the header declares {count} labels but only {filled} arrived; the data ends at byte offset {input.Position}{OffsetNote(input)}",
                    byteOffset: input.Position);
            }
            for (var i = 0; i < n; i++)
            {
                labels[filled + i] = scratch[i];
            }
            filled += n;
        }
        return labels;
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
