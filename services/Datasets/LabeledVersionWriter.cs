using System.Text.Json;

namespace BigDataAI.Datasets;

/// <summary>
/// The labeled form of a version written shard by shard, in memory that does not grow with the version: rows are
/// appended to a split in chunks of any size, each split's shard is stored as soon as it holds
/// <c>rowsPerShard</c> rows, and <see cref="CommitAsync"/> writes the labeled manifest last, create-only
/// (<see cref="DatasetPaths.LabeledManifest"/>). Until then nothing is visible; an abandoned writer leaves only
/// unreferenced, content-named shards. The shards have the layout <see cref="DatasetStore.CommitLabeledAsync"/> writes.
/// </summary>
/// <remarks>
/// With a shuffle seed, each shard's rows are put in a seeded order before it is stored (a Fisher-Yates shuffle drawn from
/// <c>System.Random</c> seeded by the seed, the split's position in the list given and the shard's index), so rows that
/// arrive in source order (classes in blocks) are mixed within every shard; the rows of a shard never move to another.
/// </remarks>
public sealed class LabeledVersionWriter
{
    private readonly DatasetStore _store;
    private readonly DatasetManifest _source;
    private readonly string _labelSource;
    private readonly int _splitSeed;
    private readonly int _rowsPerShard;
    private readonly int? _shuffleSeed;
    private readonly Dictionary<string, SplitState> _splits = new(StringComparer.Ordinal);
    private bool _committed;

    /// <param name="store">Where the source version is.</param>
    /// <param name="source">The version being labeled.</param>
    /// <param name="labelSource">Where the labels came from ("source" for the upload's own).</param>
    /// <param name="splitSeed">The seed the split was drawn with (recorded in the manifest).</param>
    /// <param name="splits">The splits, in the manifest's order; every one is written, empty ones too.</param>
    /// <param name="shuffleSeed">Shuffle each shard's rows with this seed before storing it; null keeps the order appended.</param>
    /// <param name="rowsPerShard">Rows per stored shard.</param>
    public LabeledVersionWriter(DatasetStore store, DatasetManifest source, string labelSource, int splitSeed, IReadOnlyList<string> splits,
        int? shuffleSeed = null, int rowsPerShard = DatasetStore.DefaultRowsPerShard)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(splits);
        ArgumentOutOfRangeException.ThrowIfLessThan(rowsPerShard, 1);
        _store = store;
        _source = source;
        _labelSource = labelSource;
        _splitSeed = splitSeed;
        _rowsPerShard = rowsPerShard;
        _shuffleSeed = shuffleSeed;
        for (var i = 0; i < splits.Count; i++)
        {
            _splits.Add(splits[i], new SplitState(i, source.Classes.Length));
        }
    }

    /// <summary>Rows appended to <paramref name="split"/> so far.</summary>
    public long Rows(string split) => State(split).Rows + State(split).PendingRows;

    /// <summary>Appends rows (with the source version's schema) to <paramref name="split"/>; a full shard is stored at once.</summary>
    public async Task AppendAsync(string split, Table rows, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ObjectDisposedException.ThrowIf(_committed, this);
        var state = State(split);
        if (!rows.Schema.Equals(_source.EffectiveSchema))
        {
            throw new ArgumentException($"The rows' columns are not those of {_source.Dataset} v{_source.Version}.", nameof(rows));
        }
        var start = 0;
        while (start < rows.Rows)
        {
            var take = Math.Min(_rowsPerShard - state.PendingRows, rows.Rows - start);
            state.Pending.Add(start == 0 && take == rows.Rows ? rows : rows.Slice(start, take));
            state.PendingRows += take;
            start += take;
            if (state.PendingRows == _rowsPerShard)
            {
                await FlushAsync(split, state, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Stores what remains and writes the labeled manifest, create-only. Returns the stored manifest: an earlier commit of
    /// this version's labels wins (its shards are then the ones read).
    /// </summary>
    public async Task<LabeledManifest> CommitAsync(long unlabeledRows, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_committed, this);
        foreach (var (name, state) in _splits)
        {
            await FlushAsync(name, state, cancellationToken).ConfigureAwait(false);
        }
        _committed = true;
        var infos = _splits.ToDictionary(p => p.Key, p => new SplitInfo(p.Value.Rows, p.Value.ClassCounts, [.. p.Value.Shards]));
        var manifest = new LabeledManifest(DatasetStore.FormatVersion, _source.Dataset, _source.Version, DatasetPaths.Manifest(_source.Dataset, _source.Version),
            _labelSource, _splitSeed, _source.Classes, infos, DateTimeOffset.UtcNow)
        {
            Schema = _source.EffectiveSchema,
            UnlabeledRows = unlabeledRows,
        };
        var path = DatasetPaths.LabeledManifest(_source.Dataset, _source.Version);
        using (var content = new MemoryStream(JsonSerializer.SerializeToUtf8Bytes(manifest, ManifestJson.Options), writable: false))
        {
            if (await _store.Objects.TryCreateAsync(path, content, cancellationToken).ConfigureAwait(false))
            {
                return manifest;
            }
        }
        return await _store.GetLabeledAsync(_source.Dataset, _source.Version, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"Labeled manifest '{path}' vanished while being read.");
    }

    private SplitState State(string split) => _splits.TryGetValue(split, out var state)
        ? state
        : throw new ArgumentException($"'{split}' is not one of this writer's splits ({string.Join(", ", _splits.Keys)}).", nameof(split));

    private async Task FlushAsync(string split, SplitState state, CancellationToken cancellationToken)
    {
        if (state.PendingRows == 0)
        {
            return;
        }
        var order = Enumerable.Range(0, state.PendingRows).ToArray();
        if (_shuffleSeed is { } seed)
        {
            new Random(ShuffleSeed(seed, state.Index, state.Shards.Count)).Shuffle(order);
        }
        // One copy from the pending pieces straight into the shard's (shuffled) order.
        var shard = Gather(_source.EffectiveSchema, state.Pending, order);
        state.Pending.Clear();
        state.PendingRows = 0;
        var counts = DatasetStore.CountClasses(shard, _source.Classes).Counts;
        for (var c = 0; c < counts.Length; c++)
        {
            state.ClassCounts[c] += counts[c];
        }
        var prefix = DatasetPaths.LabeledShardPrefix(_source.Dataset, _source.Version, split);
        var index = state.Shards.Count;
        state.Shards.Add(await _store.WriteShardAsync(shard, sha => $"{prefix}{index:D5}-{sha[..16]}.parquet", cancellationToken).ConfigureAwait(false));
        state.Rows += shard.Rows;
    }

    /// <summary>The rows of <paramref name="pieces"/> (concatenated) at <paramref name="order"/>, as one table.</summary>
    private static Table Gather(DatasetSchema schema, List<Table> pieces, int[] order)
    {
        if (pieces.Count == 1)
        {
            return pieces[0].Select(order);
        }
        var piece = new int[order.Length];
        var row = new int[order.Length];
        for (int p = 0, k = 0; p < pieces.Count; p++)
        {
            for (var r = 0; r < pieces[p].Rows; r++, k++)
            {
                (piece[k], row[k]) = (p, r);
            }
        }
        var columns = new List<Column>(schema.Columns.Count);
        for (var c = 0; c < schema.Columns.Count; c++)
        {
            var column = Column.Allocate(schema.Columns[c], order.Length);
            var width = schema.Columns[c].Width;
            for (var i = 0; i < order.Length; i++)
            {
                var from = order[i];
                Array.Copy(pieces[piece[from]].Columns[c].Values, (long)row[from] * width, column.Values, (long)i * width, width);
            }
            columns.Add(column);
        }
        return new Table(schema, columns, [.. order.Select(i => pieces[piece[i]].RowIds[row[i]])]);
    }

    // A fixed mix (HashCode.Combine is randomised per process; the shards must be the same everywhere).
    private static int ShuffleSeed(int seed, int split, int shard) =>
        (int)(((uint)seed * 2654435761u) ^ ((uint)split * 40503u + 0x9E3779B9u) ^ ((uint)shard * 2246822519u)) & int.MaxValue;

    private sealed class SplitState(int index, int classes)
    {
        public int Index { get; } = index;
        public List<Table> Pending { get; } = [];
        public int PendingRows { get; set; }
        public long Rows { get; set; }
        public long[] ClassCounts { get; } = new long[classes];
        public List<ShardInfo> Shards { get; } = [];
    }
}
