using System.Buffers.Binary;
using System.IO.Compression;

namespace BigDataAI.IntegrationTests.EndToEnd;

/// <summary>
/// The shipped sample (samples/mnist: 10,000 digits as gzipped IDX files), read here independently of the
/// ingestion service's parser so predictions are checked against the file itself.
/// </summary>
internal sealed class MnistSample
{
    public const int Pixels = 28 * 28;

    private MnistSample(string images, string labels, byte[] pixels, byte[] labelBytes)
    {
        ImagesPath = images;
        LabelsPath = labels;
        _pixels = pixels;
        _labels = labelBytes;
    }

    private readonly byte[] _pixels;
    private readonly byte[] _labels;

    public string ImagesPath { get; }
    public string LabelsPath { get; }
    public int Rows => _labels.Length;

    public static MnistSample Load()
    {
        var folder = Path.Combine(HostBuilds.RepositoryRoot(), "samples", "mnist");
        var images = Path.Combine(folder, "images.idx3-ubyte.gz");
        var labels = Path.Combine(folder, "labels.idx1-ubyte.gz");
        var imageData = Gunzip(images);
        var labelData = Gunzip(labels);
        Assert.Equal(0x803, BinaryPrimitives.ReadInt32BigEndian(imageData));
        Assert.Equal(0x801, BinaryPrimitives.ReadInt32BigEndian(labelData));
        var count = BinaryPrimitives.ReadInt32BigEndian(imageData.AsSpan(4));
        Assert.Equal(count, BinaryPrimitives.ReadInt32BigEndian(labelData.AsSpan(4)));
        Assert.Equal(28, BinaryPrimitives.ReadInt32BigEndian(imageData.AsSpan(8)));
        Assert.Equal(28, BinaryPrimitives.ReadInt32BigEndian(imageData.AsSpan(12)));
        Assert.Equal(16 + (long)count * Pixels, imageData.Length);
        Assert.Equal(8 + count, labelData.Length);
        return new MnistSample(images, labels, imageData[16..], labelData[8..]);
    }

    /// <summary>Row <paramref name="row"/>'s pixels scaled to [0, 1] (as ingestion stores them: v / 255).</summary>
    public float[] Features(int row)
    {
        var features = new float[Pixels];
        var pixels = _pixels.AsSpan(row * Pixels, Pixels);
        for (var i = 0; i < Pixels; i++)
        {
            features[i] = pixels[i] / 255f;
        }
        return features;
    }

    /// <summary>Row <paramref name="row"/>'s digit.</summary>
    public int Label(int row) => _labels[row];

    /// <summary>Row <paramref name="row"/> as a grayscale PNG file (lossless: decoding it gives the IDX pixels back).</summary>
    public byte[] Png(int row)
    {
        using var bitmap = new SkiaSharp.SKBitmap(new SkiaSharp.SKImageInfo(28, 28, SkiaSharp.SKColorType.Gray8, SkiaSharp.SKAlphaType.Opaque));
        _pixels.AsSpan(row * Pixels, Pixels).CopyTo(bitmap.GetPixelSpan());
        using var data = bitmap.Encode(SkiaSharp.SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    /// <summary>A zip of the first <paramref name="rows"/> digits as PNG files in class folders: <c>digits/7/00012.png</c>.</summary>
    public void WritePngZip(string path, int rows)
    {
        using var file = File.Create(path);
        using var zip = new ZipArchive(file, ZipArchiveMode.Create);
        for (var r = 0; r < rows; r++)
        {
            var entry = zip.CreateEntry($"digits/{Label(r)}/{r:D5}.png", CompressionLevel.Fastest);
            using var stream = entry.Open();
            stream.Write(Png(r));
        }
    }

    private static byte[] Gunzip(string path)
    {
        using var file = File.OpenRead(path);
        using var gzip = new GZipStream(file, CompressionMode.Decompress);
        using var memory = new MemoryStream();
        gzip.CopyTo(memory);
        return memory.ToArray();
    }
}
