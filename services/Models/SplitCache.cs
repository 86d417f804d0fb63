using TorchSharp;
using static TorchSharp.torch;

namespace BigDataAI.Models;

/// <summary>
/// A split of training shards read once and kept on the training device (<see cref="TrainingOptions.CacheBytes"/>): the
/// model inputs as one [rows, features] tensor in shard-index order, the labels (or regression targets) beside them, and
/// each shard's row count, so a pass over the cache can cut its batches where a pass over the shards would.
/// </summary>
internal sealed class SplitCache : IDisposable
{
    private SplitCache(Tensor features, Tensor labels, long[]? classes, float[]? targets, int[] shardRows)
    {
        Features = features;
        Labels = labels;
        Classes = classes;
        Targets = targets;
        ShardRows = shardRows;
    }

    /// <summary>Model inputs, [rows, features], on the device.</summary>
    public Tensor Features { get; }

    /// <summary>Class indices (int64) or regression targets (float32), [rows], on the device.</summary>
    public Tensor Labels { get; }

    /// <summary>Class indices, in memory, for scoring; null for a regression.</summary>
    public long[]? Classes { get; }

    /// <summary>Regression targets, in memory, for scoring; null for a classifier.</summary>
    public float[]? Targets { get; }

    /// <summary>Rows of each shard, by shard index.</summary>
    public int[] ShardRows { get; }

    /// <summary>Bytes the cache of <paramref name="shards"/> takes: 4 per feature and 8 for the label, per row.</summary>
    public static long BytesOf(ITrainingShards shards) => (long)shards.Rows * ((long)shards.FeatureCount * sizeof(float) + sizeof(long));

    /// <summary>Reads every shard of <paramref name="shards"/> (the next one in the background while one is copied) onto <paramref name="device"/>.</summary>
    /// <exception cref="InvalidDataException">A shard holds other rows or features than its manifest says.</exception>
    public static SplitCache Read(ITrainingShards shards, Device device, CancellationToken cancellationToken)
    {
        var rows = shards.Rows;
        var width = shards.FeatureCount;
        var regression = shards.Regression;
        var classes = regression ? null : new long[rows];
        var targets = regression ? new float[rows] : null;
        var shardRows = new int[shards.Count];
        var features = empty([rows, width], ScalarType.Float32, device);
        Task<TrainingData>? next = shards.Count > 0 ? Task.Run(() => shards.ReadAsync(0, cancellationToken), cancellationToken) : null;
        try
        {
            var offset = 0;
            for (var i = 0; i < shards.Count; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var data = next!.GetAwaiter().GetResult();
                var following = i + 1;
                next = following < shards.Count ? Task.Run(() => shards.ReadAsync(following, cancellationToken), cancellationToken) : null;
                if (data.Rows != shards.RowsOf(i) || data.FeatureCount != width || offset + data.Rows > rows)
                {
                    throw new InvalidDataException($"Shard {i} holds {data.Rows} rows of {data.FeatureCount} features; {shards.RowsOf(i)} of {width} were expected.");
                }
                using (var x = Devices.Upload(data.Features, data.Rows, width, device))
                using (var slot = features.narrow(0, offset, data.Rows))
                {
                    slot.copy_(x);
                }
                if (regression)
                {
                    data.Targets!.CopyTo(targets!, offset);
                }
                else
                {
                    data.Labels.CopyTo(classes!, offset);
                }
                shardRows[i] = data.Rows;
                offset += data.Rows;
            }
            if (offset != rows)
            {
                throw new InvalidDataException($"The shards hold {offset} rows; {rows} were expected.");
            }
            var labels = regression ? Devices.Upload(targets!, device) : Devices.Upload(classes!, device);
            return new SplitCache(features, labels, classes, targets, shardRows);
        }
        catch
        {
            features.Dispose();
            if (next is not null)
            {
                try
                {
                    next.Wait(CancellationToken.None);
                }
                catch (AggregateException)
                {
                }
            }
            throw;
        }
    }

    /// <summary>
    /// Accuracy (R² for a regression) of <paramref name="model"/> on the cached rows, predicted shard by shard in batches
    /// of <paramref name="batchSize"/> as a pass over the shards would, so the score is the same to the last bit.
    /// </summary>
    public double Score(nn.Module<Tensor, Tensor> model, int batchSize)
    {
        var values = Targets is null ? null : new List<float>(Targets.Length);
        var predicted = Classes is null ? null : new List<long>(Classes.Length);
        var offset = 0;
        foreach (var rows in ShardRows)
        {
            using var features = Features.narrow(0, offset, rows);
            if (values is not null)
            {
                values.AddRange(Inference.PredictValues(model, features, batchSize));
            }
            else
            {
                predicted!.AddRange(Inference.PredictClasses(model, features, batchSize));
            }
            offset += rows;
        }
        return values is not null ? Evaluator.R2(Targets!, [.. values]) : Evaluator.Accuracy(Classes!, [.. predicted!]);
    }

    public void Dispose()
    {
        Features.Dispose();
        Labels.Dispose();
    }
}
