using System.Globalization;
using System.Text.Json;
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
        var table = Make(10, [2, 3], ThreeClasses);
        var source = Source("round trip");

        var committed = await _store.CommitAsync("images", table, source, rowsPerShard: 4);

        Assert.Equal(1, committed.Version);
        Assert.Equal("images", committed.Dataset);
        Assert.Equal(2, DatasetStore.FormatVersion);
        Assert.Equal(DatasetStore.FormatVersion, committed.FormatVersion);
        Assert.Equal(10, committed.Rows);
        Assert.Equal(table.Schema, committed.Schema);
        Assert.Equal([2, 3], committed.Schema!.Find("features")!.Shape!);
        Assert.Null(committed.FeatureCount);
        Assert.Null(committed.FeatureShape);
        Assert.Null(committed.FeatureNames);
        Assert.Equal(ThreeClasses, committed.Classes);
        Assert.Equal([4L, 3L, 3L], committed.ClassCounts);
        Assert.Equal(0, committed.UnlabeledRows);
        Assert.Equal([4L, 4L, 2L], committed.Shards.Select(s => s.Rows));
        Assert.All(committed.Shards, s => Assert.True(s.Bytes > 0));
        Assert.All(committed.Shards, s => Assert.Matches("^[0-9a-f]{64}$", s.Sha256));
        Assert.All(committed.Shards, s => Assert.StartsWith(DatasetPaths.ShardFolder("images", source.Sha256), s.Path));
        Assert.Equal(("csv", source.Sha256, source.Description), (committed.Source.Format, committed.Source.Sha256, committed.Source.Description));
        Assert.Equal(["data"], committed.Source.Files);

        var stored = await _store.GetAsync("images", 1);
        Assert.NotNull(stored);
        Assert.Equal(committed.FormatVersion, stored.FormatVersion);
        Assert.Equal(committed.Version, stored.Version);
        Assert.Equal(committed.Rows, stored.Rows);
        Assert.Equal(committed.Schema, stored.Schema);
        Assert.Equal(table.Schema, stored.EffectiveSchema);
        Assert.Equal(committed.Classes, stored.Classes);
        Assert.Equal(committed.ClassCounts, stored.ClassCounts);
        Assert.Equal(committed.UnlabeledRows, stored.UnlabeledRows);
        Assert.Equal(committed.Shards, stored.Shards);
        Assert.Equal(committed.Source.Sha256, stored.Source.Sha256);
        Assert.Equal(committed.Source.Description, stored.Source.Description);
        Assert.Equal(committed.Source.Files, stored.Source.Files);
        Assert.Equal(committed.CreatedAt, stored.CreatedAt);

        AssertSameRows(table, await _store.ReadAsync(stored));
    }

    [Fact]
    public async Task Commit_OneColumnOfEachTypeWithNulls_RoundTripsExactlyAcrossShards()
    {
        var table = AllTypes();

        var committed = await _store.CommitAsync("mixed", table, Source("every type"), rowsPerShard: 3);
        var stored = await _store.GetRequiredAsync("mixed", committed.Version);
        var read = await _store.ReadAsync(stored);

        Assert.Equal([3L, 3L, 1L], committed.Shards.Select(s => s.Rows));
        Assert.Equal(AllTypesSchema, stored.Schema);
        Assert.Equal(
            ["int64", "double", "bool", "string", "timestamp", "binary", "tensor[2x3]"],
            stored.Schema!.Columns.Select(c => c.TypeName));
        Assert.Equal(
            [ColumnRole.Feature, ColumnRole.Feature, ColumnRole.Feature, ColumnRole.Text, ColumnRole.Feature, ColumnRole.Image, ColumnRole.Feature],
            stored.Schema.Columns.Select(c => c.Role));
        Assert.Equal([true, true, true, true, true, true, false], stored.Schema.Columns.Select(c => c.Nullable));
        AssertSameRows(table, read);

        // The awkward values, one by one.
        Assert.Equal([7L, 3L, 1000L, 0L, long.MaxValue, 5L, 6L], read.RowIds);
        Assert.Equal(new long?[] { 0, long.MinValue, long.MaxValue, null, -1, 42, null }, (long?[])read["count"].Values);
        var scores = (double?[])read["score"].Values;
        Assert.True(double.IsNaN(scores[1]!.Value));
        Assert.Null(scores[2]);
        Assert.Equal(long.MinValue, BitConverter.DoubleToInt64Bits(scores[3]!.Value));
        Assert.Equal(0x7FF8_0000_0000_0ABC, BitConverter.DoubleToInt64Bits(scores[6]!.Value));
        Assert.Equal(new bool?[] { true, false, null, true, null, false, true }, (bool?[])read["member"].Values);
        var comments = (string?[])read["comment"].Values;
        Assert.Equal("", comments[1]);
        Assert.Null(comments[2]);
        Assert.Equal("a,b\"c\nd", comments[3]);
        Assert.Equal("日本語", comments[4]);
        var seen = (DateTime?[])read["seen"].Values;
        Assert.Equal("2024-02-29T13:45:56.1234560Z", seen[0]!.Value.ToString("O", CultureInfo.InvariantCulture));
        Assert.Equal(123_456, seen[0]!.Value.Ticks / 10 % 1_000_000);
        Assert.Equal("1969-12-31T23:59:59.9999990Z", seen[3]!.Value.ToString("O", CultureInfo.InvariantCulture));
        Assert.Equal(DateTimeKind.Utc, seen[1]!.Value.Kind);
        Assert.Null(seen[2]);
        Assert.Null(seen[5]);
        var photos = (byte[]?[])read["photo"].Values;
        Assert.Equal([1, 2, 3], photos[0]);
        Assert.NotNull(photos[1]);
        Assert.Empty(photos[1]!);
        Assert.Null(photos[2]);
        Assert.Equal(256, photos[4]!.Length);
        Assert.Equal(Bits(SpecialFloats), Bits(((float[])read["pixels"].Values)[..SpecialFloats.Length]));
    }

    [Fact]
    public async Task Commit_WithoutALabelColumn_HasNoClasses_AndEveryRowIsUnlabeled()
    {
        var committed = await _store.CommitAsync("mixed", AllTypes(), Source("no label"));
        var stored = await _store.GetRequiredAsync("mixed", 1);

        Assert.Null(AllTypesSchema.Label);
        Assert.Empty(committed.Classes);
        Assert.Empty(committed.ClassCounts);
        Assert.Equal(7, committed.UnlabeledRows);
        Assert.Empty(stored.Classes);
        Assert.Equal(7, stored.UnlabeledRows);
    }

    [Fact]
    public async Task Commit_Int64Label_ClassesSortNumerically_NullLabelsAreUnlabeledRows()
    {
        var table = Labeled(ColumnType.Int64, new long?[] { 9, 10, null, 2, 10, 9, null, 10, 100 });

        var committed = await _store.CommitAsync("numbers", table, Source("ints"), rowsPerShard: 4);
        var stored = await _store.GetRequiredAsync("numbers", 1);

        Assert.Equal(["2", "9", "10", "100"], committed.Classes);
        Assert.Equal([1L, 2L, 3L, 1L], committed.ClassCounts);
        Assert.Equal(2, committed.UnlabeledRows);
        Assert.Equal(9, committed.Rows);
        Assert.Equal(committed.Classes, stored.Classes);
        Assert.Equal(committed.ClassCounts, stored.ClassCounts);
        Assert.Equal(2, stored.UnlabeledRows);
        Assert.Equal("target", stored.Schema!.Label!.Name);
        Assert.Equal(ColumnType.Int64, stored.Schema.Label.Type);
        AssertSameRows(table, await _store.ReadAsync(stored));
    }

    [Fact]
    public async Task Commit_StringLabel_ClassesSortOrdinally()
    {
        var table = Labeled(ColumnType.String, new string?[] { "b", "10", "9", "B", "a", null, "b" });

        var committed = await _store.CommitAsync("words", table, Source("strings"));

        // Ordinal: digits before upper case before lower case, and "10" before "9" (no numeric sort for strings).
        Assert.Equal(["10", "9", "B", "a", "b"], committed.Classes);
        Assert.Equal([1L, 1L, 1L, 1L, 2L], committed.ClassCounts);
        Assert.Equal(1, committed.UnlabeledRows);
        Assert.Equal(committed.Classes, (await _store.GetRequiredAsync("words", 1)).Classes);
    }

    [Fact]
    public async Task Commit_ADoubleLabelIsARegressionTargetWithoutClasses_AndBoolLabelsAreClassesInValueOrder()
    {
        var doubles = await _store.CommitAsync("doubles", Labeled(ColumnType.Double, new double?[] { 2.5, 10, -1, 2.5, null, 9 }), Source("doubles"));
        var bools = await _store.CommitAsync("bools", Labeled(ColumnType.Bool, new bool?[] { true, false, true, null, true }), Source("bools"));

        Assert.True(doubles.EffectiveSchema.IsRegression);
        Assert.Empty(doubles.Classes);
        Assert.Empty(doubles.ClassCounts);
        Assert.Equal(1, doubles.UnlabeledRows);
        Assert.Equal(["false", "true"], bools.Classes);
        Assert.Equal([1L, 3L], bools.ClassCounts);
        Assert.Equal(1, bools.UnlabeledRows);
    }

    [Fact]
    public async Task Commit_RecordsLineage_IngestFromTheSourceFilesByDefault()
    {
        var source = new DatasetSource("csv", ["train.csv", "extra.csv"], Source("lineage").Sha256, null);

        var committed = await _store.CommitAsync("lineage", Make(3, [2], ThreeClasses), source);
        var stored = await _store.GetRequiredAsync("lineage", 1);

        Assert.NotNull(committed.Lineage);
        Assert.Equal("ingest", committed.Lineage.Step);
        Assert.Equal(["train.csv", "extra.csv"], committed.Lineage.SourceFiles);
        Assert.Null(committed.Lineage.ParentVersion);
        Assert.NotNull(stored.Lineage);
        Assert.Equal("ingest", stored.Lineage.Step);
        Assert.Equal(["train.csv", "extra.csv"], stored.Lineage.SourceFiles);
        Assert.Null(stored.Lineage.ParentVersion);
    }

    [Fact]
    public async Task Commit_WithALineage_StoresThatLineage()
    {
        await _store.CommitAsync("lineage", Make(3, [2], ThreeClasses), Source("raw"));
        var lineage = new DatasetLineage("clean", [DatasetPaths.Manifest("lineage", 1)], ParentVersion: 1);

        var committed = await _store.CommitAsync("lineage", Make(2, [2], ThreeClasses), Source("cleaned"), lineage);
        var stored = await _store.GetRequiredAsync("lineage", 2);

        Assert.Same(lineage, committed.Lineage);
        Assert.NotNull(stored.Lineage);
        Assert.Equal("clean", stored.Lineage.Step);
        Assert.Equal(["datasets/lineage/v000001/manifest.json"], stored.Lineage.SourceFiles);
        Assert.Equal(1, stored.Lineage.ParentVersion);
    }

    [Fact]
    public async Task Commit_ShardCount_FollowsRowsPerShard()
    {
        var table = Make(9, [2], ["x", "y"]);

        Assert.Single((await _store.CommitAsync("one-shard", table, Source("a"), rowsPerShard: 9)).Shards);
        Assert.Single((await _store.CommitAsync("big-shard", table, Source("d"), rowsPerShard: 100)).Shards);
        Assert.Equal(9, (await _store.CommitAsync("row-shards", table, Source("b"), rowsPerShard: 1)).Shards.Count);
        var three = await _store.CommitAsync("three-shards", table, Source("c"), rowsPerShard: 3);
        Assert.Equal(3, three.Shards.Count);
        Assert.Equal(3, three.Shards.Select(s => s.Path).Distinct().Count());
        // Each shard's name ends in its own hash, so a path never holds two different contents.
        Assert.All(three.Shards, s => Assert.EndsWith($"-{s.Sha256[..16]}.parquet", s.Path));
        Assert.Equal(["part-00000-", "part-00001-", "part-00002-"], three.Shards.Select(s => Path.GetFileName(s.Path)[..11]));

        AssertSameRows(table, await _store.ReadAsync(three));
        AssertSameRows(table, await _store.ReadAsync(await _store.GetRequiredAsync("row-shards", 1)));
    }

    [Fact]
    public async Task Commit_EmptyTable_IsRejected()
    {
        var empty = Make(0, [2], ["x"]);

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
        Assert.Null(await _store.GetLabeledAsync("mnist", 0));

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
            await _store.CommitAsync("mnist", table, Source(i.ToString(CultureInfo.InvariantCulture)));
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
        Assert.Equal(second.Schema, found.Schema);

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
        var bytes = await ParquetShards.EncodeAsync(orphan, 0, orphan.Rows);
        await _temp.Store.PutAsync($"{DatasetPaths.ShardFolder("mnist", orphanSource.Sha256)}part-00000.parquet", new MemoryStream(bytes));
        var halfManifest = _temp.FileOf(DatasetPaths.VersionFolder("mnist", 2) + ".tmp-0123456789abcdef");
        Directory.CreateDirectory(Path.GetDirectoryName(halfManifest)!);
        await File.WriteAllTextAsync(halfManifest, "{\"formatVersion\":2,\"dataset\":\"mn");

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
        Assert.Contains(ParquetShards.Sha256(bytes), e.Message);
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
    public async Task Read_ManifestRowsOtherThanItsShards_IsRejected()
    {
        var manifest = await _store.CommitAsync("mnist", Make(8, [3], ThreeClasses), Source("x"), rowsPerShard: 4);

        var e = await Assert.ThrowsAsync<InvalidDataException>(() => _store.ReadAsync(manifest with { Rows = 9 }));

        Assert.Equal("Shards hold 8 rows, the manifest says 9.", e.Message);
    }

    [Fact]
    public async Task Read_ManifestSchemaOtherThanItsShards_IsRejectedNamingTheShardAndColumn()
    {
        var manifest = await _store.CommitAsync("mnist", Make(8, [3], ThreeClasses), Source("x"), rowsPerShard: 4);
        var schema = new DatasetSchema([manifest.Schema!.Columns[0], new ColumnSchema("label", ColumnType.Int64, ColumnRole.Label)]);

        var e = await Assert.ThrowsAsync<InvalidDataException>(() => _store.ReadAsync(manifest with { Schema = schema }));

        Assert.Contains($"Shard '{manifest.Shards[0].Path}': column 'label'", e.Message);
        Assert.Contains("the manifest says int64", e.Message);
    }

    [Fact]
    public async Task CommitLabeled_Twice_ReturnsTheFirstManifest_AndSplitsReadBackExactly()
    {
        var (raw, table) = await CommitRawAsync();
        var splits = SplitByPermutation(table, seed: 7, validation: 3, test: 4);

        var first = await _store.CommitLabeledAsync(raw, "source", 7, splits, 0);
        var second = await _store.CommitLabeledAsync(raw, "source", 7, splits, 0);

        Assert.Equal(first.CreatedAt, second.CreatedAt);
        Assert.Equal(first.Splits[Splits.Train].Shards, second.Splits[Splits.Train].Shards);
        Assert.Equal(DatasetStore.FormatVersion, second.FormatVersion);
        Assert.Equal("mnist", second.Dataset);
        Assert.Equal(raw.Version, second.Version);
        Assert.Equal(DatasetPaths.Manifest("mnist", raw.Version), second.SourceManifestPath);
        Assert.Equal("source", second.LabelSource);
        Assert.Equal(7, second.SplitSeed);
        Assert.Equal(raw.Schema, second.Schema);
        Assert.Equal(raw.Classes, second.Classes);
        Assert.Equal(0, second.UnlabeledRows);

        var stored = await _store.GetLabeledAsync("mnist", raw.Version);
        Assert.NotNull(stored);
        Assert.Equal(first.CreatedAt, stored.CreatedAt);
        Assert.Equal(raw.Schema, stored.Schema);
        foreach (var name in Splits.All)
        {
            Assert.Equal(splits[name].Rows, stored.Splits[name].Rows);
            Assert.Equal(CountByHand(splits[name], raw.Classes), stored.Splits[name].ClassCounts);
            Assert.All(stored.Splits[name].Shards, s => Assert.StartsWith(DatasetPaths.LabeledShardPrefix("mnist", raw.Version, name), s.Path));
            AssertSameRows(splits[name], await _store.ReadSplitAsync(stored, name));
        }
        Assert.Equal(table.Rows, Splits.All.Sum(s => stored.Splits[s].Rows));
    }

    [Fact]
    public async Task CommitLabeled_ShardsKeepTheSourceRowIds()
    {
        var (raw, table) = await CommitRawAsync();
        var splits = SplitByPermutation(table, seed: 3, validation: 2, test: 2);

        var labeled = await _store.CommitLabeledAsync(raw, "source", 3, splits, 0);

        foreach (var name in Splits.All)
        {
            var ids = new List<long>();
            foreach (var shard in labeled.Splits[name].Shards)
            {
                ids.AddRange(await ParquetShardsTests.ReadRowIdsAsync(_temp.FileOf(shard.Path)));
            }
            Assert.Equal(splits[name].RowIds, ids);
            Assert.All(ids, id => Assert.InRange(id, 500, 538));
        }
    }

    [Fact]
    public async Task CommitLabeled_SecondCommitWithOtherContent_LosesAndLeavesTheFirstReadable()
    {
        var (raw, table) = await CommitRawAsync();
        var splits = SplitByPermutation(table, seed: 1, validation: 3, test: 4);
        var otherSplits = SplitByPermutation(table, seed: 2, validation: 3, test: 4);

        var first = await _store.CommitLabeledAsync(raw, "source", 1, splits, 0);
        var second = await _store.CommitLabeledAsync(raw, "other", 2, otherSplits, 5);

        Assert.Equal(1, second.SplitSeed);
        Assert.Equal("source", second.LabelSource);
        Assert.Equal(0, second.UnlabeledRows);
        Assert.Equal(first.CreatedAt, second.CreatedAt);
        var stored = await _store.GetLabeledAsync("mnist", raw.Version);
        Assert.NotNull(stored);
        foreach (var name in Splits.All)
        {
            AssertSameRows(splits[name], await _store.ReadSplitAsync(stored, name));
        }
    }

    [Fact]
    public async Task CommitLabeled_EmptySplit_HasNoShardsAndReadsAsNoRowsOfTheSchema()
    {
        var (raw, table) = await CommitRawAsync();
        var splits = SplitByPermutation(table, seed: 5, validation: 0, test: 3);

        var labeled = await _store.CommitLabeledAsync(raw, "source", 5, splits, 0);

        Assert.Empty(labeled.Splits[Splits.Validation].Shards);
        Assert.Equal(0, labeled.Splits[Splits.Validation].Rows);
        Assert.Equal([0L, 0L, 0L], labeled.Splits[Splits.Validation].ClassCounts);
        var validation = await _store.ReadSplitAsync(labeled, Splits.Validation);
        Assert.Equal(0, validation.Rows);
        Assert.Equal(raw.Schema, validation.Schema);
        Assert.Empty((float[])validation["features"].Values);
        AssertSameRows(splits[Splits.Test], await _store.ReadSplitAsync(labeled, Splits.Test));
    }

    [Fact]
    public async Task CommitLabeled_UnlabeledRowsAreInNoSplit_AndAreCounted()
    {
        var table = Labeled(ColumnType.Int64, new long?[] { 3, null, 1, 3, null, 1, 1, 3, null, 3, 1, 3 });
        var raw = await _store.CommitAsync("partly", table, Source("partly labeled"), rowsPerShard: 5);
        Assert.Equal(3, raw.UnlabeledRows);
        var labels = (long?[])table["target"].Values;
        int[] labeledRows = [.. Enumerable.Range(0, table.Rows).Where(r => labels[r] is not null)];
        var splits = new Dictionary<string, Table>
        {
            [Splits.Train] = table.Select(labeledRows[..5]),
            [Splits.Validation] = table.Select(labeledRows[5..7]),
            [Splits.Test] = table.Select(labeledRows[7..]),
        };

        var labeled = await _store.CommitLabeledAsync(raw, "source", 11, splits, raw.UnlabeledRows);
        var stored = await _store.GetLabeledAsync("partly", 1);

        Assert.NotNull(stored);
        Assert.Equal(3, labeled.UnlabeledRows);
        Assert.Equal(3, stored.UnlabeledRows);
        Assert.Equal(["1", "3"], stored.Classes);
        Assert.Equal(table.Schema, stored.Schema);
        Assert.Equal(9, Splits.All.Sum(s => stored.Splits[s].Rows));
        // Labeled rows in order: 3 1 3 1 1 | 3 3 | 1 3.
        Assert.Equal([3L, 2L], stored.Splits[Splits.Train].ClassCounts);
        Assert.Equal([0L, 2L], stored.Splits[Splits.Validation].ClassCounts);
        Assert.Equal([1L, 1L], stored.Splits[Splits.Test].ClassCounts);
        foreach (var name in Splits.All)
        {
            var read = await _store.ReadSplitAsync(stored, name);
            AssertSameRows(splits[name], read);
            Assert.All(Enumerable.Range(0, read.Rows), r => Assert.False(read["target"].IsNull(r)));
        }
    }

    [Fact]
    public async Task ReadSplit_UnknownSplit_SaysWhichDatasetAndSplit()
    {
        var (raw, table) = await CommitRawAsync();
        var labeled = await _store.CommitLabeledAsync(raw, "source", 5, SplitByPermutation(table, seed: 5, validation: 2, test: 3), 0);

        var e = await Assert.ThrowsAsync<DatasetNotFoundException>(() => _store.ReadSplitAsync(labeled, "holdout"));

        Assert.Equal("Dataset 'mnist' v1 has no 'holdout' split.", e.Message);
    }

    [Fact]
    public async Task ReadSplit_CorruptedShard_ThrowsNamingTheShard()
    {
        var (raw, table) = await CommitRawAsync();
        var splits = SplitByPermutation(table, seed: 5, validation: 2, test: 3);
        var labeled = await _store.CommitLabeledAsync(raw, "source", 5, splits, 0);
        var shard = labeled.Splits[Splits.Train].Shards[0];
        var file = _temp.FileOf(shard.Path);
        var bytes = await File.ReadAllBytesAsync(file);
        bytes[bytes.Length / 3] ^= 0x80;
        await File.WriteAllBytesAsync(file, bytes);

        var e = await Assert.ThrowsAsync<InvalidDataException>(() => _store.ReadSplitAsync(labeled, Splits.Train));

        Assert.Contains($"Shard '{shard.Path}' is corrupt", e.Message);
        Assert.Contains(shard.Sha256, e.Message);
        // The other splits are untouched.
        AssertSameRows(splits[Splits.Test], await _store.ReadSplitAsync(labeled, Splits.Test));
    }

    [Fact]
    public async Task CommitTwoTablesConcurrently_GivesTwoDistinctVersions_BothReadable()
    {
        var a = Make(11, [2, 2], ThreeClasses, salt: 1);
        var b = Make(13, [2, 2], ThreeClasses, salt: 2);
        using var start = new SemaphoreSlim(0);
        Task<DatasetManifest> Commit(Table t, string text) => Task.Run(async () =>
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

    [Fact]
    public async Task FormatOneVersion_IsReadAsATensorColumnFeaturesAndAStringLabelOfClassNames()
    {
        var dense = Dense(10, [2, 2], ThreeClasses, featureNames: ["p0", "p1", "p2", "p3"]);
        long[] rowIds = [.. Enumerable.Range(0, 10).Select(i => 10L * i + 1)];
        var source = Source("format one");
        var createdAt = new DateTimeOffset(2025, 6, 1, 12, 30, 0, TimeSpan.Zero);
        var shards = await WriteFormatOneVersionAsync("legacy", 1, dense, rowIds, rowsPerShard: 4, source, createdAt);

        var manifest = await _store.GetAsync("legacy", 1);

        Assert.NotNull(manifest);
        Assert.Equal(1, manifest.FormatVersion);
        Assert.Equal("legacy", manifest.Dataset);
        Assert.Equal(1, manifest.Version);
        Assert.Equal(10, manifest.Rows);
        Assert.Null(manifest.Schema);
        Assert.Null(manifest.Lineage);
        Assert.Equal(0, manifest.UnlabeledRows);
        Assert.Equal(4, manifest.FeatureCount);
        Assert.Equal([2, 2], manifest.FeatureShape!);
        Assert.Equal(["p0", "p1", "p2", "p3"], manifest.FeatureNames!);
        Assert.Equal(ThreeClasses, manifest.Classes);
        Assert.Equal(dense.ClassCounts(), manifest.ClassCounts);
        Assert.Equal(shards, manifest.Shards);
        Assert.Equal(source.Sha256, manifest.Source.Sha256);
        Assert.Equal(createdAt, manifest.CreatedAt);
        Assert.Equal(ParquetShardsTests.LegacySchemaOf(2, 2), manifest.EffectiveSchema);

        var table = await _store.ReadAsync(manifest);

        Assert.Equal(ParquetShardsTests.LegacySchemaOf(2, 2), table.Schema);
        Assert.Equal(["features", "label"], table.Columns.Select(c => c.Name));
        Assert.Equal(ColumnType.Tensor, table["features"].Schema.Type);
        Assert.Equal([2, 2], table["features"].Schema.Shape!);
        Assert.Equal(ColumnType.String, table["label"].Schema.Type);
        Assert.Equal(ColumnRole.Label, table["label"].Schema.Role);
        Assert.Equal(rowIds, table.RowIds);
        Assert.Equal(Bits(dense.Features), Bits((float[])table["features"].Values));
        Assert.Equal(dense.Labels.Select(l => ThreeClasses[l]), (string?[])table["label"].Values);
        Assert.Equal(dense.Labels, table.ClassIndices(manifest.Classes));
    }

    [Fact]
    public async Task FormatOneVersion_IsListedAndFound_AndTheNextCommitIsFormatTwoWithTheNextVersion()
    {
        var dense = Dense(5, [3], ThreeClasses);
        var legacySource = Source("old upload");
        await WriteFormatOneVersionAsync("mnist", 1, dense, [0, 1, 2, 3, 4], rowsPerShard: 5, legacySource, DateTimeOffset.UnixEpoch);
        var table = Make(4, [3], ThreeClasses, salt: 3);

        var next = await _store.CommitAsync("mnist", table, Source("new upload"));

        Assert.Equal(2, next.Version);
        Assert.Equal(2, next.FormatVersion);
        Assert.Equal([(1, 1), (2, 2)], (await _store.ListAsync("mnist")).Select(m => (m.Version, m.FormatVersion)));
        Assert.Equal(1, (await _store.FindBySourceAsync("mnist", legacySource.Sha256))?.Version);
        Assert.Equal(2, (await _store.GetAsync("mnist", 0))?.Version);
        var old = await _store.ReadAsync(await _store.GetRequiredAsync("mnist", 1));
        Assert.Equal(Bits(dense.Features), Bits((float[])old["features"].Values));
        AssertSameRows(table, await _store.ReadAsync(await _store.GetRequiredAsync("mnist", 2)));
    }

    [Fact]
    public async Task FormatOneVersion_CorruptShard_IsDetected()
    {
        var shards = await WriteFormatOneVersionAsync("legacy", 1, Dense(6, [2], ThreeClasses), [0, 1, 2, 3, 4, 5], rowsPerShard: 3, Source("old"), DateTimeOffset.UnixEpoch);
        var file = _temp.FileOf(shards[1].Path);
        var bytes = await File.ReadAllBytesAsync(file);
        bytes[bytes.Length / 2] ^= 0x04;
        await File.WriteAllBytesAsync(file, bytes);

        var e = await Assert.ThrowsAsync<InvalidDataException>(async () => await _store.ReadAsync(await _store.GetRequiredAsync("legacy", 1)));

        Assert.Contains($"Shard '{shards[1].Path}' is corrupt", e.Message);
    }

    [Fact]
    public async Task CommitLabeled_OfAFormatOneVersion_WritesFormatTwoSplitsWithTheLegacySchema()
    {
        var dense = Dense(12, [2], ThreeClasses);
        long[] rowIds = [.. Enumerable.Range(0, 12).Select(i => 100L + i)];
        await WriteFormatOneVersionAsync("legacy", 1, dense, rowIds, rowsPerShard: 5, Source("old"), DateTimeOffset.UnixEpoch);
        var raw = await _store.GetRequiredAsync("legacy", 1);
        var table = await _store.ReadAsync(raw);
        var splits = SplitByPermutation(table, seed: 9, validation: 2, test: 3);

        var labeled = await _store.CommitLabeledAsync(raw, "source", 9, splits, 0);
        var stored = await _store.GetLabeledAsync("legacy", 1);

        Assert.NotNull(stored);
        Assert.Equal(DatasetStore.FormatVersion, stored.FormatVersion);
        Assert.Equal(ParquetShardsTests.LegacySchemaOf(2), stored.Schema);
        Assert.Equal(labeled.CreatedAt, stored.CreatedAt);
        Assert.Equal(ThreeClasses, stored.Classes);
        foreach (var name in Splits.All)
        {
            Assert.Equal(CountByHand(splits[name], ThreeClasses), stored.Splits[name].ClassCounts);
            AssertSameRows(splits[name], await _store.ReadSplitAsync(stored, name));
        }
    }

    [Fact]
    public async Task FormatOneLabeledVersion_ReadsItsSplitsAsTensorFeaturesAndClassNames()
    {
        var dense = Dense(9, [2, 2], ThreeClasses);
        long[] rowIds = [.. Enumerable.Range(0, 9).Select(i => (long)i)];
        await WriteFormatOneVersionAsync("legacy", 1, dense, rowIds, rowsPerShard: 9, Source("old"), DateTimeOffset.UnixEpoch);
        var parts = new Dictionary<string, int[]> { [Splits.Train] = [8, 0, 3, 5, 1], [Splits.Validation] = [2, 7], [Splits.Test] = [6, 4] };
        await WriteFormatOneLabeledAsync("legacy", 1, dense, parts);

        var labeled = await _store.GetLabeledAsync("legacy", 1);

        Assert.NotNull(labeled);
        Assert.Equal(1, labeled.FormatVersion);
        Assert.Null(labeled.Schema);
        Assert.Equal([2, 2], labeled.FeatureShape!);
        Assert.Equal(ParquetShardsTests.LegacySchemaOf(2, 2), labeled.EffectiveSchema);
        foreach (var (name, indices) in parts)
        {
            var split = await _store.ReadSplitAsync(labeled, name);
            var expected = dense.Select(indices);
            Assert.Equal(ParquetShardsTests.LegacySchemaOf(2, 2), split.Schema);
            Assert.Equal(indices.Select(i => (long)i), split.RowIds);
            Assert.Equal(Bits(expected.Features), Bits((float[])split["features"].Values));
            Assert.Equal(expected.Labels.Select(l => ThreeClasses[l]), (string?[])split["label"].Values);
            Assert.Equal(expected.ClassCounts(), labeled.Splits[name].ClassCounts);
        }
    }

    private async Task<(DatasetManifest Raw, Table Table)> CommitRawAsync()
    {
        var table = WithRowIds(Make(20, [2, 2], ThreeClasses), [.. Enumerable.Range(0, 20).Select(i => 500L + 2 * i)]);
        return (await _store.CommitAsync("mnist", table, Source("labeled source"), rowsPerShard: 6), table);
    }

    /// <summary>A seeded permutation cut into test, validation and train, the way the labeler cuts one.</summary>
    private static Dictionary<string, Table> SplitByPermutation(Table table, int seed, int validation, int test)
    {
        var order = Enumerable.Range(0, table.Rows).ToArray();
        new Random(seed).Shuffle(order);
        return new Dictionary<string, Table>
        {
            [Splits.Test] = table.Select(order[..test]),
            [Splits.Validation] = table.Select(order[test..(test + validation)]),
            [Splits.Train] = table.Select(order[(test + validation)..]),
        };
    }

    /// <summary>Rows per class, counted from the label column's text without the product's helpers.</summary>
    private static long[] CountByHand(Table table, string[] classes)
    {
        var label = table[table.Schema.Label!.Name];
        return [.. classes.Select(c => (long)Enumerable.Range(0, table.Rows).Count(r => label.Format(r) == c))];
    }

    private static readonly JsonSerializerOptions FormatOneJson = new() { WriteIndented = true };

    /// <summary>
    /// Writes a format-1 version the way an earlier release did: shards of <c>row</c>, <c>features</c> and a class-index
    /// <c>label</c> in the upload's shard folder, then the manifest, create-only. Returns the shards as the manifest lists them.
    /// </summary>
    private async Task<ShardInfo[]> WriteFormatOneVersionAsync(string dataset, int version, DatasetTable dense, long[] rowIds, int rowsPerShard, DatasetSource source, DateTimeOffset createdAt)
    {
        var shards = await WriteFormatOneShardsAsync(dense, rowIds, rowsPerShard, (i, sha) => $"{DatasetPaths.ShardFolder(dataset, source.Sha256)}part-{i:D5}-{sha[..16]}.parquet");
        var manifest = new
        {
            formatVersion = 1,
            dataset,
            version,
            rows = (long)dense.Rows,
            featureCount = dense.FeatureCount,
            featureShape = dense.FeatureShape,
            featureNames = dense.FeatureNames,
            classes = dense.Classes,
            classCounts = dense.ClassCounts(),
            shards = shards.Select(s => new { path = s.Path, rows = s.Rows, bytes = s.Bytes, sha256 = s.Sha256 }),
            source = new { format = source.Format, files = source.Files, sha256 = source.Sha256, description = source.Description },
            createdAt,
        };
        var json = JsonSerializer.SerializeToUtf8Bytes(manifest, FormatOneJson);
        Assert.True(await _temp.Store.TryCreateAsync(DatasetPaths.Manifest(dataset, version), new MemoryStream(json)));
        return shards;
    }

    /// <summary>Writes the format-1 labeled form of a version: each split's rows (their source row ids kept) and the labeled manifest.</summary>
    private async Task WriteFormatOneLabeledAsync(string dataset, int version, DatasetTable dense, Dictionary<string, int[]> parts)
    {
        var splits = new Dictionary<string, object>();
        foreach (var (name, indices) in parts)
        {
            var split = dense.Select(indices);
            var prefix = DatasetPaths.LabeledShardPrefix(dataset, version, name);
            var shards = await WriteFormatOneShardsAsync(split, [.. indices.Select(i => (long)i)], 4096, (i, sha) => $"{prefix}{i:D5}-{sha[..16]}.parquet");
            splits[name] = new
            {
                rows = (long)split.Rows,
                classCounts = split.ClassCounts(),
                shards = shards.Select(s => new { path = s.Path, rows = s.Rows, bytes = s.Bytes, sha256 = s.Sha256 }),
            };
        }
        var manifest = new
        {
            formatVersion = 1,
            dataset,
            version,
            sourceManifestPath = DatasetPaths.Manifest(dataset, version),
            labelSource = "source",
            splitSeed = 42,
            featureCount = dense.FeatureCount,
            featureShape = dense.FeatureShape,
            featureNames = dense.FeatureNames,
            classes = dense.Classes,
            splits,
            createdAt = DateTimeOffset.UnixEpoch,
        };
        var json = JsonSerializer.SerializeToUtf8Bytes(manifest, FormatOneJson);
        Assert.True(await _temp.Store.TryCreateAsync(DatasetPaths.LabeledManifest(dataset, version), new MemoryStream(json)));
    }

    private async Task<ShardInfo[]> WriteFormatOneShardsAsync(DatasetTable dense, long[] rowIds, int rowsPerShard, Func<int, string, string> pathOf)
    {
        var shards = new List<ShardInfo>();
        for (int start = 0, index = 0; start < dense.Rows; start += rowsPerShard, index++)
        {
            var count = Math.Min(rowsPerShard, dense.Rows - start);
            var bytes = await ParquetShards.EncodeLegacyAsync(dense, start, count, rowIds);
            var sha = ParquetShards.Sha256(bytes);
            var path = pathOf(index, sha);
            await _temp.Store.PutAsync(path, new MemoryStream(bytes));
            shards.Add(new ShardInfo(path, count, bytes.Length, sha));
        }
        return [.. shards];
    }
}
