using System.Diagnostics;
using System.Globalization;
using BigDataAI.Contracts.Ingestion;
using BigDataAI.Datasets;
using BigDataAI.Datasets.Expectations;
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

    /// <summary>What a bad row does: refuse the upload (strict, the default) or go to the version's quarantine.</summary>
    public RowPolicy Policy { get; init; } = RowPolicy.Strict;

    /// <summary>Whether the columns may differ incompatibly from the previous version's.</summary>
    public bool AllowSchemaChange { get; init; }

    /// <summary>The first pass, when it ran while the file arrived (<see cref="DatasetIngestor.StartFirstPass"/>); else null.</summary>
    public EarlyFirstPass? FirstPass { get; init; }
}

/// <summary>
/// The first pass over a single-file table upload (CSV, TSV, JSON Lines) run while its bytes still arrive, reading the
/// local file as it grows, so that checking and typing it costs no time after the last byte. Its second pass opens the
/// complete file. Disposing it cancels a pass still running and closes every stream it opened.
/// </summary>
public sealed class EarlyFirstPass : IAsyncDisposable
{
    private readonly CancellationTokenSource _cancel;
    private readonly List<Stream> _streams = [];

    internal EarlyFirstPass(Func<CancellationToken, Stream> follow, string path, Func<Func<Stream>, Speculation?, CancellationToken, Task<StreamedTable>> open, CancellationToken cancellationToken,
        Func<CancellationToken, Task<SpeculativeVersion>>? speculate = null)
    {
        _cancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var token = _cancel.Token;
        var passes = 0;
        Stream Open()
        {
            // Pass 1 follows the arriving file; pass 2 starts once the upload is complete and reads the file itself.
            var stream = Interlocked.Increment(ref passes) == 1 ? follow(token) : new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16);
            lock (_streams)
            {
                _streams.Add(stream);
            }
            return stream;
        }
        Table = Task.Run(async () =>
        {
            Speculative = speculate is null ? null : await speculate(token).ConfigureAwait(false);
            return await open(Open, Speculative, token).ConfigureAwait(false);
        }, token);
    }

    /// <summary>The table after its first pass; its failure (a <see cref="DataFormatException"/>, say) is the upload's.</summary>
    internal Task<StreamedTable> Table { get; }

    /// <summary>The speculative second pass the first pass started, if any (set before <see cref="Table"/> starts).</summary>
    internal SpeculativeVersion? Speculative { get; private set; }

    public async ValueTask DisposeAsync()
    {
        await _cancel.CancelAsync().ConfigureAwait(false);
        try
        {
            await Table.ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The upload has ended one way or another; a first pass it no longer needs may fail or be cancelled.
        }
        Stream[] streams;
        lock (_streams)
        {
            streams = [.. _streams];
        }
        if (Speculative is { } speculation)
        {
            await speculation.DisposeAsync().ConfigureAwait(false); // deletes its shards unless the version took them
        }
        foreach (var stream in streams)
        {
            await stream.DisposeAsync().ConfigureAwait(false);
        }
        _cancel.Dispose();
    }
}

public sealed record IngestResult(DatasetManifest Manifest, bool Deduplicated);

/// <summary>
/// Turns a received upload into a committed dataset version and announces it, streaming: a first pass over the buffered
/// file checks it and types its columns, a second stores it shard by shard. Parsing errors surface as
/// <see cref="DataFormatException"/> before anything is written; an expectation broken in the second pass (strict), or
/// too many bad rows (quarantine, <see cref="QuarantineLimitException"/>), deletes the shards already written. A schema
/// incompatible with the previous version is a <see cref="SchemaChangeException"/>. An upload is refused up front while the broker is not
/// connected (UNAVAILABLE). If the broker goes away after the commit, the version stays committed and the call
/// succeeds: the announcement is logged as pending, and labeling's reconciler finds the unlabeled version by itself
/// (<c>Labeling:ReconcileInterval</c>).
/// </summary>
public sealed class DatasetIngestor(DatasetStore datasets, ExpectationStore expectationStore, BoundedPublisher publisher, IOptions<IngestionOptions> options, ILogger<DatasetIngestor> logger)
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
        var expectations = await expectationStore.GetAsync(upload.Dataset, cancellationToken).ConfigureAwait(false);
        // The schema rule compares with the latest uploaded version: versions labeling derives (with label columns of
        // its own, e.g. _label_source) are not what the next upload has to match.
        var previous = (await datasets.ListAsync(upload.Dataset, cancellationToken).ConfigureAwait(false))
            .LastOrDefault(m => m.Lineage is null || m.Lineage.Step == "ingest");
        var streams = new List<Stream>();
        try
        {
            // Pass 1: the file is checked, its columns typed and its rows counted; nothing is stored yet.
            var table = await OpenAsync(upload, expectations, streams, cancellationToken).ConfigureAwait(false);
            if (previous is not null && !upload.AllowSchemaChange
                && SchemaCompatibility.Differences(previous.EffectiveSchema, table.Schema) is { Count: > 0 } differences)
            {
                throw new SchemaChangeException(upload.Dataset, previous.Version, differences);
            }
            ExpectationChecker checker;
            try
            {
                checker = new ExpectationChecker(expectations, table.Schema);
            }
            catch (ExpectationException e)
            {
                throw DataFormatException.ForWholeFile(FileOf(upload), e.Message, e);
            }
            // Parsing may have taken a while: do not commit a version the broker cannot announce now.
            publisher.EnsureConnected();
            var source = new DatasetSource(upload.Format.ToString().ToLowerInvariant(), [.. upload.Files.Keys.Order(StringComparer.Ordinal)], upload.Sha256, upload.Description);
            // Pass 2: done already while the file arrived when the speculation held (strict CSV/TSV), else now.
            var speculative = upload.FirstPass?.Speculative;
            var written = speculative is null ? null : await speculative.TakeAsync(table.Schema, table.SourceRows).ConfigureAwait(false);
            activity?.SetTag("bigdataai.speculative", written is not null);
            DatasetManifest manifest;
            if (written is not null)
            {
                manifest = await written.CommitAsync(source, new DatasetLineage("ingest", source.Files), cancellationToken: cancellationToken).ConfigureAwait(false);
                speculative!.Keep();
            }
            else
            {
                manifest = await WriteAsync(upload, table, checker, source, cancellationToken).ConfigureAwait(false);
            }
            activity?.SetTag("bigdataai.dataset_version", manifest.Version);
            logger.LogInformation("Committed {Dataset} v{Version}: {Rows} rows ({Unlabeled} unlabeled, {Quarantined} quarantined), columns {Columns}, {Classes} classes, {Shards} shards in {ElapsedMs} ms (rows stored while the file arrived: {Speculative})",
                manifest.Dataset, manifest.Version, manifest.Rows, manifest.UnlabeledRows, manifest.Quarantine?.Rows ?? 0,
                Describe(table.Schema), manifest.Classes.Length, manifest.Shards.Count,
                (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds, written is not null);
            IngestionTelemetry.Rows.Add(manifest.Rows);
            if (manifest.Quarantine is { } quarantine)
            {
                IngestionTelemetry.QuarantinedRows.Add(quarantine.Rows);
            }
            IngestionTelemetry.Uploads.Add(1, new KeyValuePair<string, object?>("outcome", "committed"));
            // Committed: announce it even if the caller has gone.
            await AnnounceAsync(manifest, CancellationToken.None).ConfigureAwait(false);
            return new IngestResult(manifest, Deduplicated: false);
        }
        finally
        {
            foreach (var stream in streams)
            {
                await stream.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Pass 2: the rows chunk by chunk into a new version (one shard in memory at a time), each chunk checked against the
    /// expectations; bad rows (quarantine mode) into the quarantine shards. On any failure the shards written so far are
    /// deleted, so a refused upload leaves nothing behind (and, the manifest being last, was never visible).
    /// </summary>
    private async Task<DatasetManifest> WriteAsync(ReceivedUpload upload, StreamedTable table, ExpectationChecker checker, DatasetSource source, CancellationToken cancellationToken)
    {
        var rowsPerShard = options.Value.RowsPerShard;
        var writer = datasets.BeginVersion(upload.Dataset, table.Schema, upload.Sha256, rowsPerShard);
        var quarantine = datasets.BeginQuarantine(upload.Dataset, upload.Sha256, rowsPerShard);
        var allowed = upload.Policy.AllowedBadRows(table.SourceRows);
        var bad = new List<QuarantinedRow>();
        var lineNumbered = upload.Format == UploadFormat.Jsonl;
        try
        {
            // Each chunk is stored (the writer flushes a full shard inside AppendAsync) before the next reuses its arrays.
            foreach (var chunk in table.Read(rowsPerShard, bad, cancellationToken, reuse: true))
            {
                var rows = chunk.Rows;
                if (checker.Check(rows) is { Count: > 0 } violations)
                {
                    if (!upload.Policy.Quarantine)
                    {
                        var first = violations[0];
                        throw new DataFormatException(FileOf(upload), $"{first.Reason} (expectation {first.Expectation})",
                            row: chunk.SourceRows[first.Row], column: first.Column, lineNumbered: lineNumbered);
                    }
                    var failed = new HashSet<int>(violations.Select(v => v.Row));
                    foreach (var v in violations)
                    {
                        bad.Add(new QuarantinedRow(chunk.SourceRows[v.Row], v.RowId, v.Column, "expectation_" + v.Expectation, $"{v.Reason} (expectation {v.Expectation})", v.Value));
                    }
                    rows = rows.Select([.. Enumerable.Range(0, rows.Rows).Where(r => !failed.Contains(r))]);
                }
                foreach (var row in bad.OrderBy(b => b.SourceRow))
                {
                    await quarantine.AddAsync(row, cancellationToken).ConfigureAwait(false);
                }
                bad.Clear();
                if (quarantine.Rows > allowed)
                {
                    throw TooMany(upload, quarantine, table.SourceRows, complete: false);
                }
                await writer.AppendAsync(rows, cancellationToken).ConfigureAwait(false);
            }
            if (writer.Rows == 0)
            {
                throw TooMany(upload, quarantine, table.SourceRows, complete: true);
            }
            var quarantined = await quarantine.CompleteAsync(cancellationToken).ConfigureAwait(false);
            return await writer.CommitAsync(source, new DatasetLineage("ingest", source.Files), m => m with { Quarantine = quarantined }, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await DeleteAsync(upload.Dataset, [.. await writer.AbandonAsync().ConfigureAwait(false), .. quarantine.Shards]).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The columns as a log line shows them: the first 20 (a table of 785 pixel columns is not listed whole).</summary>
    private static string Describe(DatasetSchema schema)
    {
        const int Shown = 20;
        var shown = string.Join(", ", schema.Columns.Take(Shown).Select(c => $"{c.Name}:{c.TypeName}:{c.Role.ToString().ToLowerInvariant()}"));
        return schema.Columns.Count <= Shown ? shown : $"{shown} and {schema.Columns.Count - Shown} more";
    }

    private static QuarantineLimitException TooMany(ReceivedUpload upload, QuarantineWriter quarantine, long rows, bool complete)
    {
        var inv = CultureInfo.InvariantCulture;
        var counts = string.Join(", ", quarantine.Reasons.OrderByDescending(r => r.Value).Select(r => $"{r.Key} {r.Value.ToString(inv)}"));
        var first = string.Join("; ", quarantine.First.Take(3).Select(b =>
            $"{(upload.Format == UploadFormat.Jsonl ? "line" : "row")} {b.SourceRow.ToString(inv)}{(b.Column is null ? "" : $", column '{b.Column}'")}: {b.Message}"));
        var limit = upload.Policy.MaxBadFraction.ToString("0.####", inv);
        return new QuarantineLimitException(complete && quarantine.Rows <= upload.Policy.AllowedBadRows(rows)
            ? $"{FileOf(upload)}: every one of its {rows.ToString(inv)} rows is bad ({counts}); nothing is stored. First: {first}"
            : $"{FileOf(upload)}: {(complete ? "" : "at least ")}{quarantine.Rows.ToString(inv)} of {rows.ToString(inv)} rows are bad ({(quarantine.Rows / (double)rows).ToString("0.####", inv)}), more than max_bad_fraction {limit} allows ({counts}); nothing is stored. First: {first}");
    }

    /// <summary>Deletes the shards of a refused upload (best effort: a leftover shard is unreferenced, never visible).</summary>
    private async Task DeleteAsync(string dataset, IReadOnlyList<ShardInfo> shards)
    {
        foreach (var shard in shards)
        {
            try
            {
                await datasets.Objects.DeleteAsync(shard.Path, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                logger.LogWarning(e, "Could not delete shard {Path} of a refused upload to {Dataset}; it is unreferenced", shard.Path, dataset);
            }
        }
    }

    private static string FileOf(ReceivedUpload upload) => DatasetIngestor.RolesOf(upload.Format)[0];

    /// <summary>The name of the tensor column an IDX upload's images are stored in.</summary>
    public const string IdxImageColumn = "pixels";

    private ArchiveLimits Limits => new(options.Value.MaxDecompressedBytes, options.Value.MaxArchiveEntries, options.Value.MaxCompressionRatio);

    /// <summary>
    /// The first pass over the upload. Every format is read twice from its buffered file(s), so memory holds what the
    /// first pass keeps, then one chunk: CSV, TSV and JSON Lines per-column counts; Parquet the footer and, while a check
    /// needs them, one row group's values of the columns checked (the second pass holds one row group and one chunk); IDX
    /// the two headers; an archive one entry's bytes, then per file its path, place, label and image size.
    /// </summary>
    private async Task<StreamedTable> OpenAsync(ReceivedUpload upload, DatasetExpectations expectations, List<Stream> streams, CancellationToken cancellationToken)
    {
        Func<Stream> Opener(string role) => () =>
        {
            var stream = new FileStream(upload.Files[role], FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            streams.Add(stream);
            return stream;
        };
        if (upload.FirstPass is { } early)
        {
            // Run while the file arrived, with the expectations of that moment: SetExpectations racing an upload in
            // flight applies from the next upload (the expectations' checks below still use the current ones).
            return await early.Table.ConfigureAwait(false);
        }
        var expectedTypes = ExpectedTypes(expectations);
        switch (upload.Format)
        {
            case UploadFormat.Idx:
                // The images become one tensor column [rows, columns] of pixels in [0, 1]; the labels an int64 column.
                return IdxParser.Open(Opener("images"), "images", Opener("labels"), "labels", IdxImageColumn, "label", cancellationToken);
            case UploadFormat.Csv or UploadFormat.Tsv:
                return TableParser.Open(Opener("data"), "data", upload.Format == UploadFormat.Tsv ? '\t' : ',', upload.LabelColumn, upload.LabelNamed, upload.Hints, upload.Policy, expectedTypes, cancellationToken);
            case UploadFormat.Archive:
                return ArchiveParser.Open(Opener("archive"), "archive", Limits, upload.Policy, cancellationToken);
            case UploadFormat.Jsonl:
                return JsonLinesParser.Open(Opener("data"), "data", upload.LabelColumn, upload.LabelNamed, upload.Hints, upload.Policy, expectedTypes, cancellationToken);
            case UploadFormat.Parquet:
                return await ParquetTableParser.OpenAsync(Opener("data"), "data", upload.LabelColumn, upload.LabelNamed, upload.Hints, upload.Policy, cancellationToken).ConfigureAwait(false);
            default:
                throw new ArgumentOutOfRangeException(nameof(upload), upload.Format, "Unknown upload format.");
        }
    }

    /// <summary>
    /// Starts the first pass of a CSV, TSV or JSON Lines upload while its only file is still being received into
    /// <paramref name="path"/>; <paramref name="follow"/> gives a stream that reads the file as it grows and ends when
    /// the upload is complete (or throws when it is abandoned). Null for the other formats, whose first pass needs the
    /// whole file (Parquet's footer, an archive's directory, IDX's two files). Pass the result as
    /// <see cref="ReceivedUpload.FirstPass"/>; <see cref="IngestAsync"/> checks for a duplicate upload before it looks at it.
    /// </summary>
    public EarlyFirstPass? StartFirstPass(string dataset, UploadFormat format, string path, Func<CancellationToken, Stream> follow, string labelColumn, bool labelNamed,
        IReadOnlyList<ColumnHint> hints, RowPolicy policy, CancellationToken cancellationToken)
    {
        if (format is not (UploadFormat.Csv or UploadFormat.Tsv or UploadFormat.Jsonl))
        {
            return null;
        }
        DatasetExpectations? expectations = null;
        var speculate = format is UploadFormat.Csv or UploadFormat.Tsv && !policy.Quarantine && options.Value.Speculate;
        return new EarlyFirstPass(follow, path, async (open, speculation, ct) =>
        {
            expectations ??= await expectationStore.GetAsync(dataset, ct).ConfigureAwait(false);
            var expectedTypes = ExpectedTypes(expectations);
            // The pass waits for bytes still arriving (and, speculating, for shards being stored): on a thread of its
            // own rather than one the pool needs for the requests and the storing.
            return await Task.Factory.StartNew(() => format == UploadFormat.Jsonl
                ? JsonLinesParser.Open(open, "data", labelColumn, labelNamed, hints, policy, expectedTypes, ct)
                : TableParser.Open(open, "data", format == UploadFormat.Tsv ? '\t' : ',', labelColumn, labelNamed, hints, policy, expectedTypes, ct, speculation),
                ct, TaskCreationOptions.LongRunning, TaskScheduler.Default).ConfigureAwait(false);
        }, cancellationToken, speculate ? async ct =>
        {
            expectations ??= await expectationStore.GetAsync(dataset, ct).ConfigureAwait(false);
            return new SpeculativeVersion(datasets, dataset, options.Value.RowsPerShard, follow, expectations, logger, ct);
        } : null);
    }

    private static Dictionary<string, ColumnType> ExpectedTypes(DatasetExpectations expectations) =>
        expectations.Columns.Where(c => c.Type is not null).ToDictionary(c => c.Column, c => c.Type!.Value, StringComparer.Ordinal);

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
