using BigDataAI.Datasets;
using BigDataAI.Labeling.Services;
using BigDataAI.UnitTests.Datasets;
using BigDataAI.UnitTests.Storage;
using Microsoft.Extensions.Logging.Abstractions;

namespace BigDataAI.UnitTests.Labeling;

/// <summary>The split the labeler makes while streaming a version's shards (<see cref="DatasetLabeler.SplitAsync"/>).</summary>
public sealed class StreamedSplitTests
{
    private static readonly int[] Counts = [301, 113, 57, 9, 2, 1];
    private const int Unlabeled = 23;

    /// <summary>
    /// A version whose rows come sorted by class (the hard case for a streaming split), every 17th row's label null, in
    /// shards of 64 rows.
    /// </summary>
    private static async Task<(DatasetStore Store, DatasetManifest Manifest)> CommitAsync(TempObjectStore temp)
    {
        var labels = new List<string?>();
        for (var c = 0; c < Counts.Length; c++)
        {
            labels.AddRange(Enumerable.Repeat<string?>($"c{c}", Counts[c]));
        }
        var rng = new Random(3);
        for (var i = 0; i < Unlabeled; i++)
        {
            labels.Insert(rng.Next(labels.Count), null);
        }
        var rows = labels.Count;
        var feature = new ColumnSchema("x", ColumnType.Tensor, ColumnRole.Feature, Nullable: false, Shape: [3]);
        var label = new ColumnSchema("label", ColumnType.String, ColumnRole.Label);
        var values = new float[rows * 3];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = i * 0.5f;
        }
        var table = new Table(new DatasetSchema([feature, label]), [new Column(feature, values), new Column(label, labels.ToArray())],
            [.. Enumerable.Range(0, rows).Select(r => (long)r)]);
        var store = new DatasetStore(temp.Store);
        var manifest = await store.CommitAsync("streamed", table, TestTables.Source("streamed"), rowsPerShard: 64);
        Assert.True(manifest.Shards.Count > 5);
        return (store, manifest);
    }

    private static Task<LabeledManifest> SplitAsync(DatasetStore store, DatasetManifest manifest, int seed = 42) =>
        DatasetLabeler.SplitAsync(store, manifest, SplitFractions.Default, seed, NullLogger.Instance, CancellationToken.None);

    private static async Task<Dictionary<string, (long[] Ids, string?[] Labels)>> ReadAsync(DatasetStore store, LabeledManifest labeled)
    {
        var result = new Dictionary<string, (long[], string?[])>();
        foreach (var split in Splits.All)
        {
            var table = await store.ReadSplitAsync(labeled, split);
            result[split] = (table.RowIds, (string?[])table["label"].Values);
        }
        return result;
    }

    [Fact]
    public async Task The_streamed_split_is_the_same_on_every_run_and_shard_for_shard()
    {
        using var a = new TempObjectStore();
        using var b = new TempObjectStore();
        var (storeA, manifestA) = await CommitAsync(a);
        var (storeB, manifestB) = await CommitAsync(b);

        var first = await SplitAsync(storeA, manifestA);
        var second = await SplitAsync(storeB, manifestB);

        foreach (var split in Splits.All)
        {
            Assert.Equal(first.Splits[split].Shards.Select(s => s.Sha256), second.Splits[split].Shards.Select(s => s.Sha256));
            Assert.Equal(first.Splits[split].ClassCounts, second.Splits[split].ClassCounts);
        }
        var rowsA = await ReadAsync(storeA, first);
        var rowsB = await ReadAsync(storeB, second);
        foreach (var split in Splits.All)
        {
            Assert.Equal(rowsA[split].Ids, rowsB[split].Ids);
        }

        // Another seed draws other rows.
        using var c = new TempObjectStore();
        var (storeC, manifestC) = await CommitAsync(c);
        var other = await ReadAsync(storeC, await SplitAsync(storeC, manifestC, seed: 7));
        Assert.NotEqual(rowsA[Splits.Test].Ids.Order(), other[Splits.Test].Ids.Order());
    }

    [Fact]
    public async Task The_streamed_split_is_stratified_covers_every_labeled_row_once_and_mixes_the_classes()
    {
        using var temp = new TempObjectStore();
        var (store, manifest) = await CommitAsync(temp);

        var labeled = await SplitAsync(store, manifest);
        var rows = await ReadAsync(store, labeled);

        Assert.Equal(Unlabeled, labeled.UnlabeledRows);
        long[] all = [.. Splits.All.SelectMany(s => rows[s].Ids)];
        Assert.Equal(Counts.Sum(), all.Length);
        Assert.Equal(all.Length, all.Distinct().Count());
        for (var c = 0; c < Counts.Length; c++)
        {
            var (test, validation) = StratifiedSplitter.Quotas(Counts[c], SplitFractions.Default);
            Assert.Equal(test, rows[Splits.Test].Labels.Count(l => l == $"c{c}"));
            Assert.Equal(validation, rows[Splits.Validation].Labels.Count(l => l == $"c{c}"));
            Assert.Equal(Counts[c] - test - validation, rows[Splits.Train].Labels.Count(l => l == $"c{c}"));
            Assert.Equal(test, labeled.Splits[Splits.Test].ClassCounts[c]);
        }
        // The source is sorted by class; the stored train shard is not (its rows are shuffled with the split seed).
        var train = rows[Splits.Train].Labels;
        Assert.Contains("c1", train[..(train.Length / 2)]);
        Assert.Contains("c0", train[(train.Length / 2)..]);
    }

    [Fact]
    public async Task Labeling_a_version_again_returns_the_labels_stored_first()
    {
        using var temp = new TempObjectStore();
        var (store, manifest) = await CommitAsync(temp);

        var first = await SplitAsync(store, manifest);
        var again = await SplitAsync(store, manifest);

        Assert.Equal(first.CreatedAt, again.CreatedAt);
        Assert.Equal(first.Splits[Splits.Train].Shards.Select(s => s.Path), again.Splits[Splits.Train].Shards.Select(s => s.Path));
    }

    [Fact]
    public void Selection_sampling_fills_each_class_exactly_and_refuses_rows_beyond_the_counts()
    {
        long[] counts = [1000, 10, 0, 3];
        var split = new StreamedStratifiedSplit(counts, new SplitFractions(0.7, 0.2, 0.1), seed: 5);
        var got = new long[counts.Length, 3];
        for (var c = 0; c < counts.Length; c++)
        {
            for (var i = 0; i < counts[c]; i++)
            {
                got[c, split.Assign(c)]++;
            }
        }
        split.EnsureComplete();
        for (var c = 0; c < counts.Length; c++)
        {
            var (test, validation) = StratifiedSplitter.Quotas(counts[c], new SplitFractions(0.7, 0.2, 0.1));
            Assert.Equal(test, got[c, StreamedStratifiedSplit.Test]);
            Assert.Equal(validation, got[c, StreamedStratifiedSplit.Validation]);
        }
        Assert.Throws<InvalidDataException>(() => split.Assign(1));

        var short_ = new StreamedStratifiedSplit([2], SplitFractions.Default, seed: 1);
        short_.Assign(0);
        Assert.Contains("fewer", Assert.Throws<InvalidDataException>(short_.EnsureComplete).Message);
    }
}
