using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using BigDataAI.Datasets;
using BigDataAI.Models.Features;

namespace BigDataAI.Models;

/// <summary>
/// Training rows that stay in storage as shards and are read one shard at a time, as model inputs
/// (<see cref="TrainingData"/> of one shard). <see cref="ShuffleLoader"/> reads them for <see cref="Trainer"/>.
/// </summary>
public interface ITrainingShards
{
    /// <summary>Number of shards.</summary>
    int Count { get; }

    /// <summary>Rows of all shards together.</summary>
    int Rows { get; }

    /// <summary>Rows of shard <paramref name="index"/> (known without reading it).</summary>
    int RowsOf(int index);

    /// <summary>Floats per row of model input.</summary>
    int FeatureCount { get; }

    /// <summary>Whether the shards hold regression targets (else class labels).</summary>
    bool Regression { get; }

    /// <summary>
    /// A text that changes whenever any shard's content or the way rows become model inputs changes (e.g. the SHA-256 of
    /// the shards' own SHA-256s and the feature pipeline); a checkpoint records it, and a run resumes only on equal data.
    /// </summary>
    string Identity { get; }

    /// <summary>Reads shard <paramref name="index"/> as model inputs. May be called from any thread, several at once.</summary>
    Task<TrainingData> ReadAsync(int index, CancellationToken cancellationToken);
}

/// <summary>Model inputs already in memory, cut into shards of <c>rowsPerShard</c> rows (for tests and small data).</summary>
public sealed class InMemoryTrainingShards : ITrainingShards
{
    private readonly TrainingData _data;
    private readonly int _rowsPerShard;

    /// <summary>Cuts <paramref name="data"/> (without soft targets) into shards of <paramref name="rowsPerShard"/> rows, in order.</summary>
    public InMemoryTrainingShards(TrainingData data, int rowsPerShard)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentOutOfRangeException.ThrowIfLessThan(rowsPerShard, 1);
        if (data.SoftTargets is not null)
        {
            throw new ArgumentException("Soft targets are trained from memory only (Trainer.Train with TrainingData).", nameof(data));
        }
        _data = data;
        _rowsPerShard = rowsPerShard;
        var fingerprint = DataFingerprint.Of(data);
        Identity = $"memory:{rowsPerShard}:{fingerprint.LabelsSha256}:{fingerprint.FeaturesSha256}";
    }

    /// <inheritdoc />
    public int Count => (_data.Rows + _rowsPerShard - 1) / _rowsPerShard;
    /// <inheritdoc />
    public int Rows => _data.Rows;
    /// <inheritdoc />
    public int RowsOf(int index) => Math.Min(_rowsPerShard, _data.Rows - index * _rowsPerShard);
    /// <inheritdoc />
    public int FeatureCount => _data.FeatureCount;
    /// <inheritdoc />
    public bool Regression => _data.Targets is not null;
    /// <inheritdoc />
    public string Identity { get; }

    /// <inheritdoc />
    public Task<TrainingData> ReadAsync(int index, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
        var start = index * _rowsPerShard;
        var rows = RowsOf(index);
        var features = _data.Features.AsSpan(start * FeatureCount, rows * FeatureCount).ToArray();
        return Task.FromResult(_data.Targets is { } targets
            ? new TrainingData(features, targets.AsSpan(start, rows).ToArray(), FeatureCount)
            : new TrainingData(features, _data.Labels.AsSpan(start, rows).ToArray(), FeatureCount));
    }
}

/// <summary>
/// One split of a labeled version, read shard by shard from storage (each shard checked against its SHA-256) and turned
/// into model inputs by a fitted <see cref="FeaturePipeline"/>.
/// </summary>
public sealed class SplitTrainingShards : ITrainingShards
{
    private readonly DatasetStore _store;
    private readonly LabeledManifest _labeled;
    private readonly string _split;
    private readonly FeaturePipeline _features;
    private readonly IReadOnlyList<ShardInfo> _shards;

    /// <summary>The shards of <paramref name="split"/> of <paramref name="labeled"/>, turned into inputs by <paramref name="features"/>.</summary>
    /// <exception cref="DatasetNotFoundException">The labeled version has no such split.</exception>
    public SplitTrainingShards(DatasetStore store, LabeledManifest labeled, string split, FeaturePipeline features)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(labeled);
        ArgumentNullException.ThrowIfNull(features);
        if (!labeled.Splits.TryGetValue(split, out var info))
        {
            throw new DatasetNotFoundException($"Dataset '{labeled.Dataset}' v{labeled.Version} has no '{split}' split.");
        }
        _store = store;
        _labeled = labeled;
        _split = split;
        _features = features;
        _shards = info.Shards;
        Rows = checked((int)info.Rows);
        Regression = labeled.EffectiveSchema.IsRegression;
        var text = new StringBuilder().Append(labeled.Dataset).Append('/').Append(labeled.Version).Append('/').Append(split);
        foreach (var shard in _shards)
        {
            text.Append('\n').Append(shard.Sha256);
        }
        text.Append('\n').Append(JsonSerializer.Serialize(features));
        Identity = "shards:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    /// <inheritdoc />
    public int Count => _shards.Count;
    /// <inheritdoc />
    public int Rows { get; }
    /// <inheritdoc />
    public int RowsOf(int index) => checked((int)_shards[index].Rows);
    /// <inheritdoc />
    public int FeatureCount => _features.Width;
    /// <inheritdoc />
    public bool Regression { get; }
    /// <inheritdoc />
    public string Identity { get; }

    /// <inheritdoc />
    public async Task<TrainingData> ReadAsync(int index, CancellationToken cancellationToken)
    {
        var table = await _store.ReadSplitShardAsync(_labeled, _split, index, cancellationToken).ConfigureAwait(false);
        var features = _features.Transform(table);
        return Regression
            ? new TrainingData(features, table.Targets(), FeatureCount)
            : new TrainingData(features, table.ClassIndices(_labeled.Classes), FeatureCount);
    }
}
