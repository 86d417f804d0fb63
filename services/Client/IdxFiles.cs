using System.Buffers.Binary;
using System.IO.Compression;

namespace BigDataAI.Client;

/// <summary>
/// Reads MNIST-style IDX files (images 0x803, labels 0x801, gzipped or not) on the client, to send their rows to
/// Predict as dense inputs. The service's own parser checks uploads far more strictly; this reader only needs files
/// that are whole.
/// </summary>
public sealed class IdxFiles
{
    private IdxFiles(byte[] pixels, byte[] labels, int height, int width)
    {
        _pixels = pixels;
        _labels = labels;
        Height = height;
        Width = width;
    }

    private readonly byte[] _pixels;
    private readonly byte[] _labels;

    public int Rows => _labels.Length;
    public int Height { get; }
    public int Width { get; }

    /// <summary>Reads both files whole. Throws <see cref="InvalidDataException"/> naming the file when it is not IDX or the two disagree.</summary>
    public static IdxFiles Read(string imagesPath, string labelsPath)
    {
        var images = ReadAll(imagesPath);
        var labels = ReadAll(labelsPath);
        if (images.Length < 16 || BinaryPrimitives.ReadInt32BigEndian(images) != 0x803)
        {
            throw new InvalidDataException($"{imagesPath} is not an IDX image file (magic 0x803).");
        }
        if (labels.Length < 8 || BinaryPrimitives.ReadInt32BigEndian(labels) != 0x801)
        {
            throw new InvalidDataException($"{labelsPath} is not an IDX label file (magic 0x801).");
        }
        var count = BinaryPrimitives.ReadInt32BigEndian(images.AsSpan(4));
        var (height, width) = (BinaryPrimitives.ReadInt32BigEndian(images.AsSpan(8)), BinaryPrimitives.ReadInt32BigEndian(images.AsSpan(12)));
        if (images.Length != 16 + (long)count * height * width || labels.Length != 8 + count || BinaryPrimitives.ReadInt32BigEndian(labels.AsSpan(4)) != count)
        {
            throw new InvalidDataException($"{imagesPath} and {labelsPath} do not hold {count} whole images and labels.");
        }
        return new IdxFiles(images[16..], labels[8..], height, width);
    }

    /// <summary>Row <paramref name="row"/>'s pixels scaled to [0, 1], as ingestion stores them.</summary>
    public float[] Pixels(int row)
    {
        var size = Height * Width;
        return [.. _pixels.AsSpan(row * size, size).ToArray().Select(p => p / 255f)];
    }

    /// <summary>Row <paramref name="row"/>'s label, as its class name.</summary>
    public string Label(int row) => _labels[row].ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static byte[] ReadAll(string path)
    {
        using var file = File.OpenRead(path);
        Span<byte> magic = stackalloc byte[2];
        var gzip = file.Read(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
        file.Position = 0;
        using Stream stream = gzip ? new GZipStream(file, CompressionMode.Decompress) : file;
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        return memory.ToArray();
    }
}
