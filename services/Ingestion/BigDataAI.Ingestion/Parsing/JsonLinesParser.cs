using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using BigDataAI.Datasets;

namespace BigDataAI.Ingestion.Parsing;

/// <summary>
/// Reads JSON Lines (one JSON object per line) into typed columns with System.Text.Json's <see cref="Utf8JsonReader"/>,
/// one line at a time; the label column and the upload's overrides work as for CSV (<see cref="TableRules"/>).
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>UTF-8 (a byte order mark is skipped; invalid bytes are an error naming the line); gzip-compressed data is
/// recognised by its magic bytes. Lines end with \n or \r\n; blank lines are skipped; a line holds at most 16 MiB.</item>
/// <item>Each line is one JSON object. Nested objects are flattened with dotted names: <c>{"address": {"city": "Oslo"}}</c>
/// is the column <c>address.city</c>. Columns are in the order their keys first appear, at most 10,000. A key missing
/// from a line, or null there, is a null; a key that is null wherever it appears and an object on other lines
/// (<c>"address": null</c>) is no column of its own.</item>
/// <item>Types per key over all lines: numbers are int64 when every one is an integer without fraction or exponent that
/// fits, else double; true/false are bool; strings are timestamp when every one is an ISO 8601 date or date-time (as in
/// CSV), else string, kept verbatim (the string "NA" is text, not a null). A key whose values are of several kinds is a
/// string column of their JSON text. A key with no value is a string column.</item>
/// <item>An array of numbers is a tensor column of shape [n] (float) when the key holds an array of the same length n on
/// every line; a tensor column holds no nulls. Any other array (empty, of strings, nested, mixed, of several lengths, or
/// missing or null on a line) is refused.</item>
/// <item>A declared type converts each value's text as a CSV cell's (a number's text, true/false, or the string).</item>
/// <item>Errors are <see cref="DataFormatException"/>s whose row is the line number (blank lines counted) and whose column
/// is the key; invalid JSON names the byte offset as well.</item>
/// <item>Two passes (<see cref="StreamedTable"/>): the first checks every line and keeps, per key, only the counts that
/// choose its type; the second converts the lines chunk by chunk. Memory holds one chunk, never the file.</item>
/// <item>In quarantine mode (<see cref="RowPolicy"/>) a line that is not UTF-8, not JSON or not an object, and a value that
/// does not fit its key's type, make a bad row rather than an error; a key's type is then its majority kind when the rest
/// are within the bad rows allowed. Problems of the file's shape (a key twice in an object, arrays of several lengths,
/// a tensor key missing on a line, too many keys) still refuse the file.</item>
/// </list>
/// </remarks>
public static class JsonLinesParser
{
    /// <summary>The most columns (distinct flattened keys) a file may have.</summary>
    public const int MaxColumns = 10_000;

    /// <summary>The longest line, in bytes.</summary>
    public const int MaxLineBytes = 16 << 20;

    private const string NestedNote = "; nested keys are named with dots, as in 'address.city'";

    /// <summary>Parses the lines. Throws <see cref="DataFormatException"/> naming the file, line and key of the first problem.</summary>
    /// <param name="data">The file's bytes (gzip recognised).</param>
    /// <param name="fileName">The name used in messages.</param>
    /// <param name="labelColumn">The label column's (flattened) key. When no line has it the table is stored unlabeled,
    /// unless <paramref name="labelRequired"/>.</param>
    /// <param name="hints">Roles and types that override the inferred ones; a hint for a key no line has is an error.</param>
    public static Table Parse(Stream data, string fileName, string labelColumn = TableParser.DefaultLabelColumn, bool labelRequired = false,
        IReadOnlyList<ColumnHint>? hints = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        return Open(StreamedTable.Rewindable(data), fileName, labelColumn, labelRequired, hints, RowPolicy.Strict, null, cancellationToken).ReadAll(cancellationToken);
    }

    /// <summary>
    /// Runs the first pass over the lines (checks, type inference, row count) and returns the table ready to be read in
    /// chunks. <paramref name="open"/> is called once per pass and must give the file from its start; the caller owns the streams.
    /// </summary>
    public static StreamedTable Open(Func<Stream> open, string fileName, string labelColumn, bool labelRequired, IReadOnlyList<ColumnHint>? hints,
        RowPolicy policy, IReadOnlyDictionary<string, ColumnType>? expectedTypes, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(open);
        ArgumentNullException.ThrowIfNull(policy);
        var rules = new TableRules(fileName, labelColumn, labelRequired, hints, lineNumbered: true, expectedTypes);
        cancellationToken.ThrowIfCancellationRequested();
        var reading = new Reading(fileName, rules, policy);
        using (var input = ParserInput.Open(open(), fileName))
        {
            var lines = new LineReader(input, fileName);
            while (NextLine(lines, out var line, out var offset))
            {
                if ((lines.Number & 0x3FFF) == 0)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                }
                reading.ReadLine(line, lines.Number, offset, null, null);
            }
        }
        cancellationToken.ThrowIfCancellationRequested();
        return reading.Finish(open);
    }

    /// <summary>The next non-blank line, its byte order mark (on line 1) skipped.</summary>
    private static bool NextLine(LineReader lines, out ReadOnlySpan<byte> line, out long offset)
    {
        while (lines.Next(out line))
        {
            offset = lines.Offset;
            if (lines.Number == 1 && line.StartsWith("\uFEFF"u8))
            {
                line = line[3..];
                offset += 3;
            }
            if (line.IndexOfAnyExcept(" \t\r"u8) >= 0)
            {
                return true;
            }
        }
        offset = 0;
        return false;
    }

    /// <summary>One flattened key: what kinds its values were (never the values) and, in the second pass, its column.</summary>
    private sealed class Key(string name)
    {
        public string Name { get; } = name;
        public int Numbers, Integers, Strings, Timestamps, Bools;
        public long FirstValueLine;
        public string FirstValueKind = "";

        /// <summary>The good row this key was last given a value on, to find a key twice in one object.</summary>
        public long LastRow = -1;

        /// <summary>Good rows on which it holds a value (not null, not missing).</summary>
        public long Values;

        public bool IsTensor;
        public int Width;
        public long TensorRows;

        /// <summary>The second pass: the column index in the chunk, or -1 when the key is no column.</summary>
        public int Column = -1;

        public bool HasScalars => Numbers + Strings + Bools > 0;

        /// <summary>
        /// Strict: numbers int64 when all are integers, else double; true/false bool; strings timestamp when all are, else
        /// string; several kinds string. When <paramref name="allowed"/> values may be bad rows, the kind (or, for strings,
        /// timestamp) that holds more than half the values with the rest within <paramref name="allowed"/> wins.
        /// </summary>
        public ColumnType Infer(long allowed)
        {
            var kinds = (Numbers > 0 ? 1 : 0) + (Strings > 0 ? 1 : 0) + (Bools > 0 ? 1 : 0);
            if (kinds == 0)
            {
                return ColumnType.String;
            }
            var total = (long)Numbers + Strings + Bools;
            var kind = kinds == 1 ? (Numbers > 0 ? 0 : Bools > 0 ? 1 : 2) : -1;
            if (kind < 0 && allowed > 0)
            {
                var (best, count) = Numbers >= Strings && Numbers >= Bools ? (0, (long)Numbers) : Bools >= Strings ? (1, (long)Bools) : (2, (long)Strings);
                kind = count * 2 > total && total - count <= allowed ? best : -1;
            }
            return kind switch
            {
                0 => Integers == Numbers ? ColumnType.Int64 : ColumnType.Double,
                1 => ColumnType.Bool,
                2 => Timestamps == Strings || (allowed > 0 && Timestamps * 2L > Strings && Strings - Timestamps <= allowed && total == Strings) ? ColumnType.Timestamp : ColumnType.String,
                _ => ColumnType.String,
            };
        }
    }

    /// <summary>A line that is a bad row (quarantine mode), thrown out of the object being read.</summary>
    private sealed class BadRowException(QuarantinedRow row) : Exception(row.Message)
    {
        public QuarantinedRow Row { get; } = row;
    }

    /// <summary>The keys seen so far, and the reading of one line in either pass.</summary>
    private sealed class Reading(string fileName, TableRules rules, RowPolicy policy)
    {
        private static readonly JsonReaderOptions Options = new() { CommentHandling = JsonCommentHandling.Disallow, MaxDepth = 64 };

        private readonly List<Key> _keys = [];
        private readonly List<Key> _tensors = [];
        private readonly Dictionary<string, Key> _byName = new(StringComparer.Ordinal);
        private readonly List<float> _array = [];
        private readonly HashSet<string> _objects = new(StringComparer.Ordinal); // this line's keys that hold objects
        private char[] _path = new char[256];
        private byte[] _unescaped = new byte[256];
        private long _row = -1;   // non-blank lines so far - 1: the row id
        private long _good = -1;  // lines read as objects so far - 1
        private long _line;
        private long _firstGoodLine;
        private QuarantinedRow? _firstBad;
        private ChunkBuilder? _chunk; // the second pass
        private ColumnType?[] _declared = [];

        /// <summary>
        /// Reads one non-blank line: in the first pass (<paramref name="chunk"/> null) its keys and kinds, in the second its
        /// values into the chunk's next row. A bad line is thrown (strict) or added to <paramref name="bad"/> (quarantine).
        /// </summary>
        public void ReadLine(ReadOnlySpan<byte> line, long number, long offset, ChunkBuilder? chunk, List<QuarantinedRow>? bad)
        {
            _line = number;
            _row++;
            _chunk = chunk;
            if (!Utf8.IsValid(line))
            {
                var at = FirstInvalidUtf8(line);
                var message = $"the line is not valid UTF-8 text (byte {at} of the line); save the file as UTF-8";
                if (!policy.Quarantine)
                {
                    throw new DataFormatException(fileName, message, row: number, byteOffset: offset + at, lineNumbered: true);
                }
                Quarantine(new QuarantinedRow(number, _row, null, "invalid_utf8", message, Encoding.UTF8.GetString(line)), bad);
                return;
            }
            if (policy.Quarantine && Malformed(line, number) is { } malformed)
            {
                Quarantine(malformed, bad);
                return;
            }
            _good++;
            if (_good == 0)
            {
                _firstGoodLine = number;
            }
            _objects.Clear();
            chunk?.BeginRow();
            var reader = new Utf8JsonReader(line, Options);
            try
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartObject)
                {
                    throw Error($"the line is {Describe(reader.TokenType)}, not a JSON object; JSON Lines holds one object per line");
                }
                ReadObject(ref reader, 0);
                reader.Read(); // throws on anything after the object
            }
            catch (JsonException e)
            {
                var at = e.BytePositionInLine ?? 0;
                throw new DataFormatException(fileName, $"line {number.ToString(CultureInfo.InvariantCulture)} is not valid JSON at byte {at.ToString(CultureInfo.InvariantCulture)} of the line: {Reason(e)}",
                    row: number, byteOffset: offset + at, innerException: e, lineNumbered: true);
            }
            catch (InvalidOperationException e)
            {
                // Utf8JsonReader.CopyString refuses an escape that is not valid UTF-16 (a lone surrogate such as \ud800).
                throw new DataFormatException(fileName, $"line {number.ToString(CultureInfo.InvariantCulture)} holds a string that is not valid text: {e.Message}",
                    row: number, byteOffset: offset + reader.TokenStartIndex, innerException: e, lineNumbered: true);
            }
            catch (BadRowException e)
            {
                chunk?.Clear(chunk.Count);
                Quarantine(e.Row, bad);
                return;
            }
            if (chunk is null)
            {
                foreach (var tensor in _tensors)
                {
                    if (tensor.TensorRows != _good + 1)
                    {
                        throw Error(TensorGap(tensor), tensor.Name);
                    }
                }
            }
            else
            {
                chunk.Commit(_row, number);
            }
        }

        private void Quarantine(QuarantinedRow row, List<QuarantinedRow>? bad)
        {
            _firstBad ??= row;
            bad?.Add(row);
        }

        /// <summary>Quarantine mode: the line's problem when it is not one JSON object (checked before any of it is used).</summary>
        private QuarantinedRow? Malformed(ReadOnlySpan<byte> line, long number)
        {
            var reader = new Utf8JsonReader(line, Options);
            try
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartObject)
                {
                    return new QuarantinedRow(number, _row, null, "invalid_json", $"the line is {Describe(reader.TokenType)}, not a JSON object; JSON Lines holds one object per line", Encoding.UTF8.GetString(line));
                }
                reader.Skip();
                reader.Read(); // throws on anything after the object
                return null;
            }
            catch (JsonException e)
            {
                return new QuarantinedRow(number, _row, null, "invalid_json",
                    $"line {number.ToString(CultureInfo.InvariantCulture)} is not valid JSON at byte {(e.BytePositionInLine ?? 0).ToString(CultureInfo.InvariantCulture)} of the line: {Reason(e)}", Encoding.UTF8.GetString(line));
            }
        }

        private void ReadObject(ref Utf8JsonReader reader, int prefix)
        {
            while (true)
            {
                Next(ref reader);
                if (reader.TokenType == JsonTokenType.EndObject)
                {
                    return;
                }
                var needed = prefix + reader.ValueSpan.Length + 1;
                if (needed > _path.Length)
                {
                    Array.Resize(ref _path, Math.Max(needed, _path.Length * 2));
                }
                var length = prefix + reader.CopyString(_path.AsSpan(prefix));
                if (length == prefix)
                {
                    throw Error(prefix == 0 ? "the object has an empty key; every key names a column"
                        : $"the object under '{new string(_path, 0, prefix - 1)}' has an empty key; every key names a column");
                }
                Next(ref reader);
                if (reader.TokenType == JsonTokenType.StartObject)
                {
                    var path = _path.AsSpan(0, length);
                    if (_chunk is null && ((_byName.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(path, out var same) && same.LastRow == _good)
                        || !_objects.GetAlternateLookup<ReadOnlySpan<char>>().Add(path)))
                    {
                        throw Twice(new string(path));
                    }
                    _path[length] = '.';
                    ReadObject(ref reader, length + 1);
                    continue;
                }
                if (_chunk is not null)
                {
                    Fill(ref reader, _path.AsSpan(0, length));
                    continue;
                }
                var key = KeyOf(_path.AsSpan(0, length));
                if (key.LastRow == _good || (_objects.Count > 0 && _objects.Contains(key.Name)))
                {
                    throw Twice(key.Name);
                }
                key.LastRow = _good;
                switch (reader.TokenType)
                {
                    case JsonTokenType.StartArray:
                        ReadArray(ref reader, key);
                        break;
                    case JsonTokenType.Null:
                        if (key.IsTensor)
                        {
                            throw Error(TensorGap(key), key.Name);
                        }
                        break;
                    case JsonTokenType.String:
                        var text = Unescaped(ref reader);
                        SetScalar(key, text, "a string");
                        key.Strings++;
                        key.Timestamps += TextCells.TryTimestamp(text, out _) ? 1 : 0;
                        break;
                    case JsonTokenType.Number:
                        SetScalar(key, reader.ValueSpan, "a number");
                        key.Numbers++;
                        key.Integers += TextCells.IsInt64(reader.ValueSpan) ? 1 : 0;
                        break;
                    default: // true, false
                        SetScalar(key, reader.ValueSpan, "true/false");
                        key.Bools++;
                        break;
                }
            }
        }

        /// <summary>The second pass: one value into the chunk's next row (the first pass has checked the line's shape).</summary>
        private void Fill(ref Utf8JsonReader reader, ReadOnlySpan<char> name)
        {
            var chunk = _chunk!;
            if (!_byName.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(name, out var key) || key.Column < 0)
            {
                if (reader.TokenType == JsonTokenType.StartArray)
                {
                    reader.Skip();
                }
                return;
            }
            var column = chunk[key.Column];
            switch (reader.TokenType)
            {
                case JsonTokenType.StartArray:
                    var values = (float[])column.Values;
                    var at = chunk.Count * key.Width;
                    var i = 0;
                    while (true)
                    {
                        Next(ref reader);
                        if (reader.TokenType == JsonTokenType.EndArray)
                        {
                            break;
                        }
                        values[at + i++] = (float)reader.GetDouble();
                    }
                    break;
                case JsonTokenType.Null:
                    break;
                default:
                    var text = reader.TokenType == JsonTokenType.String ? Unescaped(ref reader) : reader.ValueSpan;
                    if (!TextCells.TrySet(column, chunk.Count, text))
                    {
                        var (reason, message) = rules.Misfit(key.Name, column.Schema.Type, text);
                        if (!policy.Quarantine)
                        {
                            throw Error(message, key.Name);
                        }
                        throw new BadRowException(new QuarantinedRow(_line, _row, key.Name, reason, message, Encoding.UTF8.GetString(text)));
                    }
                    break;
            }
        }

        private DataFormatException Twice(string name) =>
            Error($"key '{name}' appears twice in the object{(name.Contains('.') ? " (nested keys are joined with dots, so {\"a\": {\"b\": 1}} and \"a.b\" are the same column)" : "")}; every key names one column", name);

        private static void Next(ref Utf8JsonReader reader)
        {
            if (!reader.Read())
            {
                throw new JsonException("the line ends inside an object");
            }
        }

        private Key KeyOf(ReadOnlySpan<char> name)
        {
            if (_byName.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(name, out var key))
            {
                return key;
            }
            var text = new string(name);
            if (TableRules.IsReserved(text))
            {
                throw Error(TableRules.ReservedReason("key"), text);
            }
            if (_keys.Count == MaxColumns)
            {
                throw Error($"key '{text}' would be column {(MaxColumns + 1).ToString("N0", CultureInfo.InvariantCulture)}; a table has at most {MaxColumns.ToString("N0", CultureInfo.InvariantCulture)} columns (nested objects count one column per key)", text);
            }
            key = new Key(text);
            _keys.Add(key);
            _byName.Add(text, key);
            return key;
        }

        private ReadOnlySpan<byte> Unescaped(ref Utf8JsonReader reader)
        {
            if (!reader.ValueIsEscaped)
            {
                return reader.ValueSpan;
            }
            if (_unescaped.Length < reader.ValueSpan.Length)
            {
                _unescaped = new byte[Math.Max(reader.ValueSpan.Length, _unescaped.Length * 2)];
            }
            return _unescaped.AsSpan(0, reader.CopyString(_unescaped));
        }

        private void SetScalar(Key key, ReadOnlySpan<byte> text, string kind)
        {
            if (key.IsTensor)
            {
                throw Error($"key '{key.Name}' holds {kind} here but an array of numbers on line {key.FirstValueLine}; a key that holds arrays must hold one of {key.Width} numbers on every line", key.Name);
            }
            Remember(key, kind);
            key.Values++;
            // Strict: a value that does not fit the declared type refuses the file now, before anything is stored.
            if (!policy.Quarantine && rules.DeclaredType(key.Name) is { } declared && !TextCells.Fits(declared, text))
            {
                throw Error(rules.Misfit(key.Name, declared, text).Message, key.Name);
            }
        }

        private void ReadArray(ref Utf8JsonReader reader, Key key)
        {
            _array.Clear();
            while (true)
            {
                Next(ref reader);
                if (reader.TokenType == JsonTokenType.EndArray)
                {
                    break;
                }
                if (reader.TokenType != JsonTokenType.Number)
                {
                    throw Error($"key '{key.Name}' holds an array whose element {_array.Count + 1} is {Describe(reader.TokenType)}; only an array of numbers is stored (as a tensor column), so store this value as a string or flatten it into keys", key.Name);
                }
                if (!reader.TryGetDouble(out var d) || !float.IsFinite((float)d))
                {
                    throw Error($"key '{key.Name}' holds an array whose element {_array.Count + 1} ({Encoding.UTF8.GetString(reader.ValueSpan)}) is too large for a tensor of floats", key.Name);
                }
                _array.Add((float)d);
            }
            if (_array.Count == 0)
            {
                throw Error($"key '{key.Name}' holds an empty array; a tensor column needs the same number (at least 1) of values on every line", key.Name);
            }
            if (key.HasScalars)
            {
                throw Error($"key '{key.Name}' holds an array here but {key.FirstValueKind} on line {key.FirstValueLine}; a key is either an array of numbers on every line or never an array", key.Name);
            }
            if (!key.IsTensor)
            {
                key.IsTensor = true;
                key.Width = _array.Count;
                Remember(key, $"an array of {_array.Count} numbers");
                _tensors.Add(key);
                if (_good > 0)
                {
                    // Missing on every line before this one: the first of them is the one to name.
                    throw new DataFormatException(fileName, TensorGap(key), row: _firstGoodLine, column: key.Name, lineNumbered: true);
                }
            }
            else if (_array.Count != key.Width)
            {
                throw Error($"key '{key.Name}' holds an array of {_array.Count} numbers here but of {key.Width} on line {key.FirstValueLine}; a tensor column needs arrays of one length on every line", key.Name);
            }
            key.TensorRows++;
        }

        private static string TensorGap(Key key) =>
            $"key '{key.Name}' is missing or null on this line, but holds arrays of numbers{(key.FirstValueLine > 0 ? $" (from line {key.FirstValueLine})" : "")}; a tensor column holds no nulls, so every line needs an array of {key.Width} numbers";

        private void Remember(Key key, string kind)
        {
            if (key.FirstValueLine == 0)
            {
                key.FirstValueLine = _line;
                key.FirstValueKind = kind;
            }
        }

        /// <summary>The end of the first pass: the columns (types chosen, declared ones checked), ready for the second.</summary>
        public StreamedTable Finish(Func<Stream> open)
        {
            var rows = _row + 1;
            if (rows == 0)
            {
                throw new DataFormatException(fileName, "the file holds no JSON object; JSON Lines holds one object per line", row: 1, lineNumbered: true);
            }
            if (_good < 0)
            {
                throw DataFormatException.ForWholeFile(fileName, $"none of its {rows.ToString(CultureInfo.InvariantCulture)} lines is a JSON object; the first: line {_firstBad!.SourceRow}: {_firstBad.Message}");
            }
            var good = _good + 1;
            // A key that is only ever null while others are nested under it ("address": null beside "address.city") is no column.
            var nested = _keys.Where(k => k.Name.Contains('.')).Select(k => k.Name).ToList();
            var keys = _keys.Where(k => k.IsTensor || k.HasScalars || !nested.Any(n => n.StartsWith(k.Name + ".", StringComparison.Ordinal))).ToList();
            rules.CheckDeclared([.. keys.Select(k => k.Name)], "the file", row: null, NestedNote);
            var allowed = policy.AllowedBadRows(rows);
            var columns = new List<ColumnSchema>(keys.Count);
            foreach (var key in keys)
            {
                key.Column = columns.Count;
                if (key.IsTensor)
                {
                    if (rules.HintFor(key.Name)?.Type is { } declared)
                    {
                        throw new DataFormatException(fileName,
                            $"the upload declares type {declared.ToString().ToLowerInvariant()}, but the key holds arrays of {key.Width} numbers (a tensor column); declare only its role", column: key.Name);
                    }
                    columns.Add(new ColumnSchema(key.Name, ColumnType.Tensor, rules.RoleOf(key.Name), Nullable: false, Shape: [key.Width]));
                    continue;
                }
                columns.Add(new ColumnSchema(key.Name, rules.DeclaredType(key.Name) ?? key.Infer(allowed), rules.RoleOf(key.Name), Nullable: key.Values < good));
            }
            var schema = rules.Validate(columns, row: null);
            return new JsonTable(schema, rows, this, open);
        }

        /// <summary>The second pass: every line again, good rows into chunks, bad ones into <paramref name="bad"/>.</summary>
        public IEnumerable<TableChunk> SecondPass(DatasetSchema schema, long rows, Func<Stream> open, int chunkRows, List<QuarantinedRow> bad, bool reuse, CancellationToken cancellationToken)
        {
            _row = -1;
            _good = -1;
            using var input = ParserInput.Open(open(), fileName);
            var lines = new LineReader(input, fileName);
            var chunk = new ChunkBuilder(schema, (int)Math.Min(chunkRows, Math.Max(1, rows)), reuse);
            while (true)
            {
                if (!NextLine(lines, out var line, out var offset))
                {
                    break;
                }
                if ((lines.Number & 0x3FFF) == 0)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                }
                ReadLine(line, lines.Number, offset, chunk, bad);
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

        private DataFormatException Error(string reason, string? column = null) =>
            new(fileName, reason, row: _line, column: column, lineNumbered: true);

        private static string Describe(JsonTokenType token) => token switch
        {
            JsonTokenType.StartArray => "an array",
            JsonTokenType.StartObject => "an object",
            JsonTokenType.String => "a string",
            JsonTokenType.Number => "a number",
            JsonTokenType.True or JsonTokenType.False => "true/false",
            JsonTokenType.Null => "null",
            _ => token.ToString(),
        };

        /// <summary>The reader's reason without its own position suffix (the message gives the line and byte already).</summary>
        private static string Reason(JsonException e)
        {
            var message = e.Message;
            var at = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
            return (at > 0 ? message[..at] : message).TrimEnd('.', ' ');
        }

        private static int FirstInvalidUtf8(ReadOnlySpan<byte> line)
        {
            var at = 0;
            while (at < line.Length && System.Buffers.OperationStatus.Done == System.Text.Rune.DecodeFromUtf8(line[at..], out _, out var consumed))
            {
                at += consumed;
            }
            return at;
        }
    }

    private sealed class JsonTable(DatasetSchema schema, long rows, Reading reading, Func<Stream> open) : StreamedTable(schema, rows)
    {
        public override IEnumerable<TableChunk> Read(int chunkRows, List<QuarantinedRow> bad, CancellationToken cancellationToken = default, bool reuse = false) =>
            reading.SecondPass(Schema, SourceRows, open, chunkRows, bad, reuse, cancellationToken);
    }

    /// <summary>Splits the decompressed data into lines (without their \n or \r\n), counting them and their byte offsets.</summary>
    private sealed class LineReader(ParserInput input, string fileName)
    {
        private byte[] _buffer = new byte[1 << 16];
        private int _start;
        private int _end;
        private long _bufferOffset;
        private bool _ended;

        /// <summary>The 1-based number of the line last returned.</summary>
        public long Number { get; private set; }

        /// <summary>The byte offset of that line's first byte.</summary>
        public long Offset { get; private set; }

        public bool Next(out ReadOnlySpan<byte> line)
        {
            var scanned = _start;
            while (true)
            {
                var newline = _buffer.AsSpan(scanned, _end - scanned).IndexOf((byte)'\n');
                if (newline >= 0 || (_ended && _start < _end))
                {
                    var end = newline >= 0 ? scanned + newline : _end;
                    Number++;
                    Offset = _bufferOffset + _start;
                    line = _buffer.AsSpan(_start, end - _start);
                    _start = Math.Min(end + 1, _end);
                    if (line.Length > MaxLineBytes)
                    {
                        throw TooLong();
                    }
                    if (line.EndsWith((byte)'\r'))
                    {
                        line = line[..^1];
                    }
                    return true;
                }
                if (_ended)
                {
                    line = default;
                    return false;
                }
                if (_start > 0)
                {
                    _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
                    _bufferOffset += _start;
                    _end -= _start;
                    _start = 0;
                }
                scanned = _end;
                if (_end == _buffer.Length)
                {
                    if (_buffer.Length > MaxLineBytes)
                    {
                        Number++;
                        Offset = _bufferOffset;
                        throw TooLong();
                    }
                    Array.Resize(ref _buffer, _buffer.Length * 2);
                }
                var read = input.Read(_buffer.AsSpan(_end));
                _ended = read == 0;
                _end += read;
            }
        }

        private DataFormatException TooLong() =>
            new(fileName, $"the line is longer than {MaxLineBytes >> 20} MiB; JSON Lines holds one object per line (is the file one JSON document rather than JSON Lines?)",
                row: Number, byteOffset: Offset, lineNumbered: true);
    }
}
