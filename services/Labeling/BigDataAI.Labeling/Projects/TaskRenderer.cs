using BigDataAI.Datasets;
using BigDataAI.Protos.Labeling.V1;
using Google.Protobuf;
using SkiaSharp;

namespace BigDataAI.Labeling.Projects;

/// <summary>
/// Shows a row to a person: its cells as text, its image bytes as they are, and an image-shaped tensor (IDX pixels
/// [28x28], [H x W x 1|3]) as a PNG. Reads one shard at a time and keeps the few most recently used ones, so paging
/// through 100,000 tasks reads each shard once and never holds the whole version.
/// </summary>
public sealed class TaskRenderer(DatasetStore datasets)
{
    private const int CachedShards = 8;
    private readonly LinkedList<(string Key, Table Table, Dictionary<long, int> Index)> _cache = new();
    private readonly SemaphoreSlim _lock = new(1, 1);

    /// <summary>Columns never shown: the platform's own.</summary>
    public static bool IsPlatformColumn(string name) => name == DatasetSchema.RowColumn || name.StartsWith("_label_", StringComparison.Ordinal);

    public async Task<(Table Table, int Index)> RowAsync(DatasetManifest manifest, int shard, long row, CancellationToken cancellationToken)
    {
        var key = $"{manifest.Dataset}/{manifest.Version}/{shard}";
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            for (var node = _cache.First; node is not null; node = node.Next)
            {
                if (node.Value.Key == key)
                {
                    _cache.Remove(node);
                    _cache.AddFirst(node);
                    return (node.Value.Table, node.Value.Index.TryGetValue(row, out var found) ? found : throw Missing(manifest, row));
                }
            }
            var table = await datasets.ReadShardAsync(manifest, shard, cancellationToken).ConfigureAwait(false);
            var index = new Dictionary<long, int>(table.Rows);
            for (var i = 0; i < table.Rows; i++)
            {
                index[table.RowIds[i]] = i;
            }
            _cache.AddFirst((key, table, index));
            while (_cache.Count > CachedShards)
            {
                _cache.RemoveLast();
            }
            return (table, index.TryGetValue(row, out var at) ? at : throw Missing(manifest, row));
        }
        finally
        {
            _lock.Release();
        }
    }

    private static InvalidDataException Missing(DatasetManifest manifest, long row) =>
        new($"Row {row} is not in its shard of dataset '{manifest.Dataset}' v{manifest.Version}.");

    public static IEnumerable<Cell> Cells(Table table, int index)
    {
        foreach (var column in table.Columns)
        {
            var schema = column.Schema;
            if (IsPlatformColumn(schema.Name) || schema.Role == ColumnRole.Label)
            {
                continue;
            }
            var cell = new Cell { Column = schema.Name };
            switch (schema.Type)
            {
                case ColumnType.Binary:
                    if (((byte[]?[])column.Values)[index] is { } bytes)
                    {
                        if (MediaType(bytes) is { } media)
                        {
                            cell.Image = ByteString.CopyFrom(bytes);
                            cell.MediaType = media;
                        }
                        else
                        {
                            cell.Text = $"<{bytes.Length} bytes>";
                        }
                    }
                    break;
                case ColumnType.Tensor when ImageShape(schema.Shape) is { } shape:
                    cell.Image = ByteString.CopyFrom(Png((float[])column.Values, index * schema.Width, shape.Height, shape.Width, shape.Channels));
                    cell.MediaType = "image/png";
                    break;
                default:
                    cell.Text = column.Format(index) ?? "";
                    break;
            }
            yield return cell;
        }
    }

    public static string? MediaType(ReadOnlySpan<byte> bytes) => bytes switch
    {
        [0x89, 0x50, 0x4E, 0x47, ..] => "image/png",
        [0xFF, 0xD8, 0xFF, ..] => "image/jpeg",
        [0x47, 0x49, 0x46, 0x38, ..] => "image/gif",
        [0x42, 0x4D, ..] => "image/bmp",
        [0x52, 0x49, 0x46, 0x46, _, _, _, _, 0x57, 0x45, 0x42, 0x50, ..] => "image/webp",
        _ => null,
    };

    private static (int Height, int Width, int Channels)? ImageShape(int[]? shape) => shape switch
    {
        [var h, var w] when h is >= 2 and <= 1024 && w is >= 2 and <= 1024 => (h, w, 1),
        [var h, var w, var c] when h is >= 2 and <= 1024 && w is >= 2 and <= 1024 && c is 1 or 3 => (h, w, c),
        _ => null,
    };

    /// <summary>The tensor's pixels scaled from their own min-max range to 0-255, as a PNG.</summary>
    private static byte[] Png(float[] values, int offset, int height, int width, int channels)
    {
        var count = height * width * channels;
        var min = float.MaxValue;
        var max = float.MinValue;
        for (var i = 0; i < count; i++)
        {
            var v = values[offset + i];
            min = Math.Min(min, v);
            max = Math.Max(max, v);
        }
        // Pixels already in [0, 1] (IDX) or [0, 255] keep their brightness; other ranges are stretched.
        if (min >= 0 && max <= 1)
        {
            (min, max) = (0, 1);
        }
        else if (min >= 0 && max <= 255)
        {
            (min, max) = (0, 255);
        }
        var scale = max > min ? 255f / (max - min) : 0f;
        using var bitmap = new SKBitmap(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                var p = offset + ((y * width) + x) * channels;
                byte Channel(int c) => (byte)Math.Clamp((values[p + c] - min) * scale, 0, 255);
                var color = channels == 3 ? new SKColor(Channel(0), Channel(1), Channel(2)) : new SKColor(Channel(0), Channel(0), Channel(0));
                bitmap.SetPixel(x, y, color);
            }
        }
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }
}
