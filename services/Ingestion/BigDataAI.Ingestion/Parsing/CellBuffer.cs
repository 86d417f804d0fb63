namespace BigDataAI.Ingestion.Parsing;

/// <summary>
/// One column's cells as they were read: their UTF-8 bytes back to back and where each ends (-1 for a null), so a
/// column costs about its text plus 4 bytes a cell until its type is known, never a string per cell.
/// </summary>
internal sealed class CellBuffer
{
    private byte[] _bytes = new byte[256];
    private int[] _ends = new int[64];
    private int _length;

    public int Count { get; private set; }
    public int Nulls { get; private set; }

    public void Add(ReadOnlySpan<byte> cell)
    {
        if (_length + cell.Length > _bytes.Length)
        {
            Array.Resize(ref _bytes, Math.Max(_bytes.Length * 2, _length + cell.Length));
        }
        cell.CopyTo(_bytes.AsSpan(_length));
        _length += cell.Length;
        Push(_length);
    }

    public void AddNull()
    {
        Nulls++;
        Push(-1);
    }

    private void Push(int end)
    {
        if (Count == _ends.Length)
        {
            Array.Resize(ref _ends, _ends.Length * 2);
        }
        _ends[Count++] = end;
    }

    public bool IsNull(int row) => _ends[row] < 0;

    public ReadOnlySpan<byte> Get(int row)
    {
        var end = _ends[row];
        var start = 0;
        for (var r = row - 1; r >= 0; r--)
        {
            if (_ends[r] >= 0)
            {
                start = _ends[r];
                break;
            }
        }
        return _bytes.AsSpan(start, end - start);
    }
}
