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
        var rules = new TableRules(fileName, labelColumn, labelRequired, hints, lineNumbered: true);
        cancellationToken.ThrowIfCancellationRequested();
        using var input = ParserInput.Open(data, fileName);
        var lines = new LineReader(input, fileName);
        var reading = new Reading(fileName);
        while (lines.Next(out var line))
        {
            if ((lines.Number & 0x3FFF) == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }
            var offset = lines.Offset;
            if (lines.Number == 1 && line.StartsWith("\uFEFF"u8))
            {
                line = line[3..];
                offset += 3;
            }
            if (line.IndexOfAnyExcept(" \t\r"u8) < 0)
            {
                continue;
            }
            reading.ReadLine(line, lines.Number, offset);
        }
        cancellationToken.ThrowIfCancellationRequested();
        return reading.Finish(rules);
    }

    /// <summary>One flattened key: its values so far (text cells, or a tensor's floats) and what kinds they were.</summary>
    private sealed class Key(string name)
    {
        public string Name { get; } = name;
        public CellBuffer Cells { get; } = new();
        public int Numbers, Integers, Strings, Timestamps, Bools;
        public long FirstValueLine;
        public string FirstValueKind = "";

        /// <summary>The row this key was last given a value on, to find a key twice in one object.</summary>
        public int LastRow = -1;

        public List<float>? Tensor;
        public int Width;
        public int TensorRows;

        public bool HasScalars => Numbers + Strings + Bools > 0;

        public ColumnType Infer()
        {
            var kinds = (Numbers > 0 ? 1 : 0) + (Strings > 0 ? 1 : 0) + (Bools > 0 ? 1 : 0);
            return kinds != 1 ? ColumnType.String
                : Numbers > 0 ? (Integers == Numbers ? ColumnType.Int64 : ColumnType.Double)
                : Bools > 0 ? ColumnType.Bool
                : Timestamps == Strings ? ColumnType.Timestamp : ColumnType.String;
        }
    }

    /// <summary>The keys seen so far and the line each row came from.</summary>
    private sealed class Reading(string fileName)
    {
        private static readonly JsonReaderOptions Options = new() { CommentHandling = JsonCommentHandling.Disallow, MaxDepth = 64 };

        private readonly List<Key> _keys = [];
        private readonly Dictionary<string, Key> _byName = new(StringComparer.Ordinal);
        private readonly List<long> _lineOfRow = [];
        private readonly List<float> _array = [];
        private readonly HashSet<string> _objects = new(StringComparer.Ordinal); // this line's keys that hold objects
        private char[] _path = new char[256];
        private byte[] _unescaped = new byte[256];
        private int _row = -1;
        private long _line;

        public void ReadLine(ReadOnlySpan<byte> line, long number, long offset)
        {
            _line = number;
            if (!Utf8.IsValid(line))
            {
                var at = FirstInvalidUtf8(line);
                throw new DataFormatException(fileName, $"the line is not valid UTF-8 text (byte {at} of the line); save the file as UTF-8",
                    row: number, byteOffset: offset + at, lineNumbered: true);
            }
            _row++;
            _lineOfRow.Add(number);
            _objects.Clear();
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
                    if ((_byName.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(path, out var same) && same.LastRow == _row)
                        || !_objects.GetAlternateLookup<ReadOnlySpan<char>>().Add(path))
                    {
                        throw Twice(new string(path));
                    }
                    _path[length] = '.';
                    ReadObject(ref reader, length + 1);
                    continue;
                }
                var key = KeyOf(_path.AsSpan(0, length));
                if (key.LastRow == _row || (_objects.Count > 0 && _objects.Contains(key.Name)))
                {
                    throw Twice(key.Name);
                }
                key.LastRow = _row;
                switch (reader.TokenType)
                {
                    case JsonTokenType.StartArray:
                        ReadArray(ref reader, key);
                        break;
                    case JsonTokenType.Null:
                        SetNull(key);
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
            if (key.Tensor is not null)
            {
                throw Error($"key '{key.Name}' holds {kind} here but an array of numbers on line {key.FirstValueLine}; a key that holds arrays must hold one of {key.Width} numbers on every line", key.Name);
            }
            Remember(key, kind);
            Pad(key);
            key.Cells.Add(text);
        }

        private void SetNull(Key key)
        {
            if (key.Tensor is not null)
            {
                throw Error(TensorGap(key), key.Name);
            }
            Pad(key);
            key.Cells.AddNull();
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
            if (key.Tensor is null)
            {
                key.Tensor = [];
                key.Width = _array.Count;
                Remember(key, $"an array of {_array.Count} numbers");
            }
            else if (_array.Count != key.Width)
            {
                throw Error($"key '{key.Name}' holds an array of {_array.Count} numbers here but of {key.Width} on line {key.FirstValueLine}; a tensor column needs arrays of one length on every line", key.Name);
            }
            if (key.TensorRows != _row)
            {
                throw new DataFormatException(fileName, TensorGap(key), row: _lineOfRow[key.TensorRows], column: key.Name, lineNumbered: true);
            }
            key.Tensor.AddRange(_array);
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

        /// <summary>Nulls for the rows before this one where the key was missing.</summary>
        private void Pad(Key key)
        {
            while (key.Cells.Count < _row)
            {
                key.Cells.AddNull();
            }
        }

        public Table Finish(TableRules rules)
        {
            var rows = _row + 1;
            if (rows == 0)
            {
                throw new DataFormatException(fileName, "the file holds no JSON object; JSON Lines holds one object per line", row: 1, lineNumbered: true);
            }
            // A key that is only ever null while others are nested under it ("address": null beside "address.city") is no column.
            var nested = _keys.Where(k => k.Name.Contains('.')).Select(k => k.Name).ToList();
            var keys = _keys.Where(k => k.Tensor is not null || k.HasScalars || !nested.Any(n => n.StartsWith(k.Name + ".", StringComparison.Ordinal))).ToList();
            rules.CheckDeclared([.. keys.Select(k => k.Name)], "the file", row: null, NestedNote);
            var columns = new List<Column>(keys.Count);
            foreach (var key in keys)
            {
                if (key.Tensor is not null)
                {
                    if (key.TensorRows != rows)
                    {
                        throw new DataFormatException(fileName, TensorGap(key), row: _lineOfRow[key.TensorRows], column: key.Name, lineNumbered: true);
                    }
                    if (rules.HintFor(key.Name)?.Type is { } declared)
                    {
                        throw new DataFormatException(fileName,
                            $"the upload declares type {declared.ToString().ToLowerInvariant()}, but the key holds arrays of {key.Width} numbers (a tensor column); declare only its role", column: key.Name);
                    }
                    var schema = new ColumnSchema(key.Name, ColumnType.Tensor, rules.RoleOf(key.Name), Nullable: false, Shape: [key.Width]);
                    columns.Add(new Column(schema, key.Tensor.ToArray()));
                    key.Tensor = null;
                    continue;
                }
                while (key.Cells.Count < rows)
                {
                    key.Cells.AddNull();
                }
                columns.Add(rules.ToColumn(key.Name, key.Cells, key.Infer(), r => _lineOfRow[r]));
            }
            var schemaOfTable = rules.Validate([.. columns.Select(c => c.Schema)], row: null);
            return new Table(schemaOfTable, columns, [.. Enumerable.Range(0, rows).Select(i => (long)i)]);
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
