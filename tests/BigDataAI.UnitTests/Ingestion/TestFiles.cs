using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using System.Text;

namespace BigDataAI.UnitTests.Ingestion;

/// <summary>Writes valid (and deliberately broken) IDX and CSV files as bytes, plain or gzipped.</summary>
internal static class TestFiles
{
    /// <summary>The deterministic pixel value the image writer puts at <paramref name="index"/> of image <paramref name="image"/>.</summary>
    public static byte Pixel(int image, int index) => (byte)((image * 31 + index * 7 + (index >> 3)) % 256);

    public static byte[] IdxHeader(uint magic, params uint[] dims)
    {
        var header = new byte[4 + 4 * dims.Length];
        BinaryPrimitives.WriteUInt32BigEndian(header, magic);
        for (var i = 0; i < dims.Length; i++)
        {
            BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4 + 4 * i), dims[i]);
        }
        return header;
    }

    /// <summary>A valid IDX images file whose pixels are <see cref="Pixel"/>.</summary>
    public static byte[] IdxImages(int count, int rows, int columns)
    {
        var header = IdxHeader(0x803, (uint)count, (uint)rows, (uint)columns);
        var pixels = rows * columns;
        var file = new byte[header.Length + (long)count * pixels];
        header.CopyTo(file, 0);
        for (var image = 0; image < count; image++)
        {
            for (var p = 0; p < pixels; p++)
            {
                file[header.Length + (long)image * pixels + p] = Pixel(image, p);
            }
        }
        return file;
    }

    public static byte[] IdxLabels(params byte[] labels) => [.. IdxHeader(0x801, (uint)labels.Length), .. labels];

    public static byte[] Gzip(byte[] data)
    {
        var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(data);
        }
        return output.ToArray();
    }

    public static MemoryStream Stream(byte[] data) => new(data, writable: false);

    public static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    /// <summary>A CSV of <paramref name="rows"/> x <paramref name="features"/> MNIST-like values ("0" or 3 decimals) and a digit label.</summary>
    public static (byte[] Csv, float[] Features, byte[] Labels) MnistLikeCsv(int rows, int features, int seed)
    {
        var random = new Random(seed);
        var expected = new float[rows * features];
        var labels = new byte[rows];
        var text = new StringBuilder(rows * features * 3);
        for (var f = 0; f < features; f++)
        {
            text.Append("px").Append(f).Append(',');
        }
        text.Append("label\n");
        for (var r = 0; r < rows; r++)
        {
            for (var f = 0; f < features; f++)
            {
                string cell;
                if (random.Next(4) == 0)
                {
                    var value = random.Next(1, 1001) / 1000.0;
                    cell = value.ToString("0.###", CultureInfo.InvariantCulture);
                }
                else
                {
                    cell = "0";
                }
                expected[r * features + f] = float.Parse(cell, CultureInfo.InvariantCulture);
                text.Append(cell).Append(',');
            }
            labels[r] = (byte)random.Next(10);
            text.Append(labels[r]).Append('\n');
        }
        return (Utf8(text.ToString()), expected, labels);
    }
}

/// <summary>A non-seekable stream that hands out at most a few bytes per read, to exercise every buffer boundary.</summary>
internal sealed class TrickleStream(byte[] data, int maxRead) : Stream
{
    private int _position;

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var n = Math.Min(Math.Min(buffer.Length, maxRead), data.Length - _position);
        data.AsSpan(_position, n).CopyTo(buffer);
        _position += n;
        return n;
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
