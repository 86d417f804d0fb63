using System.Text;
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
public static class TableParser
{
    public const string DefaultLabelColumn = "label";

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
        var rules = new TableRules(fileName, labelColumn, labelRequired, hints);
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
            header = ReadHeader(reader, rules);
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
                    if (TextCells.IsNull(bytes))
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
        var columns = new List<Column>(header.Length);
        for (var c = 0; c < header.Length; c++)
        {
            columns.Add(rules.ToColumn(header[c], cells[c], TextCells.Infer(cells[c]), r => r + 2));
            cells[c] = null!; // let the text go as soon as its column is converted
        }
        var datasetSchema = rules.Validate([.. columns.Select(c => c.Schema)], row: 1);
        return new Table(datasetSchema, columns, [.. Enumerable.Range(0, rows).Select(i => (long)i)]);
    }

    private static string[] ReadHeader(CsvReader reader, TableRules rules)
    {
        var header = new string[reader.FieldCount];
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var c = 0; c < header.Length; c++)
        {
            var bytes = reader.GetSpan(c);
            Check(bytes, rules.FileName, 1, $"column {c + 1}");
            var name = Encoding.UTF8.GetString(bytes);
            if (c == 0 && name.StartsWith('\uFEFF'))
            {
                name = name[1..];
            }
            if (name.Trim().Length == 0)
            {
                throw new DataFormatException(rules.FileName, $"header cell {c + 1} is empty; every column needs a name", row: 1);
            }
            if (!seen.Add(name))
            {
                throw new DataFormatException(rules.FileName, $"column '{name}' appears twice in the header; column names must be unique", row: 1);
            }
            if (TableRules.IsReserved(name))
            {
                throw new DataFormatException(rules.FileName, TableRules.ReservedReason("column name"), row: 1);
            }
            header[c] = name;
        }
        rules.CheckDeclared(header, "the header", row: 1);
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

    private static string Describe(char separator) => separator switch
    {
        ',' => "comma",
        '\t' => "tab",
        _ => $"'{separator}'",
    };

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
