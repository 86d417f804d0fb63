using System.Text.Json;
using BigDataAI.Storage;

namespace BigDataAI.Datasets;

/// <summary>Raised when a dataset or version that a caller named does not exist.</summary>
public sealed class DatasetNotFoundException(string message) : Exception(message);

/// <summary>
/// Datasets in the object store: immutable raw versions and their labeled, split forms.
/// Every write puts the shards first and the manifest last, create-only, so a crash or a lost race never
/// leaves a visible version with missing shards.
/// </summary>
public sealed class DatasetStore(IObjectStore store)
{
    public const int FormatVersion = 2;
    public const int DefaultRowsPerShard = 4096;

    public IObjectStore Objects => store;

    /// <summary>
    /// Commits <paramref name="table"/> as the next version of <paramref name="dataset"/>: its typed columns as they are,
    /// the classes of its label column, and how many rows are unlabeled (a null label).
    /// </summary>
    public async Task<DatasetManifest> CommitAsync(string dataset, Table table, DatasetSource source, DatasetLineage? lineage = null, int rowsPerShard = DefaultRowsPerShard, CancellationToken cancellationToken = default)
    {
        if (table.Rows == 0)
        {
            throw new ArgumentException("A dataset needs at least one row.", nameof(table));
        }
        var writer = BeginVersion(dataset, table.Schema, source.Sha256, rowsPerShard);
        await writer.AppendAsync(table, cancellationToken).ConfigureAwait(false);
        return await writer.CommitAsync(source, lineage ?? new DatasetLineage("ingest", source.Files), cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Starts a new version of <paramref name="dataset"/> written shard by shard (<see cref="VersionWriter"/>); its shards
    /// go under a folder named by <paramref name="shardKey"/> (the source's SHA-256, or any id unique to the write).
    /// </summary>
    public VersionWriter BeginVersion(string dataset, DatasetSchema schema, string shardKey, int rowsPerShard = DefaultRowsPerShard)
    {
        DatasetPaths.EnsureValidName(dataset);
        ArgumentException.ThrowIfNullOrEmpty(shardKey);
        return new VersionWriter(this, dataset, schema, DatasetPaths.ShardFolder(dataset, shardKey.Length >= 16 ? shardKey : shardKey.PadRight(16, '0')), rowsPerShard);
    }

    // --- quarantine (ingest) ---
    /// <summary>
    /// Starts collecting a new version's quarantined rows; their shards go beside the version's own (the same
    /// <paramref name="shardKey"/>), named quarantine-00000-{sha256[..16]}.parquet.
    /// </summary>
    public QuarantineWriter BeginQuarantine(string dataset, string shardKey, int rowsPerShard = DefaultRowsPerShard)
    {
        DatasetPaths.EnsureValidName(dataset);
        ArgumentException.ThrowIfNullOrEmpty(shardKey);
        return new QuarantineWriter(this, DatasetPaths.ShardFolder(dataset, shardKey.Length >= 16 ? shardKey : shardKey.PadRight(16, '0')) + "quarantine-", rowsPerShard);
    }

    /// <summary>A version's quarantined rows (<see cref="QuarantineShards.Schema"/>) shard by shard, each checked against its SHA-256; nothing when it has none.</summary>
    public async IAsyncEnumerable<Table> StreamQuarantineAsync(DatasetManifest manifest, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        foreach (var shard in manifest.Quarantine?.Shards ?? [])
        {
            yield return await ReadShardsAsync(FormatVersion, [shard], shard.Rows, QuarantineShards.Schema, [], cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>All of a version's quarantined rows, in source order.</summary>
    public async Task<IReadOnlyList<QuarantinedRow>> ReadQuarantineAsync(DatasetManifest manifest, CancellationToken cancellationToken = default)
    {
        var rows = new List<QuarantinedRow>();
        await foreach (var shard in StreamQuarantineAsync(manifest, cancellationToken).ConfigureAwait(false))
        {
            rows.AddRange(QuarantineShards.FromTable(shard));
        }
        return rows;
    }
    // --- quarantine (ingest) end ---

    /// <summary>Writes the manifest <paramref name="manifestOf"/>(version) at the next free version number, create-only.</summary>
    internal async Task<DatasetManifest> CommitManifestAsync(string dataset, Func<int, DatasetManifest> manifestOf, CancellationToken cancellationToken)
    {
        var version = await LatestVersionAsync(dataset, cancellationToken).ConfigureAwait(false);
        while (true)
        {
            version++;
            var manifest = manifestOf(version);
            if (await TryCreateJsonAsync(DatasetPaths.Manifest(dataset, version), manifest, cancellationToken).ConfigureAwait(false))
            {
                return manifest;
            }
            // Another upload took this version number first: ours becomes the next one.
        }
    }

    /// <summary>Rows per class (by <see cref="Table.ClassIndices"/>) and rows without a label.</summary>
    public static (long[] Counts, long Unlabeled) CountClasses(Table table, IReadOnlyList<string> classes)
    {
        var counts = new long[classes.Count];
        long unlabeled = 0;
        if (table.Schema.Label is not { } label)
        {
            return (counts, table.Rows);
        }
        if (table.Schema.IsRegression)
        {
            var column = table[label.Name];
            return (counts, Enumerable.Range(0, table.Rows).LongCount(column.IsNull));
        }
        foreach (var index in table.ClassIndices(classes))
        {
            if (index < 0)
            {
                unlabeled++;
            }
            else
            {
                counts[index]++;
            }
        }
        return (counts, unlabeled);
    }

    /// <summary>The version of <paramref name="dataset"/> whose source bytes hash to <paramref name="sha256"/>, if any.</summary>
    public async Task<DatasetManifest?> FindBySourceAsync(string dataset, string sha256, CancellationToken cancellationToken = default)
    {
        foreach (var manifest in await ListAsync(dataset, cancellationToken).ConfigureAwait(false))
        {
            if (string.Equals(manifest.Source.Sha256, sha256, StringComparison.OrdinalIgnoreCase))
            {
                return manifest;
            }
        }
        return null;
    }

    /// <summary>The manifest of one version (0 = the newest), or null when there is none.</summary>
    public async Task<DatasetManifest?> GetAsync(string dataset, int version, CancellationToken cancellationToken = default)
    {
        if (!DatasetPaths.IsValidName(dataset))
        {
            return null;
        }
        if (version <= 0)
        {
            version = await LatestVersionAsync(dataset, cancellationToken).ConfigureAwait(false);
            if (version == 0)
            {
                return null;
            }
        }
        return await ReadJsonAsync<DatasetManifest>(DatasetPaths.Manifest(dataset, version), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Like <see cref="GetAsync"/>, but a missing dataset or version is a <see cref="DatasetNotFoundException"/>.</summary>
    public async Task<DatasetManifest> GetRequiredAsync(string dataset, int version, CancellationToken cancellationToken = default) =>
        await GetAsync(dataset, version, cancellationToken).ConfigureAwait(false)
        ?? throw new DatasetNotFoundException(version <= 0
            ? $"Dataset '{dataset}' does not exist."
            : $"Dataset '{dataset}' has no version {version}.");

    /// <summary>Every visible version (of one dataset, or of all when <paramref name="dataset"/> is null), oldest first.</summary>
    public async Task<IReadOnlyList<DatasetManifest>> ListAsync(string? dataset = null, CancellationToken cancellationToken = default)
    {
        var prefix = dataset is null ? DatasetPaths.Root : $"{DatasetPaths.Root}{dataset}/";
        var manifests = new List<DatasetManifest>();
        await foreach (var path in store.ListAsync(prefix, cancellationToken).ConfigureAwait(false))
        {
            if (DatasetPaths.TryParseManifest(path, out _, out _)
                && await ReadJsonAsync<DatasetManifest>(path, cancellationToken).ConfigureAwait(false) is { } manifest)
            {
                manifests.Add(manifest);
            }
        }
        return manifests.OrderBy(m => m.Dataset, StringComparer.Ordinal).ThenBy(m => m.Version).ToList();
    }

    /// <summary>Reads every row of a raw version, verifying each shard's checksum.</summary>
    public Task<Table> ReadAsync(DatasetManifest manifest, CancellationToken cancellationToken = default) =>
        ReadShardsAsync(manifest.FormatVersion, manifest.Shards, manifest.Rows, manifest.EffectiveSchema, manifest.Classes, cancellationToken);

    /// <summary>
    /// The rows of a raw version shard by shard, each checked against its SHA-256: memory holds one shard at a time,
    /// whatever the version's size.
    /// </summary>
    public async IAsyncEnumerable<Table> StreamAsync(DatasetManifest manifest, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        for (var i = 0; i < manifest.Shards.Count; i++)
        {
            yield return await ReadShardAsync(manifest, i, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>One split of a labeled version shard by shard (see <see cref="StreamAsync(DatasetManifest, CancellationToken)"/>).</summary>
    public async IAsyncEnumerable<Table> StreamSplitAsync(LabeledManifest manifest, string split, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        if (!manifest.Splits.TryGetValue(split, out var info))
        {
            throw new DatasetNotFoundException($"Dataset '{manifest.Dataset}' v{manifest.Version} has no '{split}' split.");
        }
        foreach (var shard in info.Shards)
        {
            yield return await ReadShardsAsync(manifest.FormatVersion, [shard], shard.Rows, manifest.EffectiveSchema, manifest.Classes, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>One shard of a labeled version's split (by its index in the split's shards), checked against its SHA-256.</summary>
    public Task<Table> ReadSplitShardAsync(LabeledManifest manifest, string split, int index, CancellationToken cancellationToken = default)
    {
        if (!manifest.Splits.TryGetValue(split, out var info))
        {
            throw new DatasetNotFoundException($"Dataset '{manifest.Dataset}' v{manifest.Version} has no '{split}' split.");
        }
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, info.Shards.Count);
        var shard = info.Shards[index];
        return ReadShardsAsync(manifest.FormatVersion, [shard], shard.Rows, manifest.EffectiveSchema, manifest.Classes, cancellationToken);
    }

    /// <summary>One shard of a version (by its index in <see cref="DatasetManifest.Shards"/>), checked against its SHA-256.</summary>
    public Task<Table> ReadShardAsync(DatasetManifest manifest, int index, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, manifest.Shards.Count);
        var shard = manifest.Shards[index];
        return ReadShardsAsync(manifest.FormatVersion, [shard], shard.Rows, manifest.EffectiveSchema, manifest.Classes, cancellationToken);
    }

    /// <summary>
    /// Commits the labeled form of a version: each split's rows with the source's columns (their row ids kept).
    /// Returns the stored manifest (an earlier identical commit wins).
    /// </summary>
    public async Task<LabeledManifest> CommitLabeledAsync(DatasetManifest source, string labelSource, int splitSeed, IReadOnlyDictionary<string, Table> splits, long unlabeledRows, CancellationToken cancellationToken = default)
    {
        var infos = new Dictionary<string, SplitInfo>();
        foreach (var (name, table) in splits)
        {
            var prefix = DatasetPaths.LabeledShardPrefix(source.Dataset, source.Version, name);
            var shards = table.Rows == 0
                ? []
                : await WriteShardsAsync(table, (i, sha) => $"{prefix}{i:D5}-{sha[..16]}.parquet", DefaultRowsPerShard, cancellationToken).ConfigureAwait(false);
            infos[name] = new SplitInfo(table.Rows, CountClasses(table, source.Classes).Counts, shards);
        }
        var manifest = new LabeledManifest(FormatVersion, source.Dataset, source.Version, DatasetPaths.Manifest(source.Dataset, source.Version),
            labelSource, splitSeed, source.Classes, infos, DateTimeOffset.UtcNow)
        {
            Schema = source.EffectiveSchema,
            UnlabeledRows = unlabeledRows,
        };
        var path = DatasetPaths.LabeledManifest(source.Dataset, source.Version);
        if (await TryCreateJsonAsync(path, manifest, cancellationToken).ConfigureAwait(false))
        {
            return manifest;
        }
        return await ReadJsonAsync<LabeledManifest>(path, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"Labeled manifest '{path}' vanished while being read.");
    }

    public async Task<LabeledManifest?> GetLabeledAsync(string dataset, int version, CancellationToken cancellationToken = default)
    {
        if (!DatasetPaths.IsValidName(dataset) || version <= 0)
        {
            return null;
        }
        return await ReadJsonAsync<LabeledManifest>(DatasetPaths.LabeledManifest(dataset, version), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads one split (train, validation or test) of a labeled version.</summary>
    public Task<Table> ReadSplitAsync(LabeledManifest manifest, string split, CancellationToken cancellationToken = default)
    {
        if (!manifest.Splits.TryGetValue(split, out var info))
        {
            throw new DatasetNotFoundException($"Dataset '{manifest.Dataset}' v{manifest.Version} has no '{split}' split.");
        }
        return ReadShardsAsync(manifest.FormatVersion, info.Shards, info.Rows, manifest.EffectiveSchema, manifest.Classes, cancellationToken);
    }

    /// <summary>
    /// Stores columns derived from a labeled version's splits under <paramref name="name"/> (each split's table holding
    /// the split's row ids, in order). Returns the stored manifest: an earlier one of the same name wins.
    /// </summary>
    public async Task<DerivedManifest> CommitDerivedAsync(LabeledManifest labeled, string name, IReadOnlyDictionary<string, Table> splits, DatasetLineage lineage, CancellationToken cancellationToken = default)
    {
        var infos = new Dictionary<string, SplitInfo>();
        DatasetSchema? schema = null;
        foreach (var (split, table) in splits)
        {
            schema ??= table.Schema;
            var prefix = DatasetPaths.DerivedShardPrefix(labeled.Dataset, labeled.Version, name, split);
            var shards = table.Rows == 0 ? [] : await WriteShardsAsync(table, (i, sha) => $"{prefix}{i:D5}-{sha[..16]}.parquet", DefaultRowsPerShard, cancellationToken).ConfigureAwait(false);
            infos[split] = new SplitInfo(table.Rows, [], shards);
        }
        var manifest = new DerivedManifest(FormatVersion, labeled.Dataset, labeled.Version, name, schema ?? throw new ArgumentException("No splits to derive.", nameof(splits)), infos, lineage, DateTimeOffset.UtcNow);
        var path = DatasetPaths.DerivedManifest(labeled.Dataset, labeled.Version, name);
        if (await TryCreateJsonAsync(path, manifest, cancellationToken).ConfigureAwait(false))
        {
            return manifest;
        }
        return await ReadJsonAsync<DerivedManifest>(path, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"Derived manifest '{path}' vanished while being read.");
    }

    /// <summary>The derived columns <paramref name="name"/> of one split, or null when they were never stored.</summary>
    public async Task<Table?> ReadDerivedAsync(LabeledManifest labeled, string name, string split, CancellationToken cancellationToken = default)
    {
        var manifest = await ReadJsonAsync<DerivedManifest>(DatasetPaths.DerivedManifest(labeled.Dataset, labeled.Version, name), cancellationToken).ConfigureAwait(false);
        if (manifest is null || !manifest.Splits.TryGetValue(split, out var info))
        {
            return null;
        }
        return await ReadShardsAsync(manifest.FormatVersion, info.Shards, info.Rows, manifest.Schema, [], cancellationToken).ConfigureAwait(false);
    }

    // --- appends (begin) ---
    /// <summary>
    /// Commits rows appended to <paramref name="parent"/> as version <c>parent.Version + 1</c>, as a Delta Lake append
    /// does: its manifest lists the parent's shards followed by new ones holding <paramref name="rows"/> (tables of the
    /// parent's schema, read one at a time; their own row ids are replaced by ids continuing from the parent's row
    /// count), with the parent's class counts plus the new rows' and <paramref name="sequences"/> as
    /// <see cref="DatasetManifest.AppendSequences"/>. The new shards are stored first under a folder named by
    /// <paramref name="shardKey"/>, the manifest last, create-only. Returns null when another version took that number
    /// first (the parent is no longer the newest): nothing is visible then, and the caller starts again from the newest.
    /// </summary>
    public async Task<DatasetManifest?> CommitAppendAsync(DatasetManifest parent, IAsyncEnumerable<Table> rows, string shardKey, DatasetSource source, DatasetLineage lineage,
        IReadOnlyDictionary<string, long> sequences, int rowsPerShard = DefaultRowsPerShard, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(parent);
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentOutOfRangeException.ThrowIfLessThan(rowsPerShard, 1);
        var schema = parent.EffectiveSchema;
        var folder = DatasetPaths.ShardFolder(parent.Dataset, shardKey.Length >= 16 ? shardKey : shardKey.PadRight(16, '0'));
        var shards = new List<ShardInfo>();
        var pending = new List<Table>();
        var pendingRows = 0;
        var nextId = parent.Rows;
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        for (var i = 0; i < parent.Classes.Length; i++)
        {
            counts[parent.Classes[i]] = i < parent.ClassCounts.Length ? parent.ClassCounts[i] : 0;
        }
        var unlabeled = parent.UnlabeledRows;
        await foreach (var part in rows.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            if (!part.Schema.Equals(schema))
            {
                throw new ArgumentException($"Appended rows have other columns than {parent.Dataset} v{parent.Version}.", nameof(rows));
            }
            var ids = new long[part.Rows];
            for (var r = 0; r < ids.Length; r++)
            {
                ids[r] = nextId++;
            }
            pending.Add(new Table(schema, part.Columns, ids));
            pendingRows += part.Rows;
            while (pendingRows >= rowsPerShard)
            {
                await FlushAppendShardAsync(rowsPerShard).ConfigureAwait(false);
            }
        }
        if (pendingRows > 0)
        {
            await FlushAppendShardAsync(pendingRows).ConfigureAwait(false);
        }
        var added = nextId - parent.Rows;
        if (added == 0)
        {
            throw new ArgumentException("An append needs at least one row.", nameof(rows));
        }
        var classes = VersionWriter.OrderClasses(counts.Keys, schema.Label?.Type);
        var manifest = parent with
        {
            Version = parent.Version + 1,
            Rows = parent.Rows + added,
            Classes = classes,
            ClassCounts = [.. classes.Select(c => counts[c])],
            Shards = [.. parent.Shards, .. shards],
            Source = source,
            CreatedAt = DateTimeOffset.UtcNow,
            Schema = schema,
            UnlabeledRows = unlabeled,
            Lineage = lineage,
            AppendSequences = sequences,
        };
        return await TryCreateJsonAsync(DatasetPaths.Manifest(parent.Dataset, manifest.Version), manifest, cancellationToken).ConfigureAwait(false) ? manifest : null;

        async Task FlushAppendShardAsync(int take)
        {
            var all = Concat(schema, pending);
            var shard = take == all.Rows ? all : all.Slice(0, take);
            pending.Clear();
            pendingRows = all.Rows - take;
            if (pendingRows > 0)
            {
                pending.Add(all.Slice(take, pendingRows));
            }
            if (schema.Label is { } label)
            {
                var column = shard[label.Name];
                for (var r = 0; r < shard.Rows; r++)
                {
                    if (column.IsNull(r))
                    {
                        unlabeled++;
                    }
                    else if (!schema.IsRegression)
                    {
                        var text = column.Format(r)!;
                        counts[text] = counts.GetValueOrDefault(text) + 1;
                    }
                }
            }
            else
            {
                unlabeled += shard.Rows;
            }
            shards.Add(await WriteShardAsync(shard, sha => $"{folder}part-{shards.Count:D5}-{sha[..16]}.parquet", cancellationToken).ConfigureAwait(false));
        }
    }
    // --- appends (end) ---

    private async Task<int> LatestVersionAsync(string dataset, CancellationToken cancellationToken)
    {
        var latest = 0;
        await foreach (var path in store.ListAsync($"{DatasetPaths.Root}{dataset}/v", cancellationToken).ConfigureAwait(false))
        {
            if (DatasetPaths.TryParseManifest(path, out var name, out var version) && name == dataset)
            {
                latest = Math.Max(latest, version);
            }
        }
        return latest;
    }

    /// <summary>
    /// Writes the shards at <paramref name="pathOf"/>(index, SHA-256 of the shard): a path names its content, so a
    /// commit that loses a race, or a later commit of the same upload, never overwrites a committed version's shard
    /// with other bytes.
    /// </summary>
    private async Task<IReadOnlyList<ShardInfo>> WriteShardsAsync(Table table, Func<int, string, string> pathOf, int rowsPerShard, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rowsPerShard, 1);
        var shards = new List<ShardInfo>();
        for (int start = 0, index = 0; start < table.Rows; start += rowsPerShard, index++)
        {
            var count = Math.Min(rowsPerShard, table.Rows - start);
            var bytes = await ParquetShards.EncodeAsync(table, start, count, cancellationToken).ConfigureAwait(false);
            var sha = ParquetShards.Sha256(bytes);
            var path = pathOf(index, sha);
            using (var content = new MemoryStream(bytes, writable: false))
            {
                await store.PutAsync(path, content, cancellationToken).ConfigureAwait(false);
            }
            shards.Add(new ShardInfo(path, count, bytes.Length, sha));
        }
        return shards;
    }

    /// <summary>Encodes and stores one shard at <paramref name="pathOf"/>(its SHA-256).</summary>
    internal async Task<ShardInfo> WriteShardAsync(Table shard, Func<string, string> pathOf, CancellationToken cancellationToken)
    {
        var bytes = await ParquetShards.EncodeAsync(shard, 0, shard.Rows, cancellationToken).ConfigureAwait(false);
        var sha = ParquetShards.Sha256(bytes);
        var path = pathOf(sha);
        using (var content = new MemoryStream(bytes, writable: false))
        {
            await store.PutAsync(path, content, cancellationToken).ConfigureAwait(false);
        }
        return new ShardInfo(path, shard.Rows, bytes.Length, sha);
    }

    private async Task<Table> ReadShardsAsync(int formatVersion, IReadOnlyList<ShardInfo> shards, long rows, DatasetSchema schema, string[] classes, CancellationToken cancellationToken)
    {
        var parts = new List<Table>(shards.Count);
        foreach (var shard in shards)
        {
            var bytes = await ReadBytesAsync(shard.Path, cancellationToken).ConfigureAwait(false)
                ?? throw new InvalidDataException($"Shard '{shard.Path}' is missing from storage.");
            var sha = ParquetShards.Sha256(bytes);
            if (!string.Equals(sha, shard.Sha256, StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidDataException($"Shard '{shard.Path}' is corrupt: its SHA-256 is {sha}, the manifest says {shard.Sha256}.");
            }
            using var stream = new MemoryStream(bytes, writable: false);
            var part = formatVersion == 1
                ? await ParquetShards.DecodeLegacyAsync(stream, shard.Path, schema, classes, shard.Rows, cancellationToken).ConfigureAwait(false)
                : await ParquetShards.DecodeAsync(stream, shard.Path, schema, cancellationToken).ConfigureAwait(false);
            if (part.Rows != shard.Rows)
            {
                throw new InvalidDataException($"Shard '{shard.Path}' holds {part.Rows} rows, the manifest says {shard.Rows}.");
            }
            parts.Add(part);
        }
        var table = Concat(schema, parts);
        if (table.Rows != rows)
        {
            throw new InvalidDataException($"Shards hold {table.Rows} rows, the manifest says {rows}.");
        }
        return table;
    }

    /// <summary>The rows of <paramref name="parts"/> one after another.</summary>
    public static Table Concat(DatasetSchema schema, IReadOnlyList<Table> parts)
    {
        if (parts.Count == 1)
        {
            return parts[0];
        }
        var rows = parts.Sum(p => p.Rows);
        var columns = new List<Column>(schema.Columns.Count);
        for (var c = 0; c < schema.Columns.Count; c++)
        {
            var column = Column.Allocate(schema.Columns[c], rows);
            var offset = 0L;
            foreach (var part in parts)
            {
                var values = part.Columns[c].Values;
                Array.Copy(values, 0, column.Values, offset, values.Length);
                offset += values.Length;
            }
            columns.Add(column);
        }
        return new Table(schema, columns, [.. parts.SelectMany(p => p.RowIds)]);
    }

    private async Task<byte[]?> ReadBytesAsync(string path, CancellationToken cancellationToken)
    {
        await using var stream = await store.OpenReadAsync(path, cancellationToken).ConfigureAwait(false);
        if (stream is null)
        {
            return null;
        }
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
        return buffer.ToArray();
    }

    private async Task<T?> ReadJsonAsync<T>(string path, CancellationToken cancellationToken)
    {
        var bytes = await ReadBytesAsync(path, cancellationToken).ConfigureAwait(false);
        return bytes is null ? default : JsonSerializer.Deserialize<T>(bytes, ManifestJson.Options);
    }

    private async Task<bool> TryCreateJsonAsync<T>(string path, T value, CancellationToken cancellationToken)
    {
        using var content = new MemoryStream(JsonSerializer.SerializeToUtf8Bytes(value, ManifestJson.Options), writable: false);
        return await store.TryCreateAsync(path, content, cancellationToken).ConfigureAwait(false);
    }
}
