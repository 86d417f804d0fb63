using System.Diagnostics;
using System.Diagnostics.Metrics;
using BigDataAI.Models;
using BigDataAI.Models.Registry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace BigDataAI.Inference.Services;

/// <summary>A loaded model and its predictor. Disposed only once the last request that leased it has finished.</summary>
public sealed class LoadedModel : IDisposable
{
    private int _leases = 1; // the host's own reference, dropped when the model is swapped out
    private int _disposed;

    internal LoadedModel(ModelRecord record, Predictor predictor)
    {
        Record = record;
        Predictor = predictor;
        LoadedAt = DateTimeOffset.UtcNow;
    }

    public ModelRecord Record { get; }
    public Predictor Predictor { get; }
    public DateTimeOffset LoadedAt { get; }

    internal bool TryAcquire()
    {
        while (true)
        {
            var leases = Volatile.Read(ref _leases);
            if (leases == 0)
            {
                return false; // already retired and released: the caller reads the new current model
            }
            if (Interlocked.CompareExchange(ref _leases, leases + 1, leases) == leases)
            {
                return true;
            }
        }
    }

    /// <summary>Ends a lease (a request, or the host's reference on swap). The last one frees the native memory.</summary>
    public void Dispose()
    {
        if (Interlocked.Decrement(ref _leases) == 0 && Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            Predictor.Dispose();
        }
    }
}

/// <summary>The name or version a caller asked for does not exist (NOT_FOUND).</summary>
public sealed class ModelNotFoundException(string message) : Exception(message);

/// <summary>The call named no model while several names are registered, or named one badly (INVALID_ARGUMENT).</summary>
public sealed class ModelNotChosenException(string message) : Exception(message);

/// <summary>Nothing is registered yet, or the model named cannot be loaded now (UNAVAILABLE).</summary>
public sealed class ModelUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Holds the models being served, side by side: per name, its newest version, swapped without a failed request (a swap
/// builds the new predictor completely first, then switches; requests in flight keep the model they leased), plus
/// any older version a caller names, loaded on first use. When the loaded models would exceed
/// <c>Inference:MemoryBudgetMiB</c>, the least recently used are unloaded (those in use stay until their last request ends).
/// </summary>
public sealed class ModelHost(ModelRegistry registry, IOptions<InferenceOptions> options, ILogger<ModelHost> logger) : IDisposable
{
    public const string TelemetryName = "BigDataAI.Inference";
    internal static readonly ActivitySource Source = new(TelemetryName);
    private static readonly Meter Meter = new(TelemetryName);
    internal static readonly Counter<long> Predictions = Meter.CreateCounter<long>("bigdataai.inference.predictions", description: "Inputs classified");
    internal static readonly Histogram<double> Latency = Meter.CreateHistogram<double>("bigdataai.inference.predict.duration", "ms", "Predict call duration");
    private static readonly Counter<long> Swaps = Meter.CreateCounter<long>("bigdataai.inference.model_swaps", description: "Models loaded");
    private static readonly Counter<long> Evictions = Meter.CreateCounter<long>("bigdataai.inference.model_evictions", description: "Models unloaded to stay within the memory budget");

    private readonly SemaphoreSlim _loadLock = new(1, 1);
    private readonly Dictionary<string, ModelRecord?> _known = new(StringComparer.Ordinal);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> _unloadable = new(StringComparer.Ordinal);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Slot> _loaded = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _scanLock = new(1, 1);
    private volatile IReadOnlyList<ModelRecord> _records = [];
    private volatile IReadOnlyDictionary<(string Name, string Alias), AliasMove> _aliases = new Dictionary<(string, string), AliasMove>();
    private volatile bool _scanned;

    private sealed class Slot(LoadedModel model, long bytes)
    {
        public LoadedModel Model { get; } = model;
        public long Bytes { get; } = bytes;
        public long LastUsed = Stopwatch.GetTimestamp();
    }

    /// <summary>Every readable registered record this replica knows, by name then version.</summary>
    public IReadOnlyList<ModelRecord> Records => _records;

    /// <summary>Whether the registry was read at least once.</summary>
    public bool HasScanned => _scanned;

    /// <summary>The loaded model of <paramref name="modelId"/>, or null.</summary>
    public LoadedModel? Loaded(string modelId) => _loaded.TryGetValue(modelId, out var slot) ? slot.Model : null;

    /// <summary>The newest loadable version of every name.</summary>
    public IReadOnlyList<ModelRecord> Newest() =>
        [.. _records.Where(r => !_unloadable.ContainsKey(r.ModelId)).GroupBy(r => r.ServedName, StringComparer.Ordinal)
            .Select(g => g.Aggregate((a, b) => ModelRegistry.IsNewer(b, a) ? b : a))];

    /// <summary>The version every alias points at, as this replica knows it.</summary>
    public IReadOnlyDictionary<(string Name, string Alias), AliasMove> Aliases => _aliases;

    /// <summary>The records some alias points at (kept loaded beside each name's newest version).</summary>
    private IReadOnlyList<ModelRecord> AliasHolders() =>
        [.. _aliases.Values.Select(a => _records.FirstOrDefault(r => r.ServedName == a.Name && r.ModelVersion == a.ModelVersion)).OfType<ModelRecord>()
            .Where(r => !_unloadable.ContainsKey(r.ModelId)).DistinctBy(r => r.ModelId)];

    private bool IsAliasHolder(ModelRecord record) =>
        _aliases.Values.Any(a => a.Name == record.ServedName && a.ModelVersion == record.ModelVersion);

    /// <summary>Names whose newest version is not in memory (and could be).</summary>
    public IReadOnlyList<string> NotLoaded() => [.. Newest().Where(r => !_loaded.ContainsKey(r.ModelId)).Select(r => r.Reference)];

    /// <summary>
    /// The record a reference names: "name" (its newest version), "name@version", "name@alias" (the version the alias
    /// points at), or empty when exactly one name is registered. Throws <see cref="ModelNotFoundException"/>, <see cref="ModelNotChosenException"/> or
    /// <see cref="ModelUnavailableException"/>.
    /// </summary>
    public ModelRecord Resolve(string? reference)
    {
        var newest = Newest();
        if (newest.Count == 0)
        {
            throw new ModelUnavailableException(_scanned
                ? "No model is registered yet: train one (it is served as soon as it is registered)."
                : "This replica has not read the model registry yet; try again shortly.");
        }
        reference = reference?.Trim() ?? "";
        if (reference.Length == 0)
        {
            return newest.Count == 1 ? newest[0]
                : throw new ModelNotChosenException($"Field 'model' is empty, but {newest.Count} models are registered: name one of {string.Join(", ", newest.Select(r => r.ServedName).Order(StringComparer.Ordinal))} (or name@version).");
        }
        var at = reference.IndexOf('@');
        var name = at < 0 ? reference : reference[..at];
        var byName = newest.FirstOrDefault(r => r.ServedName == name)
            ?? throw new ModelNotFoundException($"No model is named '{name}'; registered: {string.Join(", ", newest.Select(r => r.ServedName).Order(StringComparer.Ordinal))}.");
        if (at < 0)
        {
            return byName;
        }
        var suffix = reference[(at + 1)..];
        if (!int.TryParse(suffix, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var version))
        {
            if (!Datasets.DatasetPaths.IsValidName(suffix))
            {
                throw new ModelNotChosenException($"Field 'model': '{reference}' is not name, name@version (a whole number) or name@alias (an alias is [a-z0-9-], starting with a letter).");
            }
            if (!_aliases.TryGetValue((name, suffix), out var alias))
            {
                var known = _aliases.Keys.Where(k => k.Name == name).Select(k => k.Alias).Order(StringComparer.Ordinal).ToList();
                throw new ModelNotFoundException($"Model '{name}' has no alias '{suffix}'; " +
                    (known.Count == 0 ? "it has no aliases (PromoteModel sets one)." : $"its aliases: {string.Join(", ", known)}."));
            }
            version = alias.ModelVersion;
        }
        return _records.FirstOrDefault(r => r.ServedName == name && r.ModelVersion == version)
            ?? throw new ModelNotFoundException($"Model '{name}' has no version {version}; its newest is {byName.ModelVersion}.");
    }

    /// <summary>
    /// Leases the model <paramref name="reference"/> names for one request, loading it first if it is not in memory;
    /// dispose the lease when done.
    /// </summary>
    public async Task<LoadedModel> AcquireAsync(string? reference, CancellationToken cancellationToken)
    {
        var record = Resolve(reference);
        while (true)
        {
            if (_loaded.TryGetValue(record.ModelId, out var slot))
            {
                if (slot.Model.TryAcquire())
                {
                    Volatile.Write(ref slot.LastUsed, Stopwatch.GetTimestamp());
                    return slot.Model;
                }
                continue; // unloaded just now: load again
            }
            try
            {
                await LoadAsync(record, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                throw new ModelUnavailableException($"Model {record.Reference} ({record.ModelId}) is not in memory and cannot be loaded now: {e.Message}", e);
            }
        }
    }

    /// <summary>
    /// Reads the registry (each record once; a listing otherwise) and loads the newest version of every name that is not
    /// in memory. Returns how many models were loaded. Cheap to call often.
    /// </summary>
    public async Task<int> ReconcileAsync(CancellationToken cancellationToken)
    {
        await ScanAsync(cancellationToken).ConfigureAwait(false);
        var loaded = 0;
        Exception? failure = null;
        foreach (var record in Newest().OrderByDescending(r => r.CreatedAt).Concat(AliasHolders()).DistinctBy(r => r.ModelId))
        {
            if (_loaded.ContainsKey(record.ModelId))
            {
                continue;
            }
            try
            {
                loaded += await LoadAsync(record, cancellationToken).ConfigureAwait(false) ? 1 : 0;
            }
            catch (Exception e) when (e is not OperationCanceledException && _unloadable.ContainsKey(record.ModelId))
            {
                // Said once by LoadAsync; the next newest version of the name is tried on the next pass.
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                failure ??= e;
            }
        }
        if (failure is not null)
        {
            throw failure;
        }
        return loaded;
    }

    private async Task ScanAsync(CancellationToken cancellationToken)
    {
        await _scanLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            foreach (var id in await registry.ListIdsAsync(cancellationToken).ConfigureAwait(false))
            {
                if (_known.ContainsKey(id))
                {
                    continue;
                }
                try
                {
                    // A record is written whole and never changed, so each is read once.
                    _known[id] = await registry.GetAsync(id, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is System.Text.Json.JsonException or InvalidDataException or NotSupportedException)
                {
                    // A damaged record must not hide the others: it is skipped for good, and said once.
                    _known[id] = null;
                    logger.LogError(e, "Model record {Path} cannot be read; it is never served", ModelRegistry.RecordPath(id));
                }
            }
            PublishRecords();
            var aliases = new Dictionary<(string, string), AliasMove>();
            foreach (var name in _records.Select(r => r.ServedName).Distinct(StringComparer.Ordinal))
            {
                foreach (var move in await registry.CurrentAliasesAsync(name, cancellationToken).ConfigureAwait(false))
                {
                    aliases[(move.Name, move.Alias)] = move;
                }
            }
            // A move heard by message while the listing ran is newer than what the listing read: keep it.
            foreach (var (key, move) in _aliases)
            {
                if (!aliases.TryGetValue(key, out var listed) || listed.Sequence < move.Sequence)
                {
                    aliases[key] = move;
                }
            }
            _aliases = aliases.Where(p => p.Value.ModelVersion > 0).ToDictionary();
            _scanned = true;
        }
        finally
        {
            _scanLock.Release();
        }
    }

    /// <summary>
    /// Applies an alias move heard by message (ModelAliasMoved) unless a newer move of the alias is known, and loads the
    /// version it points at, so the first request that names the alias does not wait for the load.
    /// </summary>
    public async Task OfferAliasAsync(AliasMove move, CancellationToken cancellationToken)
    {
        await _scanLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var key = (move.Name, move.Alias);
            if (_aliases.TryGetValue(key, out var known) && known.Sequence >= move.Sequence)
            {
                return;
            }
            if (move.ModelVersion > 0 && !_known.ContainsKey(move.ModelId))
            {
                _known[move.ModelId] = await registry.GetAsync(move.ModelId, cancellationToken).ConfigureAwait(false);
                PublishRecords();
            }
            var aliases = _aliases.ToDictionary();
            if (move.ModelVersion > 0)
            {
                aliases[key] = move;
            }
            else
            {
                aliases.Remove(key);
            }
            _aliases = aliases;
        }
        finally
        {
            _scanLock.Release();
        }
        if (_records.FirstOrDefault(r => r.ModelId == move.ModelId) is { } record && !_unloadable.ContainsKey(record.ModelId))
        {
            await LoadAsync(record, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Publishes the readable records, by name then version (called under the scan lock).</summary>
    private void PublishRecords() =>
        _records = [.. _known.Values.OfType<ModelRecord>().OrderBy(r => r.ServedName, StringComparer.Ordinal).ThenBy(r => r.ModelVersion).ThenBy(r => r.CreatedAt)];

    /// <summary>Makes <paramref name="record"/> known (a ModelTrained) and loads it if it is its name's newest.</summary>
    public async Task<bool> OfferAsync(ModelRecord record, CancellationToken cancellationToken)
    {
        await _scanLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            _known[record.ModelId] = record;
            PublishRecords();
        }
        finally
        {
            _scanLock.Release();
        }
        var newest = Newest().FirstOrDefault(r => r.ServedName == record.ServedName);
        return newest?.ModelId == record.ModelId && await LoadAsync(record, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Loads <paramref name="record"/> unless it is in memory. When it is its name's newest version, older versions of
    /// the name are unloaded (a swap). Then the least recently used models are unloaded while over the memory budget.
    /// </summary>
    private async Task<bool> LoadAsync(ModelRecord record, CancellationToken cancellationToken)
    {
        await _loadLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_loaded.ContainsKey(record.ModelId))
            {
                return false;
            }
            // A load with no trace of its own (the reconcile loop's) joins the training run's, so the trace of an upload
            // ends with its model being served however the loader heard of it.
            using var activity = Activity.Current is null && ActivityContext.TryParse(record.TraceParent, null, out var trained)
                ? Source.StartActivity("load-model", ActivityKind.Internal, trained)
                : Source.StartActivity("load-model");
            activity?.SetTag("bigdataai.model_id", record.ModelId);
            activity?.SetTag("bigdataai.model", record.Reference);
            activity?.SetTag("bigdataai.dataset", record.Dataset);
            activity?.SetTag("bigdataai.dataset_version", record.DatasetVersion);
            byte[] weights;
            try
            {
                weights = await registry.ReadWeightsAsync(record, cancellationToken).ConfigureAwait(false);
            }
            catch (InvalidDataException e)
            {
                _unloadable[record.ModelId] = e.Message;
                logger.LogError(e, "Model {ModelId} ({Model}) cannot be loaded; it is skipped and the newest loadable version of its name is served", record.ModelId, record.Reference);
                throw;
            }
            Predictor predictor;
            try
            {
                predictor = CreatePredictor(record, weights);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // Weights that do not fit their architecture (or one this build does not know) will not load next time
                // either: serve the next newest instead of trying this one every few seconds.
                _unloadable[record.ModelId] = e.Message;
                logger.LogError(e, "Model {ModelId} ({Model}) cannot be loaded; it is skipped and the newest loadable version of its name is served", record.ModelId, record.Reference);
                throw;
            }
            _loaded[record.ModelId] = new Slot(new LoadedModel(record, predictor), weights.LongLength);
            Swaps.Add(1);
            var replaced = new List<string>();
            var newest = Newest().FirstOrDefault(r => r.ServedName == record.ServedName);
            if (newest?.ModelId == record.ModelId)
            {
                foreach (var (id, slot) in _loaded)
                {
                    // An older version an alias points at stays: name@alias requests keep being answered from memory.
                    if (id != record.ModelId && slot.Model.Record.ServedName == record.ServedName && !IsAliasHolder(slot.Model.Record) && _loaded.TryRemove(id, out var old))
                    {
                        old.Model.Dispose();
                        replaced.Add(old.Model.Record.Reference);
                    }
                }
            }
            logger.LogInformation("Serving model {Model} ({ModelId}, {Architecture}, {Dataset} v{Version}, test accuracy {Accuracy:P2}){Previous}",
                record.Reference, record.ModelId, record.Spec.Architecture, record.Dataset, record.DatasetVersion, record.TestAccuracy,
                replaced.Count == 0 ? "" : $"; replaced {string.Join(", ", replaced)}");
            EvictOverBudget(record.ModelId);
            return true;
        }
        finally
        {
            _loadLock.Release();
        }
    }

    private void EvictOverBudget(string keep)
    {
        var budget = (long)options.Value.MemoryBudgetMiB << 20;
        while (_loaded.Values.Sum(s => s.Bytes) > budget)
        {
            var victim = _loaded.Where(p => p.Key != keep).OrderBy(p => Volatile.Read(ref p.Value.LastUsed)).Select(p => p.Key).FirstOrDefault();
            if (victim is null || !_loaded.TryRemove(victim, out var slot))
            {
                return;
            }
            slot.Model.Dispose();
            Evictions.Add(1);
            logger.LogInformation("Unloaded model {Model} ({ModelId}), the least recently used, to stay within Inference:MemoryBudgetMiB {Budget}; it loads again on its next request",
                slot.Model.Record.Reference, victim, options.Value.MemoryBudgetMiB);
        }
    }

    private static Predictor CreatePredictor(ModelRecord record, byte[] weights)
    {
        using var stream = new MemoryStream(weights, writable: false);
        return new Predictor(record.Spec, stream);
    }

    public void Dispose()
    {
        foreach (var id in _loaded.Keys)
        {
            if (_loaded.TryRemove(id, out var slot))
            {
                slot.Model.Dispose();
            }
        }
        _loadLock.Dispose();
        _scanLock.Dispose();
    }
}
