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
/// </list>
/// </remarks>
public static class ParquetTableParser
{
    private const string Supported = "it stores integers (as int64), float and double (as double), boolean, string, binary, "
        + "timestamps and dates (as UTC timestamps) and lists of float or double of one length in every row (as tensors); convert or drop the column";

    private static readonly byte[] Magic = "PAR1"u8.ToArray();

    /// <summary>Parses the file. Throws <see cref="DataFormatException"/> naming the file, and the row and column or the byte offset, of the first problem.</summary>
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
        var rules = new TableRules(fileName, labelColumn, labelRequired, hints);
        cancellationToken.ThrowIfCancellationRequested();
        var length = await CheckMagicAsync(data, fileName, cancellationToken).ConfigureAwait(false);
        ParquetReader reader;
        try
        {
            reader = await ParquetReader.CreateAsync(data, leaveStreamOpen: true, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (IsReadFailure(e))
        {
            throw new DataFormatException(fileName, $"the Parquet metadata (the footer) cannot be read: {e.Message}", byteOffset: Math.Max(0, length - 8), innerException: e);
        }
        await using (reader.ConfigureAwait(false))
        {
            var sources = reader.Schema.Fields.Select(f => Source.Of(f, fileName)).ToList();
            rules.CheckDeclared([.. sources.Select(s => s.Name)], "the file", row: null);
            foreach (var source in sources)
            {
                source.Declare(rules);
            }

            long total = 0;
            for (var g = 0; g < reader.RowGroupCount; g++)
            {
                using var group = reader.OpenRowGroupReader(g);
                total += group.RowCount;
            }
            if (total == 0)
            {
                throw DataFormatException.ForWholeFile(fileName, "the Parquet file holds no rows");
            }
            if (total > Array.MaxLength / 2)
            {
                throw DataFormatException.ForWholeFile(fileName, $"the Parquet file holds {total.ToString("N0", CultureInfo.InvariantCulture)} rows, more than one upload may hold");
            }
            var rows = (int)total;
            foreach (var source in sources)
            {
                source.Allocate(rows);
            }
            var offset = 0;
            for (var g = 0; g < reader.RowGroupCount; g++)
            {
                using var group = reader.OpenRowGroupReader(g);
                var count = checked((int)group.RowCount);
                foreach (var source in sources)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    try
                    {
                        await source.ReadAsync(group, offset, count, cancellationToken).ConfigureAwait(false);
                    }
                    catch (Exception e) when (IsReadFailure(e))
                    {
                        throw new DataFormatException(fileName,
                            $"row group {g.ToString(CultureInfo.InvariantCulture)} cannot be read ({e.Message}); the file may be corrupt, or use an encoding or compression Parquet.Net does not read",
                            column: source.Name, innerException: e);
                    }
                }
                offset += count;
            }
            var columns = sources.Select(s => s.Finish(rules)).ToList();
            var schema = rules.Validate([.. columns.Select(c => c.Schema)], row: null);
            return new Table(schema, columns, [.. Enumerable.Range(0, rows).Select(i => (long)i)]);
        }
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

    /// <summary>One top-level Parquet column: the leaf to read, how its values become a column's, and the column being filled.</summary>
    private sealed class Source
    {
        private readonly string _fileName;
        private ColumnType _stored;
        private Array _values = Array.Empty<long?>();
        private List<float>? _tensor;
        private bool _nulls;

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
        public int Width { get; private set; }

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

        public void Allocate(int rows)
        {
            if (Type == ColumnType.Tensor)
            {
                _tensor = new List<float>();
                return;
            }
            _values = Array.CreateInstance(Column.ClrArrayType(Type).GetElementType()!, rows);
        }

        public async Task ReadAsync(ParquetRowGroupReader group, int offset, int count, CancellationToken ct)
        {
            switch (Type)
            {
                case ColumnType.Int64:
                    await ReadIntegersAsync(group, offset, count, ct).ConfigureAwait(false);
                    break;
                case ColumnType.Double:
                    var doubles = (double?[])_values;
                    if (Leaf.ClrType == typeof(float))
                    {
                        var floats = await ReadNullableAsync<float>(group, count, ct).ConfigureAwait(false);
                        for (var i = 0; i < count; i++)
                        {
                            doubles[offset + i] = floats[i];
                        }
                    }
                    else
                    {
                        await ReadIntoAsync(group, doubles, offset, count, ct).ConfigureAwait(false);
                    }
                    for (var i = offset; i < offset + count; i++)
                    {
                        if (doubles[i] is { } d && double.IsNaN(d))
                        {
                            doubles[i] = null;
                            _nulls = true;
                        }
                        else if (doubles[i] is { } inf && double.IsInfinity(inf))
                        {
                            throw new DataFormatException(_fileName, $"the value is {(inf > 0 ? "" : "-")}infinity; a double column holds finite numbers and nulls (NaN is read as a null)",
                                row: i + 1L, column: Name);
                        }
                    }
                    break;
                case ColumnType.Bool:
                    await ReadIntoAsync(group, (bool?[])_values, offset, count, ct).ConfigureAwait(false);
                    break;
                case ColumnType.Timestamp:
                    var times = (DateTime?[])_values;
                    await ReadIntoAsync(group, times, offset, count, ct).ConfigureAwait(false);
                    for (var i = offset; i < offset + count; i++)
                    {
                        if (times[i] is { } t && t.Kind != DateTimeKind.Utc)
                        {
                            times[i] = t.Kind == DateTimeKind.Local ? t.ToUniversalTime() : DateTime.SpecifyKind(t, DateTimeKind.Utc);
                        }
                    }
                    break;
                case ColumnType.String:
                    await group.ReadAsync(Leaf, ((string?[])_values).AsMemory(offset, count), null, ct).ConfigureAwait(false);
                    break;
                case ColumnType.Binary:
                    await group.ReadAsync(Leaf, ((byte[]?[])_values).AsMemory(offset, count), null, ct).ConfigureAwait(false);
                    break;
                case ColumnType.Tensor:
                    if (Leaf.ClrType == typeof(float))
                    {
                        await ReadTensorAsync<float>(group, offset, count, f => f, ct).ConfigureAwait(false);
                    }
                    else
                    {
                        await ReadTensorAsync<double>(group, offset, count, d => (float)d, ct).ConfigureAwait(false);
                    }
                    break;
            }
        }

        private async Task ReadIntegersAsync(ParquetRowGroupReader group, int offset, int count, CancellationToken ct)
        {
            var target = (long?[])_values;
            var clr = Leaf.ClrType;
            if (clr == typeof(long))
            {
                await ReadIntoAsync(group, target, offset, count, ct).ConfigureAwait(false);
            }
            else if (clr == typeof(ulong))
            {
                var values = await ReadNullableAsync<ulong>(group, count, ct).ConfigureAwait(false);
                for (var i = 0; i < count; i++)
                {
                    if (values[i] is > long.MaxValue)
                    {
                        throw new DataFormatException(_fileName,
                            $"the value {values[i]!.Value.ToString(CultureInfo.InvariantCulture)} (uint64) is larger than the largest int64, {long.MaxValue.ToString(CultureInfo.InvariantCulture)}; integers are stored as int64",
                            row: offset + i + 1L, column: Name);
                    }
                    target[offset + i] = (long?)values[i];
                }
            }
            else if (clr == typeof(int))
            {
                Widen(await ReadNullableAsync<int>(group, count, ct).ConfigureAwait(false), target, offset, v => v);
            }
            else if (clr == typeof(uint))
            {
                Widen(await ReadNullableAsync<uint>(group, count, ct).ConfigureAwait(false), target, offset, v => v);
            }
            else if (clr == typeof(short))
            {
                Widen(await ReadNullableAsync<short>(group, count, ct).ConfigureAwait(false), target, offset, v => v);
            }
            else if (clr == typeof(ushort))
            {
                Widen(await ReadNullableAsync<ushort>(group, count, ct).ConfigureAwait(false), target, offset, v => v);
            }
            else if (clr == typeof(sbyte))
            {
                Widen(await ReadNullableAsync<sbyte>(group, count, ct).ConfigureAwait(false), target, offset, v => v);
            }
            else
            {
                Widen(await ReadNullableAsync<byte>(group, count, ct).ConfigureAwait(false), target, offset, v => v);
            }
        }

        private async Task<T?[]> ReadNullableAsync<T>(ParquetRowGroupReader group, int count, CancellationToken ct) where T : struct
        {
            var values = new T?[count];
            await ReadIntoAsync(group, values, 0, count, ct).ConfigureAwait(false);
            return values;
        }

        /// <summary>
        /// Reads the group's values into <paramref name="target"/> from <paramref name="offset"/>. A required column is read
        /// into plain values first, as ParquetShards does: Parquet.Net 6.1 can misread a required column into nullable
        /// memory (a required uint32 column read right after a nullable int32 column holding nulls came back with that
        /// column's nulls).
        /// </summary>
        private async Task ReadIntoAsync<T>(ParquetRowGroupReader group, T?[] target, int offset, int count, CancellationToken ct) where T : struct
        {
            if (Leaf.IsNullable)
            {
                await group.ReadAsync<T>(Leaf, target.AsMemory(offset, count), null, ct).ConfigureAwait(false);
                return;
            }
            var values = new T[count];
            await group.ReadAsync<T>(Leaf, values, null, ct).ConfigureAwait(false);
            for (var i = 0; i < count; i++)
            {
                target[offset + i] = values[i];
            }
        }

        private static void Widen<T>(T?[] values, long?[] target, int offset, Func<T, long> widen) where T : struct
        {
            for (var i = 0; i < values.Length; i++)
            {
                target[offset + i] = values[i] is { } v ? widen(v) : null;
            }
        }

        /// <summary>
        /// A list column's values with their levels: a row starts where the repetition level is 0, and every value must be
        /// defined (definition level at its maximum: not a null or empty list, not a null element).
        /// </summary>
        private async Task ReadTensorAsync<T>(ParquetRowGroupReader group, int offset, int count, Func<T, float> toFloat, CancellationToken ct) where T : struct
        {
            var levels = checked((int)(group.GetMetadata(Leaf)?.MetaData?.NumValues
                ?? throw new InvalidDataException("the column chunk has no metadata")));
            var values = new T[levels];
            var definitions = new int[levels];
            var repetitions = new int[levels];
            await group.ReadRawAsync<T>(Leaf, values, definitions, repetitions, ct).ConfigureAwait(false);
            var row = -1;
            var inRow = 0;
            for (var i = 0; i < levels; i++)
            {
                if (repetitions[i] == 0)
                {
                    EndRow(row, inRow, offset);
                    row++;
                    inRow = 0;
                }
                if (definitions[i] != Leaf.MaxDefinitionLevel)
                {
                    throw new DataFormatException(_fileName,
                        $"the list is null, empty or holds a null; a tensor column needs {(Width > 0 ? $"exactly {Width}" : "the same number of")} numbers in every row",
                        row: offset + row + 1L, column: Name);
                }
                var value = toFloat(values[i]);
                if (!float.IsFinite(value))
                {
                    throw new DataFormatException(_fileName,
                        $"element {inRow + 1} of the list is {values[i]}, which a tensor of floats cannot hold (NaN, infinite, or too large for a float)",
                        row: offset + row + 1L, column: Name);
                }
                _tensor!.Add(value);
                inRow++;
            }
            EndRow(row, inRow, offset);
            if (row + 1 != count)
            {
                throw new InvalidDataException($"the column holds {row + 1} lists for {count} rows");
            }
        }

        private void EndRow(int row, int values, int offset)
        {
            if (row < 0)
            {
                return;
            }
            if (Width == 0)
            {
                Width = values;
            }
            else if (values != Width)
            {
                throw new DataFormatException(_fileName,
                    $"the list holds {values} numbers, the first row's {Width}; a tensor column needs lists of one length in every row",
                    row: offset + row + 1L, column: Name);
            }
        }

        public Column Finish(TableRules rules)
        {
            var role = rules.RoleOf(Name);
            if (Type == ColumnType.Tensor)
            {
                return new Column(new ColumnSchema(Name, ColumnType.Tensor, role, Nullable: false, Shape: [Width]), _tensor!.ToArray());
            }
            var schema = new ColumnSchema(Name, _stored, role, Nullable: Leaf.IsNullable || _nulls);
            if (_stored == Type)
            {
                return new Column(schema, _values);
            }
            var longs = (long?[])_values;
            return _stored == ColumnType.Double
                ? new Column(schema, longs.Select(v => (double?)v).ToArray())
                : new Column(schema, longs.Select(v => v?.ToString(CultureInfo.InvariantCulture)).ToArray());
        }

        private static string Lower(ColumnType type) => type.ToString().ToLowerInvariant();
    }
}
