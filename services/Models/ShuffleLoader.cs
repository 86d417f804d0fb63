namespace BigDataAI.Models;

/// <summary>One batch of model inputs from <see cref="ShuffleLoader"/>: <see cref="Rows"/> rows, row-major.</summary>
/// <param name="Index">0-based batch index within the epoch.</param>
/// <param name="Features">Rows x feature count floats.</param>
/// <param name="Labels">Class index per row (zeros for a regression).</param>
/// <param name="Targets">Regression targets per row; null for a classifier.</param>
public sealed record LoaderBatch(int Index, float[] Features, long[] Labels, float[]? Targets)
{
    /// <summary>Rows in the batch (the last one of an epoch may be short).</summary>
    public int Rows => Labels.Length;
}

/// <summary>
/// Feeds training batches from shards (<see cref="ITrainingShards"/>) in memory bounded by the shuffle buffer, whatever
/// the data's size. Each epoch visits the shards in an order drawn from the seed and the epoch, streams their rows
/// through a shuffle buffer of <see cref="ShuffleBuffer"/> rows (as tf.data's <c>shuffle</c>: each arriving row takes the
/// place of a row drawn at random from the full buffer, which is emitted; the rest is emitted in a random order at the
/// end), and cuts the emitted rows into batches. While one shard is consumed the next is read and decoded in the
/// background (one shard of prefetch).
/// </summary>
/// <remarks>
/// An epoch's batches depend only on the seed, the epoch, the shards' content and the two sizes (<see cref="Scheme"/>),
/// never on timing: prefetching changes when a shard is read, not what comes out. So a run resumed in the middle of an
/// epoch replays the epoch's order and skips the batches already trained (<see cref="Epoch"/> with <c>skipBatches</c>:
/// the skipped rows are read but not copied), and gets the very batches an uninterrupted run would. Memory: the buffer's
/// rows keep their shards alive, so about <c>ShuffleBuffer / rows-per-shard + 2</c> decoded shards are held at once.
/// </remarks>
public sealed class ShuffleLoader
{
    /// <summary>Shuffle buffer rows unless set otherwise.</summary>
    public const int DefaultShuffleBuffer = 8192;

    /// <summary>
    /// How the loader orders an epoch, recorded in checkpoints (a checkpoint of another scheme cannot be continued
    /// identically and is refused).
    /// </summary>
    public const string Scheme = "shards: fisher-yates(System.Random(EpochSeed(seed, epoch))); rows: shuffle-buffer(N) drawn from the same generator; batches of B in emission order";

    private readonly int _seed;

    /// <summary>A loader of <paramref name="shards"/> in batches of <paramref name="batchSize"/>, ordered by <paramref name="seed"/>, through a buffer of <paramref name="shuffleBuffer"/> rows.</summary>
    public ShuffleLoader(ITrainingShards shards, int batchSize, int seed, int shuffleBuffer = DefaultShuffleBuffer)
    {
        ArgumentNullException.ThrowIfNull(shards);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(shuffleBuffer, 1);
        Shards = shards;
        BatchSize = batchSize;
        ShuffleBuffer = shuffleBuffer;
        _seed = seed;
    }

    /// <summary>The shards read.</summary>
    public ITrainingShards Shards { get; }

    /// <summary>Rows per batch (the last of an epoch may be short).</summary>
    public int BatchSize { get; }

    /// <summary>The seed the shard order and the buffer's draws come from.</summary>
    public int Seed => _seed;

    /// <summary>Rows the shuffle buffer holds.</summary>
    public int ShuffleBuffer { get; }

    /// <summary>Batches in every epoch: rows / batch size, rounded up.</summary>
    public int BatchesPerEpoch => (Shards.Rows + BatchSize - 1) / BatchSize;

    /// <summary>
    /// The batches of epoch <paramref name="epoch"/> (1-based), in order, starting after the first
    /// <paramref name="skipBatches"/> (which are drawn, so the rest are the same, but not returned).
    /// </summary>
    public IEnumerable<LoaderBatch> Epoch(int epoch, int skipBatches = 0, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(skipBatches);
        var width = Shards.FeatureCount;
        var regression = Shards.Regression;
        var index = 0;
        var filled = 0;
        float[]? features = null;
        long[]? labels = null;
        float[]? targets = null;
        foreach (var (data, row) in Rows(epoch, cancellationToken))
        {
            if (index >= skipBatches)
            {
                if (filled == 0)
                {
                    var size = Math.Min(BatchSize, Shards.Rows - index * BatchSize);
                    features = new float[size * width];
                    labels = new long[size];
                    targets = regression ? new float[size] : null;
                }
                data.Features.AsSpan(row * width, width).CopyTo(features.AsSpan(filled * width, width));
                labels![filled] = data.Labels[row];
                if (targets is not null)
                {
                    targets[filled] = data.Targets![row];
                }
            }
            if (++filled == BatchSize)
            {
                if (index >= skipBatches)
                {
                    yield return new LoaderBatch(index, features!, labels!, targets);
                }
                index++;
                filled = 0;
            }
        }
        if (filled > 0 && index >= skipBatches)
        {
            yield return new LoaderBatch(index, features!, labels!, targets);
        }
    }

    /// <summary>
    /// The epoch's rows in emission order as indices into the whole split (a shard's rows follow those of the shards before
    /// it, by shard index), worked out without reading a shard: the order <see cref="Epoch"/> cuts its batches from, so
    /// a caller holding the split in memory can gather the very same batches.
    /// </summary>
    public IEnumerable<int> RowOrder(int epoch)
    {
        var offsets = new int[Shards.Count];
        for (var i = 1; i < offsets.Length; i++)
        {
            offsets[i] = offsets[i - 1] + Shards.RowsOf(i - 1);
        }
        var (random, order) = Start(epoch);
        foreach (var (offset, row) in Emission(random, order, k => (offsets[order[k]], Shards.RowsOf(order[k]))))
        {
            yield return offset + row;
        }
    }

    /// <summary>The epoch's generator and its shard order: a Fisher-Yates shuffle drawn from <see cref="Trainer.EpochSeed"/>.</summary>
    private (Random Random, int[] Order) Start(int epoch)
    {
        var random = new Random(Trainer.EpochSeed(_seed, epoch));
        var order = new int[Shards.Count];
        for (var i = 0; i < order.Length; i++)
        {
            order[i] = i;
        }
        for (var i = order.Length - 1; i > 0; i--)
        {
            var j = random.Next(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return (random, order);
    }

    /// <summary>
    /// The shuffle buffer over the shards in <paramref name="order"/>: <paramref name="open"/> gives the k-th shard's
    /// handle and row count when its rows are first needed, and the rows come out as (handle, row). The one place the
    /// emission order is drawn, so reading shards and gathering from memory cannot disagree.
    /// </summary>
    private IEnumerable<(TShard Shard, int Row)> Emission<TShard>(Random random, int[] order, Func<int, (TShard Shard, int Rows)> open)
    {
        var buffer = new (TShard Shard, int Row)[Math.Min(ShuffleBuffer, Math.Max(1, Shards.Rows))];
        var held = 0;
        for (var k = 0; k < order.Length; k++)
        {
            var (shard, rows) = open(k);
            for (var r = 0; r < rows; r++)
            {
                if (held < buffer.Length)
                {
                    buffer[held++] = (shard, r);
                    continue;
                }
                var j = random.Next(buffer.Length);
                yield return buffer[j];
                buffer[j] = (shard, r);
            }
        }
        // The end of the epoch: what the buffer holds, in a random order.
        for (var i = held - 1; i > 0; i--)
        {
            var j = random.Next(i + 1);
            (buffer[i], buffer[j]) = (buffer[j], buffer[i]);
        }
        for (var i = 0; i < held; i++)
        {
            yield return buffer[i];
        }
    }

    /// <summary>The epoch's rows in emission order, as (shard data, row in it).</summary>
    private IEnumerable<(TrainingData Data, int Row)> Rows(int epoch, CancellationToken cancellationToken)
    {
        var (random, order) = Start(epoch);
        Task<TrainingData>? next = order.Length > 0 ? Prefetch(order[0], cancellationToken) : null;
        try
        {
            foreach (var item in Emission(random, order, k =>
            {
                cancellationToken.ThrowIfCancellationRequested();
                var data = next!.GetAwaiter().GetResult();
                next = k + 1 < order.Length ? Prefetch(order[k + 1], cancellationToken) : null;
                if (data.Rows != Shards.RowsOf(order[k]) || data.FeatureCount != Shards.FeatureCount)
                {
                    throw new InvalidDataException($"Shard {order[k]} holds {data.Rows} rows of {data.FeatureCount} features; {Shards.RowsOf(order[k])} of {Shards.FeatureCount} were expected.");
                }
                return (data, data.Rows);
            }))
            {
                yield return item;
            }
        }
        finally
        {
            // Stopped early (cancelled, or the caller stopped reading): let a read in flight finish, and observe its failure.
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
        }
    }

    private Task<TrainingData> Prefetch(int shard, CancellationToken cancellationToken) =>
        Task.Run(() => Shards.ReadAsync(shard, cancellationToken), cancellationToken);
}
