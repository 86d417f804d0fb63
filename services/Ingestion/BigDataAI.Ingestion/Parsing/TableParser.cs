using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using System.Text.Unicode;
using BigDataAI.Datasets;
using CsvHelper;

namespace BigDataAI.Ingestion.Parsing;

/// <summary>What a caller says about one column, overriding what is inferred. Null keeps the inferred value.</summary>
public sealed record ColumnHint(string Name, ColumnRole? Role = null, ColumnType? Type = null);

/// <summary>
/// Reads a delimited text table (CSV or TSV, a header row) into typed columns with CsvHelper (docs/decisions/0010):
/// each column's type is inferred from all its cells, nulls are recognised, and the label column's nulls are unlabeled rows.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>UTF-8 (a byte order mark is skipped; invalid bytes are an error naming the row and column); gzip-compressed data
/// is recognised by its magic bytes. RFC 4180 quoting: a quoted cell may hold separators, line breaks and "" for a quote.</item>
/// <item>Null cells: empty, NA, N/A, NaN, null, None (case-insensitive), after trimming spaces.</item>
/// <item>Type inference over the non-null cells of a column, first that fits all: int64, double (culture-invariant, finite),
/// bool (true/false), timestamp (ISO 8601 date or date-time; stored as UTC, a time without offset taken as UTC), else
/// string (kept verbatim, not trimmed). A column with no value at all is a string column.</item>
/// <item>Roles: the label column (by name) is the label; everything else is a feature unless a hint says otherwise.
/// A hinted type that a cell does not fit is an error naming the row, column, value and type.</item>
/// <item>Rows are numbered as a spreadsheet shows them: the header is row 1, the first data row row 2; a quoted cell that
/// spans lines is still one row. Blank lines are skipped. A NUL character in a cell is an error.</item>
/// </list>
/// </remarks>
public static partial class TableParser
{
    public const string DefaultLabelColumn = "label";

    private const int MaxShownValueChars = 40;

    private static readonly string[] NullTokens = ["", "NA", "N/A", "NaN", "null", "None"];

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?(Z|[+-]\d{2}:?\d{2})?)?\z")]
    private static partial Regex IsoTimestamp();

    /// <summary>Parses the table. Throws <see cref="DataFormatException"/> naming the file, row and column of the first problem.</summary>
    /// <param name="data">The file's bytes (gzip recognised).</param>
    /// <param name="fileName">The name used in messages.</param>
    /// <param name="separator">',' for CSV, '\t' for TSV.</param>
    /// <param name="labelColumn">The label column's header name. When the table has no such column it is stored unlabeled,
    /// unless <paramref name="labelRequired"/>.</param>
    /// <param name="hints">Roles and types that override the inferred ones; a hint for a column the file lacks is an error.</param>
    public static Table Parse(Stream data, string fileName, char separator = ',', string labelColumn = DefaultLabelColumn, bool labelRequired = false,
        IReadOnlyList<ColumnHint>? hints = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentException.ThrowIfNullOrEmpty(labelColumn);
        hints ??= [];
        cancellationToken.ThrowIfCancellationRequested();
        using var input = ParserInput.Open(data, fileName);
        using var stream = new ParserInputStream(input);
        var options = new CsvReaderOptions
        {
            HasHeader = false, // the header is read as a record, so its problems get the same messages
            Separator = separator,
            TrackLineNumbers = true,
            SkipEmptyLines = true,
            MalformedData = CsvMalformedDataHandling.Throw,
            FieldCountMismatch = CsvFieldCountHandling.Allow,
            MaxRecordSize = 16 << 20,
        };
        string[] header;
        CellBuffer[] cells;
        try
        {
            using var reader = CsvReader.Create(stream, options, leaveOpen: true);
            if (!reader.Read())
            {
                throw new DataFormatException(fileName,
                    "the file is empty; a table needs a header row naming its columns and at least one data row", row: 1);
            }
            header = ReadHeader(reader, fileName, labelColumn, labelRequired, hints);
            cells = [.. header.Select(_ => new CellBuffer())];
            long row = 1;
            while (reader.Read())
            {
                row++;
                if ((row & 0x3FFF) == 0)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                }
                if (reader.FieldCount != header.Length)
                {
                    throw new DataFormatException(fileName,
                        $"it has {reader.FieldCount} cell(s) but the header names {header.Length} columns (line {reader.LineNumber}; a cell with a {Describe(separator)} or a line break must be in double quotes)",
                        row: row);
                }
                for (var c = 0; c < header.Length; c++)
                {
                    var bytes = reader.GetSpan(c);
                    Check(bytes, fileName, row, header[c]);
                    if (IsNull(bytes))
                    {
                        cells[c].AddNull();
                    }
                    else
                    {
                        cells[c].Add(bytes);
                    }
                }
            }
            if (row == 1)
            {
                throw new DataFormatException(fileName, "the file has a header row but no data rows", row: 1);
            }
        }
        catch (CsvFormatException e)
        {
            // CsvHelper counts the header as record 1, as we count rows.
            throw new DataFormatException(fileName, $"malformed {(separator == '\t' ? "TSV" : "CSV")}: {e.Message}", row: Math.Max(1, e.RecordNumber), innerException: e);
        }
        catch (DecoderFallbackException e)
        {
            throw new DataFormatException(fileName, $"the file is not valid UTF-8 ({e.Message})", byteOffset: input.Position, innerException: e);
        }

        var rows = cells.Length == 0 ? 0 : cells[0].Count;
        var schemas = new List<ColumnSchema>(header.Length);
        var columns = new List<Column>(header.Length);
        for (var c = 0; c < header.Length; c++)
        {
            var hint = hints.FirstOrDefault(h => h.Name == header[c]);
            var values = cells[c];
            var type = hint?.Type ?? Infer(values);
            var role = hint?.Role ?? (header[c] == labelColumn ? ColumnRole.Label : ColumnRole.Feature);
            var schema = new ColumnSchema(header[c], type, role, Nullable: values.Nulls > 0);
            var column = Column.Allocate(schema, rows);
            for (var r = 0; r < rows; r++)
            {
                if (!values.IsNull(r) && !TrySet(column, r, values.Get(r)))
                {
                    throw new DataFormatException(fileName, $"'{Shorten(Encoding.UTF8.GetString(values.Get(r)))}' is not {Article(type)} {type.ToString().ToLowerInvariant()}{(hint?.Type is null ? "" : " (the type the upload declared for this column)")}",
                        row: r + 2, column: header[c]);
                }
            }
            cells[c] = null!; // let the text go as soon as its column is converted
            schemas.Add(schema);
            columns.Add(column);
        }
        DatasetSchema datasetSchema;
        try
        {
            datasetSchema = new DatasetSchema(schemas).Validate();
        }
        catch (ArgumentException e)
        {
            throw new DataFormatException(fileName, e.Message, row: 1);
        }
        return new Table(datasetSchema, columns, [.. Enumerable.Range(0, rows).Select(i => (long)i)]);
    }

    private static string[] ReadHeader(CsvReader reader, string fileName, string labelColumn, bool labelRequired, IReadOnlyList<ColumnHint> hints)
    {
        var header = new string[reader.FieldCount];
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var c = 0; c < header.Length; c++)
        {
            var bytes = reader.GetSpan(c);
            Check(bytes, fileName, 1, $"column {c + 1}");
            var name = Encoding.UTF8.GetString(bytes);
            if (c == 0 && name.StartsWith('\uFEFF'))
            {
                name = name[1..];
            }
            if (name.Trim().Length == 0)
            {
                throw new DataFormatException(fileName, $"header cell {c + 1} is empty; every column needs a name", row: 1);
            }
            if (!seen.Add(name))
            {
                throw new DataFormatException(fileName, $"column '{name}' appears twice in the header; column names must be unique", row: 1);
            }
            if (name == DatasetSchema.RowColumn)
            {
                throw new DataFormatException(fileName, $"column name '{name}' is reserved for the row index the platform stores; rename the column", row: 1);
            }
            header[c] = name;
        }
        if (labelRequired && !seen.Contains(labelColumn))
        {
            throw new DataFormatException(fileName, $"the header has no label column '{labelColumn}' (columns: {string.Join(", ", header.Take(20))}{(header.Length > 20 ? ", ..." : "")}); name the label column, matching case", row: 1);
        }
        foreach (var hint in hints)
        {
            if (!seen.Contains(hint.Name))
            {
                throw new DataFormatException(fileName, $"the upload declares column '{hint.Name}', which the header does not have (columns: {string.Join(", ", header.Take(20))})", row: 1);
            }
        }
        return header;
    }

    private static void Check(ReadOnlySpan<byte> bytes, string fileName, long row, string column)
    {
        if (!Utf8.IsValid(bytes))
        {
            throw new DataFormatException(fileName, "the cell is not valid UTF-8 text; save the file as UTF-8", row: row, column: column);
        }
        if (bytes.Contains((byte)0))
        {
            throw new DataFormatException(fileName, "the cell contains a NUL character (byte 0), which no text or number may hold; the file may be binary or UTF-16", row: row, column: column);
        }
    }

    /// <summary>Whether the cell is one of the null tokens (after trimming spaces), compared without case.</summary>
    public static bool IsNull(ReadOnlySpan<byte> cell)
    {
        cell = cell.Trim((byte)' ');
        if (cell.Length > 4)
        {
            return false;
        }
        Span<char> chars = stackalloc char[4];
        var n = Encoding.ASCII.GetChars(cell, chars);
        foreach (var token in NullTokens)
        {
            if (chars[..n].Equals(token, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }
        return false;
    }

    private static ColumnType Infer(CellBuffer values)
    {
        bool ints = true, doubles = true, bools = true, times = true;
        var any = false;
        for (var r = 0; r < values.Count; r++)
        {
            if (values.IsNull(r))
            {
                continue;
            }
            any = true;
            var v = values.Get(r).Trim((byte)' ');
            ints = ints && long.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _);
            doubles = doubles && (ints || double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d));
            bools = bools && IsBool(v, out _);
            times = times && TryTimestamp(v, out _);
            if (!ints && !doubles && !bools && !times)
            {
                return ColumnType.String;
            }
        }
        return !any ? ColumnType.String : ints ? ColumnType.Int64 : doubles ? ColumnType.Double : bools ? ColumnType.Bool : times ? ColumnType.Timestamp : ColumnType.String;
    }

    private static bool IsBool(ReadOnlySpan<byte> v, out bool value)
    {
        value = v.Length == 4;
        return (v.Length == 4 && Ascii.EqualsIgnoreCase(v, "true"u8)) || (v.Length == 5 && Ascii.EqualsIgnoreCase(v, "false"u8));
    }

    private static bool TryTimestamp(ReadOnlySpan<byte> utf8, out DateTime value)
    {
        value = default;
        if (utf8.Length is < 10 or > 40 || !char.IsAsciiDigit((char)utf8[0]))
        {
            return false;
        }
        Span<char> text = stackalloc char[40];
        var n = Encoding.UTF8.GetChars(utf8, text);
        return TryTimestamp(text[..n], out value);
    }

    private static bool TryTimestamp(ReadOnlySpan<char> text, out DateTime value)
    {
        value = default;
        if (!IsoTimestamp().IsMatch(text))
        {
            return false;
        }
        if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed))
        {
            return false;
        }
        value = parsed.UtcDateTime;
        return true;
    }

    private static bool TrySet(Column column, int row, ReadOnlySpan<byte> cell)
    {
        var v = cell.Trim((byte)' ');
        switch (column.Schema.Type)
        {
            case ColumnType.Int64:
                if (!long.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l))
                {
                    return false;
                }
                ((long?[])column.Values)[row] = l;
                return true;
            case ColumnType.Double:
                if (!double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) || !double.IsFinite(d))
                {
                    return false;
                }
                ((double?[])column.Values)[row] = d;
                return true;
            case ColumnType.Bool:
                if (!IsBool(v, out var b))
                {
                    return false;
                }
                ((bool?[])column.Values)[row] = b;
                return true;
            case ColumnType.Timestamp:
                if (!TryTimestamp(v, out var t))
                {
                    return false;
                }
                ((DateTime?[])column.Values)[row] = t;
                return true;
            case ColumnType.String:
                ((string?[])column.Values)[row] = Encoding.UTF8.GetString(cell);
                return true;
            default:
                return false;
        }
    }

    private static string Shorten(string value) => value.Length <= MaxShownValueChars ? value : value[..MaxShownValueChars] + "...";

    private static string Article(ColumnType type) => type is ColumnType.Int64 ? "an" : "a";

    private static string Describe(char separator) => separator switch
    {
        ',' => "comma",
        '\t' => "tab",
        _ => $"'{separator}'",
    };

    /// <summary>
    /// One column's cells as they were read: their UTF-8 bytes back to back and where each ends (-1 for a null), so a
    /// column costs about its text plus 4 bytes a cell until its type is known, never a string per cell.
    /// </summary>
    private sealed class CellBuffer
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

    /// <summary>The decompressed, verified bytes of a <see cref="ParserInput"/> as a read-only stream.</summary>
    private sealed class ParserInputStream(ParserInput input) : Stream
    {
        public override int Read(Span<byte> buffer) => input.Read(buffer);
        public override int Read(byte[] buffer, int offset, int count) => input.Read(buffer.AsSpan(offset, count));
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => input.Position; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
