using System.Globalization;
using BigDataAI.Datasets;
using Parquet;
using Parquet.Schema;

namespace BigDataAI.Ingestion.Parsing;

/// <summary>
/// Reads a Parquet file (every row group) into typed columns with Parquet.Net; the label column and the upload's
/// overrides work as for CSV (<see cref="TableRules"/>), and the file's own types are kept rather than inferred.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>Types: signed and unsigned integers of 8-64 bits become int64 (an unsigned value above the largest int64 is
/// an error naming its row); float and double become double (NaN is a null, as in CSV; an infinity is an error);
/// boolean; string; binary; timestamps, INT96 date-times and dates become UTC timestamps (a time without a zone is
/// taken as UTC); a list (or repeated field) of float or double holding one length n in every row becomes a tensor
/// column [n], which holds no nulls. Any other type (decimal, time of day, uuid, struct, map, a list of anything else
/// or a nested list) is refused naming the column and its Parquet type. A column keeps the file's nullability (a
/// double column holding NaN becomes nullable).</item>
/// <item>Overrides: roles as for CSV; a declared type must be the column's own, or double or string for an int64
/// column.</item>
/// <item>Rows are numbered from 1 (the file's first row, across row groups) in messages; the stored row index
/// (<c>_row</c>) counts from 0. A column named <c>_row</c> is refused.</item>
/// <item>Two passes (<see cref="OpenAsync"/>): the first reads the footer (schema, row groups) and, one row group at a
/// time, only the columns whose values a check or the schema needs (double and float: NaN makes the column nullable, an
/// infinity is refused; uint64: a value above the largest int64; lists: their length); the second reads one row group
/// at a time and hands out chunks of the rows asked for, joining or splitting row groups. Memory holds one row group's
/// columns and one chunk.</item>
/// <item>In quarantine mode (<see cref="RowPolicy"/>) a row with an infinity, a uint64 above the largest int64, or a
/// list that is null, empty, or holds a null or a non-finite number is
/// a bad row, not an error (lists of several lengths still refuse the file, as in JSON Lines). A declared type never
/// fails a cell (int64 becomes double or string), so hints make no bad rows.</item>
/// </list>
/// </remarks>
public static class ParquetTableParser
{
    private const string Supported = "it stores integers (as int64), float and double (as double), boolean, string, binary, "
        + "timestamps and dates (as UTC timestamps) and lists of float or double of one length in every row (as tensors); convert or drop the column";

    private static readonly byte[] Magic = "PAR1"u8.ToArray();

    /// <summary>Parses the whole file (both passes, one chunk). Throws <see cref="DataFormatException"/> naming the file, and the row and column or the byte offset, of the first problem.</summary>
    /// <param name="data">The file's bytes; the stream must be seekable (Parquet's metadata is at its end).</param>
    /// <param name="fileName">The name used in messages.</param>
    /// <param name="labelColumn">The label column's name. When the file has no such column it is stored unlabeled,
    /// unless <paramref name="labelRequired"/>.</param>
    /// <param name="hints">Roles, and compatible types, that override the file's; a hint for a column the file lacks is an error.</param>
    public static async Task<Table> ParseAsync(Stream data, string fileName, string labelColumn = TableParser.DefaultLabelColumn, bool labelRequired = false,
        IReadOnlyList<ColumnHint>? hints = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (!data.CanSeek || !data.CanRead)
        {
            throw new ArgumentException($"The stream for '{fileName}' must be readable and seekable.", nameof(data));
        }
        var start = data.Position;
        Stream Rewind()
        {
            data.Position = start;
            return data;
        }
        var table = await OpenAsync(Rewind, fileName, labelColumn, labelRequired, hints, RowPolicy.Strict, cancellationToken).ConfigureAwait(false);
        return table.ReadAll(cancellationToken);
    }

    /// <summary>
    /// The first pass: checks the file and its footer, maps every column's type, and reads (one row group at a time) only
    /// the columns a check needs; returns the table ready to be read in chunks (<see cref="StreamedTable.Read"/>, one row
    /// group in memory at a time). <paramref name="open"/> is called once per pass and must give the file, seekable, from
    /// its start; the caller owns the streams.
    /// </summary>
    public static async Task<StreamedTable> OpenAsync(Func<Stream> open, string fileName, string labelColumn, bool labelRequired,
        IReadOnlyList<ColumnHint>? hints, RowPolicy policy, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(open);
        ArgumentNullException.ThrowIfNull(policy);
        var rules = new TableRules(fileName, labelColumn, labelRequired, hints);
        cancellationToken.ThrowIfCancellationRequested();
        var data = open();
        if (!data.CanSeek || !data.CanRead)
        {
            throw new ArgumentException($"The stream for '{fileName}' must be readable and seekable.", nameof(open));
        }
        var length = await CheckMagicAsync(data, fileName, cancellationToken).ConfigureAwait(false);
        var reader = await CreateReaderAsync(data, fileName, length, cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            var sources = reader.Schema.Fields.Select(f => Source.Of(f, fileName)).ToList();
            rules.CheckDeclared([.. sources.Select(s => s.Name)], "the file", row: null);
            foreach (var source in sources)
            {
                source.Declare(rules);
            }

            var groups = new int[reader.RowGroupCount];
            long total = 0;
            for (var g = 0; g < groups.Length; g++)
            {
                using var group = reader.OpenRowGroupReader(g);
                groups[g] = checked((int)group.RowCount);
                total += group.RowCount;
            }
            if (total == 0)
            {
                throw DataFormatException.ForWholeFile(fileName, "the Parquet file holds no rows");
            }
            // Only what a check or the schema needs is read: the values are dropped with their row group.
            var checks = sources.Where(s => s.NeedsValues).ToList();
            var bad = new GroupProblems(fileName, policy);
            long first = 0;
            for (var g = 0; g < groups.Length && checks.Count > 0; g++)
            {
                using var group = reader.OpenRowGroupReader(g);
                bad.Start(first);
                foreach (var source in checks)
                {
                    await ReadColumnAsync(source, group, g, first, groups[g], keep: false, bad, fileName, cancellationToken).ConfigureAwait(false);
                }
                first += groups[g];
            }
            var schema = rules.Validate([.. sources.Select(s => s.Schema(rules))], row: null);
            return new ParquetTable(schema, total, groups, sources, open, fileName, policy);
        }
    }

    private static async Task<ParquetReader> CreateReaderAsync(Stream data, string fileName, long length, CancellationToken cancellationToken)
    {
        try
        {
            return await ParquetReader.CreateAsync(data, leaveStreamOpen: true, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (IsReadFailure(e))
        {
            throw new DataFormatException(fileName, $"the Parquet metadata (the footer) cannot be read: {e.Message}", byteOffset: Math.Max(0, length - 8), innerException: e);
        }
    }

    /// <summary>One column of row group <paramref name="g"/>; a failure of Parquet.Net to read it names the column and the row group.</summary>
    private static async Task<Array?> ReadColumnAsync(Source source, ParquetRowGroupReader group, int g, long first, int count, bool keep, GroupProblems bad, string fileName, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        try
        {
            return await source.ReadAsync(group, count, keep, bad, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (IsReadFailure(e))
        {
            throw new DataFormatException(fileName,
                $"row group {g.ToString(CultureInfo.InvariantCulture)} cannot be read ({e.Message}); the file may be corrupt, or use an encoding or compression Parquet.Net does not read",
                column: source.Name, innerException: e);
        }
    }

    /// <summary>The second pass: one row group at a time read whole, its good rows copied into chunks.</summary>
    private sealed class ParquetTable(DatasetSchema schema, long rows, int[] groups, List<Source> sources, Func<Stream> open, string fileName, RowPolicy policy)
        : StreamedTable(schema, rows)
    {
        public override IEnumerable<TableChunk> Read(int chunkRows, List<QuarantinedRow> bad, CancellationToken cancellationToken = default, bool reuse = false)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(chunkRows, 1);
            var data = open();
            // StreamedTable.Read is synchronous and Parquet.Net's reader asynchronous: each step runs on the thread pool
            // (no synchronization context to deadlock on) and is waited for. The file is on local disk.
            var reader = Wait(() => CreateReaderAsync(data, fileName, data.Length, cancellationToken));
            try
            {
                var chunk = new ChunkBuilder(Schema, (int)Math.Min(chunkRows, SourceRows), reuse);
                var widths = Schema.Columns.Select(c => c.Width).ToArray();
                var problems = new GroupProblems(fileName, policy);
                long first = 0;
                for (var g = 0; g < groups.Length; g++)
                {
                    var count = groups[g];
                    problems.Start(first);
                    var values = Wait(async () =>
                    {
                        using var group = reader.OpenRowGroupReader(g);
                        var read = new Array[sources.Count];
                        for (var c = 0; c < sources.Count; c++)
                        {
                            read[c] = (await ReadColumnAsync(sources[c], group, g, first, count, keep: true, problems, fileName, cancellationToken).ConfigureAwait(false))!;
                        }
                        return read;
                    });
                    var i = 0;
                    while (i < count)
                    {
                        if (problems.Of(i) is { } problem)
                        {
                            bad.Add(problem);
                            i++;
                            if (bad.Count >= chunkRows)
                            {
                                yield return chunk.Take();
                            }
                            continue;
                        }
                        // A run of good rows that fits in the chunk is copied column by column.
                        var end = i + 1;
                        var space = chunkRows - chunk.Count;
                        while (end < count && end - i < space && problems.Of(end) is null)
                        {
                            end++;
                        }
                        chunk.BeginRow();
                        var at = chunk.Count;
                        for (var c = 0; c < values.Length; c++)
                        {
                            Array.Copy(values[c], (long)i * widths[c], chunk[c].Values, (long)at * widths[c], (long)(end - i) * widths[c]);
                        }
                        for (var r = i; r < end; r++)
                        {
                            chunk.Commit(first + r, first + r + 1);
                        }
                        i = end;
                        if (chunk.IsFull)
                        {
                            yield return chunk.Take();
                        }
                    }
                    first += count;
                }
                if (chunk.Count > 0 || bad.Count > 0)
                {
                    yield return chunk.Take();
                }
            }
            finally
            {
                Wait(async () =>
                {
                    await reader.DisposeAsync().ConfigureAwait(false);
                    return 0;
                });
            }
        }

        private static T Wait<T>(Func<Task<T>> step) => Task.Run(step).GetAwaiter().GetResult();
    }

    /// <summary>
    /// The bad rows of the row group being read: strict, the first problem is thrown (naming its row and column); in
    /// quarantine mode the first problem of each row is kept, and the row is left out of the chunks.
    /// </summary>
    private sealed class GroupProblems(string fileName, RowPolicy policy)
    {
        private readonly Dictionary<int, QuarantinedRow> _rows = [];
        private long _first;

        public void Start(long first)
        {
            _first = first;
            _rows.Clear();
        }

        /// <summary>Row <paramref name="row"/> of the group (counted from 0) has a problem in <paramref name="column"/>.</summary>
        public void Add(int row, string column, string reason, string message, string? raw)
        {
            var index = _first + row;
            if (!policy.Quarantine)
            {
                throw new DataFormatException(fileName, message, row: index + 1, column: column);
            }
            _rows.TryAdd(row, new QuarantinedRow(index + 1, index, column, reason, message, raw));
        }

        /// <summary>A problem that refuses the file in either mode.</summary>
        public void Refuse(int row, string column, string message) =>
            throw new DataFormatException(fileName, message, row: _first + row + 1, column: column);

        public bool IsBad(int row) => _rows.ContainsKey(row);

        public QuarantinedRow? Of(int row) => _rows.Count == 0 ? null : _rows.GetValueOrDefault(row);
    }

    /// <summary>Failures of reading the file itself, as opposed to cancellation, our own refusals and programming errors.</summary>
    private static bool IsReadFailure(Exception e) =>
        e is not (OperationCanceledException or DataFormatException or OutOfMemoryException or NullReferenceException or InvalidCastException);

    private static async Task<long> CheckMagicAsync(Stream data, string fileName, CancellationToken cancellationToken)
    {
        var start = data.Position;
        var length = data.Length - start;
        var head = new byte[4];
        var tail = new byte[4];
        var read = await data.ReadAtLeastAsync(head, 4, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
        if (read >= 2 && head[0] == 0x1f && head[1] == 0x8b)
        {
            throw new DataFormatException(fileName, "the file is gzip-compressed; upload the .parquet file itself (Parquet compresses its pages inside)", byteOffset: 0);
        }
        if (read < 4 || !head.AsSpan().SequenceEqual(Magic))
        {
            throw new DataFormatException(fileName, "the file is not a Parquet file: it does not start with the bytes PAR1", byteOffset: 0);
        }
        if (length < 12)
        {
            throw new DataFormatException(fileName, $"the file is {length} bytes long, too short for a Parquet file (is it truncated?)", byteOffset: length);
        }
        data.Position = start + length - 4;
        await data.ReadExactlyAsync(tail, cancellationToken).ConfigureAwait(false);
        data.Position = start;
        if ("PARE"u8.SequenceEqual(tail))
        {
            throw new DataFormatException(fileName, "the Parquet file's footer is encrypted; encrypted Parquet files are not supported", byteOffset: length - 4);
        }
        if (!tail.AsSpan().SequenceEqual(Magic))
        {
            throw new DataFormatException(fileName, "the Parquet file does not end with the bytes PAR1: it is incomplete (a truncated upload?) or not Parquet", byteOffset: length - 4);
        }
        return length;
    }

    /// <summary>The Parquet type of a field as people write it: int32, string, decimal(10,2), list&lt;double&gt;, struct&lt;a: int64&gt;.</summary>
    internal static string Describe(Field field) => field switch
    {
        ListField list => $"list<{Describe(list.Item)}>",
        MapField map => $"map<{Describe(map.Key)}, {Describe(map.Value)}>",
        StructField s => $"struct<{string.Join(", ", s.Fields.Select(f => $"{f.Name}: {Describe(f)}"))}>",
        DecimalDataField d => $"decimal({d.Precision},{d.Scale})", // BigDecimalDataField too
        TimeDataField => "time",
        DataField { IsArray: true } d => $"repeated {Scalar(d.ClrType)}",
        DataField d => Scalar(d.ClrType),
        _ => field.SchemaType.ToString().ToLowerInvariant(),
    };

    private static string Scalar(Type clr) =>
        clr == typeof(sbyte) ? "int8" : clr == typeof(byte) ? "uint8" : clr == typeof(short) ? "int16" : clr == typeof(ushort) ? "uint16"
        : clr == typeof(int) ? "int32" : clr == typeof(uint) ? "uint32" : clr == typeof(long) ? "int64" : clr == typeof(ulong) ? "uint64"
        : clr == typeof(float) ? "float" : clr == typeof(double) ? "double" : clr == typeof(bool) ? "boolean"
        : clr == typeof(ReadOnlyMemory<char>) || clr == typeof(string) ? "string" : clr == typeof(ReadOnlyMemory<byte>) || clr == typeof(byte[]) ? "binary"
        : clr == typeof(DateTime) ? "timestamp" : clr == typeof(Guid) ? "uuid" : clr.Name;

    /// <summary>
    /// One top-level Parquet column: the leaf to read, how its values become a column's, and what the first pass learnt
    /// (nulls among doubles, a tensor's width). <see cref="ReadAsync"/> reads one row group of it.
    /// </summary>
    private sealed class Source
    {
        private readonly string _fileName;
        private ColumnType _stored;
        private bool _nulls;
        private float[] _row = new float[16];

        private Source(string name, DataField leaf, ColumnType type, string parquetType, string fileName)
        {
            Name = name;
            Leaf = leaf;
            Type = type;
            ParquetType = parquetType;
            _fileName = fileName;
            _stored = type;
        }

        public string Name { get; }
        public DataField Leaf { get; }

        /// <summary>The type the file's values map to.</summary>
        public ColumnType Type { get; }
        public string ParquetType { get; }

        /// <summary>A tensor's length: the first complete list's (0 until one is read).</summary>
        public int Width { get; private set; }

        /// <summary>Whether the first pass reads the column: its values decide its schema (NaN, list length) or may be refused.</summary>
        public bool NeedsValues => Type is ColumnType.Double or ColumnType.Tensor || Leaf.ClrType == typeof(ulong);

        /// <summary>The mapping of <paramref name="field"/>, or the refusal that names it and its Parquet type.</summary>
        public static Source Of(Field field, string fileName)
        {
            if (TableRules.IsReserved(field.Name))
            {
                throw new DataFormatException(fileName, TableRules.ReservedReason("column name"), column: field.Name);
            }
            var parquetType = Describe(field);
            (DataField? leaf, ColumnType? type) = field switch
            {
                ListField { Item: DataField item } when item.MaxRepetitionLevel == 1 && IsFloat(item) => (item, ColumnType.Tensor),
                DataField { IsArray: true } d when d.MaxRepetitionLevel == 1 && IsFloat(d) => (d, ColumnType.Tensor),
                DecimalDataField or TimeDataField => (null, null),
                DataField { IsArray: false, MaxRepetitionLevel: 0 } d => (d, ScalarType(d.ClrType)),
                _ => (null, null),
            };
            if (leaf is null || type is null)
            {
                throw new DataFormatException(fileName, $"the column has Parquet type {parquetType}, which ingestion cannot store: {Supported}", column: field.Name);
            }
            return new Source(field.Name, leaf, type.Value, parquetType, fileName);
        }

        private static bool IsFloat(DataField d) => d.ClrType == typeof(float) || d.ClrType == typeof(double);

        private static ColumnType? ScalarType(Type clr) =>
            clr == typeof(sbyte) || clr == typeof(byte) || clr == typeof(short) || clr == typeof(ushort) || clr == typeof(int) || clr == typeof(uint)
                || clr == typeof(long) || clr == typeof(ulong) ? ColumnType.Int64
            : clr == typeof(float) || clr == typeof(double) ? ColumnType.Double
            : clr == typeof(bool) ? ColumnType.Bool
            : clr == typeof(ReadOnlyMemory<char>) || clr == typeof(string) ? ColumnType.String
            : clr == typeof(ReadOnlyMemory<byte>) || clr == typeof(byte[]) ? ColumnType.Binary
            : clr == typeof(DateTime) ? ColumnType.Timestamp
            : null;

        /// <summary>Applies the upload's declared type: the column's own, or double or string for int64; anything else is refused.</summary>
        public void Declare(TableRules rules)
        {
            if (rules.HintFor(Name)?.Type is not { } declared || declared == Type)
            {
                return;
            }
            if (Type != ColumnType.Int64 || declared is not (ColumnType.Double or ColumnType.String))
            {
                throw new DataFormatException(_fileName,
                    $"the upload declares type {Lower(declared)}, but the column is {Lower(Type)} in the Parquet file ({ParquetType}); a Parquet column keeps its own type, except that an int64 column may be declared double or string (or declare only its role)",
                    column: Name);
            }
            _stored = declared;
        }

        /// <summary>The stored column's schema, once the first pass has read what it needs.</summary>
        public ColumnSchema Schema(TableRules rules)
        {
            var role = rules.RoleOf(Name);
            return Type == ColumnType.Tensor
                ? new ColumnSchema(Name, ColumnType.Tensor, role, Nullable: false, Shape: [Width])
                : new ColumnSchema(Name, _stored, role, Nullable: Leaf.IsNullable || _nulls);
        }

        /// <summary>
        /// Reads the group's <paramref name="count"/> rows, checking them (problems go to <paramref name="bad"/>);
        /// with <paramref name="keep"/> returns them as the stored column's values (tensor: <c>count x Width</c> floats),
        /// else null.
        /// </summary>
        public async Task<Array?> ReadAsync(ParquetRowGroupReader group, int count, bool keep, GroupProblems bad, CancellationToken ct)
        {
            switch (Type)
            {
                case ColumnType.Int64:
                    var longs = await ReadIntegersAsync(group, count, bad, ct).ConfigureAwait(false);
                    return !keep ? null
                        : _stored == ColumnType.Double ? longs.Select(v => (double?)v).ToArray()
                        : _stored == ColumnType.String ? longs.Select(v => v?.ToString(CultureInfo.InvariantCulture)).ToArray()
                        : longs;
                case ColumnType.Double:
                    double?[] doubles;
                    if (Leaf.ClrType == typeof(float))
                    {
                        var floats = await ReadNullableAsync<float>(group, count, ct).ConfigureAwait(false);
                        doubles = new double?[count];
                        for (var i = 0; i < count; i++)
                        {
                            doubles[i] = floats[i];
                        }
                    }
                    else
                    {
                        doubles = await ReadNullableAsync<double>(group, count, ct).ConfigureAwait(false);
                    }
                    for (var i = 0; i < count; i++)
                    {
                        if (doubles[i] is { } d && double.IsNaN(d))
                        {
                            doubles[i] = null;
                            _nulls = true;
                        }
                        else if (doubles[i] is { } inf && double.IsInfinity(inf))
                        {
                            bad.Add(i, Name, "non_finite", $"the value is {(inf > 0 ? "" : "-")}infinity; a double column holds finite numbers and nulls (NaN is read as a null)",
                                inf.ToString(CultureInfo.InvariantCulture));
                        }
                    }
                    return keep ? doubles : null;
                case ColumnType.Bool:
                    return await ReadNullableAsync<bool>(group, count, ct).ConfigureAwait(false);
                case ColumnType.Timestamp:
                    var times = await ReadNullableAsync<DateTime>(group, count, ct).ConfigureAwait(false);
                    for (var i = 0; i < count; i++)
                    {
                        if (times[i] is { } t && t.Kind != DateTimeKind.Utc)
                        {
                            times[i] = t.Kind == DateTimeKind.Local ? t.ToUniversalTime() : DateTime.SpecifyKind(t, DateTimeKind.Utc);
                        }
                    }
                    return times;
                case ColumnType.String:
                    var strings = new string?[count];
                    await group.ReadAsync(Leaf, strings.AsMemory(), null, ct).ConfigureAwait(false);
                    return strings;
                case ColumnType.Binary:
                    var bytes = new byte[]?[count];
                    await group.ReadAsync(Leaf, bytes.AsMemory(), null, ct).ConfigureAwait(false);
                    return bytes;
                case ColumnType.Tensor:
                    return Leaf.ClrType == typeof(float)
                        ? await ReadTensorAsync<float>(group, count, keep, f => f, bad, ct).ConfigureAwait(false)
                        : await ReadTensorAsync<double>(group, count, keep, d => (float)d, bad, ct).ConfigureAwait(false);
                default:
                    throw new InvalidOperationException($"Unknown column type {Type}.");
            }
        }

        private async Task<long?[]> ReadIntegersAsync(ParquetRowGroupReader group, int count, GroupProblems bad, CancellationToken ct)
        {
            var clr = Leaf.ClrType;
            if (clr == typeof(long))
            {
                return await ReadNullableAsync<long>(group, count, ct).ConfigureAwait(false);
            }
            if (clr == typeof(ulong))
            {
                var values = await ReadNullableAsync<ulong>(group, count, ct).ConfigureAwait(false);
                var target = new long?[count];
                for (var i = 0; i < count; i++)
                {
                    if (values[i] is > long.MaxValue)
                    {
                        bad.Add(i, Name, "integer_overflow",
                            $"the value {values[i]!.Value.ToString(CultureInfo.InvariantCulture)} (uint64) is larger than the largest int64, {long.MaxValue.ToString(CultureInfo.InvariantCulture)}; integers are stored as int64",
                            values[i]!.Value.ToString(CultureInfo.InvariantCulture));
                        continue;
                    }
                    target[i] = (long?)values[i];
                }
                return target;
            }
            return clr == typeof(int) ? Widen(await ReadNullableAsync<int>(group, count, ct).ConfigureAwait(false), v => v)
                : clr == typeof(uint) ? Widen(await ReadNullableAsync<uint>(group, count, ct).ConfigureAwait(false), v => v)
                : clr == typeof(short) ? Widen(await ReadNullableAsync<short>(group, count, ct).ConfigureAwait(false), v => v)
                : clr == typeof(ushort) ? Widen(await ReadNullableAsync<ushort>(group, count, ct).ConfigureAwait(false), v => v)
                : clr == typeof(sbyte) ? Widen(await ReadNullableAsync<sbyte>(group, count, ct).ConfigureAwait(false), v => v)
                : Widen(await ReadNullableAsync<byte>(group, count, ct).ConfigureAwait(false), v => v);
        }

        /// <summary>
        /// Reads the group's values. A required column is read into plain values first, as ParquetShards does: Parquet.Net
        /// 6.1 can misread a required column into nullable memory (a required uint32 column read right after a nullable
        /// int32 column holding nulls came back with that column's nulls).
        /// </summary>
        private async Task<T?[]> ReadNullableAsync<T>(ParquetRowGroupReader group, int count, CancellationToken ct) where T : struct
        {
            var target = new T?[count];
            if (Leaf.IsNullable)
            {
                await group.ReadAsync<T>(Leaf, target.AsMemory(), null, ct).ConfigureAwait(false);
                return target;
            }
            var values = new T[count];
            await group.ReadAsync<T>(Leaf, values, null, ct).ConfigureAwait(false);
            for (var i = 0; i < count; i++)
            {
                target[i] = values[i];
            }
            return target;
        }

        private static long?[] Widen<T>(T?[] values, Func<T, long> widen) where T : struct
        {
            var target = new long?[values.Length];
            for (var i = 0; i < values.Length; i++)
            {
                target[i] = values[i] is { } v ? widen(v) : null;
            }
            return target;
        }

        /// <summary>
        /// A list column's values with their levels: a row starts where the repetition level is 0, and every value must be
        /// defined (definition level at its maximum: not a null or empty list, not a null element), finite, and the rows
        /// of one length (the first complete list's).
        /// </summary>
        private async Task<float[]?> ReadTensorAsync<T>(ParquetRowGroupReader group, int count, bool keep, Func<T, float> toFloat, GroupProblems bad, CancellationToken ct) where T : struct
        {
            var levels = checked((int)(group.GetMetadata(Leaf)?.MetaData?.NumValues
                ?? throw new InvalidDataException("the column chunk has no metadata")));
            var values = new T[levels];
            var definitions = new int[levels];
            var repetitions = new int[levels];
            await group.ReadRawAsync<T>(Leaf, values, definitions, repetitions, ct).ConfigureAwait(false);
            var target = keep ? new float[checked(count * Width)] : null;
            var row = -1;
            var inRow = 0;
            var rowBad = false;
            for (var i = 0; i < levels; i++)
            {
                if (repetitions[i] == 0)
                {
                    EndRow(row, inRow, rowBad, target, bad);
                    row++;
                    inRow = 0;
                    rowBad = row < count && bad.IsBad(row);
                }
                if (rowBad)
                {
                    continue;
                }
                if (definitions[i] != Leaf.MaxDefinitionLevel)
                {
                    bad.Add(row, Name, "tensor_shape",
                        $"the list is null, empty or holds a null; a tensor column needs {(Width > 0 ? $"exactly {Width}" : "the same number of")} numbers in every row", null);
                    rowBad = true;
                    continue;
                }
                var value = toFloat(values[i]);
                if (!float.IsFinite(value))
                {
                    bad.Add(row, Name, "non_finite",
                        $"element {inRow + 1} of the list is {values[i]}, which a tensor of floats cannot hold (NaN, infinite, or too large for a float)", null);
                    rowBad = true;
                    continue;
                }
                if (inRow == _row.Length)
                {
                    Array.Resize(ref _row, _row.Length * 2);
                }
                _row[inRow++] = value;
            }
            EndRow(row, inRow, rowBad, target, bad);
            if (row + 1 != count)
            {
                throw new InvalidDataException($"the column holds {row + 1} lists for {count} rows");
            }
            return target;

            void EndRow(int row, int length, bool isBad, float[]? target, GroupProblems bad)
            {
                if (row < 0 || isBad)
                {
                    return;
                }
                if (Width == 0)
                {
                    Width = length;
                }
                else if (length != Width)
                {
                    // Lists of several lengths are a problem of the column, not of a row: refused in quarantine mode too, as for JSON Lines.
                    bad.Refuse(row, Name, $"the list holds {length} numbers, the first row's {Width}; a tensor column needs lists of one length in every row");
                }
                if (target is not null)
                {
                    Array.Copy(_row, 0, target, (long)row * Width, Width);
                }
            }
        }

        private static string Lower(ColumnType type) => type.ToString().ToLowerInvariant();
    }
}
