using System.Globalization;
using System.Security.Cryptography;
using BigDataAI.Datasets;
using BigDataAI.Datasets.Expectations;
using BigDataAI.Hosting;
using BigDataAI.Ingestion.Parsing;
using BigDataAI.Ingestion.Services;
using BigDataAI.Protos.Ingestion.V1;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace BigDataAI.Ingestion.Apis;

/// <summary>
/// gRPC face of ingestion. Uploaded files are buffered to local temporary files (never in storage) and
/// deleted whatever the outcome; a dataset version becomes visible only after it is completely committed.
/// </summary>
internal sealed partial class IngestionApi(DatasetIngestor ingestor, DatasetStore datasets, ExpectationStore expectations, BoundedPublisher publisher, IOptions<IngestionOptions> options, ILogger<IngestionApi> logger)
    : IngestionService.IngestionServiceBase
{
    public override async Task<UploadReply> Upload(IAsyncStreamReader<UploadRequest> requestStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        if (!await requestStream.MoveNext(ct).ConfigureAwait(false))
        {
            throw Invalid("The upload is empty: send an UploadHeader first, then the files' chunks.");
        }
        if (requestStream.Current.KindCase != UploadRequest.KindOneofCase.Header)
        {
            throw Invalid("The first message of an upload must be an UploadHeader.");
        }
        var header = requestStream.Current.Header;
        var format = ValidateHeader(header);
        var hints = ParseHints(header);
        var policy = ParsePolicy(header);
        // Before the files arrive: an upload that could not be announced is refused at once (UNAVAILABLE), not after
        // its bytes were sent or by blocking until the broker is back.
        publisher.EnsureConnected();

        var folder = Path.Combine(options.Value.TempDirectory ?? Path.GetTempPath(), "bigdataai-uploads", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        var files = new Dictionary<string, UploadBuffer>(StringComparer.Ordinal);
        EarlyFirstPass? firstPass = null;
        try
        {
            foreach (var role in DatasetIngestor.RolesOf(format))
            {
                files[role] = new UploadBuffer(Path.Combine(folder, role));
            }
            if (files.Count == 1)
            {
                // A single-file table is checked and typed while it arrives (the first of its two passes).
                var only = files.Values.First();
                firstPass = ingestor.StartFirstPass(header.Dataset, format, only.Path, only.Follow, LabelColumnOf(header), !string.IsNullOrEmpty(header.LabelColumn), hints, policy, ct);
            }
            long total = 0;
            while (await requestStream.MoveNext(ct).ConfigureAwait(false))
            {
                var message = requestStream.Current;
                if (message.KindCase != UploadRequest.KindOneofCase.Chunk)
                {
                    throw Invalid("Only the first message of an upload may be a header; every later one must be a chunk.");
                }
                if (!files.TryGetValue(message.Chunk.File, out var buffer))
                {
                    throw Invalid($"A chunk names file '{message.Chunk.File}', which the header did not declare (declared: {string.Join(", ", files.Keys)}).");
                }
                total += message.Chunk.Data.Length;
                if (total > options.Value.MaxUploadBytes)
                {
                    throw new RpcException(new Status(StatusCode.ResourceExhausted,
                        $"The upload exceeds the limit of {options.Value.MaxUploadBytes.ToString("N0", CultureInfo.InvariantCulture)} bytes (Ingestion:MaxUploadBytes)."));
                }
                await buffer.AppendAsync(message.Chunk.Data.Memory, ct).ConfigureAwait(false);
            }
            IngestionTelemetry.Bytes.Add(total);
            foreach (var (role, buffer) in files)
            {
                await buffer.CompleteAsync().ConfigureAwait(false);
                if (buffer.Length == 0)
                {
                    throw Invalid($"File '{role}' is empty: no chunk carried any of its bytes.");
                }
            }

            return await IngestAsync(header, format, hints, policy, files, ct, firstPass).ConfigureAwait(false);
        }
        finally
        {
            foreach (var buffer in files.Values)
            {
                buffer.Abandon(); // a first pass still following the file ends (it is cancelled below, too)
            }
            if (firstPass is not null)
            {
                await firstPass.DisposeAsync().ConfigureAwait(false);
            }
            foreach (var buffer in files.Values)
            {
                await buffer.DisposeAsync().ConfigureAwait(false);
            }
            TryDelete(folder);
        }
    }

    public override async Task<UploadReply> ImportDataset(ImportDatasetRequest request, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        var header = request.Header ?? throw Invalid("Field 'header' is missing: say the dataset, format and files as for Upload.");
        var format = ValidateHeader(header);
        var hints = ParseHints(header);
        var policy = ParsePolicy(header);
        var wanted = DatasetIngestor.RolesOf(format);
        var sources = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var file in request.Files)
        {
            if (!wanted.Contains(file.File))
            {
                throw Invalid($"Field 'files': '{file.File}' is not a file of format {header.Format} (it needs [{string.Join(", ", wanted)}]).");
            }
            if (!sources.TryAdd(file.File, StoragePath(file.Path, file.File)))
            {
                throw Invalid($"Field 'files': '{file.File}' is given twice.");
            }
        }
        if (wanted.FirstOrDefault(r => !sources.ContainsKey(r)) is { } missingRole)
        {
            throw Invalid($"Field 'files': no path for '{missingRole}' (format {header.Format} needs [{string.Join(", ", wanted)}]).");
        }
        publisher.EnsureConnected();

        var folder = Path.Combine(options.Value.TempDirectory ?? Path.GetTempPath(), "bigdataai-uploads", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        var files = new Dictionary<string, UploadBuffer>(StringComparer.Ordinal);
        try
        {
            long total = 0;
            var chunk = new byte[1 << 16];
            foreach (var (role, path) in sources)
            {
                var buffer = files[role] = new UploadBuffer(Path.Combine(folder, role));
                await using var stream = await datasets.Objects.OpenReadAsync(path, ct).ConfigureAwait(false)
                    ?? throw new RpcException(new Status(StatusCode.NotFound, $"File '{role}': '{path}' does not exist in the storage container."));
                int read;
                while ((read = await stream.ReadAsync(chunk, ct).ConfigureAwait(false)) > 0)
                {
                    total += read;
                    if (total > options.Value.MaxUploadBytes)
                    {
                        throw new RpcException(new Status(StatusCode.ResourceExhausted,
                            $"The import exceeds the limit of {options.Value.MaxUploadBytes.ToString("N0", CultureInfo.InvariantCulture)} bytes (Ingestion:MaxUploadBytes), at '{path}'."));
                    }
                    await buffer.AppendAsync(chunk.AsMemory(0, read), ct).ConfigureAwait(false);
                }
                await buffer.CompleteAsync().ConfigureAwait(false);
                if (buffer.Length == 0)
                {
                    throw Invalid($"File '{role}': '{path}' is empty.");
                }
            }
            IngestionTelemetry.Bytes.Add(total);
            return await IngestAsync(header, format, hints, policy, files, ct).ConfigureAwait(false);
        }
        finally
        {
            foreach (var buffer in files.Values)
            {
                await buffer.DisposeAsync().ConfigureAwait(false);
            }
            TryDelete(folder);
        }
    }

    /// <summary>
    /// A path in the service's container, from a path or a blob URI into that container; the platform's own folders
    /// (datasets/, models/, model-names/, jobs/) may not be imported from.
    /// </summary>
    private string StoragePath(string given, string role)
    {
        var path = given.Trim();
        if (Uri.TryCreate(path, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https")
        {
            var container = datasets.Objects.Location.TrimEnd('/') + "/";
            if (!path.StartsWith(container, StringComparison.Ordinal))
            {
                throw Invalid($"File '{role}': '{given}' is not in this service's storage container ({container}); copy it there, or give a path inside it.");
            }
            path = Uri.UnescapeDataString(path[container.Length..]);
        }
        path = path.TrimStart('/');
        if (path.Length == 0 || path.Split('/').Any(p => p is ".." or "."))
        {
            throw Invalid($"File '{role}': '{given}' is not a path in the storage container.");
        }
        if (new[] { DatasetPaths.Root, "models/", "model-names/", "jobs/" }.Any(root => path.StartsWith(root, StringComparison.Ordinal)))
        {
            throw Invalid($"File '{role}': '{given}' is inside the platform's own folders; import from a path outside datasets/, models/, model-names/ and jobs/.");
        }
        return path;
    }

    public override async Task<DatasetInfo> GetDataset(GetDatasetRequest request, ServerCallContext context)
    {
        if (!DatasetPaths.IsValidName(request.Dataset))
        {
            throw Invalid($"Dataset name '{request.Dataset}' is invalid: use 1-64 characters of [a-z0-9-], starting with a letter.");
        }
        try
        {
            return ToInfo(await datasets.GetRequiredAsync(request.Dataset, request.Version, context.CancellationToken).ConfigureAwait(false));
        }
        catch (DatasetNotFoundException e)
        {
            throw new RpcException(new Status(StatusCode.NotFound, e.Message));
        }
    }

    public override async Task<ListDatasetsReply> ListDatasets(ListDatasetsRequest request, ServerCallContext context)
    {
        var reply = new ListDatasetsReply();
        var name = string.IsNullOrEmpty(request.Dataset) ? null : request.Dataset;
        if (name is not null && !DatasetPaths.IsValidName(name))
        {
            throw Invalid($"Dataset name '{name}' is invalid: use 1-64 characters of [a-z0-9-], starting with a letter.");
        }
        reply.Datasets.AddRange((await datasets.ListAsync(name, context.CancellationToken).ConfigureAwait(false)).Select(ToInfo));
        return reply;
    }

    internal static DatasetInfo ToInfo(DatasetManifest m)
    {
        var info = new DatasetInfo
        {
            Dataset = m.Dataset,
            Version = m.Version,
            Rows = m.Rows,
            Shards = m.Shards.Count,
            ManifestPath = DatasetPaths.Manifest(m.Dataset, m.Version),
            SourceSha256 = m.Source.Sha256,
            CreatedAt = m.CreatedAt.ToString("O", CultureInfo.InvariantCulture),
        };
        var schema = m.EffectiveSchema;
        var features = schema.Columns.Where(c => c.Role == ColumnRole.Feature).ToList();
        if (features is [{ Type: ColumnType.Tensor } tensor])
        {
            info.Features = tensor.Width;
            info.FeatureShape.AddRange(tensor.Shape!);
        }
        else
        {
            info.Features = features.Count;
            info.FeatureShape.Add(features.Count);
        }
        info.Classes.AddRange(m.Classes);
        info.ClassCounts.AddRange(m.ClassCounts);
        info.UnlabeledRows = m.UnlabeledRows;
        info.FormatVersion = m.FormatVersion;
        foreach (var c in schema.Columns)
        {
            var column = new ColumnInfo { Name = c.Name, Type = c.Type.ToString().ToLowerInvariant(), Role = c.Role.ToString().ToLowerInvariant(), Nullable = c.Nullable };
            column.Shape.AddRange(c.Shape ?? []);
            info.Columns.Add(column);
        }
        return info;
    }

    /// <summary>Parses, commits and announces received files (the end of Upload and ImportDataset alike).</summary>
    private static string LabelColumnOf(UploadHeader header) => string.IsNullOrEmpty(header.LabelColumn) ? "label" : header.LabelColumn;

    private async Task<UploadReply> IngestAsync(UploadHeader header, UploadFormat format, IReadOnlyList<ColumnHint> hints, RowPolicy policy, Dictionary<string, UploadBuffer> files, CancellationToken ct,
        EarlyFirstPass? firstPass = null)
    {
        try
        {
            var labelColumn = LabelColumnOf(header);
            var upload = new ReceivedUpload(header.Dataset, format,
                files.ToDictionary(f => f.Key, f => f.Value.Path, StringComparer.Ordinal),
                labelColumn,
                string.IsNullOrWhiteSpace(header.Source) ? null : header.Source,
                CombinedSha256(format, labelColumn, hints, policy, files))
            {
                Hints = hints,
                LabelNamed = !string.IsNullOrEmpty(header.LabelColumn),
                Policy = policy,
                AllowSchemaChange = header.AllowSchemaChange,
                FirstPass = firstPass,
            };
            var result = await ingestor.IngestAsync(upload, ct).ConfigureAwait(false);
            var reply = new UploadReply { Dataset = ToInfo(result.Manifest), Deduplicated = result.Deduplicated };
            if (result.Manifest.Quarantine is { } quarantine)
            {
                reply.QuarantinedRows = quarantine.Rows;
                reply.QuarantineReasons.Add(quarantine.Reasons.ToDictionary());
            }
            return reply;
        }
        catch (SchemaChangeException e)
        {
            logger.LogWarning("Rejected upload to {Dataset}: {Reason}", header.Dataset, e.Message);
            IngestionTelemetry.Uploads.Add(1, new KeyValuePair<string, object?>("outcome", "rejected"));
            throw new RpcException(new Status(StatusCode.FailedPrecondition, e.Message));
        }
        catch (QuarantineLimitException e)
        {
            logger.LogWarning("Rejected upload to {Dataset}: {Reason}", header.Dataset, e.Message);
            IngestionTelemetry.Uploads.Add(1, new KeyValuePair<string, object?>("outcome", "rejected"));
            throw Invalid(e.Message);
        }
        catch (DataFormatException e)
        {
            logger.LogWarning("Rejected upload to {Dataset}: {Reason}", header.Dataset, e.Message);
            IngestionTelemetry.Uploads.Add(1, new KeyValuePair<string, object?>("outcome", "rejected"));
            throw Invalid(e.Message);
        }
        catch (ArchiveLimitException e)
        {
            logger.LogWarning("Rejected upload to {Dataset}: {Reason}", header.Dataset, e.Message);
            IngestionTelemetry.Uploads.Add(1, new KeyValuePair<string, object?>("outcome", "rejected"));
            throw new RpcException(new Status(StatusCode.ResourceExhausted, e.Message));
        }
    }

    /// <summary>The header's column overrides, checked: known roles and types, each column named once.</summary>
    private static IReadOnlyList<ColumnHint> ParseHints(UploadHeader header)
    {
        var hints = new List<ColumnHint>();
        for (var i = 0; i < header.Columns.Count; i++)
        {
            var o = header.Columns[i];
            if (string.IsNullOrEmpty(o.Name))
            {
                throw Invalid($"Header field 'columns[{i}].name' is empty.");
            }
            if (hints.Any(h => h.Name == o.Name))
            {
                throw Invalid($"Header field 'columns': column '{o.Name}' is named twice.");
            }
            ColumnRole? role = null;
            if (!string.IsNullOrEmpty(o.Role))
            {
                role = Enum.TryParse<ColumnRole>(o.Role, ignoreCase: true, out var r) && Enum.IsDefined(r) && !char.IsDigit(o.Role[0]) ? r
                    : throw Invalid($"Header field 'columns[{i}].role': '{o.Role}' is not a role; use one of feature, label, text, image, id, ignored.");
            }
            ColumnType? type = null;
            if (!string.IsNullOrEmpty(o.Type))
            {
                type = Enum.TryParse<ColumnType>(o.Type, ignoreCase: true, out var t) && t is ColumnType.Int64 or ColumnType.Double or ColumnType.Bool or ColumnType.String or ColumnType.Timestamp && !char.IsDigit(o.Type[0]) ? t
                    : throw Invalid($"Header field 'columns[{i}].type': '{o.Type}' is not a type a table column may declare; use one of int64, double, bool, string, timestamp.");
            }
            hints.Add(new ColumnHint(o.Name, role, type));
        }
        if (hints.Count > 0 && header.Format is DatasetFormat.Idx or DatasetFormat.Archive)
        {
            throw Invalid("Header field 'columns' applies to tables only (CSV, TSV, JSONL, Parquet).");
        }
        return hints;
    }

    // --- validation and expectations (ingest) ---
    /// <summary>The header's validation mode and bad-row limit, checked.</summary>
    private static RowPolicy ParsePolicy(UploadHeader header)
    {
        switch (header.Validation)
        {
            case ValidationMode.Unspecified or ValidationMode.Strict:
                if (header.HasMaxBadFraction)
                {
                    throw Invalid("Header field 'max_bad_fraction' applies to validation VALIDATION_MODE_QUARANTINE only; strict mode refuses the first bad row.");
                }
                return RowPolicy.Strict;
            case ValidationMode.Quarantine:
                var fraction = header.HasMaxBadFraction ? header.MaxBadFraction : DefaultMaxBadFraction;
                if (!(fraction >= 0 && fraction <= 1))
                {
                    throw Invalid($"Header field 'max_bad_fraction': {fraction.ToString("R", CultureInfo.InvariantCulture)} is outside 0-1; it is the largest share of bad rows (bad / all) with which the version is still created.");
                }
                return new RowPolicy(true, fraction);
            default:
                throw Invalid($"Header field 'validation': {header.Validation} is not a validation mode (use VALIDATION_MODE_STRICT or VALIDATION_MODE_QUARANTINE).");
        }
    }

    /// <summary>max_bad_fraction when a quarantine upload does not say.</summary>
    public const double DefaultMaxBadFraction = 0.05;

    public override async Task<ExpectationsReply> SetExpectations(SetExpectationsRequest request, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        if (!DatasetPaths.IsValidName(request.Dataset))
        {
            throw Invalid($"Field 'dataset': '{request.Dataset}' is not a valid name (1-64 characters of [a-z0-9-], starting with a letter).");
        }
        var columns = new List<Datasets.Expectations.ColumnExpectation>();
        for (var i = 0; i < request.Columns.Count; i++)
        {
            var c = request.Columns[i];
            ColumnType? type = null;
            if (!string.IsNullOrEmpty(c.Type))
            {
                type = Enum.TryParse<ColumnType>(c.Type, ignoreCase: true, out var t) && !char.IsDigit(c.Type[0]) && t is ColumnType.Int64 or ColumnType.Double or ColumnType.Bool or ColumnType.String or ColumnType.Timestamp ? t
                    : throw Invalid($"Field 'columns[{i}].type': '{c.Type}' is not a type a column may be expected to have; use one of int64, double, bool, string, timestamp.");
            }
            columns.Add(new Datasets.Expectations.ColumnExpectation(c.Column)
            {
                Type = type,
                Min = c.HasMin ? c.Min : null,
                Max = c.HasMax ? c.Max : null,
                AllowedValues = c.AllowedValues.Count > 0 ? [.. c.AllowedValues] : null,
                NotNull = c.NotNull,
                Unique = c.Unique,
            });
        }
        var declared = new DatasetExpectations(columns) { UpdatedAt = DateTimeOffset.UtcNow };
        var latest = await datasets.GetAsync(request.Dataset, 0, ct).ConfigureAwait(false);
        if (declared.Problems(latest?.EffectiveSchema) is { Count: > 0 } problems)
        {
            throw Invalid($"Field 'columns': {string.Join("; ", problems)}.");
        }
        await expectations.PutAsync(request.Dataset, declared, ct).ConfigureAwait(false);
        logger.LogInformation("Expectations of {Dataset} set: {Columns} columns (latest version {Version})", request.Dataset, columns.Count, latest?.Version ?? 0);
        return ToReply(request.Dataset, declared);
    }

    public override async Task<ExpectationsReply> GetExpectations(GetExpectationsRequest request, ServerCallContext context)
    {
        if (!DatasetPaths.IsValidName(request.Dataset))
        {
            throw Invalid($"Field 'dataset': '{request.Dataset}' is not a valid name (1-64 characters of [a-z0-9-], starting with a letter).");
        }
        return ToReply(request.Dataset, await expectations.GetAsync(request.Dataset, context.CancellationToken).ConfigureAwait(false));
    }

    private static ExpectationsReply ToReply(string dataset, DatasetExpectations declared)
    {
        var reply = new ExpectationsReply
        {
            Dataset = dataset,
            Path = DatasetPaths.Expectations(dataset),
            UpdatedAt = declared.UpdatedAt?.ToString("O", CultureInfo.InvariantCulture) ?? "",
        };
        foreach (var e in declared.Columns)
        {
            var c = new Protos.Ingestion.V1.ColumnExpectation
            {
                Column = e.Column,
                Type = e.Type?.ToString().ToLowerInvariant() ?? "",
                NotNull = e.NotNull,
                Unique = e.Unique,
            };
            if (e.Min is { } min)
            {
                c.Min = min;
            }
            if (e.Max is { } max)
            {
                c.Max = max;
            }
            c.AllowedValues.AddRange(e.AllowedValues ?? []);
            reply.Columns.Add(c);
        }
        return reply;
    }
    // --- validation and expectations (ingest) end ---

    private static UploadFormat ValidateHeader(UploadHeader header)
    {
        if (!DatasetPaths.IsValidName(header.Dataset))
        {
            throw Invalid($"Header field 'dataset': '{header.Dataset}' is not a valid name (1-64 characters of [a-z0-9-], starting with a letter).");
        }
        var format = header.Format switch
        {
            DatasetFormat.Idx => UploadFormat.Idx,
            DatasetFormat.Csv => UploadFormat.Csv,
            DatasetFormat.Tsv => UploadFormat.Tsv,
            DatasetFormat.Archive => UploadFormat.Archive,
            DatasetFormat.Jsonl => UploadFormat.Jsonl,
            DatasetFormat.Parquet => UploadFormat.Parquet,
            _ => throw Invalid($"Header field 'format': {header.Format} is not a supported format (use IDX, CSV, TSV, JSONL, PARQUET or ARCHIVE)."),
        };
        var expected = DatasetIngestor.RolesOf(format);
        var declared = header.Files.ToList();
        if (declared.Count != expected.Count || !expected.All(declared.Contains))
        {
            throw Invalid($"Header field 'files': format {header.Format} needs exactly the files [{string.Join(", ", expected)}], the header declares [{string.Join(", ", declared)}].");
        }
        if (format is UploadFormat.Idx or UploadFormat.Archive && !string.IsNullOrEmpty(header.LabelColumn))
        {
            throw Invalid($"Header field 'label_column' applies to tables only; {header.Format} labels come from {(format == UploadFormat.Idx ? "the 'labels' file" : "the folders (or labels.csv) in the archive")}.");
        }
        return format;
    }

    private static string CombinedSha256(UploadFormat format, string labelColumn, IReadOnlyList<ColumnHint> hints, RowPolicy policy, Dictionary<string, UploadBuffer> files)
    {
        // Quarantine mode stores other rows than strict mode would (or refuses where strict would not): another dataset.
        var validation = policy.Quarantine ? $"quarantine:{policy.MaxBadFraction.ToString("R", CultureInfo.InvariantCulture)}\n" : "";
        // One hash over the dataset format, the format, the label column, the column hints and each file's hash in role
        // order: the same files read the same way give the same dataset (the same CSV with another label column is
        // another dataset, and so is a file stored before typed columns existed).
        var text = $"format{DatasetStore.FormatVersion}\n" + format + "\n" + (format != UploadFormat.Idx ? "label:" + labelColumn + "\n" : "")
            + string.Concat(hints.Select(h => $"column:{h.Name}:{h.Role}:{h.Type}\n"))
            + validation
            + string.Join("\n", files.OrderBy(f => f.Key, StringComparer.Ordinal).Select(f => $"{f.Key}:{f.Value.Sha256}"));
        return Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)));
    }

    private static RpcException Invalid(string message) => new(new Status(StatusCode.InvalidArgument, message));

    private void TryDelete(string folder)
    {
        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (IOException e)
        {
            logger.LogWarning(e, "Could not delete upload buffer folder {Folder}", folder);
        }
    }

    /// <summary>
    /// One uploaded file being written to a local temporary file, hashed as it arrives. <see cref="Follow"/> reads it
    /// while it is written: each chunk is flushed to the file before it counts as readable.
    /// </summary>
    private sealed class UploadBuffer(string path) : IAsyncDisposable
    {
        private readonly FileStream _file = new(path, FileMode.CreateNew, FileAccess.Write, FileShare.Read, 1 << 16, useAsync: true);
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        /// <summary>Followers wait on it for more bytes; every change of the state below pulses it while holding it.</summary>
        private readonly object _grown = new();
        private long _readable;
        private volatile bool _complete;
        private volatile bool _abandoned;

        public string Path { get; } = path;
        public long Length { get; private set; }
        public string Sha256 { get; private set; } = "";

        public async Task AppendAsync(ReadOnlyMemory<byte> data, CancellationToken ct)
        {
            _hash.AppendData(data.Span);
            await _file.WriteAsync(data, ct).ConfigureAwait(false);
            await _file.FlushAsync(ct).ConfigureAwait(false);
            Length += data.Length;
            Volatile.Write(ref _readable, Length);
            Pulse();
        }

        public async Task CompleteAsync()
        {
            await _file.FlushAsync().ConfigureAwait(false);
            await _file.DisposeAsync().ConfigureAwait(false);
            Sha256 = Convert.ToHexStringLower(_hash.GetHashAndReset());
            _complete = true;
            Pulse();
        }

        /// <summary>Ends the upload without completing the file: a follower still reading throws.</summary>
        public void Abandon()
        {
            _abandoned = !_complete;
            Pulse();
        }

        /// <summary>
        /// Wakes every follower. More than one may follow a file (the first pass and the speculative second, see
        /// <see cref="Services.EarlyFirstPass"/>): each checks and waits under the same lock the writer pulses under, so none
        /// misses the last bytes or the end.
        /// </summary>
        private void Pulse()
        {
            lock (_grown)
            {
                Monitor.PulseAll(_grown);
            }
        }

        /// <summary>A stream over the file as it arrives: it waits for more bytes and ends once the upload is complete.</summary>
        public Stream Follow(CancellationToken ct) => new Follower(this, ct);

        public async ValueTask DisposeAsync()
        {
            await _file.DisposeAsync().ConfigureAwait(false);
            _hash.Dispose();
        }

        private sealed class Follower(UploadBuffer owner, CancellationToken ct) : Stream
        {
            private readonly FileStream _file = new(owner.Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16);
            private long _position;

            public override int Read(Span<byte> buffer)
            {
                while (true)
                {
                    ct.ThrowIfCancellationRequested();
                    var complete = owner._complete; // read before the length: complete means the length is final
                    var available = Volatile.Read(ref owner._readable) - _position;
                    if (available > 0 || buffer.Length == 0)
                    {
                        var read = _file.Read(buffer[..(int)Math.Min(buffer.Length, available)]);
                        _position += read;
                        return read;
                    }
                    if (complete)
                    {
                        return 0;
                    }
                    if (owner._abandoned)
                    {
                        throw new OperationCanceledException("The upload ended before its file was complete.");
                    }
                    lock (owner._grown)
                    {
                        if (Volatile.Read(ref owner._readable) > _position || owner._complete || owner._abandoned)
                        {
                            continue; // it grew (or ended) since the check above
                        }
                        // Woken by the writer's pulse; the timeout only lets a cancelled caller go.
                        Monitor.Wait(owner._grown, 200);
                    }
                }
            }

            public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
            public override bool CanRead => true;
            public override bool CanSeek => false;
            public override bool CanWrite => false;
            public override long Length => throw new NotSupportedException();
            public override long Position { get => _position; set => throw new NotSupportedException(); }
            public override void Flush() { }
            public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
            public override void SetLength(long value) => throw new NotSupportedException();
            public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

            protected override void Dispose(bool disposing)
            {
                if (disposing)
                {
                    _file.Dispose();
                }
                base.Dispose(disposing);
            }
        }
    }
}
