namespace BigDataAI.Ingestion.Parsing;

/// <summary>
/// Rows of floats collected in fixed-size chunks (about 4 MB each) while the row count is unknown, then copied once
/// into one exact array. Peak memory is about twice the result, never the 3x of a doubling array, and a header
/// that lies about its size cannot make us allocate more than the data that actually arrived.
/// </summary>
internal sealed class FloatRowBuffer
{
    private const int TargetChunkValues = 1 << 20;

    private readonly int _rowLength;
    private readonly int _rowsPerChunk;
    private readonly List<float[]> _chunks = [];
    private int _rowsInLastChunk;

    public FloatRowBuffer(int rowLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rowLength);
        _rowLength = rowLength;
        _rowsPerChunk = Math.Max(1, TargetChunkValues / rowLength);
        MaxRows = Array.MaxLength / rowLength;
    }

    /// <summary>Rows appended so far.</summary>
    public int Rows { get; private set; }

    /// <summary>The most rows one float array can hold at this row length.</summary>
    public int MaxRows { get; }

    /// <summary>Space for the next row; it counts as appended.</summary>
    public Span<float> AppendRow() => AppendRows(1, out _);

    /// <summary>Space for up to <paramref name="wanted"/> more rows (at least one); they count as appended.</summary>
    public Span<float> AppendRows(int wanted, out int rows)
    {
        if (Rows >= MaxRows)
        {
            throw new InvalidOperationException($"A float array holds at most {MaxRows} rows of {_rowLength}.");
        }
        if (_chunks.Count == 0 || _rowsInLastChunk == _rowsPerChunk)
        {
            _chunks.Add(GC.AllocateUninitializedArray<float>(_rowsPerChunk * _rowLength));
            _rowsInLastChunk = 0;
        }
        rows = Math.Min(Math.Min(wanted, _rowsPerChunk - _rowsInLastChunk), MaxRows - Rows);
        var span = _chunks[^1].AsSpan(_rowsInLastChunk * _rowLength, rows * _rowLength);
        _rowsInLastChunk += rows;
        Rows += rows;
        return span;
    }

    /// <summary>All rows in one array; the chunks are released as they are copied.</summary>
    public float[] ToArray()
    {
        var result = GC.AllocateUninitializedArray<float>(Rows * _rowLength);
        var offset = 0;
        for (var i = 0; i < _chunks.Count; i++)
        {
            var rows = i == _chunks.Count - 1 ? _rowsInLastChunk : _rowsPerChunk;
            _chunks[i].AsSpan(0, rows * _rowLength).CopyTo(result.AsSpan(offset));
            offset += rows * _rowLength;
            _chunks[i] = [];
        }
        _chunks.Clear();
        return result;
    }
}
