using System.Diagnostics;
using BigDataAI.Contracts.Ingestion;
using BigDataAI.Datasets;
using BigDataAI.Ingestion.Parsing;
using BigDataAI.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace BigDataAI.Ingestion.Services;

/// <summary>The formats an upload may have and the files (by role) each needs.</summary>
public enum UploadFormat
{
    Idx,
    Csv,
    Tsv,
    Archive,
    Jsonl,
    Parquet,
}

/// <summary>A fully received upload: each declared file buffered at a local path, with the SHA-256 of all of it.</summary>
public sealed record ReceivedUpload(
    string Dataset,
    UploadFormat Format,
    IReadOnlyDictionary<string, string> Files,
    string LabelColumn,
    string? Description,
    string Sha256)
{
    /// <summary>Table formats (CSV, TSV, JSONL, Parquet): roles and types the upload declared, overriding inference.</summary>
    public IReadOnlyList<ColumnHint> Hints { get; init; } = [];

    /// <summary>Table formats: whether the label column was named explicitly (then a file without it is refused).</summary>
    public bool LabelNamed { get; init; }
}

public sealed record IngestResult(DatasetManifest Manifest, bool Deduplicated);

/// <summary>
/// Turns a received upload into a committed dataset version and announces it. Parsing errors surface as
/// <see cref="DataFormatException"/> before anything is written. An upload is refused up front while the broker is not
/// connected (UNAVAILABLE). If the broker goes away after the commit, the version stays committed and the call
/// succeeds: the announcement is logged as pending, and labeling's reconciler finds the unlabeled version by itself
/// (<c>Labeling:ReconcileInterval</c>).
/// </summary>
public sealed class DatasetIngestor(DatasetStore datasets, BoundedPublisher publisher, IOptions<IngestionOptions> options, ILogger<DatasetIngestor> logger)
{
    public static IReadOnlyList<string> RolesOf(UploadFormat format) => format switch
    {
        UploadFormat.Idx => ["images", "labels"],
        UploadFormat.Csv or UploadFormat.Tsv or UploadFormat.Jsonl or UploadFormat.Parquet => ["data"],
        UploadFormat.Archive => ["archive"],
        _ => throw new ArgumentOutOfRangeException(nameof(format)),
    };

    public async Task<IngestResult> IngestAsync(ReceivedUpload upload, CancellationToken cancellationToken)
    {
        using var activity = IngestionTelemetry.Source.StartActivity("ingest");
        activity?.SetTag("bigdataai.dataset", upload.Dataset);
        activity?.SetTag("bigdataai.source_sha256", upload.Sha256);

        var existing = await datasets.FindBySourceAsync(upload.Dataset, upload.Sha256, cancellationToken).ConfigureAwait(false);
        if (existing is not null)
        {
            logger.LogInformation("Upload to {Dataset} matches version {Version} (sha256 {Sha256}); nothing new stored",
                upload.Dataset, existing.Version, upload.Sha256);
            activity?.SetTag("bigdataai.dataset_version", existing.Version);
            // Announce again: the first announcement may have been lost in a crash; consumers are idempotent.
            await AnnounceAsync(existing, cancellationToken).ConfigureAwait(false);
            IngestionTelemetry.Uploads.Add(1, new KeyValuePair<string, object?>("outcome", "deduplicated"));
            return new IngestResult(existing, Deduplicated: true);
        }

        var started = Stopwatch.GetTimestamp();
        var table = await ParseAsync(upload, cancellationToken).ConfigureAwait(false);
        // Parsing may have taken a while: do not commit a version the broker cannot announce now.
        publisher.EnsureConnected();
        var source = new DatasetSource(upload.Format.ToString().ToLowerInvariant(), [.. upload.Files.Keys.Order(StringComparer.Ordinal)], upload.Sha256, upload.Description);
        var manifest = await datasets.CommitAsync(upload.Dataset, table, source, new DatasetLineage("ingest", source.Files), options.Value.RowsPerShard, cancellationToken).ConfigureAwait(false);
        activity?.SetTag("bigdataai.dataset_version", manifest.Version);
        logger.LogInformation("Committed {Dataset} v{Version}: {Rows} rows ({Unlabeled} unlabeled), columns {Columns}, {Classes} classes, {Shards} shards in {ElapsedMs} ms",
            manifest.Dataset, manifest.Version, manifest.Rows, manifest.UnlabeledRows,
            string.Join(", ", table.Schema.Columns.Select(c => $"{c.Name}:{c.TypeName}:{c.Role.ToString().ToLowerInvariant()}")), manifest.Classes.Length, manifest.Shards.Count,
            (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        IngestionTelemetry.Rows.Add(manifest.Rows);
        IngestionTelemetry.Uploads.Add(1, new KeyValuePair<string, object?>("outcome", "committed"));
        // Committed: announce it even if the caller has gone.
        await AnnounceAsync(manifest, CancellationToken.None).ConfigureAwait(false);
        return new IngestResult(manifest, Deduplicated: false);
    }

    /// <summary>The name of the tensor column an IDX upload's images are stored in.</summary>
    public const string IdxImageColumn = "pixels";

    private ArchiveLimits Limits => new(options.Value.MaxDecompressedBytes, options.Value.MaxArchiveEntries, options.Value.MaxCompressionRatio);

    private async Task<Table> ParseAsync(ReceivedUpload upload, CancellationToken cancellationToken)
    {
        switch (upload.Format)
        {
            case UploadFormat.Idx:
                using (var images = File.OpenRead(upload.Files["images"]))
                using (var labels = File.OpenRead(upload.Files["labels"]))
                {
                    // The images become one tensor column [rows, columns] of pixels in [0, 1]; the labels an int64 column.
                    return Table.FromDense(IdxParser.Parse(images, "images", labels, "labels", cancellationToken), IdxImageColumn, "label", labelsAsIntegers: true);
                }
            case UploadFormat.Csv or UploadFormat.Tsv:
                using (var data = File.OpenRead(upload.Files["data"]))
                {
                    return TableParser.Parse(data, "data", upload.Format == UploadFormat.Tsv ? '\t' : ',', upload.LabelColumn, upload.LabelNamed, upload.Hints, cancellationToken);
                }
            case UploadFormat.Archive:
                using (var archive = File.OpenRead(upload.Files["archive"]))
                {
                    return ArchiveParser.Parse(archive, "archive", Limits, cancellationToken);
                }
            case UploadFormat.Jsonl:
                using (var data = File.OpenRead(upload.Files["data"]))
                {
                    return JsonLinesParser.Parse(data, "data", upload.LabelColumn, upload.LabelNamed, upload.Hints, cancellationToken);
                }
            case UploadFormat.Parquet:
                await using (var data = File.OpenRead(upload.Files["data"]))
                {
                    return await ParquetTableParser.ParseAsync(data, "data", upload.LabelColumn, upload.LabelNamed, upload.Hints, cancellationToken).ConfigureAwait(false);
                }
            default:
                throw new ArgumentOutOfRangeException(nameof(upload), upload.Format, "Unknown upload format.");
        }
    }

    /// <summary>Publishes DatasetIngested within Messaging:PublishTimeout; a committed version is never failed for want of it.</summary>
    private async Task AnnounceAsync(DatasetManifest manifest, CancellationToken cancellationToken)
    {
        try
        {
            await publisher.PublishAsync(new DatasetIngested(manifest.Dataset, manifest.Version, DatasetPaths.Manifest(manifest.Dataset, manifest.Version),
                manifest.Rows, manifest.Source.Sha256, manifest.CreatedAt), cancellationToken).ConfigureAwait(false);
        }
        catch (MessagingUnavailableException e)
        {
            logger.LogWarning("{Dataset} v{Version} is committed but could not be announced ({Reason}); labeling's reconciler will find it",
                manifest.Dataset, manifest.Version, e.Message);
        }
    }
}
