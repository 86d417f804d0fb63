using BigDataAI.Models.Registry;
using Microsoft.Extensions.Logging;

namespace BigDataAI.Training.Services;

/// <summary>
/// The control plane's in-memory view of the registry, for searches: every readable model record (each read once: a
/// record never changes), its tags and the aliases that point at it. A search reads storage only when a job has
/// registered a model the view does not have yet, or when the view is older than <see cref="MaxAge"/>; otherwise it is one
/// pass over memory. Tags and aliases changed through this control plane update the view at once.
/// </summary>
public sealed class ModelIndex(ModelRegistry registry, JobTracker jobs, ILogger<ModelIndex> logger)
{
    /// <summary>How long the view is trusted without a listing (models registered by other means appear within it).</summary>
    public static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(30);

    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<string, Entry> _models = new(StringComparer.Ordinal);
    private Dictionary<(string Name, int Version), List<string>> _aliases = [];
    private long _scannedAt;
    private bool _aliasesRead;

    /// <summary>One model as searches see it.</summary>
    public sealed record Entry(ModelRecord Record, IReadOnlyDictionary<string, string> Tags);

    /// <summary>The models matching <paramref name="filter"/>, newest first, at most <paramref name="limit"/>, with their aliases.</summary>
    public async Task<IReadOnlyList<(Entry Model, IReadOnlyList<string> Aliases)>> SearchAsync(Func<Entry, IReadOnlyList<string>, bool> filter, int limit, CancellationToken cancellationToken)
    {
        await RefreshAsync(cancellationToken).ConfigureAwait(false);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var matches = new List<(Entry, IReadOnlyList<string>)>();
            foreach (var entry in _models.Values)
            {
                var aliases = AliasesOf(entry.Record);
                if (filter(entry, aliases))
                {
                    matches.Add((entry, aliases));
                }
            }
            matches.Sort((a, b) => ModelRegistry.IsNewer(a.Item1.Record, b.Item1.Record) ? -1 : ModelRegistry.IsNewer(b.Item1.Record, a.Item1.Record) ? 1 : 0);
            return matches.Count > limit ? matches[..limit] : matches;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>The aliases that point at <paramref name="record"/> now.</summary>
    public IReadOnlyList<string> AliasesOf(ModelRecord record) =>
        _aliases.TryGetValue((record.ServedName, record.ModelVersion), out var aliases) ? aliases : [];

    /// <summary>Records a tag change made through this control plane.</summary>
    public async Task SetTagsAsync(ModelRecord record, IReadOnlyDictionary<string, string> tags, CancellationToken cancellationToken)
    {
        await registry.SetTagsAsync(record.ModelId, tags, cancellationToken).ConfigureAwait(false);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            _models[record.ModelId] = new Entry(record, tags);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Records an alias move made through this control plane.</summary>
    public async Task AliasMovedAsync(AliasMove move, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var aliases = _aliases.ToDictionary(p => p.Key, p => p.Value.Where(a => a != move.Alias || p.Key.Name != move.Name).ToList());
            if (move.ModelVersion > 0)
            {
                var key = (move.Name, move.ModelVersion);
                aliases[key] = [.. aliases.GetValueOrDefault(key) ?? [], move.Alias];
                aliases[key].Sort(StringComparer.Ordinal);
            }
            _aliases = aliases;
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task RefreshAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var stale = _scannedAt == 0 || System.Diagnostics.Stopwatch.GetElapsedTime(_scannedAt) > MaxAge
                || jobs.Search(j => j.ModelId is { } id && !_models.ContainsKey(id), 1).Count > 0;
            if (!stale)
            {
                return;
            }
            foreach (var id in await registry.ListIdsAsync(cancellationToken).ConfigureAwait(false))
            {
                if (_models.ContainsKey(id))
                {
                    continue;
                }
                try
                {
                    if (await registry.GetAsync(id, cancellationToken).ConfigureAwait(false) is { } record)
                    {
                        _models[id] = new Entry(record, await registry.GetTagsAsync(id, cancellationToken).ConfigureAwait(false));
                    }
                }
                catch (Exception e) when (e is System.Text.Json.JsonException or InvalidDataException)
                {
                    logger.LogWarning(e, "Model record {Path} cannot be read; searches leave it out", ModelRegistry.RecordPath(id));
                }
            }
            if (!_aliasesRead || System.Diagnostics.Stopwatch.GetElapsedTime(_scannedAt) > MaxAge)
            {
                var aliases = new Dictionary<(string, int), List<string>>();
                foreach (var move in await registry.CurrentAliasesAsync(cancellationToken: cancellationToken).ConfigureAwait(false))
                {
                    var key = (move.Name, move.ModelVersion);
                    (aliases.TryGetValue(key, out var list) ? list : aliases[key] = []).Add(move.Alias);
                }
                _aliases = aliases;
                _aliasesRead = true;
            }
            _scannedAt = System.Diagnostics.Stopwatch.GetTimestamp();
        }
        finally
        {
            _gate.Release();
        }
    }
}
