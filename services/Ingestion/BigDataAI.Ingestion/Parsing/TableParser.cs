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
/// <item>Two passes over the file (<see cref="StreamedTable"/>): the first checks every row and counts, per column, the
/// cells that fit each type; the second converts the rows chunk by chunk. Memory holds one chunk, never the file.</item>
/// <item>In quarantine mode (<see cref="RowPolicy"/>) a row with the wrong number of cells, a cell that is not UTF-8, holds a
/// NUL or does not fit its column's type is a bad row, not an error; a column's type is then the one that fits more than
/// half its cells, as long as the rest are within the bad rows allowed (<see cref="TypeVotes.Choose"/>).</item>
/// </list>
/// </remarks>
public static class TableParser
{
    public const string DefaultLabelColumn = "label";

    /// <summary>Parses the whole table. Throws <see cref="DataFormatException"/> naming the file, row and column of the first problem.</summary>
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
        return Open(StreamedTable.Rewindable(data), fileName, separator, labelColumn, labelRequired, hints, RowPolicy.Strict, null, cancellationToken).ReadAll(cancellationToken);
    }

    /// <summary>
    /// Runs the first pass over the table (checks, type inference, row count) and returns it ready to be read in chunks.
    /// <paramref name="open"/> is called once per pass and must give the file from its start; the caller owns the streams.
    /// </summary>
    /// <param name="expectedTypes">Types the dataset's expectations declare (used where no hint gives a type).</param>
    /// <param name="speculation">Strict mode only: started once the first pass has read <see cref="Speculation.AfterRows"/>
    /// rows, with the types those rows suggest, so the rows can be converted while the first pass still reads.</param>
    public static StreamedTable Open(Func<Stream> open, string fileName, char separator, string labelColumn, bool labelRequired,
        IReadOnlyList<ColumnHint>? hints, RowPolicy policy, IReadOnlyDictionary<string, ColumnType>? expectedTypes, CancellationToken cancellationToken = default,
        Speculation? speculation = null)
    {
        ArgumentNullException.ThrowIfNull(open);
        ArgumentNullException.ThrowIfNull(policy);
        var rules = new TableRules(fileName, labelColumn, labelRequired, hints, expectedTypes: expectedTypes);
        cancellationToken.ThrowIfCancellationRequested();
        var reading = new CsvReading(open, rules, separator, policy, policy.Quarantine ? null : speculation);
        reading.FirstPass(cancellationToken);
        return reading.Table;
    }

    private static CsvReaderOptions Options(char separator) => new()
    {
        HasHeader = false, // the header is read as a record, so its problems get the same messages
        Separator = separator,
        TrackLineNumbers = true,
        SkipEmptyLines = true,
        MalformedData = CsvMalformedDataHandling.Throw,
        FieldCountMismatch = CsvFieldCountHandling.Allow,
        MaxRecordSize = 16 << 20,
    };

    /// <summary>One delimited file being read: the header, each column's type votes, and the two passes.</summary>
    private sealed class CsvReading(Func<Stream> open, TableRules rules, char separator, RowPolicy policy, Speculation? speculation)
    {
        private string[] _header = [];
        private ColumnType?[] _declared = [];
        private long _rows;

        public StreamedTable Table { get; private set; } = null!;

        public void FirstPass(CancellationToken cancellationToken)
        {
            var fileName = rules.FileName;
            using var input = ParserInput.Open(open(), fileName);
            using var stream = new ParserInputStream(input);
            TypeVotes[] votes;
            try
            {
                using var reader = CsvReader.Create(stream, Options(separator), leaveOpen: true);
                if (!reader.Read())
                {
                    throw new DataFormatException(fileName,
                        "the file is empty; a table needs a header row naming its columns and at least one data row", row: 1);
                }
                _header = ReadHeader(reader, rules);
                _declared = [.. _header.Select(rules.DeclaredType)];
                votes = new TypeVotes[_header.Length];
                ChunkBuilder? speculative = null; // the rows being converted under the first rows' types, if any
                long row = 1;
                while (reader.Read())
                {
                    row++;
                    if ((row & 0x3FFF) == 0)
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                    }
                    if (speculative is not null)
                    {
                        speculative = InspectVoteConvert(reader, row, votes, speculative);
                        continue;
                    }
                    if (Inspect(reader, row) is not null)
                    {
                        continue; // a bad row (quarantine mode): it takes no part in the types
                    }
                    for (var c = 0; c < _header.Length; c++)
                    {
                        var bytes = reader.GetSpan(c);
                        if (TextCells.IsPlainDigits(bytes, out _))
                        {
                            if (_declared[c] is null)
                            {
                                votes[c].AddInteger();
                            }
                            continue;
                        }
                        if (TextCells.IsNull(bytes))
                        {
                            votes[c].Nulls++;
                        }
                        else if (_declared[c] is null)
                        {
                            votes[c].Add(bytes);
                        }
                    }
                    if (speculation is not null && row - 1 == speculation.AfterRows)
                    {
                        speculative = Speculate(votes, cancellationToken);
                    }
                }
                if (row == 1)
                {
                    throw new DataFormatException(fileName, "the file has a header row but no data rows", row: 1);
                }
                if (speculative is { Count: > 0 } && !Store(speculative.Take()))
                {
                    speculative = null;
                }
                _rows = row - 1;
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
            Table = new CsvTable(SchemaOf(votes, policy.AllowedBadRows(_rows)), _rows, this);
        }

        private DatasetSchema SchemaOf(TypeVotes[] votes, long allowed)
        {
            var columns = new ColumnSchema[_header.Length];
            for (var c = 0; c < _header.Length; c++)
            {
                columns[c] = new ColumnSchema(_header[c], _declared[c] ?? votes[c].Choose(allowed), rules.RoleOf(_header[c]), Nullable: votes[c].Nulls > 0);
            }
            return rules.Validate(columns, row: 1);
        }

        /// <summary>
        /// Starts the speculation (strict mode) once <see cref="Speculation.AfterRows"/> rows are read: the schema their
        /// votes give, the same rows read again from the file's start and converted under it into the first chunk, and the
        /// chunk the first pass converts every later row into as it reads them. Null when the speculation declines or
        /// fails: then the first pass goes on only voting, as without one. A schema those rows cannot make (e.g. a label
        /// column that is all nulls so far) starts none.
        /// </summary>
        private ChunkBuilder? Speculate(TypeVotes[] votes, CancellationToken cancellationToken)
        {
            try
            {
                var provisional = SchemaOf(votes, 0);
                if (!speculation!.Begin(provisional))
                {
                    return null;
                }
                var rows = speculation.AfterRows;
                using var source = speculation.Follow();
                var first = ConvertRows(() => source, provisional, rows, rows, [], reuse: false, cancellationToken).First();
                if (first.Rows.Rows != rows || !Store(first))
                {
                    return null;
                }
                var chunk = new ChunkBuilder(provisional, rows, reuse: true, overwrites: true);
                // Its arrays stay the same ones for good (reused, never cleared): the int64 and double ones at hand.
                _longs = [.. Enumerable.Range(0, _header.Length).Select(c => chunk.ColumnAt(c).Values as long?[])];
                _doubles = [.. Enumerable.Range(0, _header.Length).Select(c => chunk.ColumnAt(c).Values as double?[])];
                return chunk;
            }
            catch (Exception e) when (e is DataFormatException or ArgumentException or InvalidOperationException)
            {
                speculation!.Abandon(e.Message);
                return null;
            }
        }

        /// <summary>
        /// Strict and speculating: one walk over the row's cells that checks each as <see cref="Inspect"/> does (a problem
        /// is thrown), votes on its type as the first pass does, and converts it into the speculative chunk, storing the
        /// chunk when full. Null when a cell does not fit the chunk's schema (another type, or a null in a column whose
        /// first rows had none) or the chunk could not be stored: the speculation is over, the row's votes are complete.
        /// </summary>
        /// <remarks>
        /// The usual first pass and the conversion each look at every cell; doing both in one walk, with the int64 and
        /// double columns' arrays at hand, is most of what the speculation saves (docs/memory.md, run D).
        /// </remarks>
        private long?[]?[] _longs = [];
        private double?[]?[] _doubles = [];

        private ChunkBuilder? InspectVoteConvert(CsvReader reader, long row, TypeVotes[] votes, ChunkBuilder chunk)
        {
            var (longColumns, doubleColumns) = (_longs, _doubles);
            if (reader.FieldCount != _header.Length)
            {
                Inspect(reader, row); // strict: throws the cell count's problem
            }
            chunk.BeginRow();
            var at = chunk.Count;
            var misfit = -1;
            for (var c = 0; c < _header.Length; c++)
            {
                var bytes = reader.GetSpan(c);
                var declared = _declared[c];
                if (TextCells.IsPlainDigits(bytes, out var integer) && declared is null or ColumnType.Int64 or ColumnType.Double or ColumnType.String)
                {
                    if (declared is null)
                    {
                        votes[c].AddInteger();
                    }
                    if (misfit >= 0)
                    {
                        continue;
                    }
                    if (longColumns[c] is { } longs)
                    {
                        longs[at] = integer;
                    }
                    else if (doubleColumns[c] is { } doubles && bytes.Length <= 15)
                    {
                        doubles[at] = integer; // exact: at most 15 digits
                    }
                    else if (!TextCells.TrySet(chunk.ColumnAt(c), at, bytes))
                    {
                        misfit = c;
                    }
                    continue;
                }
                if (CellProblem(bytes, c, row) is { } problem)
                {
                    throw new DataFormatException(rules.FileName, problem.Message, row: row, column: problem.Column);
                }
                if (TextCells.IsNull(bytes))
                {
                    votes[c].Nulls++;
                    var column = chunk.ColumnAt(c);
                    if (misfit < 0 && !column.Schema.Nullable)
                    {
                        misfit = c;
                    }
                    Array.Clear(column.Values, at, 1); // the chunk is not cleared between uses: every cell is written
                    continue;
                }
                if (declared is null)
                {
                    votes[c].Add(bytes);
                }
                if (misfit < 0 && !TextCells.TrySet(chunk.ColumnAt(c), at, bytes))
                {
                    misfit = c;
                }
            }
            if (misfit >= 0)
            {
                chunk.Clear(at);
                speculation!.Abandon($"row {row}, column '{_header[misfit]}' does not hold the type its first rows gave it");
                return null;
            }
            chunk.Commit(row - 2, row);
            return !chunk.IsFull || Store(chunk.Take()) ? chunk : null;
        }

        private bool Store(TableChunk chunk) => speculation!.Store(chunk);

        /// <summary>
        /// The problem of a record, if any: a wrong number of cells, a cell that is not UTF-8 or holds a NUL, a cell that does
        /// not fit its declared type. Strict: thrown. Quarantine: returned (and, when <paramref name="bad"/> is given, added).
        /// </summary>
        public QuarantinedRow? Inspect(CsvReader reader, long row, List<QuarantinedRow>? bad = null)
        {
            var fileName = rules.FileName;
            QuarantinedRow? problem = null;
            if (reader.FieldCount != _header.Length)
            {
                problem = Bad(row, null, "cell_count",
                    $"it has {reader.FieldCount} cell(s) but the header names {_header.Length} columns (line {reader.LineNumber}; a cell with a {Describe(separator)} or a line break must be in double quotes)",
                    Record(reader));
            }
            for (var c = 0; c < _header.Length && problem is null; c++)
            {
                var bytes = reader.GetSpan(c);
                if (TextCells.IsPlainDigits(bytes, out _) && _declared[c] is null or ColumnType.Int64 or ColumnType.Double or ColumnType.String)
                {
                    continue; // plain digits are valid UTF-8 without a NUL and fit these types
                }
                problem = CellProblem(bytes, c, row);
            }
            if (problem is null)
            {
                return null;
            }
            if (!policy.Quarantine)
            {
                throw new DataFormatException(fileName, problem.Message, row: row, column: problem.Column);
            }
            bad?.Add(problem);
            return problem;
        }

        /// <summary>The problem of one cell, if any: not UTF-8, a NUL, or not of its declared type.</summary>
        private QuarantinedRow? CellProblem(ReadOnlySpan<byte> bytes, int c, long row)
        {
            if (!Utf8.IsValid(bytes))
            {
                return Bad(row, _header[c], "invalid_utf8", "the cell is not valid UTF-8 text; save the file as UTF-8", Encoding.UTF8.GetString(bytes));
            }
            if (bytes.Contains((byte)0))
            {
                return Bad(row, _header[c], "nul_character", "the cell contains a NUL character (byte 0), which no text or number may hold; the file may be binary or UTF-16",
                    Encoding.UTF8.GetString(bytes).Replace('\0', '\uFFFD'));
            }
            if (_declared[c] is { } type && !TextCells.IsNull(bytes) && !TextCells.Fits(type, bytes))
            {
                var (reason, message) = rules.Misfit(_header[c], type, bytes);
                return Bad(row, _header[c], reason, message, Encoding.UTF8.GetString(bytes));
            }
            return null;
        }

        private static QuarantinedRow Bad(long row, string? column, string reason, string message, string? raw) =>
            new(row, row - 2, column, reason, message, raw);

        private string Record(CsvReader reader)
        {
            var text = new StringBuilder();
            for (var c = 0; c < reader.FieldCount && text.Length < QuarantineShards.MaxRawChars; c++)
            {
                text.Append(c == 0 ? "" : separator).Append(Encoding.UTF8.GetString(reader.GetSpan(c)));
            }
            return text.ToString();
        }

        /// <summary>The second pass: good rows converted into chunks, bad ones (quarantine mode) into <paramref name="bad"/>.</summary>
        public IEnumerable<TableChunk> SecondPass(DatasetSchema schema, int chunkRows, List<QuarantinedRow> bad, bool reuse, CancellationToken cancellationToken) =>
            ConvertRows(open, schema, (int)Math.Min(chunkRows, Math.Max(1, _rows)), chunkRows, bad, reuse, cancellationToken);

        /// <summary>The rows of the file <paramref name="source"/> gives, converted into chunks of <paramref name="capacity"/> rows.</summary>
        private IEnumerable<TableChunk> ConvertRows(Func<Stream> source, DatasetSchema schema, int capacity, int chunkRows, List<QuarantinedRow> bad, bool reuse, CancellationToken cancellationToken)
        {
            using var input = ParserInput.Open(source(), rules.FileName);
            using var stream = new ParserInputStream(input);
            using var reader = CsvReader.Create(stream, Options(separator), leaveOpen: true);
            reader.Read(); // the header, checked in the first pass
            var chunk = new ChunkBuilder(schema, capacity, reuse);
            long row = 1;
            while (reader.Read())
            {
                row++;
                if ((row & 0x3FFF) == 0)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                }
                // Strict: the first pass inspected every row of this same buffered file and found nothing, so only the
                // conversion is left; quarantine: the row's problem (found again here) sends it to the quarantine.
                if ((!policy.Quarantine || Inspect(reader, row, bad) is null) && Convert(reader, chunk, row) is { } misfit)
                {
                    bad.Add(misfit);
                }
                if (chunk.IsFull || bad.Count >= chunkRows)
                {
                    yield return chunk.Take();
                }
            }
            if (chunk.Count > 0 || bad.Count > 0)
            {
                yield return chunk.Take();
            }
        }

        /// <summary>Converts the record into the chunk's next row; a cell that does not fit its column's type is returned as a bad row (quarantine) or thrown (strict).</summary>
        private QuarantinedRow? Convert(CsvReader reader, ChunkBuilder chunk, long row)
        {
            chunk.BeginRow();
            var at = chunk.Count;
            for (var c = 0; c < _header.Length; c++)
            {
                var bytes = reader.GetSpan(c);
                var column = chunk.ColumnAt(c);
                if (TextCells.IsPlainDigits(bytes, out var integer))
                {
                    // Plain digits, the common cell of a numeric table: stored without the general conversion.
                    switch (column.Values)
                    {
                        case long?[] longs:
                            longs[at] = integer;
                            continue;
                        case double?[] doubles when bytes.Length <= 15:
                            doubles[at] = integer; // exact: at most 15 digits
                            continue;
                    }
                }
                if (TextCells.IsNull(bytes))
                {
                    continue; // the row's cells start as nulls
                }
                if (!TextCells.TrySet(column, at, bytes))
                {
                    chunk.Clear(at);
                    var (reason, message) = rules.Misfit(_header[c], column.Schema.Type, bytes);
                    if (!policy.Quarantine)
                    {
                        throw new DataFormatException(rules.FileName, message, row: row, column: _header[c]);
                    }
                    return Bad(row, _header[c], reason, message, Encoding.UTF8.GetString(bytes));
                }
            }
            chunk.Commit(row - 2, row);
            return null;
        }
    }

    private sealed class CsvTable(DatasetSchema schema, long rows, CsvReading reading) : StreamedTable(schema, rows)
    {
        public override IEnumerable<TableChunk> Read(int chunkRows, List<QuarantinedRow> bad, CancellationToken cancellationToken = default, bool reuse = false) =>
            reading.SecondPass(Schema, chunkRows, bad, reuse, cancellationToken);
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
