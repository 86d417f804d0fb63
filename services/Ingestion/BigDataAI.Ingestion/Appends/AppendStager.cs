using System.Collections.Concurrent;
using BigDataAI.Datasets;
using BigDataAI.Datasets.Expectations;
using BigDataAI.Ingestion.Services;
using BigDataAI.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace BigDataAI.Ingestion.Appends;

/// <summary>The outcome of staging one batch.</summary>
/// <param name="Duplicate">The sequence was already staged or committed: nothing new was stored.</param>
/// <param name="Rows">Rows in the batch.</param>
public sealed record StageResult(bool Duplicate, int Rows);

/// <summary>
/// Stages appended batches, exactly once per dataset, producer and sequence, for the gRPC stream and the bus consumer
/// alike: a batch is checked against the producer's last known sequence (a retry is a duplicate, a jump a gap),
/// decoded with the dataset's columns, and stored create-only as one Parquet file at a path named by its producer and
/// sequence (<see cref="AppendPaths.Staged"/>), so a retry that races the first delivery, in this process or another,
/// finds the path taken. A sequence is a duplicate when every sequence up to it is staged or committed, or when its own
/// path is taken. Before it is stored, the batch's rows are checked against the dataset's expectations
/// (SetExpectations): a row that breaks one refuses the whole batch. Uniqueness is checked within the batch only, not
/// against rows already in the dataset or in other batches. Only then is the batch acknowledged. At most <c>Appends:MaxPendingBatches</c> batches and
/// <c>Appends:MaxPendingBytes</c> bytes of one dataset are being staged at once; further callers wait
/// (<see cref="AppendGate"/>): that is the back-pressure a slow store exerts on producers.
/// </summary>
public sealed class AppendStager
{
    private readonly DatasetStore _datasets;
    private readonly AppendOptions _options;
    private readonly AppendPending _pending;
    private readonly ILogger<AppendStager> _logger;
    private readonly ConcurrentDictionary<(string Dataset, string Producer), long> _known = new();
    private readonly ConcurrentDictionary<string, AppendGate> _gates = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (DatasetManifest Manifest, long At)> _newest = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (DatasetExpectations Expectations, long At)> _expectations = new(StringComparer.Ordinal);
    private readonly ExpectationStore _expectationStore;
    private readonly ConcurrentDictionary<string, bool> _leaseObjects = new(StringComparer.Ordinal);

    public AppendStager(DatasetStore datasets, ExpectationStore expectations, IOptions<AppendOptions> options, AppendPending pending, ILogger<AppendStager> logger)
    {
        _datasets = datasets;
        _expectationStore = expectations;
        _options = options.Value;
        _pending = pending;
        _logger = logger;
    }

    /// <summary>What is being staged for <paramref name="dataset"/> now (batches, bytes, callers held back).</summary>
    public (int Batches, long Bytes, int Waiting) Pending(string dataset) =>
        _gates.TryGetValue(dataset, out var gate) ? (gate.PendingBatches, gate.PendingBytes, gate.Waiting) : (0, 0, 0);

    /// <summary>
    /// Checks the names and finds the dataset's newest version and the sequence the producer is expected to send next.
    /// </summary>
    /// <exception cref="AppendRejectedException">Bad names (invalid), no version (not found), a format-1 version (precondition).</exception>
    public async Task<(DatasetManifest Newest, long NextSequence)> StartAsync(string dataset, string producer, CancellationToken cancellationToken)
    {
        Validate(dataset, producer);
        var newest = await NewestAsync(dataset, fresh: true, cancellationToken).ConfigureAwait(false);
        await ExpectationsAsync(dataset, fresh: true, cancellationToken).ConfigureAwait(false);
        var known = await RefreshAsync(dataset, producer, cancellationToken).ConfigureAwait(false);
        return (newest, known + 1);
    }

    /// <summary>
    /// Stages batch <paramref name="sequence"/> of <paramref name="producer"/>: <paramref name="decode"/> turns its rows
    /// into a table of the given columns (those of the dataset's newest version). Returns once the batch is stored.
    /// </summary>
    /// <exception cref="AppendRejectedException">
    /// A bad sequence, row count or cell (invalid); a row that breaks an expectation (invalid, naming the batch, the row
    /// within it, the column and the expectation); expectations that no longer fit the columns (precondition); a gap
    /// (precondition). Nothing refused is staged.
    /// </exception>
    /// <param name="bytes">The batch's size as received, counted against <c>Appends:MaxPendingBytes</c>.</param>
    /// <param name="reorderWindow">
    /// How far ahead of the next expected sequence a batch may be and still be staged (0 for a gRPC call, which is
    /// ordered; Appends:BusReorderWindow for the bus, whose competing consumers may take batches out of order). A batch
    /// staged ahead waits, staged, until the ones before it arrive: commits take only sequences without a hole.
    /// </param>
    public async Task<StageResult> StageAsync(string dataset, string producer, long sequence, int rows, long bytes, Func<DatasetSchema, Table> decode, CancellationToken cancellationToken, long reorderWindow = 0)
    {
        Validate(dataset, producer);
        if (sequence is < 1 or > AppendPaths.MaxSequence)
        {
            throw new AppendRejectedException(AppendRejection.Invalid, $"Batch sequence {sequence} is outside 1 to {AppendPaths.MaxSequence:N0}.");
        }
        if (rows < 1 || rows > _options.MaxBatchRows)
        {
            throw new AppendRejectedException(AppendRejection.Invalid, rows < 1
                ? $"Batch {sequence} has no rows."
                : $"Batch {sequence} has {rows:N0} rows, more than Appends:MaxBatchRows ({_options.MaxBatchRows:N0}).");
        }
        using var activity = IngestionTelemetry.Source.StartActivity("append.stage");
        activity?.SetTag("bigdataai.dataset", dataset);
        activity?.SetTag("bigdataai.producer", producer);
        activity?.SetTag("bigdataai.sequence", sequence);
        var gate = _gates.GetOrAdd(dataset, _ => new AppendGate(_options.MaxPendingBatches, _options.MaxPendingBytes));
        using var admitted = await gate.EnterAsync(bytes, cancellationToken).ConfigureAwait(false);

        // known: every sequence up to it is staged or committed (with no hole below it).
        var key = (dataset, producer);
        if (!_known.TryGetValue(key, out var known) || sequence > known + 1)
        {
            // Unknown here, or ahead of what this process saw: another process may have staged the ones between.
            known = await RefreshAsync(dataset, producer, cancellationToken).ConfigureAwait(false);
        }
        if (sequence <= known)
        {
            AppendTelemetry.Batches.Add(1, new KeyValuePair<string, object?>("outcome", "duplicate"));
            _logger.LogInformation("Append to {Dataset} from {Producer}: batch {Sequence} was already staged or committed (all up to {Known} are); acknowledged as a duplicate",
                dataset, producer, sequence, known);
            return new StageResult(Duplicate: true, rows);
        }
        if (sequence > known + 1 + reorderWindow)
        {
            AppendTelemetry.Batches.Add(1, new KeyValuePair<string, object?>("outcome", "gap"));
            throw new AppendRejectedException(AppendRejection.Precondition,
                $"Sequence gap for producer '{producer}' on dataset '{dataset}': expected batch {known + 1}, received {sequence}.")
            { IsGap = true };
        }

        var newest = await NewestAsync(dataset, fresh: false, cancellationToken).ConfigureAwait(false);
        var table = decode(newest.EffectiveSchema);
        CheckExpectations(dataset, sequence, table, await ExpectationsAsync(dataset, fresh: false, cancellationToken).ConfigureAwait(false));
        var encoded = await ParquetShards.EncodeAsync(table, 0, table.Rows, cancellationToken).ConfigureAwait(false);
        await EnsureLeaseObjectAsync(dataset, cancellationToken).ConfigureAwait(false);
        bool created;
        using (var content = new MemoryStream(encoded, writable: false))
        {
            created = await _datasets.Objects.TryCreateAsync(AppendPaths.Staged(dataset, producer, sequence), content, cancellationToken).ConfigureAwait(false);
        }
        if (sequence == known + 1)
        {
            _known.AddOrUpdate(key, sequence, (_, old) => Math.Max(old, sequence));
        }
        if (!created)
        {
            AppendTelemetry.Batches.Add(1, new KeyValuePair<string, object?>("outcome", "duplicate"));
            _logger.LogInformation("Append to {Dataset} from {Producer}: batch {Sequence} was staged at the same time by another delivery; acknowledged as a duplicate",
                dataset, producer, sequence);
            return new StageResult(Duplicate: true, table.Rows);
        }
        _pending.Record(dataset, table.Rows);
        AppendTelemetry.Batches.Add(1, new KeyValuePair<string, object?>("outcome", "staged"));
        AppendTelemetry.RowsStaged.Add(table.Rows);
        _logger.LogDebug("Staged batch {Sequence} of {Producer} for {Dataset}: {Rows} rows, {Bytes} bytes", sequence, producer, dataset, table.Rows, encoded.Length);
        return new StageResult(Duplicate: false, table.Rows);
    }

    /// <summary>
    /// The sequence of <paramref name="producer"/> up to which every batch is staged or committed, from storage: the
    /// committed one, then each next one that is staged. The staged batches are listed before the committed sequences
    /// are read, so a commit (which deletes staged batches) in between is seen.
    /// </summary>
    private async Task<long> RefreshAsync(string dataset, string producer, CancellationToken cancellationToken)
    {
        var staged = new HashSet<long>();
        await foreach (var path in _datasets.Objects.ListAsync(AppendPaths.StagedFolder(dataset, producer), cancellationToken).ConfigureAwait(false))
        {
            if (AppendPaths.TryParseStaged(path, out var p, out var sequence) && p == producer)
            {
                staged.Add(sequence);
            }
        }
        var newest = await _datasets.GetAsync(dataset, 0, cancellationToken).ConfigureAwait(false);
        var committed = newest is null ? null : await CommittedSequencesAsync(_datasets, newest, cancellationToken).ConfigureAwait(false);
        var known = committed?.GetValueOrDefault(producer) ?? 0;
        while (staged.Contains(known + 1))
        {
            known++;
        }
        _known.AddOrUpdate((dataset, producer), known, (_, old) => Math.Max(old, known));
        return _known[(dataset, producer)];
    }

    /// <summary>
    /// Per producer, the last sequence committed into <paramref name="newest"/> or before: the sequences of the newest
    /// version made by an append (a later upload or derived version carries none of its own).
    /// </summary>
    public static async Task<IReadOnlyDictionary<string, long>> CommittedSequencesAsync(DatasetStore datasets, DatasetManifest newest, CancellationToken cancellationToken)
    {
        for (DatasetManifest? manifest = newest; manifest is not null;)
        {
            if (manifest.AppendSequences is { } sequences)
            {
                return sequences;
            }
            manifest = manifest.Version <= 1 ? null : await datasets.GetAsync(manifest.Dataset, manifest.Version - 1, cancellationToken).ConfigureAwait(false);
        }
        return new Dictionary<string, long>(StringComparer.Ordinal);
    }

    /// <summary>The newest version (re-read when older than Appends:MaxDelay, or when <paramref name="fresh"/>).</summary>
    private async Task<DatasetManifest> NewestAsync(string dataset, bool fresh, CancellationToken cancellationToken)
    {
        var now = Environment.TickCount64;
        if (!fresh && _newest.TryGetValue(dataset, out var cached) && now - cached.At < _options.MaxDelay.TotalMilliseconds)
        {
            return cached.Manifest;
        }
        var newest = await _datasets.GetAsync(dataset, 0, cancellationToken).ConfigureAwait(false)
            ?? throw new AppendRejectedException(AppendRejection.NotFound, $"Dataset '{dataset}' does not exist: upload a first version, whose columns the appended rows will have.");
        if (newest.FormatVersion < DatasetStore.FormatVersion)
        {
            throw new AppendRejectedException(AppendRejection.Precondition,
                $"Dataset '{dataset}' v{newest.Version} was stored before typed columns (format {newest.FormatVersion}); upload it again to append to it.");
        }
        _newest[dataset] = (newest, now);
        return newest;
    }

    /// <summary>The dataset's expectations (re-read when older than Appends:MaxDelay, or when <paramref name="fresh"/>).</summary>
    private async Task<DatasetExpectations> ExpectationsAsync(string dataset, bool fresh, CancellationToken cancellationToken)
    {
        var now = Environment.TickCount64;
        if (!fresh && _expectations.TryGetValue(dataset, out var cached) && now - cached.At < _options.MaxDelay.TotalMilliseconds)
        {
            return cached.Expectations;
        }
        var expectations = await _expectationStore.GetAsync(dataset, cancellationToken).ConfigureAwait(false);
        _expectations[dataset] = (expectations, now);
        return expectations;
    }

    /// <summary>
    /// Refuses batch <paramref name="sequence"/> at its first row that breaks an expectation: the same checks an upload
    /// gets (<see cref="ExpectationChecker"/>), with uniqueness among the batch's own rows only.
    /// </summary>
    private static void CheckExpectations(string dataset, long sequence, Table batch, DatasetExpectations expectations)
    {
        if (expectations.IsEmpty)
        {
            return;
        }
        ExpectationChecker checker;
        try
        {
            checker = new ExpectationChecker(expectations, batch.Schema);
        }
        catch (ExpectationException e)
        {
            AppendTelemetry.Batches.Add(1, new KeyValuePair<string, object?>("outcome", "expectation"));
            throw new AppendRejectedException(AppendRejection.Precondition,
                $"Dataset '{dataset}' cannot take appends while its expectations do not fit its columns: {e.Message}; set them again (SetExpectations).");
        }
        if (checker.Check(batch) is [var first, ..])
        {
            AppendTelemetry.Batches.Add(1, new KeyValuePair<string, object?>("outcome", "expectation"));
            throw new AppendRejectedException(AppendRejection.Invalid,
                $"Batch {sequence}, row {first.Row}, column '{first.Column}': {first.Reason} (expectation {first.Expectation}).");
        }
    }

    /// <summary>The object the gatherers lease (it also lists the datasets that take appends), created once.</summary>
    private async Task EnsureLeaseObjectAsync(string dataset, CancellationToken cancellationToken)
    {
        if (_leaseObjects.ContainsKey(dataset))
        {
            return;
        }
        await EnsureLeaseObjectAsync(_datasets.Objects, dataset, cancellationToken).ConfigureAwait(false);
        _leaseObjects[dataset] = true;
    }

    internal static async Task EnsureLeaseObjectAsync(IObjectStore store, string dataset, CancellationToken cancellationToken)
    {
        using var empty = new MemoryStream([], writable: false);
        await store.TryCreateAsync(AppendPaths.Lease(dataset), empty, cancellationToken).ConfigureAwait(false);
    }

    private static void Validate(string dataset, string producer)
    {
        if (!DatasetPaths.IsValidName(dataset))
        {
            throw new AppendRejectedException(AppendRejection.Invalid, $"Dataset name '{dataset}' is invalid: use 1-64 characters of [a-z0-9-], starting with a letter.");
        }
        if (!AppendPaths.IsValidProducer(producer))
        {
            throw new AppendRejectedException(AppendRejection.Invalid, $"Producer '{producer}' is invalid: use 1-64 characters of [A-Za-z0-9._-], starting with a letter or digit.");
        }
    }
}
