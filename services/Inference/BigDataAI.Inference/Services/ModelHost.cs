using System.Diagnostics;
using System.Diagnostics.Metrics;
using BigDataAI.Models;
using BigDataAI.Models.Registry;
using Microsoft.Extensions.Logging;

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

/// <summary>
/// Holds the model being served. A swap builds the new predictor completely first, then switches the reference;
/// requests in flight keep the model they leased until they finish.
/// </summary>
public sealed class ModelHost(ModelRegistry registry, ILogger<ModelHost> logger) : IDisposable
{
    public const string TelemetryName = "BigDataAI.Inference";
    internal static readonly ActivitySource Source = new(TelemetryName);
    private static readonly Meter Meter = new(TelemetryName);
    internal static readonly Counter<long> Predictions = Meter.CreateCounter<long>("bigdataai.inference.predictions", description: "Inputs classified");
    internal static readonly Histogram<double> Latency = Meter.CreateHistogram<double>("bigdataai.inference.predict.duration", "ms", "Predict call duration");
    private static readonly Counter<long> Swaps = Meter.CreateCounter<long>("bigdataai.inference.model_swaps", description: "Models swapped in");

    private readonly SemaphoreSlim _loadLock = new(1, 1);
    private readonly Dictionary<string, ModelRecord?> _known = new(StringComparer.Ordinal);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> _unloadable = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _scanLock = new(1, 1);
    private LoadedModel? _current;

    public LoadedModel? Current => Volatile.Read(ref _current);

    /// <summary>Leases the current model for one request; dispose the lease when done. Null when nothing is loaded.</summary>
    public LoadedModel? Acquire()
    {
        while (true)
        {
            var current = Volatile.Read(ref _current);
            if (current is null)
            {
                return null;
            }
            if (current.TryAcquire())
            {
                return current;
            }
        }
    }

    /// <summary>
    /// Loads the newest registered model if it is newer than the one served. Returns whether a swap happened. Cheap to
    /// call often: it lists the registry and reads only the records it has not seen before.
    /// </summary>
    public async Task<bool> LoadLatestAsync(CancellationToken cancellationToken)
    {
        var latest = await FindLatestAsync(cancellationToken).ConfigureAwait(false);
        return latest is not null && await LoadAsync(latest, cancellationToken).ConfigureAwait(false);
    }

    private async Task<ModelRecord?> FindLatestAsync(CancellationToken cancellationToken)
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
            ModelRecord? latest = null;
            foreach (var record in _known.Values)
            {
                if (record is not null && !_unloadable.ContainsKey(record.ModelId) && (latest is null || ModelRegistry.IsNewer(record, latest)))
                {
                    latest = record;
                }
            }
            return latest;
        }
        finally
        {
            _scanLock.Release();
        }
    }

    /// <summary>Loads <paramref name="record"/> unless the served model is the same or newer.</summary>
    public async Task<bool> LoadAsync(ModelRecord record, CancellationToken cancellationToken)
    {
        await _loadLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var current = Current;
            if (current is not null && (current.Record.ModelId == record.ModelId || !ModelRegistry.IsNewer(record, current.Record)))
            {
                return false;
            }
            using var activity = Source.StartActivity("load-model");
            activity?.SetTag("bigdataai.model_id", record.ModelId);
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
                logger.LogError(e, "Model {ModelId} cannot be loaded; it is skipped and the newest loadable model is served", record.ModelId);
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
                logger.LogError(e, "Model {ModelId} cannot be loaded; it is skipped and the newest loadable model is served", record.ModelId);
                throw;
            }
            var served = new LoadedModel(record, predictor);
            var previous = Interlocked.Exchange(ref _current, served);
            previous?.Dispose();
            Swaps.Add(1);
            logger.LogInformation("Serving model {ModelId} ({Architecture}, {Dataset} v{Version}, test accuracy {Accuracy:P2}){Previous}",
                record.ModelId, record.Spec.Architecture, record.Dataset, record.DatasetVersion, record.TestAccuracy,
                previous is null ? "" : $"; replaced {previous.Record.ModelId}");
            return true;
        }
        finally
        {
            _loadLock.Release();
        }
    }

    private static Predictor CreatePredictor(ModelRecord record, byte[] weights)
    {
        using var stream = new MemoryStream(weights, writable: false);
        return new Predictor(record.Spec, stream);
    }

    public void Dispose()
    {
        Interlocked.Exchange(ref _current, null)?.Dispose();
        _loadLock.Dispose();
        _scanLock.Dispose();
    }
}
