using BigDataAI.Datasets;
using BigDataAI.UnitTests.Storage;
using static BigDataAI.UnitTests.Datasets.TestTables;

namespace BigDataAI.UnitTests.Datasets;

public sealed class DatasetStoreTests : IDisposable
{
    private const string Name64 = "a123456789-123456789-123456789-123456789-123456789-123456789-123";
    private const string Name65 = Name64 + "4";
    private static readonly string[] ThreeClasses = ["cat", "dog", "eel"];

    private readonly TempObjectStore _temp = new();
    private readonly DatasetStore _store;

    public DatasetStoreTests() => _store = new DatasetStore(_temp.Store);

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Commit_ThenGetAndRead_RoundTripsEveryValueShapeClassAndShard()
    {
        var table = Make(10, [2, 3], ThreeClasses, featureNames: ["a", "b", "c", "d", "e", "f"]);
        var source = Source("round trip");

        var committed = await _store.CommitAsync("images", table, source, rowsPerShard: 4);

        Assert.Equal(1, committed.Version);
        Assert.Equal("images", committed.Dataset);
        Assert.Equal(DatasetStore.FormatVersion, committed.FormatVersion);
        Assert.Equal(10, committed.Rows);
        Assert.Equal(6, committed.FeatureCount);
        Assert.Equal([2, 3], committed.FeatureShape);
        Assert.Equal(["a", "b", "c", "d", "e", "f"], committed.FeatureNames);
        Assert.Equal(ThreeClasses, committed.Classes);
        Assert.Equal(table.ClassCounts(), committed.ClassCounts);
        Assert.Equal([4L, 3L, 3L], committed.ClassCounts);
        Assert.Equal([4L, 4L, 2L], committed.Shards.Select(s => s.Rows));
        Assert.All(committed.Shards, s => Assert.True(s.Bytes > 0));
        Assert.All(committed.Shards, s => Assert.Matches("^[0-9a-f]{64}$", s.Sha256));
        Assert.Equal(("csv", source.Sha256, source.Description), (committed.Source.Format, committed.Source.Sha256, committed.Source.Description));
        Assert.Equal(["data"], committed.Source.Files);

        var stored = await _store.GetAsync("images", 1);
        Assert.NotNull(stored);
        Assert.Equal(committed.Version, stored.Version);
        Assert.Equal(committed.Rows, stored.Rows);
        Assert.Equal(committed.FeatureShape, stored.FeatureShape);
        Assert.Equal(committed.Classes, stored.Classes);
        Assert.Equal(committed.ClassCounts, stored.ClassCounts);
        Assert.Equal(committed.Shards, stored.Shards);
        Assert.Equal(committed.Source.Sha256, stored.Source.Sha256);
        Assert.Equal(committed.Source.Description, stored.Source.Description);
        Assert.Equal(committed.CreatedAt, stored.CreatedAt);

        AssertSameRows(table, await _store.ReadAsync(stored));
    }

    [Fact]
    public async Task Commit_ShardCount_FollowsRowsPerShard()
    {
        var table = Make(9, [2], ["x", "y"]);

        Assert.Single((await _store.CommitAsync("one-shard", table, Source("a"), rowsPerShard: 9)).Shards);
        Assert.Equal(9, (await _store.CommitAsync("row-shards", table, Source("b"), rowsPerShard: 1)).Shards.Count);
        var three = await _store.CommitAsync("three-shards", table, Source("c"), rowsPerShard: 3);
        Assert.Equal(3, three.Shards.Count);
        Assert.Equal(3, three.Shards.Select(s => s.Path).Distinct().Count());
        // Each shard's name ends in its own hash, so a path never holds two different contents.
        Assert.All(three.Shards, s => Assert.EndsWith($"-{s.Sha256[..16]}.parquet", s.Path));

        AssertSameRows(table, await _store.ReadAsync(three));
    }

    [Fact]
    public async Task Commit_EmptyTable_IsRejected()
    {
        var empty = new DatasetTable([], [], 2, [2], ["x"]);

        var e = await Assert.ThrowsAsync<ArgumentException>(() => _store.CommitAsync("empty", empty, Source("empty")));

        Assert.Contains("at least one row", e.Message);
        Assert.Empty(await _store.ListAsync());
    }

    [Fact]
    public async Task Commit_Repeatedly_NumbersVersions123_AndVersionZeroIsTheNewest()
    {
        var tables = Enumerable.Range(0, 3).Select(i => Make(5 + i, [4], ThreeClasses, salt: i)).ToArray();
        var versions = new List<int>();
        for (var i = 0; i < tables.Length; i++)
        {
            versions.Add((await _store.CommitAsync("mnist", tables[i], Source($"upload {i}"), rowsPerShard: 3)).Version);
        }

        Assert.Equal([1, 2, 3], versions);
        var newest = await _store.GetAsync("mnist", 0);
        Assert.NotNull(newest);
        Assert.Equal(3, newest.Version);
        AssertSameRows(tables[2], await _store.ReadAsync(newest));
        for (var v = 1; v <= 3; v++)
        {
            AssertSameRows(tables[v - 1], await _store.ReadAsync(await _store.GetRequiredAsync("mnist", v)));
        }
    }

    [Fact]
    public async Task Get_MissingDatasetOrVersion_IsNull_AndGetRequiredSaysWhich()
    {
        await _store.CommitAsync("mnist", Make(3, [2], ThreeClasses), Source("x"));

        Assert.Null(await _store.GetAsync("mnist", 2));
        Assert.Null(await _store.GetAsync("other", 0));
        Assert.Null(await _store.GetAsync("other", 1));
        Assert.Null(await _store.GetLabeledAsync("mnist", 1));

        var noVersion = await Assert.ThrowsAsync<DatasetNotFoundException>(() => _store.GetRequiredAsync("mnist", 2));
        Assert.Equal("Dataset 'mnist' has no version 2.", noVersion.Message);
        var noDataset = await Assert.ThrowsAsync<DatasetNotFoundException>(() => _store.GetRequiredAsync("other", 0));
        Assert.Equal("Dataset 'other' does not exist.", noDataset.Message);
    }

    [Fact]
    public async Task List_IsOrderedByDatasetThenVersion_AndOneDatasetExcludesNamesItPrefixes()
    {
        var table = Make(3, [2], ThreeClasses);
        await _store.CommitAsync("mnist", table, Source("1"));
        await _store.CommitAsync("mn", table, Source("2"));
        await _store.CommitAsync("mnist", table, Source("3"));
        await _store.CommitAsync("alpha", table, Source("4"));
        await _store.CommitAsync("mn", table, Source("5"));
        for (var i = 6; i <= 12; i++)
        {
            // Past v9 and v10 the order must stay numeric.
            await _store.CommitAsync("mnist", table, Source(i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }

        var all = await _store.ListAsync();
        Assert.Equal(
            ["alpha/1", "mn/1", "mn/2", .. Enumerable.Range(1, 9).Select(v => $"mnist/{v}")],
            all.Select(m => $"{m.Dataset}/{m.Version}"));

        Assert.Equal([1, 2], (await _store.ListAsync("mn")).Select(m => m.Version));
        Assert.All(await _store.ListAsync("mn"), m => Assert.Equal("mn", m.Dataset));
        Assert.Equal(Enumerable.Range(1, 9), (await _store.ListAsync("mnist")).Select(m => m.Version));
        Assert.Empty(await _store.ListAsync("m"));
        Assert.Empty(await _store.ListAsync("zebra"));
    }

    [Fact]
    public async Task FindBySource_FindsTheVersionWithThatHash_InThatDatasetOnly()
    {
        var table = Make(3, [2], ThreeClasses);
        await _store.CommitAsync("mnist", table, Source("first"));
        var second = await _store.CommitAsync("mnist", table, Source("second"));
        await _store.CommitAsync("other", table, Source("third"));

        var found = await _store.FindBySourceAsync("mnist", Source("second").Sha256);
        Assert.NotNull(found);
        Assert.Equal(2, found.Version);
        Assert.Equal(second.Source.Sha256, found.Source.Sha256);

        var upper = await _store.FindBySourceAsync("mnist", Source("second").Sha256.ToUpperInvariant());
        Assert.NotNull(upper);
        Assert.Equal(2, upper.Version);

        Assert.Null(await _store.FindBySourceAsync("mnist", Source("third").Sha256));
        Assert.Null(await _store.FindBySourceAsync("mnist", Source("never uploaded").Sha256));
        Assert.Null(await _store.FindBySourceAsync("missing", Source("first").Sha256));
    }

    [Theory]
    [InlineData("")]
    [InlineData("MNIST")]
    [InlineData("1mnist")]
    [InlineData("-mnist")]
    [InlineData("mn_ist")]
    [InlineData("mn ist")]
    [InlineData("mn/ist")]
    [InlineData("..")]
    [InlineData("mnïst")]
    [InlineData("mnist\n")]
    [InlineData(Name65)]
    public async Task Commit_InvalidDatasetName_IsRejectedWithTheNameAndTheRule(string name)
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(() => _store.CommitAsync(name, Make(2, [2], ThreeClasses), Source(name)));

        Assert.Equal("name", e.ParamName);
        Assert.Contains($"Dataset name '{name}' is invalid", e.Message);
        Assert.Contains("lower-case letters, digits and '-', starting with a letter", e.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_temp.Root));
        Assert.Null(await _store.GetAsync(name, 0));
        Assert.Null(await _store.GetLabeledAsync(name, 1));
    }

    [Theory]
    [InlineData("m")]
    [InlineData("mnist-2024")]
    [InlineData(Name64)]
    public async Task Commit_ValidDatasetName_IsAccepted(string name)
    {
        Assert.Equal(64, Name64.Length);
        Assert.Equal(65, Name65.Length);
        Assert.Equal(1, (await _store.CommitAsync(name, Make(2, [2], ThreeClasses), Source(name))).Version);
        Assert.True(DatasetPaths.IsValidName(name));
    }

    [Fact]
    public async Task ShardsWithoutManifest_AreInvisible_AndTheNextCommitStillGetsTheNextVersion()
    {
        var first = Make(4, [2], ThreeClasses);
        await _store.CommitAsync("mnist", first, Source("committed"));
        // A crash after the shards and before the manifest: shards, plus a half-written manifest in its temp file.
        var orphan = Make(6, [2], ThreeClasses, salt: 5);
        var orphanSource = Source("crashed upload");
        var bytes = await ParquetShards.EncodeAsync(orphan, 0, orphan.Rows, [.. Enumerable.Range(0, orphan.Rows).Select(i => (long)i)]);
        await _temp.Store.PutAsync($"{DatasetPaths.ShardFolder("mnist", orphanSource.Sha256)}part-00000.parquet", new MemoryStream(bytes));
        var halfManifest = _temp.FileOf(DatasetPaths.VersionFolder("mnist", 2) + ".tmp-0123456789abcdef");
        Directory.CreateDirectory(Path.GetDirectoryName(halfManifest)!);
        await File.WriteAllTextAsync(halfManifest, "{\"formatVersion\":1,\"dataset\":\"mn");

        Assert.Equal([1], (await _store.ListAsync()).Select(m => m.Version));
        Assert.Equal(1, (await _store.GetAsync("mnist", 0))?.Version);
        Assert.Null(await _store.GetAsync("mnist", 2));
        Assert.Null(await _store.FindBySourceAsync("mnist", orphanSource.Sha256));

        var retried = await _store.CommitAsync("mnist", orphan, orphanSource);
        Assert.Equal(2, retried.Version);
        AssertSameRows(orphan, await _store.ReadAsync(retried));
        AssertSameRows(first, await _store.ReadAsync(await _store.GetRequiredAsync("mnist", 1)));
    }

    [Fact]
    public async Task Read_CorruptedShardByte_ThrowsNamingTheShardAndSha256()
    {
        var manifest = await _store.CommitAsync("mnist", Make(10, [3], ThreeClasses), Source("x"), rowsPerShard: 4);
        var shard = manifest.Shards[1];
        var file = _temp.FileOf(shard.Path);
        var bytes = await File.ReadAllBytesAsync(file);
        bytes[bytes.Length / 2] ^= 0x01;
        await File.WriteAllBytesAsync(file, bytes);

        var e = await Assert.ThrowsAsync<InvalidDataException>(() => _store.ReadAsync(manifest));

        Assert.Contains($"'{shard.Path}'", e.Message);
        Assert.Contains("SHA-256", e.Message);
        Assert.Contains(shard.Sha256, e.Message);
        Assert.Contains("corrupt", e.Message);
    }

    [Fact]
    public async Task Read_MissingShard_ThrowsNamingTheShard()
    {
        var manifest = await _store.CommitAsync("mnist", Make(10, [3], ThreeClasses), Source("x"), rowsPerShard: 4);
        var shard = manifest.Shards[2];
        await _temp.Store.DeleteAsync(shard.Path);

        var e = await Assert.ThrowsAsync<InvalidDataException>(() => _store.ReadAsync(manifest));

        Assert.Equal($"Shard '{shard.Path}' is missing from storage.", e.Message);
    }

    [Fact]
    public async Task Read_ShardHoldingOtherRowCountThanTheManifest_IsRejected()
    {
        var manifest = await _store.CommitAsync("mnist", Make(8, [3], ThreeClasses), Source("x"), rowsPerShard: 4);
        // A manifest that claims different row counts but the right checksums.
        var lying = manifest with { Shards = [manifest.Shards[0] with { Rows = 3 }, manifest.Shards[1] with { Rows = 5 }] };

        var e = await Assert.ThrowsAsync<InvalidDataException>(() => _store.ReadAsync(lying));

        Assert.Contains($"'{manifest.Shards[0].Path}' holds 4 rows, the manifest says 3", e.Message);
    }

    [Fact]
    public async Task CommitLabeled_Twice_ReturnsTheFirstManifest_AndSplitsReadBackExactly()
    {
        var (raw, table) = await CommitRawAsync();
        var (splits, rowIds) = SplitByPermutation(table, seed: 7, validation: 3, test: 4);

        var first = await _store.CommitLabeledAsync(raw, "source", 7, splits, rowIds);
        var second = await _store.CommitLabeledAsync(raw, "source", 7, splits, rowIds);

        Assert.Equal(first.CreatedAt, second.CreatedAt);
        Assert.Equal(first.Splits[Splits.Train].Shards, second.Splits[Splits.Train].Shards);
        Assert.Equal("mnist", second.Dataset);
        Assert.Equal(raw.Version, second.Version);
        Assert.Equal(DatasetPaths.Manifest("mnist", raw.Version), second.SourceManifestPath);
        Assert.Equal("source", second.LabelSource);
        Assert.Equal(7, second.SplitSeed);
        Assert.Equal(raw.FeatureShape, second.FeatureShape);
        Assert.Equal(raw.Classes, second.Classes);

        var stored = await _store.GetLabeledAsync("mnist", raw.Version);
        Assert.NotNull(stored);
        Assert.Equal(first.CreatedAt, stored.CreatedAt);
        foreach (var name in Splits.All)
        {
            Assert.Equal(splits[name].Rows, stored.Splits[name].Rows);
            Assert.Equal(splits[name].ClassCounts(), stored.Splits[name].ClassCounts);
            AssertSameRows(splits[name], await _store.ReadSplitAsync(stored, name));
        }
        Assert.Equal(table.Rows, Splits.All.Sum(s => stored.Splits[s].Rows));
    }

    [Fact]
    public async Task CommitLabeled_ShardsKeepTheSourceRowIds()
    {
        var (raw, table) = await CommitRawAsync();
        var (splits, rowIds) = SplitByPermutation(table, seed: 3, validation: 2, test: 2);

        var labeled = await _store.CommitLabeledAsync(raw, "source", 3, splits, rowIds);

        foreach (var name in Splits.All)
        {
            var ids = new List<long>();
            foreach (var shard in labeled.Splits[name].Shards)
            {
                ids.AddRange(await ParquetShardsTests.ReadRowIdsAsync(_temp.FileOf(shard.Path)));
            }
            Assert.Equal(rowIds[name], ids);
        }
    }

    [Fact]
    public async Task CommitLabeled_SecondCommitWithOtherContent_LosesAndLeavesTheFirstReadable()
    {
        var (raw, table) = await CommitRawAsync();
        var (splits, rowIds) = SplitByPermutation(table, seed: 1, validation: 3, test: 4);
        var (otherSplits, otherRowIds) = SplitByPermutation(table, seed: 2, validation: 3, test: 4);

        var first = await _store.CommitLabeledAsync(raw, "source", 1, splits, rowIds);
        var second = await _store.CommitLabeledAsync(raw, "source", 2, otherSplits, otherRowIds);

        Assert.Equal(1, second.SplitSeed);
        Assert.Equal(first.CreatedAt, second.CreatedAt);
        var stored = await _store.GetLabeledAsync("mnist", raw.Version);
        Assert.NotNull(stored);
        foreach (var name in Splits.All)
        {
            AssertSameRows(splits[name], await _store.ReadSplitAsync(stored, name));
        }
    }

    [Fact]
    public async Task CommitLabeled_EmptySplit_HasNoShardsAndReadsAsNoRows()
    {
        var (raw, table) = await CommitRawAsync();
        var (splits, rowIds) = SplitByPermutation(table, seed: 5, validation: 0, test: 3);

        var labeled = await _store.CommitLabeledAsync(raw, "source", 5, splits, rowIds);

        Assert.Empty(labeled.Splits[Splits.Validation].Shards);
        Assert.Equal(0, labeled.Splits[Splits.Validation].Rows);
        var validation = await _store.ReadSplitAsync(labeled, Splits.Validation);
        Assert.Equal(0, validation.Rows);
        Assert.Equal(raw.FeatureShape, validation.FeatureShape);
        AssertSameRows(splits[Splits.Test], await _store.ReadSplitAsync(labeled, Splits.Test));
    }

    [Fact]
    public async Task ReadSplit_UnknownSplit_SaysWhichDatasetAndSplit()
    {
        var (raw, table) = await CommitRawAsync();
        var (splits, rowIds) = SplitByPermutation(table, seed: 5, validation: 2, test: 3);
        var labeled = await _store.CommitLabeledAsync(raw, "source", 5, splits, rowIds);

        var e = await Assert.ThrowsAsync<DatasetNotFoundException>(() => _store.ReadSplitAsync(labeled, "holdout"));

        Assert.Equal("Dataset 'mnist' v1 has no 'holdout' split.", e.Message);
    }

    [Fact]
    public async Task CommitTwoTablesConcurrently_GivesTwoDistinctVersions_BothReadable()
    {
        var a = Make(11, [2, 2], ThreeClasses, salt: 1);
        var b = Make(13, [2, 2], ThreeClasses, salt: 2);
        using var start = new SemaphoreSlim(0);
        Task<DatasetManifest> Commit(DatasetTable t, string text) => Task.Run(async () =>
        {
            await start.WaitAsync();
            return await _store.CommitAsync("mnist", t, Source(text), rowsPerShard: 5);
        });
        var commitA = Commit(a, "a");
        var commitB = Commit(b, "b");
        start.Release(2);

        var manifests = await Task.WhenAll(commitA, commitB).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal([1, 2], manifests.Select(m => m.Version).Order());
        Assert.Equal([1, 2], (await _store.ListAsync("mnist")).Select(m => m.Version));
        AssertSameRows(a, await _store.ReadAsync(await _store.GetRequiredAsync("mnist", manifests[0].Version)));
        AssertSameRows(b, await _store.ReadAsync(await _store.GetRequiredAsync("mnist", manifests[1].Version)));
    }

    [Fact]
    public async Task Commit_LosingTheRaceForAVersion_TakesTheNextOne()
    {
        var racing = new InterceptingObjectStore(_temp.Store);
        var store = new DatasetStore(racing);
        var ours = Make(5, [2], ThreeClasses, salt: 1);
        var theirs = Make(7, [2], ThreeClasses, salt: 2);
        var other = new DatasetStore(_temp.Store);
        // Just before our manifest is created, another uploader commits the same version number.
        racing.BeforeTryCreate = async path =>
        {
            racing.BeforeTryCreate = null;
            Assert.Equal(DatasetPaths.Manifest("mnist", 1), path);
            Assert.Equal(1, (await other.CommitAsync("mnist", theirs, Source("theirs"))).Version);
        };

        var manifest = await store.CommitAsync("mnist", ours, Source("ours"));

        Assert.Equal(2, manifest.Version);
        AssertSameRows(theirs, await store.ReadAsync(await store.GetRequiredAsync("mnist", 1)));
        AssertSameRows(ours, await store.ReadAsync(await store.GetRequiredAsync("mnist", 2)));
    }

    [Fact]
    public async Task Commit_SameSourceAgainWithOtherSharding_LeavesTheEarlierVersionReadable()
    {
        var table = Make(10, [3], ThreeClasses);
        var source = Source("same bytes");

        var first = await _store.CommitAsync("mnist", table, source, rowsPerShard: 4);
        var second = await _store.CommitAsync("mnist", table, source, rowsPerShard: 3);

        Assert.Equal(2, second.Version);
        AssertSameRows(table, await _store.ReadAsync(first));
        AssertSameRows(table, await _store.ReadAsync(second));
    }

    private async Task<(DatasetManifest Raw, DatasetTable Table)> CommitRawAsync()
    {
        var table = Make(20, [2, 2], ThreeClasses, featureNames: ["p0", "p1", "p2", "p3"]);
        return (await _store.CommitAsync("mnist", table, Source("labeled source"), rowsPerShard: 6), table);
    }

    /// <summary>A seeded permutation cut into test, validation and train, the way the labeler cuts one.</summary>
    private static (Dictionary<string, DatasetTable> Splits, Dictionary<string, long[]> RowIds) SplitByPermutation(DatasetTable table, int seed, int validation, int test)
    {
        var order = Enumerable.Range(0, table.Rows).ToArray();
        new Random(seed).Shuffle(order);
        var parts = new Dictionary<string, int[]>
        {
            [Splits.Test] = order[..test],
            [Splits.Validation] = order[test..(test + validation)],
            [Splits.Train] = order[(test + validation)..],
        };
        return (
            parts.ToDictionary(p => p.Key, p => table.Select(p.Value)),
            parts.ToDictionary(p => p.Key, p => p.Value.Select(i => (long)i).ToArray()));
    }
}
