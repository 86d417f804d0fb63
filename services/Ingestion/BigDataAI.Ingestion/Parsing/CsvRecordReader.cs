using System.Buffers;

namespace BigDataAI.Ingestion.Parsing;

/// <summary>
/// Splits UTF-8 bytes into CSV records (RFC 4180 style) one record at a time, without decoding to chars: comma,
/// double quote, CR and LF are ASCII and never occur inside a multi-byte UTF-8 sequence. Cells are unescaped into
/// one reusable record buffer.
/// </summary>
/// <remarks>
/// Rules: comma separator; a cell starting with a double quote is quoted, may contain commas, line breaks and ""
/// (one quote), and must be followed by a comma, a line end or the end of the file; a double quote anywhere else in
/// an unquoted cell is an error. Records end at LF; one CR right before that LF (or before the end of the file) is
/// dropped. Nothing else is trimmed.
/// </remarks>
internal sealed class CsvRecordReader
{
    /// <summary>Longest record accepted; beyond it the file is almost certainly not CSV or has an unclosed quote.</summary>
    internal const int MaxRecordBytes = 64 * 1024 * 1024;

    private static readonly SearchValues<byte> UnquotedStops = SearchValues.Create([(byte)',', (byte)'\n', (byte)'"']);

    private readonly ParserInput _input;
    private readonly string _fileName;
    private readonly CancellationToken _cancellationToken;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _bufferPos;
    private int _bufferLength;
    private bool _inputDone;

    private byte[] _record = new byte[4096];
    private int _recordLength;
    private int[] _cellStart = new int[64];
    private int[] _cellEnd = new int[64];
    private bool _firstCellQuoted;

    public CsvRecordReader(ParserInput input, string fileName, CancellationToken cancellationToken)
    {
        _input = input;
        _fileName = fileName;
        _cancellationToken = cancellationToken;
    }

    /// <summary>Number of cells in the current record.</summary>
    public int CellCount { get; private set; }

    /// <summary>1-based number of the current record; the header is row 1.</summary>
    public long Row { get; private set; }

    /// <summary>Header names, once known, so errors can name the column.</summary>
    public string[]? ColumnNames { get; set; }

    /// <summary>An empty line: one empty, unquoted cell.</summary>
    public bool IsBlank => CellCount == 1 && _cellEnd[0] == _cellStart[0] && !_firstCellQuoted;

    public ReadOnlySpan<byte> Cell(int index) => _record.AsSpan(_cellStart[index], _cellEnd[index] - _cellStart[index]);

    public string DescribeColumn(int index) =>
        ColumnNames is { } names && index < names.Length ? names[index] : $"column {index + 1}";

    /// <summary>Consumes a UTF-8 byte order mark; rejects UTF-16 ones. Call once before the first record.</summary>
    public void SkipByteOrderMark()
    {
        while (_bufferLength < 3 && !_inputDone)
        {
            var n = _input.Read(_buffer.AsSpan(_bufferLength));
            if (n == 0)
            {
                _inputDone = true;
            }
            _bufferLength += n;
        }
        var start = _buffer.AsSpan(0, _bufferLength);
        if (start.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]))
        {
            _bufferPos = 3;
        }
        else if (start.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xFE]) || start.StartsWith((ReadOnlySpan<byte>)[0xFE, 0xFF]))
        {
            throw new DataFormatException(_fileName,
                "the file is UTF-16 text (it starts with a UTF-16 byte order mark); save it as UTF-8 CSV and upload it again", row: 1);
        }
    }

    /// <summary>Reads the next record; false at the end of the file.</summary>
    public bool ReadRecord()
    {
        if (!EnsureData())
        {
            return false;
        }
        Row++;
        CellCount = 0;
        _recordLength = 0;
        _firstCellQuoted = false;
        while (true)
        {
            var start = _recordLength;
            var quoted = false;
            int terminator;
            if (EnsureData() && _buffer[_bufferPos] == (byte)'"')
            {
                quoted = true;
                _bufferPos++;
                ReadQuotedBody();
                terminator = ReadAfterClosingQuote();
            }
            else
            {
                terminator = ReadUnquoted(start);
            }
            AddCell(start, quoted);
            if (terminator != ',')
            {
                return true;
            }
        }
    }

    private const int EndOfFile = -1;

    private int ReadUnquoted(int start)
    {
        while (true)
        {
            if (!EnsureData())
            {
                DropTrailingCarriageReturn(start);
                return EndOfFile;
            }
            var span = _buffer.AsSpan(_bufferPos, _bufferLength - _bufferPos);
            var index = span.IndexOfAny(UnquotedStops);
            if (index < 0)
            {
                Append(span);
                _bufferPos = _bufferLength;
                continue;
            }
            Append(span[..index]);
            var stop = span[index];
            _bufferPos += index + 1;
            switch (stop)
            {
                case (byte)',':
                    return ',';
                case (byte)'\n':
                    DropTrailingCarriageReturn(start);
                    return '\n';
                default:
                    throw new DataFormatException(_fileName,
                        "a double quote inside an unquoted cell; put the whole cell in double quotes and write each quote inside it as two (\"\")",
                        row: Row, column: DescribeColumn(CellCount));
            }
        }
    }

    private void ReadQuotedBody()
    {
        while (true)
        {
            if (!EnsureData())
            {
                throw new DataFormatException(_fileName,
                    "a quoted cell is never closed: the file ends before its closing double quote",
                    row: Row, column: DescribeColumn(CellCount));
            }
            var span = _buffer.AsSpan(_bufferPos, _bufferLength - _bufferPos);
            var index = span.IndexOf((byte)'"');
            if (index < 0)
            {
                Append(span);
                _bufferPos = _bufferLength;
                continue;
            }
            Append(span[..index]);
            _bufferPos += index + 1;
            if (EnsureData() && _buffer[_bufferPos] == (byte)'"')
            {
                Append("\""u8);
                _bufferPos++;
                continue;
            }
            return;
        }
    }

    private int ReadAfterClosingQuote()
    {
        if (!EnsureData())
        {
            return EndOfFile;
        }
        var b = _buffer[_bufferPos++];
        switch (b)
        {
            case (byte)',':
                return ',';
            case (byte)'\n':
                return '\n';
            case (byte)'\r':
                if (!EnsureData())
                {
                    return EndOfFile;
                }
                if (_buffer[_bufferPos] == (byte)'\n')
                {
                    _bufferPos++;
                    return '\n';
                }
                break;
        }
        throw new DataFormatException(_fileName,
            "unexpected text after the closing double quote of a quoted cell; a quote inside a quoted cell must be written as two (\"\")",
            row: Row, column: DescribeColumn(CellCount));
    }

    private void DropTrailingCarriageReturn(int start)
    {
        if (_recordLength > start && _record[_recordLength - 1] == (byte)'\r')
        {
            _recordLength--;
        }
    }

    private void AddCell(int start, bool quoted)
    {
        if (CellCount == _cellStart.Length)
        {
            Array.Resize(ref _cellStart, CellCount * 2);
            Array.Resize(ref _cellEnd, CellCount * 2);
        }
        if (CellCount == 0)
        {
            _firstCellQuoted = quoted;
        }
        _cellStart[CellCount] = start;
        _cellEnd[CellCount] = _recordLength;
        CellCount++;
    }

    private void Append(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty)
        {
            return;
        }
        var needed = (long)_recordLength + bytes.Length;
        if (needed > _record.Length)
        {
            if (needed > MaxRecordBytes)
            {
                throw new DataFormatException(_fileName,
                    $"the row is longer than {MaxRecordBytes / (1024 * 1024)} MB (reached in column '{DescribeColumn(CellCount)}'); "
                    + "either the file is not CSV or a quoted cell is missing its closing double quote",
                    row: Row);
            }
            Array.Resize(ref _record, (int)Math.Min(MaxRecordBytes, Math.Max(needed, (long)_record.Length * 2)));
        }
        bytes.CopyTo(_record.AsSpan(_recordLength));
        _recordLength += bytes.Length;
    }

    private bool EnsureData()
    {
        if (_bufferPos < _bufferLength)
        {
            return true;
        }
        if (_inputDone)
        {
            return false;
        }
        _cancellationToken.ThrowIfCancellationRequested();
        var n = _input.Read(_buffer);
        _bufferPos = 0;
        _bufferLength = n;
        if (n == 0)
        {
            _inputDone = true;
            return false;
        }
        return true;
    }
}
