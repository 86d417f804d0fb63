using BigDataAI.Protos.Ingestion.V1;
using Google.Protobuf;
using Grpc.Core;

namespace BigDataAI.Client;

/// <summary>Uploads files through the client-streaming Upload call, in chunks.</summary>
public static class IngestionClientExtensions
{
    public const int ChunkSize = 256 * 1024;

    /// <summary>Uploads MNIST-style IDX image and label files (gzipped or not) as a new version of <paramref name="dataset"/>.</summary>
    public static Task<UploadReply> UploadIdxAsync(this IngestionService.IngestionServiceClient client, string dataset, string imagesPath, string labelsPath, string? source = null, CancellationToken cancellationToken = default) =>
        client.UploadAsync(new UploadHeader { Dataset = dataset, Format = DatasetFormat.Idx, Source = source ?? "", Files = { "images", "labels" } },
            [("images", imagesPath), ("labels", labelsPath)], cancellationToken);

    /// <summary>
    /// Uploads a CSV file with a header row as a new version of <paramref name="dataset"/> (a TSV when
    /// <paramref name="format"/> says so); <paramref name="columns"/> override the roles and types the service infers.
    /// An empty <paramref name="labelColumn"/> means "label", and then a table without that column is stored unlabeled.
    /// </summary>
    public static Task<UploadReply> UploadCsvAsync(this IngestionService.IngestionServiceClient client, string dataset, string csvPath, string labelColumn = "", string? source = null,
        IEnumerable<ColumnOverride>? columns = null, DatasetFormat format = DatasetFormat.Csv, CancellationToken cancellationToken = default) =>
        client.UploadTableAsync(dataset, csvPath, format, labelColumn, source, columns, cancellationToken);

    /// <summary>
    /// Uploads one table file, role "data" (CSV, TSV, JSON Lines or Parquet, as <paramref name="format"/> says), as a new
    /// version of <paramref name="dataset"/>; <paramref name="columns"/> override the roles and types the service infers.
    /// An empty <paramref name="labelColumn"/> means "label", and then a table without that column is stored unlabeled.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="format"/> is not a one-file table format (IDX: <see cref="UploadIdxAsync"/>).</exception>
    public static Task<UploadReply> UploadTableAsync(this IngestionService.IngestionServiceClient client, string dataset, string path, DatasetFormat format, string labelColumn = "",
        string? source = null, IEnumerable<ColumnOverride>? columns = null, CancellationToken cancellationToken = default)
    {
        if (format is not (DatasetFormat.Csv or DatasetFormat.Tsv or DatasetFormat.Jsonl or DatasetFormat.Parquet))
        {
            throw new ArgumentException($"{format} is not a one-file table format; use CSV, TSV, JSONL or PARQUET (IDX: UploadIdxAsync).", nameof(format));
        }
        return client.UploadAsync(new UploadHeader { Dataset = dataset, Format = format, LabelColumn = labelColumn, Source = source ?? "", Files = { "data" }, Columns = { columns ?? [] } },
            [("data", path)], cancellationToken);
    }

    /// <summary>
    /// Sends <paramref name="header"/>, then each file's bytes as chunks tagged with its role. When the service ends
    /// the call before all bytes are sent (it refused the header, or the broker is down: UNAVAILABLE), the service's
    /// status is what the caller gets, not the failed write's.
    /// </summary>
    public static async Task<UploadReply> UploadAsync(this IngestionService.IngestionServiceClient client, UploadHeader header, IReadOnlyList<(string Role, string Path)> files, CancellationToken cancellationToken = default)
    {
        using var call = client.Upload(cancellationToken: cancellationToken);
        try
        {
            await call.RequestStream.WriteAsync(new UploadRequest { Header = header }, cancellationToken).ConfigureAwait(false);
            var buffer = new byte[ChunkSize];
            foreach (var (role, path) in files)
            {
                await using var file = File.OpenRead(path);
                int read;
                while ((read = await file.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
                {
                    await call.RequestStream.WriteAsync(new UploadRequest { Chunk = new FileChunk { File = role, Data = ByteString.CopyFrom(buffer, 0, read) } }, cancellationToken).ConfigureAwait(false);
                }
            }
            await call.RequestStream.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is RpcException or InvalidOperationException && !cancellationToken.IsCancellationRequested)
        {
            // The call is over already (the service answered early): its own status, read from the response, is the answer.
        }
        return await call.ResponseAsync.ConfigureAwait(false);
    }
}
