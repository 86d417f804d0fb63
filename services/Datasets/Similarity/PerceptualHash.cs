using System.Numerics;
using SkiaSharp;

namespace BigDataAI.Datasets.Similarity;

/// <summary>
/// A 64-bit difference hash (dHash) of an image: the image in gray is reduced to 9 x 8 cells by averaging the pixels
/// each cell covers (a box filter, so the result does not depend on a decoder's resampling), and bit (8y + x) is set
/// when cell (x, y) is brighter than cell (x + 1, y). Resizing, re-encoding and small brightness changes leave most bits
/// alone; near-duplicates are hashes a few bits apart (<see cref="Distance"/>, the Hamming distance).
/// </summary>
/// <remarks>
/// Encoded images (PNG, JPEG, WebP, GIF, BMP: what SkiaSharp decodes) and image tensors (a tensor column's row, shape
/// [height, width], [height, width, channels] with 1, 3 or 4 channels, or [channels, height, width] with 1 or 3) give the
/// same hash for the same pixels: both are reduced from a gray plane, gray = (R + G + B) / 3. Pixels may be in any
/// range (a tensor of 0-1 floats and the same picture as 0-255 bytes hash alike). An image smaller than 9 x 8 is
/// stretched (each cell then takes the nearest pixel's share).
/// </remarks>
public static class PerceptualHash
{
    public const int Bits = 64;
    private const int CellsX = 9;
    private const int CellsY = 8;

    /// <summary>The Hamming distance of two hashes: bits that differ (0-64).</summary>
    public static int Distance(ulong a, ulong b) => BitOperations.PopCount(a ^ b);

    /// <summary>The dHash of an encoded image, or null when SkiaSharp cannot decode the bytes.</summary>
    public static ulong? OfEncoded(ReadOnlySpan<byte> encoded)
    {
        using var data = SKData.CreateCopy(encoded);
        using var codec = SKCodec.Create(data);
        if (codec is null)
        {
            return null;
        }
        var info = new SKImageInfo(codec.Info.Width, codec.Info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var bitmap = new SKBitmap(info);
        var result = codec.GetPixels(info, bitmap.GetPixels());
        if (result is not (SKCodecResult.Success or SKCodecResult.IncompleteInput))
        {
            return null;
        }
        var bytes = bitmap.GetPixelSpan();
        var gray = new float[info.Width * info.Height];
        for (var i = 0; i < gray.Length; i++)
        {
            gray[i] = (bytes[4 * i] + bytes[4 * i + 1] + bytes[4 * i + 2]) / 3f;
        }
        return OfGray(gray, info.Width, info.Height);
    }

    /// <summary>The dHash of one image tensor of <paramref name="shape"/> (see the remarks for the layouts read).</summary>
    public static ulong OfTensor(ReadOnlySpan<float> values, IReadOnlyList<int> shape)
    {
        var (height, width, channels, channelsFirst) = Layout(shape);
        if (values.Length != height * width * channels)
        {
            throw new ArgumentException($"{values.Length} values for an image of shape [{string.Join(", ", shape)}].", nameof(values));
        }
        if (channels == 1)
        {
            return OfGray(values, width, height);
        }
        var gray = new float[width * height];
        for (var p = 0; p < gray.Length; p++)
        {
            float sum = 0;
            for (var c = 0; c < Math.Min(channels, 3); c++)
            {
                sum += channelsFirst ? values[c * gray.Length + p] : values[p * channels + c];
            }
            gray[p] = sum / Math.Min(channels, 3);
        }
        return OfGray(gray, width, height);
    }

    /// <summary>Whether a tensor of <paramref name="shape"/> can be read as an image (see the remarks).</summary>
    public static bool IsImageShape(IReadOnlyList<int>? shape)
    {
        if (shape is null)
        {
            return false;
        }
        try
        {
            Layout(shape);
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    /// <summary>The dHash of a gray plane of <paramref name="width"/> x <paramref name="height"/>, row-major.</summary>
    public static ulong OfGray(ReadOnlySpan<float> gray, int width, int height)
    {
        var cells = Reduce(gray, width, height, CellsX, CellsY);
        ulong hash = 0;
        for (var y = 0; y < CellsY; y++)
        {
            for (var x = 0; x < CellsX - 1; x++)
            {
                if (cells[y * CellsX + x] > cells[y * CellsX + x + 1])
                {
                    hash |= 1UL << (y * 8 + x);
                }
            }
        }
        return hash;
    }

    /// <summary>
    /// A gray plane averaged down to <paramref name="cellsX"/> x <paramref name="cellsY"/> cells: each cell is the mean
    /// of the source area it covers, pixels weighted by the fraction of them inside the cell.
    /// </summary>
    public static float[] Reduce(ReadOnlySpan<float> gray, int width, int height, int cellsX, int cellsY)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        if (gray.Length != width * height)
        {
            throw new ArgumentException($"{gray.Length} pixels for {width} x {height}.", nameof(gray));
        }
        var weightsX = Weights(width, cellsX);
        var weightsY = Weights(height, cellsY);
        var cells = new float[cellsX * cellsY];
        for (var cy = 0; cy < cellsY; cy++)
        {
            for (var cx = 0; cx < cellsX; cx++)
            {
                double sum = 0, weight = 0;
                foreach (var (py, wy) in weightsY[cy])
                {
                    foreach (var (px, wx) in weightsX[cx])
                    {
                        sum += gray[py * width + px] * wx * wy;
                        weight += wx * wy;
                    }
                }
                cells[cy * cellsX + cx] = (float)(sum / weight);
            }
        }
        return cells;
    }

    /// <summary>For each cell of <paramref name="cells"/> along an axis of <paramref name="pixels"/>: the pixels it covers and how much.</summary>
    private static List<(int Pixel, double Weight)>[] Weights(int pixels, int cells)
    {
        var result = new List<(int, double)>[cells];
        var scale = (double)pixels / cells;
        for (var c = 0; c < cells; c++)
        {
            result[c] = [];
            var from = c * scale;
            var to = (c + 1) * scale;
            for (var p = (int)Math.Floor(from); p < Math.Min(pixels, (int)Math.Ceiling(to)); p++)
            {
                var overlap = Math.Min(to, p + 1) - Math.Max(from, p);
                if (overlap > 1e-12)
                {
                    result[c].Add((p, overlap));
                }
            }
        }
        return result;
    }

    private static (int Height, int Width, int Channels, bool ChannelsFirst) Layout(IReadOnlyList<int> shape)
    {
        switch (shape.Count)
        {
            case 2 when shape[0] > 0 && shape[1] > 0:
                return (shape[0], shape[1], 1, false);
            case 3 when shape[2] is 1 or 3 or 4 && shape[0] > 4 && shape[1] > 4:
                return (shape[0], shape[1], shape[2], false);
            case 3 when shape[0] is 1 or 3 && shape[1] > 4 && shape[2] > 4:
                return (shape[1], shape[2], shape[0], true);
            default:
                throw new ArgumentException($"A tensor of shape [{string.Join(", ", shape)}] is not an image: use [height, width], [height, width, 1|3|4] or [1|3, height, width].", nameof(shape));
        }
    }
}
