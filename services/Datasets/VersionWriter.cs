using System.Globalization;

namespace BigDataAI.Datasets;

/// <summary>
/// Writes one new dataset version a piece at a time, so memory holds one shard of rows, not the version: rows are
/// appended in chunks of any size, each full shard is encoded and stored as soon as it fills, the classes and their
/// counts are kept as they go, and <see cref="CommitAsync"/> writes the manifest last, create-only, under the next free
/// version number. Until then nothing is visible; an abandoned writer leaves only unreferenced shards.
/// </summary>
/// <remarks>
/// A full shard is encoded and stored in the background while the caller reads the next rows (at most two shards in
/// flight, so memory holds about four); its failure surfaces from the next <see cref="AppendAsync"/> or from
/// <see cref="CommitAsync"/>. A caller's table is copied (into one of three buffers the writer reuses) before it is handed
/// to the background, so the caller may refill its arrays as soon as <see cref="AppendAsync"/> returns.
/// Observers see every row once, shard by shard, in order, before the shard is stored (the profile is computed this way).
/// Row ids are the caller's (<see cref="Table.RowIds"/>); a version's ids must be unique and are normally 0..rows-1.
/// </remarks>
public sealed class VersionWriter
{
    private readonly DatasetStore _store;
    private readonly string _dataset;
    private readonly string _shardFolder;
    private readonly int _rowsPerShard;
    /// <summary>Shards in version order; a slot is null while its shard is being stored. Guarded by itself.</summary>
    private readonly List<ShardInfo?> _shards = [];
    private readonly List<Table> _pending = [];
    private readonly Dictionary<string, long> _classCounts = new(StringComparer.Ordinal);
    private readonly List<IShardObserver> _observers = [];
    private bool _pendingBorrowed;
    /// <summary>Shards encoded and stored at once: the parser fills the next while two are encoded or uploaded.</summary>
    private const int MaxInFlight = 2;
    private readonly (Column[] Columns, long[] RowIds)?[] _buffers = new (Column[], long[])?[MaxInFlight + 1];
    private int _nextBuffer;
    private readonly Queue<Task> _storing = new();
    private int _pendingRows;
    private long _rows;
    private long _unlabeled;
    private bool _committed;

    internal VersionWriter(DatasetStore store, string dataset, DatasetSchema schema, string shardFolder, int rowsPerShard)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rowsPerShard, 1);
        schema.Validate();
        _store = store;
        _dataset = dataset;
        Schema = schema;
        _shardFolder = shardFolder;
        _rowsPerShard = rowsPerShard;
    }

    public DatasetSchema Schema { get; }

    /// <summary>Rows appended so far.</summary>
    public long Rows => _rows + _pendingRows;

    /// <summary>Shards stored so far (not the one being stored in the background: see <see cref="AbandonAsync"/>).</summary>
    public IReadOnlyList<ShardInfo> Shards
    {
        get
        {
            lock (_shards)
            {
                return [.. _shards.TakeWhile(s => s is not null).Select(s => s!)];
            }
        }
    }

    /// <summary>Adds an observer that sees every shard's rows before it is stored.</summary>
    public VersionWriter Observe(IShardObserver observer)
    {
        ArgumentNullException.ThrowIfNull(observer);
        _observers.Add(observer);
        return this;
    }

    /// <summary>Appends rows (a table of exactly this writer's schema); full shards are stored at once.</summary>
    public async Task AppendAsync(Table rows, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ObjectDisposedException.ThrowIf(_committed, this);
        if (!rows.Schema.Equals(Schema))
        {
            throw new ArgumentException($"The rows' schema ({Describe(rows.Schema)}) is not the version's ({Describe(Schema)}).", nameof(rows));
        }
        var start = 0;
        while (start < rows.Rows)
        {
            var take = Math.Min(_rowsPerShard - _pendingRows, rows.Rows - start);
            var whole = start == 0 && take == rows.Rows;
            _pending.Add(whole ? rows : rows.Slice(start, take));
            _pendingBorrowed |= whole;
            _pendingRows += take;
            start += take;
            if (_pendingRows == _rowsPerShard)
            {
                await FlushAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Stores what remains and writes the manifest as the next version. <paramref name="decorate"/> may add fields to the
    /// manifest (it is called again with each version number tried).
    /// </summary>
    public async Task<DatasetManifest> CommitAsync(DatasetSource source, DatasetLineage lineage, Func<DatasetManifest, DatasetManifest>? decorate = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_committed, this);
        await FlushAsync(cancellationToken).ConfigureAwait(false);
        await StoredAsync().ConfigureAwait(false);
        if (_rows == 0)
        {
            throw new ArgumentException("A dataset needs at least one row.");
        }
        _committed = true;
        var classes = OrderClasses(_classCounts.Keys, Schema.Label?.Type);
        var counts = classes.Select(c => _classCounts[c]).ToArray();
        var shards = Shards; // every one stored: StoredAsync waited for them
        return await _store.CommitManifestAsync(_dataset, version => decorate is null ? Manifest(version) : decorate(Manifest(version)), cancellationToken).ConfigureAwait(false);

        DatasetManifest Manifest(int version) => new(DatasetStore.FormatVersion, _dataset, version, _rows, classes, counts, [.. shards], source, DateTimeOffset.UtcNow)
        {
            Schema = Schema,
            UnlabeledRows = _unlabeled,
            Lineage = lineage,
        };
    }

    /// <summary>Class names sorted as <see cref="Table.DistinctClasses"/> sorts them (numerically for numeric labels).</summary>
    public static string[] OrderClasses(IEnumerable<string> classes, ColumnType? labelType) => labelType switch
    {
        ColumnType.Int64 => [.. classes.OrderBy(s => long.Parse(s, CultureInfo.InvariantCulture))],
        ColumnType.Double => [.. classes.OrderBy(s => double.Parse(s, CultureInfo.InvariantCulture))],
        _ => [.. classes.Order(StringComparer.Ordinal)],
    };

    private async Task FlushAsync(CancellationToken cancellationToken)
    {
        if (_pendingRows == 0)
        {
            return;
        }
        var shard = DatasetStore.Concat(Schema, _pending);
        if (_pending.Count == 1 && _pendingBorrowed)
        {
            shard = CopyToBuffer(shard); // the caller's own arrays: it may refill them once AppendAsync returns
        }
        _pending.Clear();
        _pendingBorrowed = false;
        _pendingRows = 0;
        Count(shard);
        foreach (var observer in _observers)
        {
            observer.Observe(shard);
        }
        // At most MaxInFlight shards being stored: the oldest must be stored (or its failure thrown) before one more starts.
        while (_storing.Count >= MaxInFlight)
        {
            await _storing.Dequeue().ConfigureAwait(false);
        }
        int index;
        lock (_shards)
        {
            index = _shards.Count;
            _shards.Add(null);
        }
        _rows += shard.Rows;
        _storing.Enqueue(Task.Run(async () =>
        {
            var info = await _store.WriteShardAsync(shard, sha => $"{_shardFolder}part-{index:D5}-{sha[..16]}.parquet", cancellationToken).ConfigureAwait(false);
            lock (_shards)
            {
                _shards[index] = info;
            }
        }, cancellationToken));
    }

    /// <summary>
    /// Copies a caller's table into one of MaxInFlight + 1 buffers used in turn (the others may be in flight while this one
    /// is filled: a buffer comes round again only after its shard was stored), so a long upload allocates a few shards'
    /// arrays once rather than new arrays for every shard.
    /// </summary>
    private Table CopyToBuffer(Table rows)
    {
        var buffer = _buffers[_nextBuffer];
        if (buffer is null || buffer.Value.RowIds.Length != rows.Rows)
        {
            buffer = ([.. Schema.Columns.Select(c => Column.Allocate(c, rows.Rows))], new long[rows.Rows]);
            _buffers[_nextBuffer] = buffer;
        }
        _nextBuffer = (_nextBuffer + 1) % _buffers.Length;
        var (columns, ids) = buffer.Value;
        for (var c = 0; c < rows.Columns.Count; c++)
        {
            Array.Copy(rows.Columns[c].Values, columns[c].Values, rows.Columns[c].Values.Length);
        }
        Array.Copy(rows.RowIds, ids, rows.Rows);
        return Table.Trusted(Schema, columns, ids); // a copy of a table that was checked when it was made
    }

    /// <summary>Waits for every shard being stored in the background, oldest first; the first failure is thrown here.</summary>
    private async Task StoredAsync()
    {
        while (_storing.Count > 0)
        {
            await _storing.Dequeue().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// For a caller giving up on the version: waits for the shards being stored, ignoring their failures, and returns
    /// every shard stored, so the caller can delete them (none is referenced by any manifest).
    /// </summary>
    public async Task<IReadOnlyList<ShardInfo>> AbandonAsync()
    {
        while (_storing.Count > 0)
        {
            try
            {
                await _storing.Dequeue().ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // The version is abandoned: a shard that failed to store is nothing to delete.
            }
        }
        _committed = true;
        lock (_shards)
        {
            return [.. _shards.Where(s => s is not null).Select(s => s!)];
        }
    }

    private void Count(Table shard)
    {
        if (Schema.Label is not { } label)
        {
            _unlabeled += shard.Rows;
            return;
        }
        var column = shard[label.Name];
        for (var r = 0; r < shard.Rows; r++)
        {
            if (column.IsNull(r))
            {
                _unlabeled++;
            }
            else if (!Schema.IsRegression)
            {
                var text = column.Format(r)!;
                _classCounts[text] = _classCounts.GetValueOrDefault(text) + 1;
            }
        }
    }

    private static string Describe(DatasetSchema schema) => string.Join(", ", schema.Columns.Select(c => $"{c.Name}:{c.TypeName}"));
}

/// <summary>Sees the rows of a version being written, one shard at a time, in order.</summary>
public interface IShardObserver
{
    void Observe(Table shard);
}
