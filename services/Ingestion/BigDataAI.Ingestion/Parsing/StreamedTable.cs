using BigDataAI.Datasets;

namespace BigDataAI.Ingestion.Parsing;

/// <summary>What an upload does with a row that cannot be stored.</summary>
/// <param name="Quarantine">False (strict): the first bad row refuses the upload. True: bad rows go to the version's quarantine.</param>
/// <param name="MaxBadFraction">Quarantine only: the largest share of bad rows (0-1) with which the version is still created.</param>
public sealed record RowPolicy(bool Quarantine, double MaxBadFraction)
{
    public static readonly RowPolicy Strict = new(false, 0);

    /// <summary>How many of <paramref name="rows"/> may be bad: 0 when strict, else floor(MaxBadFraction x rows).</summary>
    public long AllowedBadRows(long rows) => Quarantine ? (long)Math.Floor(MaxBadFraction * rows) : 0;
}

/// <summary>Rows of a table read in one piece: the rows, and where each came from in the source (as messages count rows).</summary>
public sealed record TableChunk(Table Rows, long[] SourceRows);

/// <summary>
/// A table read in two passes: the first (done when this object is made) checks the file, infers every column's type
/// keeping only per-column counts, and counts the rows; <see cref="Read"/> then converts the rows chunk by chunk, so
/// memory holds one chunk of typed rows whatever the file's size.
/// </summary>
public abstract class StreamedTable(DatasetSchema schema, long sourceRows)
{
    /// <summary>The columns, known after the first pass.</summary>
    public DatasetSchema Schema { get; } = schema;

    /// <summary>Data rows in the source, good and bad.</summary>
    public long SourceRows { get; } = sourceRows;

    /// <summary>
    /// The good rows in chunks of at most <paramref name="chunkRows"/> (a chunk may be shorter, or empty, when bad rows
    /// pile up: then <paramref name="bad"/> holds up to <paramref name="chunkRows"/> of them). Bad rows are added to
    /// <paramref name="bad"/> in quarantine mode; the caller drains it after each chunk. In strict mode a bad row is a
    /// <see cref="DataFormatException"/>.
    /// </summary>
    /// <remarks>
    /// With <paramref name="reuse"/> a chunk's arrays are filled again for the next chunk: the caller must be done with a
    /// chunk (e.g. have stored it) before it asks for the next. That keeps the allocations, and so the peak memory, of a
    /// large file to those of one chunk.
    /// </remarks>
    public abstract IEnumerable<TableChunk> Read(int chunkRows, List<QuarantinedRow> bad, CancellationToken cancellationToken = default, bool reuse = false);

    /// <summary>Every row in one table (strict: there are no bad rows), for callers that want the whole table.</summary>
    public Table ReadAll(CancellationToken cancellationToken = default)
    {
        var bad = new List<QuarantinedRow>();
        var chunks = Read((int)Math.Clamp(SourceRows, 1, int.MaxValue), bad, cancellationToken).Select(c => c.Rows).ToList();
        return DatasetStore.Concat(Schema, chunks);
    }

    /// <summary>A stream that can be read again from its start: a seekable one is rewound, any other is copied to memory first.</summary>
    internal static Func<Stream> Rewindable(Stream data)
    {
        if (data.CanSeek)
        {
            var start = data.Position;
            return () =>
            {
                data.Position = start;
                return data;
            };
        }
        var copy = new MemoryStream();
        data.CopyTo(copy);
        return () =>
        {
            copy.Position = 0;
            return copy;
        };
    }
}

/// <summary>Column chunks being filled row by row, handed out as tables of exactly the rows filled.</summary>
internal sealed class ChunkBuilder
{
    private readonly DatasetSchema _schema;
    private readonly int _capacity;
    private Column[] _columns;
    private long[] _rowIds;
    private long[] _sourceRows;

    private readonly bool _reuse;
    private readonly bool _overwrites;

    /// <param name="reuse">Fill the same arrays again after a full chunk is taken (its reader must be done with it).</param>
    /// <param name="overwrites">With <paramref name="reuse"/>: the caller writes every cell of every row it commits, nulls
    /// included, so a reused chunk is not cleared first (the arrays then stay the same ones for good).</param>
    public ChunkBuilder(DatasetSchema schema, int capacity, bool reuse = false, bool overwrites = false)
    {
        _schema = schema;
        _capacity = Math.Max(1, capacity);
        _reuse = reuse;
        _overwrites = reuse && overwrites;
        (_columns, _rowIds, _sourceRows) = Allocate();
    }

    private bool _cleared = true;

    public int Count { get; private set; }
    public bool IsFull => Count == _capacity;

    /// <summary>A column of the chunk being filled (cleared first when its arrays were handed out and are reused).</summary>
    public Column this[int column]
    {
        get
        {
            BeginRow();
            return _columns[column];
        }
    }

    /// <summary>A column of the chunk being filled, for a caller that has called <see cref="BeginRow"/> for this row.</summary>
    public Column ColumnAt(int column) => _columns[column];

    /// <summary>Called before a row is filled: arrays handed out in the last chunk and reused are cleared first.</summary>
    public void BeginRow()
    {
        EnsureArrays();
        if (!_cleared && !_overwrites)
        {
            foreach (var c in _columns)
            {
                Array.Clear(c.Values);
            }
            _cleared = true;
        }
    }

    /// <summary>Arrays handed out whole (not reused) are replaced only when the next row needs them, so a last full chunk allocates nothing more.</summary>
    private void EnsureArrays()
    {
        if (_handedOut)
        {
            (_columns, _rowIds, _sourceRows) = Allocate();
            _handedOut = false;
        }
    }

    private bool _handedOut;

    private (Column[], long[], long[]) Allocate() =>
        ([.. _schema.Columns.Select(c => Column.Allocate(c, _capacity))], new long[_capacity], new long[_capacity]);

    /// <summary>Clears the next row's cells (a row abandoned half-filled leaves values behind).</summary>
    public void Clear(int row)
    {
        EnsureArrays();
        foreach (var column in _columns)
        {
            if (column.Schema.Type == ColumnType.Tensor)
            {
                Array.Clear(column.Values, row * column.Schema.Width, column.Schema.Width);
            }
            else
            {
                Array.Clear(column.Values, row, 1);
            }
        }
    }

    /// <summary>Keeps the row being filled (at <see cref="Count"/>) as row <paramref name="rowId"/>.</summary>
    public void Commit(long rowId, long sourceRow)
    {
        EnsureArrays();
        _rowIds[Count] = rowId;
        _sourceRows[Count] = sourceRow;
        Count++;
    }

    /// <summary>The rows filled so far as a chunk; the builder starts again empty.</summary>
    public TableChunk Take()
    {
        Column[] columns;
        long[] ids, sources;
        EnsureArrays();
        if (Count == _capacity && _reuse)
        {
            // The table wraps the arrays; the next row clears its own cells before it is filled (see Clear).
            (columns, ids, sources) = (_columns, (long[])_rowIds.Clone(), (long[])_sourceRows.Clone());
            _cleared = false;
        }
        else if (Count == _capacity)
        {
            (columns, ids, sources) = (_columns, _rowIds, _sourceRows);
            _handedOut = true;
        }
        else
        {
            columns = [.. _columns.Select(c => Truncate(c, Count))];
            (ids, sources) = (_rowIds[..Count], _sourceRows[..Count]);
            foreach (var column in _columns)
            {
                Array.Clear(column.Values);
            }
        }
        Count = 0;
        return new TableChunk(new Table(_schema, columns, ids), sources);
    }

    private static Column Truncate(Column column, int rows)
    {
        var result = Column.Allocate(column.Schema, rows);
        Array.Copy(column.Values, result.Values, result.Values.Length);
        return result;
    }
}
