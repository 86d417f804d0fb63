using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using BigDataAI.Client;
using BigDataAI.Protos.Ingestion.V1;
using Google.Protobuf;
using Grpc.Core;
using Parquet;
using Parquet.Schema;
using IngestionClient = BigDataAI.Protos.Ingestion.V1.IngestionService.IngestionServiceClient;

namespace BigDataAI.IntegrationTests.Services;

/// <summary>
/// Tiny, easily separable synthetic data in the upload formats: 28x28 "images" of three patterns (top half bright,
/// left half bright, a centre square bright) over dim noise, written as IDX (magic 0x803 / 0x801, big-endian) or CSV;
/// and small tables as CSV, JSON Lines or Parquet.
/// </summary>
internal static class TestData
{
    public const int Side = 28;
    public const int Pixels = Side * Side;
    public const int Classes = 3;

    /// <summary><paramref name="count"/> images, labels cycling 0,1,2 so every class has a third; the seed varies the noise.</summary>
    public static (byte[] Pixels, byte[] Labels) Digits(int count, int seed)
    {
        var random = new Random(seed);
        var pixels = new byte[count * Pixels];
        var labels = new byte[count];
        for (var i = 0; i < count; i++)
        {
            labels[i] = (byte)(i % Classes);
            Draw(labels[i], random, pixels.AsSpan(i * Pixels, Pixels));
        }
        return (pixels, labels);
    }

    /// <summary>One image of class <paramref name="label"/> as model input (pixels / 255), as ingestion stores it.</summary>
    public static float[] Features(int label, int seed)
    {
        Span<byte> image = stackalloc byte[Pixels];
        Draw(label, new Random(seed), image);
        var features = new float[Pixels];
        for (var i = 0; i < Pixels; i++)
        {
            features[i] = image[i] / 255f;
        }
        return features;
    }

    private static void Draw(int label, Random random, Span<byte> image)
    {
        for (var y = 0; y < Side; y++)
        {
            for (var x = 0; x < Side; x++)
            {
                var on = label switch
                {
                    0 => y < Side / 2,
                    1 => x < Side / 2,
                    _ => x is >= 7 and < 21 && y is >= 7 and < 21,
                };
                image[y * Side + x] = (byte)(on ? random.Next(180, 256) : random.Next(0, 50));
            }
        }
    }

    public static byte[] IdxImages(int count, int rows, int columns, ReadOnlySpan<byte> pixels, int magic = 0x803)
    {
        var bytes = new byte[16 + pixels.Length];
        BinaryPrimitives.WriteInt32BigEndian(bytes, magic);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4), count);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(8), rows);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(12), columns);
        pixels.CopyTo(bytes.AsSpan(16));
        return bytes;
    }

    public static byte[] IdxLabels(int count, ReadOnlySpan<byte> labels, int magic = 0x801)
    {
        var bytes = new byte[8 + labels.Length];
        BinaryPrimitives.WriteInt32BigEndian(bytes, magic);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4), count);
        labels.CopyTo(bytes.AsSpan(8));
        return bytes;
    }

    /// <summary>A well-formed IDX pair of <paramref name="count"/> images.</summary>
    public static (byte[] Images, byte[] Labels) Idx(int count, int seed)
    {
        var (pixels, labels) = Digits(count, seed);
        return (IdxImages(count, Side, Side, pixels), IdxLabels(count, labels));
    }

    /// <summary>A CSV with a header (px0..px{features-1}, label) and <paramref name="rows"/> rows of small integers.</summary>
    public static string Csv(int rows, int features = 4, string labelColumn = "label")
    {
        var text = new StringBuilder();
        text.AppendJoin(',', Enumerable.Range(0, features).Select(f => $"px{f}")).Append(',').Append(labelColumn).Append('\n');
        for (var r = 0; r < rows; r++)
        {
            text.AppendJoin(',', Enumerable.Range(0, features).Select(f => ((r * 7 + f) % 10).ToString(CultureInfo.InvariantCulture)));
            text.Append(',').Append(r % 2 == 0 ? "cat" : "dog").Append('\n');
        }
        return text.ToString();
    }

    /// <summary>Writes the IDX pair to two files in <paramref name="folder"/>; returns their paths.</summary>
    public static (string Images, string Labels) WriteIdx(string folder, string name, (byte[] Images, byte[] Labels) idx)
    {
        var images = Path.Combine(folder, name + "-images.idx3-ubyte");
        var labels = Path.Combine(folder, name + "-labels.idx1-ubyte");
        File.WriteAllBytes(images, idx.Images);
        File.WriteAllBytes(labels, idx.Labels);
        return (images, labels);
    }

    /// <summary>
    /// A Parquet file of <paramref name="fields"/>, written with Parquet.Net as the shards are (ParquetShards); each of
    /// <paramref name="groups"/> writes one row group, given the leaf fields. In memory, so waiting on it blocks nothing.
    /// </summary>
    public static byte[] Parquet(Field[] fields, params Func<ParquetRowGroupWriter, DataField[], Task>[] groups) =>
        WriteParquetAsync(fields, groups).GetAwaiter().GetResult();

    private static async Task<byte[]> WriteParquetAsync(Field[] fields, Func<ParquetRowGroupWriter, DataField[], Task>[] groups)
    {
        var schema = new ParquetSchema(fields);
        using var buffer = new MemoryStream();
        await using (var writer = await ParquetWriter.CreateAsync(schema, buffer))
        {
            var leaves = schema.GetDataFields();
            foreach (var group in groups)
            {
                using var rowGroup = writer.CreateRowGroup();
                await group(rowGroup, leaves);
            }
        }
        return buffer.ToArray();
    }

    public static UploadRequest Header(string dataset, DatasetFormat format, params string[] files) =>
        new() { Header = new UploadHeader { Dataset = dataset, Format = format, Files = { files } } };

    public static UploadRequest Chunk(string file, byte[] data) =>
        new() { Chunk = new FileChunk { File = file, Data = ByteString.CopyFrom(data) } };

    public static UploadRequest Chunk(string file, string text) => Chunk(file, Encoding.UTF8.GetBytes(text));

    /// <summary>
    /// Streams <paramref name="messages"/> as one Upload call and returns its reply. A server that rejects the upload
    /// early may end the call while messages are still being written: the write fails, and the call's status (read
    /// from the response) is what counts.
    /// </summary>
    public static async Task<UploadReply> UploadRawAsync(this IngestionClient client, IEnumerable<UploadRequest> messages)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var call = client.Upload(cancellationToken: timeout.Token);
        try
        {
            foreach (var message in messages)
            {
                await call.RequestStream.WriteAsync(message, timeout.Token);
            }
            await call.RequestStream.CompleteAsync();
        }
        catch (Exception e) when (e is RpcException or InvalidOperationException)
        {
            // The call is over already; its status comes from the response below.
        }
        return await call.ResponseAsync;
    }

    /// <summary>Uploads an IDX pair through the client's file helper.</summary>
    public static Task<UploadReply> UploadIdxAsync(this IngestionClient client, TempFolder folder, string dataset, (byte[] Images, byte[] Labels) idx)
    {
        var (images, labels) = WriteIdx(folder.Path, dataset + "-" + Guid.NewGuid().ToString("N")[..8], idx);
        return client.UploadIdxAsync(dataset, images, labels, source: "synthetic test patterns");
    }
}

/// <summary>A temporary folder, deleted on dispose.</summary>
internal sealed class TempFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("bigdataai-services-").FullName;

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
