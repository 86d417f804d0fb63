using SkiaSharp;

namespace BigDataAI.Labeling.Augmentation;

/// <summary>One image's random transform: a rotation about the centre, an integer shift and Gaussian noise.</summary>
/// <param name="Degrees">Counter-clockwise as the image is shown (rows top to bottom).</param>
/// <param name="ShiftX">Columns to the right.</param>
/// <param name="ShiftY">Rows down.</param>
/// <param name="NoiseStddev">Of the value range (the 0-1 pixel scale): 0.05 on 0-255 pixels is 12.75.</param>
internal readonly record struct ImageTransform(double Degrees, int ShiftX, int ShiftY, double NoiseStddev)
{
    /// <summary>A transform drawn from the recipe's bounds.</summary>
    public static ImageTransform Draw(SeededRandom random, double maxDegrees, int maxShift, double noiseStddev) =>
        new((2 * random.NextDouble() - 1) * maxDegrees, random.NextSymmetric(maxShift), random.NextSymmetric(maxShift), noiseStddev);
}

/// <summary>
/// Image augmentation, pure and seeded: pixels as floats in row-major [height, width, channels] order, rotated with
/// bilinear sampling (what falls outside the source is 0), shifted by whole pixels, given Gaussian noise, and clamped to
/// the source's value range. Encoded images (PNG, JPEG, ... in a binary column) are decoded and encoded again with
/// SkiaSharp in their own format.
/// </summary>
internal static class ImageAugmenter
{
    /// <summary>
    /// Writes the transformed <paramref name="source"/> ([<paramref name="height"/>, <paramref name="width"/>,
    /// <paramref name="channels"/>]) to <paramref name="target"/>; noise comes from <paramref name="random"/>.
    /// </summary>
    public static void Transform(ReadOnlySpan<float> source, Span<float> target, int height, int width, int channels,
        ImageTransform transform, float min, float max, SeededRandom random)
    {
        var size = checked(height * width * channels);
        if (source.Length != size || target.Length != size)
        {
            throw new ArgumentException($"An image of {height}x{width}x{channels} has {size} values; got {source.Length} and {target.Length}.");
        }
        var radians = transform.Degrees * Math.PI / 180;
        var (sin, cos) = Math.SinCos(radians);
        var cx = (width - 1) / 2.0;
        var cy = (height - 1) / 2.0;
        var sigma = transform.NoiseStddev * (max - min);
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                // Inverse mapping: the output pixel takes the source point that the shift and the rotation carry onto it.
                var u = x - transform.ShiftX - cx;
                var v = y - transform.ShiftY - cy;
                var sx = u * cos - v * sin + cx;
                var sy = u * sin + v * cos + cy;
                var x0 = (int)Math.Floor(sx);
                var y0 = (int)Math.Floor(sy);
                var fx = sx - x0;
                var fy = sy - y0;
                for (var c = 0; c < channels; c++)
                {
                    var value = (1 - fx) * (1 - fy) * At(source, x0, y0, c, height, width, channels)
                        + fx * (1 - fy) * At(source, x0 + 1, y0, c, height, width, channels)
                        + (1 - fx) * fy * At(source, x0, y0 + 1, c, height, width, channels)
                        + fx * fy * At(source, x0 + 1, y0 + 1, c, height, width, channels);
                    if (sigma > 0)
                    {
                        value += sigma * random.NextGaussian();
                    }
                    target[(y * width + x) * channels + c] = (float)Math.Clamp(value, min, max);
                }
            }
        }
    }

    private static double At(ReadOnlySpan<float> source, int x, int y, int c, int height, int width, int channels) =>
        x < 0 || y < 0 || x >= width || y >= height ? 0 : source[(y * width + x) * channels + c];

    /// <summary>Height, width and channels of a tensor column's shape when it is an image: [H, W] or [H, W, C] with C of 1-4.</summary>
    public static (int Height, int Width, int Channels)? ImageShape(int[]? shape) => shape switch
    {
        [var h, var w] when h > 1 && w > 1 => (h, w, 1),
        [var h, var w, var c] when h > 1 && w > 1 && c is >= 1 and <= 4 => (h, w, c),
        _ => null,
    };

    /// <summary>
    /// Decodes <paramref name="encoded"/>, transforms it (value range 0-255) and encodes it in its own format (PNG when
    /// SkiaSharp cannot write that format). Grey images stay grey. An undecodable image is an <see cref="InvalidDataException"/>.
    /// </summary>
    public static byte[] TransformEncoded(byte[] encoded, ImageTransform transform, SeededRandom random, string column, long row)
    {
        using var data = SKData.CreateCopy(encoded);
        using var codec = SKCodec.Create(data)
            ?? throw new InvalidDataException($"Column '{column}', row {row}: the bytes are no image SkiaSharp can decode.");
        var gray = codec.Info.ColorType is SKColorType.Gray8;
        var channels = gray ? 1 : 4;
        var info = new SKImageInfo(codec.Info.Width, codec.Info.Height, gray ? SKColorType.Gray8 : SKColorType.Rgba8888, gray ? SKAlphaType.Opaque : SKAlphaType.Unpremul);
        using var bitmap = new SKBitmap(info);
        var result = codec.GetPixels(info, bitmap.GetPixels());
        if (result is not (SKCodecResult.Success or SKCodecResult.IncompleteInput))
        {
            throw new InvalidDataException($"Column '{column}', row {row}: the image does not decode ({result}).");
        }
        var bytes = bitmap.GetPixelSpan();
        var height = info.Height;
        var width = info.Width;
        var rowBytes = bitmap.RowBytes;
        var pixels = new float[height * width * channels];
        for (var y = 0; y < height; y++)
        {
            for (var i = 0; i < width * channels; i++)
            {
                pixels[y * width * channels + i] = bytes[y * rowBytes + i];
            }
        }
        var transformed = new float[pixels.Length];
        Transform(pixels, transformed, height, width, channels, transform, 0, 255, random);
        using var output = new SKBitmap(info);
        var targetRowBytes = output.RowBytes;
        var target = new byte[targetRowBytes * height];
        for (var y = 0; y < height; y++)
        {
            for (var i = 0; i < width * channels; i++)
            {
                target[y * targetRowBytes + i] = (byte)Math.Round(transformed[y * width * channels + i]);
            }
        }
        System.Runtime.InteropServices.Marshal.Copy(target, 0, output.GetPixels(), target.Length);
        var format = codec.EncodedFormat is SKEncodedImageFormat.Jpeg or SKEncodedImageFormat.Webp ? codec.EncodedFormat : SKEncodedImageFormat.Png;
        using var image = SKImage.FromBitmap(output);
        using var encodedOutput = image.Encode(format, 95)
            ?? throw new InvalidDataException($"Column '{column}', row {row}: SkiaSharp could not encode the augmented image as {format}.");
        return encodedOutput.ToArray();
    }
}
