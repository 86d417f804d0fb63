using BigDataAI.Datasets;
using BigDataAI.Models;
using BigDataAI.Models.Features;
using BigDataAI.Storage;

namespace BigDataAI.IntegrationTests.Models;

/// <summary>Training fed by <see cref="ShuffleLoader"/>: shards in a seeded order, a shuffle buffer, resume mid-epoch.</summary>
public sealed class ShuffleLoaderTests
{
    private static readonly ModelSpec Mlp = new() { Architecture = "mlp", InputShape = [20], Classes = 4, HiddenSizes = [32, 16] };

    // 200 rows in shards of 30 (six of 30 and one of 20), batches of 32 (seven, the last of 8), a buffer of 50 rows.
    private static readonly TrainingData Train = Synthetic.Blobs(rows: 200, features: 20, classes: 4, seed: 1, spread: 1.5);
    private static readonly TrainingData Validation = Synthetic.Blobs(rows: 60, features: 20, classes: 4, seed: 2, spread: 1.5);
    private static readonly TrainingOptions Options = new() { Epochs = 3, BatchSize = 32, LearningRate = 1e-2, Seed = 7, Device = "cpu" };

    private static ShuffleLoader Loader(int seed = 7, int buffer = 50) => new(new InMemoryTrainingShards(Train, rowsPerShard: 30), batchSize: 32, seed, buffer);

    [Fact]
    public void A_seeded_loader_gives_the_same_batches_every_time_each_row_once_per_epoch_and_another_order_each_epoch()
    {
        var a = Loader().Epoch(1).ToList();
        var b = Loader().Epoch(1).ToList();

        Assert.Equal(7, a.Count);
        Assert.Equal([32, 32, 32, 32, 32, 32, 8], a.Select(x => x.Rows));
        Assert.Equal(a.Select(x => x.Features), b.Select(x => x.Features));
        Assert.Equal(a.Select(x => x.Labels), b.Select(x => x.Labels));

        // Every row exactly once: the multiset of rows (each row's first feature identifies it here) is the data's.
        static float[] Firsts(IEnumerable<LoaderBatch> batches) => [.. batches.SelectMany(x => Enumerable.Range(0, x.Rows).Select(r => x.Features[r * 20])).Order()];
        var data = Enumerable.Range(0, Train.Rows).Select(r => Train.Features[r * 20]).Order().ToArray();
        Assert.Equal(data, Firsts(a));
        var second = Loader().Epoch(2).ToList();
        Assert.Equal(data, Firsts(second));
        Assert.NotEqual(a.Select(x => x.Features), second.Select(x => x.Features));
        Assert.NotEqual(a.Select(x => x.Features), Loader(seed: 8).Epoch(1).Select(x => x.Features));

        // Mixed, not in source order: the first batch holds rows from more than two of the seven shards.
        var shardOf = Enumerable.Range(0, Train.Rows).ToDictionary(r => Train.Features[r * 20], r => r / 30);
        Assert.True(Enumerable.Range(0, 32).Select(r => shardOf[a[0].Features[r * 20]]).Distinct().Count() > 2);

        // Skipping replays the order: the batches after the first three are the same ones.
        var rest = Loader().Epoch(1, skipBatches: 3).ToList();
        Assert.Equal([3, 4, 5, 6], rest.Select(x => x.Index));
        Assert.Equal(a.Skip(3).Select(x => x.Features), rest.Select(x => x.Features));
    }

    [Fact]
    public void A_loader_run_is_reproducible_and_resumed_in_the_middle_of_an_epoch_ends_bit_for_bit_like_an_uninterrupted_one()
    {
        var options = Options with { CheckpointEveryBatches = 3 };
        var validation = new InMemoryTrainingShards(Validation, rowsPerShard: 25);
        using var uninterrupted = Trainer.Train(Mlp, Loader(), validation, options);
        using var again = Trainer.Train(Mlp, Loader(), validation, options);
        Assert.Equal(WeightBytes(uninterrupted), WeightBytes(again));
        Assert.True(uninterrupted.Epochs[^1].ValidationAccuracy > 0.5, $"accuracy {uninterrupted.Epochs[^1].ValidationAccuracy}");

        // Dies five batches into epoch 2; its last checkpoint is the one after batch 3 of epoch 2.
        using var cancellation = new CancellationTokenSource();
        var (dying, saved) = DiesFiveBatchesIntoEpoch2(cancellation);
        Assert.ThrowsAny<OperationCanceledException>(() => Trainer.Train(Mlp, Loader(), validation, options, dying, cancellationToken: cancellation.Token));

        var resume = TrainingResume.Read(new MemoryStream(saved()!));
        Assert.Equal(1, resume.Epoch);
        Assert.Equal((2, 3), (resume.Position!.Epoch, resume.Position.Batches));
        using var resumed = Trainer.Train(Mlp, Loader(), validation, options, null, resume);
        Assert.Equal(WeightBytes(uninterrupted), WeightBytes(resumed));
        Assert.Equal(uninterrupted.Epochs.Select(e => e.TrainLoss), resumed.Epochs.Select(e => e.TrainLoss));
        Assert.Equal(uninterrupted.Epochs.Select(e => e.ValidationAccuracy), resumed.Epochs.Select(e => e.ValidationAccuracy));

        // Another buffer size is another order: the checkpoint refuses it, naming it; so does the in-memory trainer.
        var other = Assert.Throws<ArgumentException>(() => Trainer.Train(Mlp, Loader(buffer: 40), validation, options, null, resume));
        Assert.Contains("ShuffleLoader.ShuffleBuffer", other.Message);
        Assert.Contains("orders its data by", Assert.Throws<ArgumentException>(() => Trainer.Train(Mlp, Train, Validation, options, null, resume)).Message);
    }

    [Fact]
    public void The_row_order_is_the_order_the_loaders_batches_hold_their_rows_in()
    {
        // Each row's first feature identifies it; the batches' rows, in order, are the rows RowOrder names.
        foreach (var epoch in new[] { 1, 2, 3 })
        {
            var fromBatches = Loader().Epoch(epoch).SelectMany(b => Enumerable.Range(0, b.Rows).Select(r => b.Features[r * 20])).ToArray();
            var fromOrder = Loader().RowOrder(epoch).Select(row => Train.Features[row * 20]).ToArray();
            Assert.Equal(fromBatches, fromOrder);
        }
    }

    [Fact]
    public void A_split_kept_in_memory_is_read_once_and_trains_bit_for_bit_as_the_split_read_every_epoch()
    {
        var options = Options with { CheckpointEveryBatches = 3 };
        var trainShards = new CountingShards(new InMemoryTrainingShards(Train, rowsPerShard: 30));
        var validationShards = new CountingShards(new InMemoryTrainingShards(Validation, rowsPerShard: 25));
        using var cached = Trainer.Train(Mlp, new ShuffleLoader(trainShards, 32, 7, 50), validationShards, options);
        // Each of the seven train shards and three validation shards read once, for three epochs.
        Assert.Equal(7, trainShards.Reads);
        Assert.Equal(3, validationShards.Reads);

        var streamedTrain = new CountingShards(new InMemoryTrainingShards(Train, rowsPerShard: 30));
        var streamedValidation = new CountingShards(new InMemoryTrainingShards(Validation, rowsPerShard: 25));
        using var streamed = Trainer.Train(Mlp, new ShuffleLoader(streamedTrain, 32, 7, 50), streamedValidation, options with { CacheBytes = 0 });
        Assert.Equal(21, streamedTrain.Reads);
        Assert.Equal(9, streamedValidation.Reads);
        Assert.Equal(WeightBytes(streamed), WeightBytes(cached));
        Assert.Equal(streamed.Epochs.Select(e => e.TrainLoss), cached.Epochs.Select(e => e.TrainLoss));
        Assert.Equal(streamed.Epochs.Select(e => e.ValidationAccuracy), cached.Epochs.Select(e => e.ValidationAccuracy));

        // A budget that holds the train split but not the validation split as well: train cached, validation read each epoch.
        var trainOnly = new CountingShards(new InMemoryTrainingShards(Train, rowsPerShard: 30));
        var validationEach = new CountingShards(new InMemoryTrainingShards(Validation, rowsPerShard: 25));
        using var partly = Trainer.Train(Mlp, new ShuffleLoader(trainOnly, 32, 7, 50), validationEach, options with { CacheBytes = 200 * (20 * 4 + 8) });
        Assert.Equal((7, 9), (trainOnly.Reads, validationEach.Reads));
        Assert.Equal(WeightBytes(streamed), WeightBytes(partly));

        // A checkpoint of the streamed run, written five batches into epoch 2, continues in memory to the same weights.
        using var cancellation = new CancellationTokenSource();
        var (dying, saved) = DiesFiveBatchesIntoEpoch2(cancellation);
        var validation = new InMemoryTrainingShards(Validation, rowsPerShard: 25);
        Assert.ThrowsAny<OperationCanceledException>(() => Trainer.Train(Mlp, Loader(), validation, options with { CacheBytes = 0 }, dying, cancellationToken: cancellation.Token));
        using var resumed = Trainer.Train(Mlp, Loader(), validation, options, null, TrainingResume.Read(new MemoryStream(saved()!)));
        Assert.Equal(WeightBytes(streamed), WeightBytes(resumed));
        Assert.Throws<ArgumentException>(() => (options with { CacheBytes = -1 }).Validate());
    }

    /// <summary>Shards that count their reads.</summary>
    private sealed class CountingShards(ITrainingShards inner) : ITrainingShards
    {
        private int _reads;

        public int Reads => _reads;
        public int Count => inner.Count;
        public int Rows => inner.Rows;
        public int RowsOf(int index) => inner.RowsOf(index);
        public int FeatureCount => inner.FeatureCount;
        public bool Regression => inner.Regression;
        public string Identity => inner.Identity;

        public Task<TrainingData> ReadAsync(int index, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _reads);
            return inner.ReadAsync(index, cancellationToken);
        }
    }

    [Fact]
    public async Task A_labeled_split_streams_from_storage_shard_by_shard_into_the_loader()
    {
        var root = Path.Combine(Path.GetTempPath(), "bigdataai-loader-" + Guid.NewGuid().ToString("N"));
        try
        {
            var store = new DatasetStore(new FileSystemObjectStore(root));
            var dense = new DatasetTable(Train.Features, Train.Labels, 20, [20], ["a", "b", "c", "d"]);
            var table = Table.FromDense(dense);
            var manifest = await store.CommitAsync("loader", table, new DatasetSource("test", ["x"], new string('a', 64), null), rowsPerShard: 64);
            var writer = new LabeledVersionWriter(store, manifest, "source", 1, Splits.All, rowsPerShard: 30);
            await writer.AppendAsync(Splits.Train, table);
            var labeled = await writer.CommitAsync(0);
            Assert.Equal(7, labeled.Splits[Splits.Train].Shards.Count);

            var features = FeaturePipeline.Fit(table);
            var shards = new SplitTrainingShards(store, labeled, Splits.Train, features);
            var loader = new ShuffleLoader(shards, 32, seed: 7, shuffleBuffer: 50);
            var batches = loader.Epoch(1).ToList();
            Assert.Equal(200, batches.Sum(b => b.Rows));
            Assert.Equal(Train.ClassCountsOf(), batches.SelectMany(b => b.Labels).CountBy(l => l).OrderBy(p => p.Key).Select(p => (long)p.Value));
            Assert.Equal(batches.Select(b => b.Features), loader.Epoch(1).Select(b => b.Features));
            Assert.StartsWith("shards:", shards.Identity);
        }
        finally
        {
            if (Directory.Exists(root))
            {
                Directory.Delete(root, recursive: true);
            }
        }
    }

    /// <summary>Callbacks that cancel five batches into epoch 2 and keep the last checkpoint (read it after the run).</summary>
    private static (TrainingCallbacks Callbacks, Func<byte[]?> Saved) DiesFiveBatchesIntoEpoch2(CancellationTokenSource cancellation)
    {
        byte[]? saved = null;
        var callbacks = new TrainingCallbacks
        {
            Batch = new SyncProgress<BatchProgress>(p =>
            {
                if (p.Epoch == 2 && p.Batch == 5)
                {
                    cancellation.Cancel();
                }
            }),
            Checkpoint = c =>
            {
                using var stream = new MemoryStream();
                c.Write(stream);
                saved = stream.ToArray();
            },
        };
        return (callbacks, () => saved);
    }

    private static byte[] WeightBytes(TrainingResult result)
    {
        using var stream = new MemoryStream();
        ModelWeights.Save(result.Model, stream);
        return stream.ToArray();
    }
}

internal static class TrainingDataCounts
{
    public static long[] ClassCountsOf(this TrainingData data) => [.. data.Labels.CountBy(l => l).OrderBy(p => p.Key).Select(p => (long)p.Value)];
}
