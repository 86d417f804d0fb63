using System.Security.Cryptography;
using Parquet;
using Parquet.Schema;

namespace BigDataAI.Datasets;

/// <summary>
/// Reads and writes one shard (format 2): a Parquet file with the column <c>_row</c> (int64, the row's index in its
/// source) and then every column of the dataset under its own name and type: int64, double, boolean, UTF-8 string,
/// timestamp (UTC, microseconds), binary, and tensors as <c>list&lt;float&gt;</c>; all but <c>_row</c> and tensors are
/// optional (nullable). Pandas, Polars, Spark and DuckDB read it directly and see the source's own columns.
/// Format-1 shards (<c>row</c>, <c>features</c>, <c>label</c> as a class index) are still read by <see cref="DecodeLegacyAsync"/>.
/// </summary>
public static class ParquetShards
{
    private static readonly DataField RowIdField = new(DatasetSchema.RowColumn, typeof(long), isNullable: false);
    private static readonly DataField LegacyRowField = new("row", typeof(long), isNullable: false);
    private static readonly DataField LegacyFeaturesField = new("features", typeof(float), isNullable: false, isArray: true);
    private static readonly DataField LegacyLabelField = new("label", typeof(long), isNullable: false);
    private static readonly ParquetOptions WriteOptions = new() { CompressionMethod = CompressionMethod.Snappy };

    /// <summary>The Parquet field a column is stored as.</summary>
    public static DataField FieldOf(ColumnSchema column) => column.Type switch
    {
        ColumnType.Int64 => new DataField(column.Name, typeof(long), isNullable: column.Nullable),
        ColumnType.Double => new DataField(column.Name, typeof(double), isNullable: column.Nullable),
        ColumnType.Bool => new DataField(column.Name, typeof(bool), isNullable: column.Nullable),
        ColumnType.String => new DataField(column.Name, typeof(string), isNullable: column.Nullable),
        ColumnType.Timestamp => new DateTimeDataField(column.Name, DateTimeFormat.Timestamp, isAdjustedToUTC: true, unit: DateTimeTimeUnit.Micros, isNullable: column.Nullable),
        ColumnType.Binary => new DataField(column.Name, typeof(byte[]), isNullable: column.Nullable),
        ColumnType.Tensor => new DataField(column.Name, typeof(float), isNullable: false, isArray: true),
        _ => throw new ArgumentOutOfRangeException(nameof(column), column.Type, "Unknown column type."),
    };

    /// <summary>Encodes rows [start, start+count) of <paramref name="table"/> as one Parquet file of one row group.</summary>
    public static async Task<byte[]> EncodeAsync(Table table, int start, int count, CancellationToken cancellationToken = default)
    {
        var fields = table.Schema.Columns.Select(FieldOf).ToArray();
        var schema = new ParquetSchema([RowIdField, .. fields]);
        using var buffer = new MemoryStream();
        await using (var writer = await ParquetWriter.CreateAsync(schema, buffer, WriteOptions, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            using var group = writer.CreateRowGroup();
            await group.WriteAsync<long>(RowIdField, table.RowIds.AsMemory(start, count), null, null, cancellationToken).ConfigureAwait(false);
            for (var c = 0; c < fields.Length; c++)
            {
                var column = table.Columns[c];
                var field = fields[c];
                switch (column.Schema.Type)
                {
                    case ColumnType.Int64:
                        await group.WriteAsync<long>(field, ((long?[])column.Values).AsMemory(start, count), null, null, cancellationToken).ConfigureAwait(false);
                        break;
                    case ColumnType.Double:
                        await group.WriteAsync<double>(field, ((double?[])column.Values).AsMemory(start, count), null, null, cancellationToken).ConfigureAwait(false);
                        break;
                    case ColumnType.Bool:
                        await group.WriteAsync<bool>(field, ((bool?[])column.Values).AsMemory(start, count), null, null, cancellationToken).ConfigureAwait(false);
                        break;
                    case ColumnType.Timestamp:
                        await group.WriteAsync<DateTime>(field, ((DateTime?[])column.Values).AsMemory(start, count), null, null, cancellationToken).ConfigureAwait(false);
                        break;
                    case ColumnType.String:
                        await group.WriteAsync(field, (IReadOnlyCollection<string>)new ArraySegment<string?>((string?[])column.Values, start, count), null).ConfigureAwait(false);
                        break;
                    case ColumnType.Binary:
                        await group.WriteAsync(field, (IReadOnlyCollection<byte[]>)new ArraySegment<byte[]?>((byte[]?[])column.Values, start, count), null).ConfigureAwait(false);
                        break;
                    case ColumnType.Tensor:
                        var width = column.Schema.Width;
                        var repetition = new int[count * width];
                        for (var r = 0; r < count; r++)
                        {
                            repetition.AsSpan(r * width + 1, width - 1).Fill(1);
                        }
                        await group.WriteAsync<float>(field, ((float[])column.Values).AsMemory(start * width, count * width), repetition, null, cancellationToken).ConfigureAwait(false);
                        break;
                }
            }
        }
        return buffer.ToArray();
    }

    /// <summary>
    /// Decodes a format-2 shard. Its columns must be <paramref name="schema"/>'s, with the same types and nullability
    /// (the file's own columns are checked, not trusted); the message names the first difference.
    /// </summary>
    public static async Task<Table> DecodeAsync(Stream shard, string path, DatasetSchema schema, CancellationToken cancellationToken = default)
    {
        await using var reader = await ParquetReader.CreateAsync(shard, cancellationToken: cancellationToken).ConfigureAwait(false);
        var fileFields = reader.Schema.GetDataFields();
        DataField Find(string name, ColumnSchema? expected)
        {
            var field = fileFields.FirstOrDefault(f => f.Name == name && (expected?.Type != ColumnType.Tensor || f.IsArray))
                ?? fileFields.FirstOrDefault(f => f.Path.ToString().StartsWith(name + "/", StringComparison.Ordinal))
                ?? throw new InvalidDataException($"Shard '{path}' has no column '{name}'.");
            if (expected is not null)
            {
                var want = FieldOf(expected);
                if (field.ClrType != want.ClrType || field.IsArray != want.IsArray || (!expected.Nullable && field.IsNullable && !field.IsArray))
                {
                    throw new InvalidDataException($"Shard '{path}': column '{name}' is stored as {Describe(field)}; the manifest says {expected.TypeName}{(expected.Nullable ? "" : " (not null)")}.");
                }
            }
            return field;
        }
        var rowField = Find(DatasetSchema.RowColumn, null);
        var fields = schema.Columns.Select(c => Find(c.Name, c)).ToArray();
        var parts = new List<Table>();
        for (var g = 0; g < reader.RowGroupCount; g++)
        {
            using var group = reader.OpenRowGroupReader(g);
            var count = checked((int)group.RowCount);
            var rowIds = new long[count];
            await group.ReadAsync<long>(rowField, rowIds, null, cancellationToken).ConfigureAwait(false);
            var columns = new List<Column>(schema.Columns.Count);
            for (var c = 0; c < fields.Length; c++)
            {
                var column = Column.Allocate(schema.Columns[c], count);
                var field = fields[c];
                switch (column.Schema.Type)
                {
                    case ColumnType.Int64:
                        await ReadScalarAsync<long>(group, field, (long?[])column.Values, cancellationToken).ConfigureAwait(false);
                        break;
                    case ColumnType.Double:
                        await ReadScalarAsync<double>(group, field, (double?[])column.Values, cancellationToken).ConfigureAwait(false);
                        break;
                    case ColumnType.Bool:
                        await ReadScalarAsync<bool>(group, field, (bool?[])column.Values, cancellationToken).ConfigureAwait(false);
                        break;
                    case ColumnType.Timestamp:
                        await ReadScalarAsync<DateTime>(group, field, (DateTime?[])column.Values, cancellationToken).ConfigureAwait(false);
                        break;
                    case ColumnType.String:
                        await group.ReadAsync(field, ((string?[])column.Values)!, null, cancellationToken).ConfigureAwait(false);
                        break;
                    case ColumnType.Binary:
                        await group.ReadAsync(field, ((byte[]?[])column.Values)!, null, cancellationToken).ConfigureAwait(false);
                        break;
                    case ColumnType.Tensor:
                        await ReadTensorAsync(group, field, path, column.Name, count, column.Schema.Width, (float[])column.Values, cancellationToken).ConfigureAwait(false);
                        break;
                }
                if (!column.Schema.Nullable && column.Schema.Type != ColumnType.Tensor)
                {
                    for (var r = 0; r < count; r++)
                    {
                        if (column.IsNull(r))
                        {
                            throw new InvalidDataException($"Shard '{path}': row {rowIds[r]}, column '{column.Name}' is null; the manifest says it is never null.");
                        }
                    }
                }
                columns.Add(column);
            }
            parts.Add(new Table(schema, columns, rowIds));
        }
        return parts.Count == 0
            ? new Table(schema, [.. schema.Columns.Select(c => Column.Allocate(c, 0))], [])
            : DatasetStore.Concat(schema, parts);
    }

    private static string Describe(DataField field)
    {
        var type = field.ClrType == typeof(ReadOnlyMemory<char>) || field.ClrType == typeof(string) ? "string"
            : field.ClrType == typeof(ReadOnlyMemory<byte>) || field.ClrType == typeof(byte[]) ? "binary"
            : field.ClrType == typeof(long) ? "int64"
            : field.ClrType == typeof(bool) ? "bool"
            : field.ClrType == typeof(DateTime) ? "timestamp"
            : field.ClrType == typeof(float) ? "float"
            : field.ClrType.Name.ToLowerInvariant();
        return type + (field.IsArray || field.MaxRepetitionLevel > 0 ? " list" : "") + (field.IsNullable ? " (nullable)" : "");
    }

    private static async Task ReadScalarAsync<T>(ParquetRowGroupReader group, DataField field, T?[] target, CancellationToken cancellationToken) where T : struct
    {
        if (field.IsNullable)
        {
            await group.ReadAsync<T>(field, target, null, cancellationToken).ConfigureAwait(false);
            return;
        }
        var values = new T[target.Length];
        await group.ReadAsync<T>(field, values, null, cancellationToken).ConfigureAwait(false);
        for (var i = 0; i < values.Length; i++)
        {
            target[i] = values[i];
        }
    }

    private static async Task ReadTensorAsync(ParquetRowGroupReader group, DataField field, string path, string name, int count, int width, float[] target, CancellationToken cancellationToken)
    {
        // A list column carries definition and repetition levels; every row must hold exactly `width` values.
        var levels = count * width;
        var definitions = new int[levels];
        var repetitions = new int[levels];
        try
        {
            await group.ReadRawAsync<float>(field, target.AsMemory(0, levels), definitions, repetitions, cancellationToken).ConfigureAwait(false);
        }
        catch (ArgumentException e)
        {
            // Parquet.Net refuses a destination too small for the column: more values than rows times width.
            throw new InvalidDataException($"Shard '{path}': column '{name}' does not hold {count} rows of exactly {width} values ({e.Message}).", e);
        }
        var rowStarts = 0;
        for (var i = 0; i < levels; i++)
        {
            if (definitions[i] != field.MaxDefinitionLevel)
            {
                throw new InvalidDataException($"Shard '{path}': column '{name}', row {rowStarts} has a missing or empty tensor.");
            }
            rowStarts += repetitions[i] == 0 ? 1 : 0;
            if (i % width == 0 && repetitions[i] != 0)
            {
                throw new InvalidDataException($"Shard '{path}': column '{name}': a row does not hold exactly {width} values.");
            }
        }
        if (rowStarts != count)
        {
            throw new InvalidDataException($"Shard '{path}': column '{name}' has {rowStarts} lists for {count} rows; each row must hold exactly {width} values.");
        }
    }

    /// <summary>
    /// Decodes a format-1 shard (<c>row</c>, <c>features</c>, <c>label</c> as a class index) into the legacy schema: a
    /// tensor column <c>features</c> and a label column of class names.
    /// </summary>
    public static async Task<Table> DecodeLegacyAsync(Stream shard, string path, DatasetSchema schema, string[] classes, long rows, CancellationToken cancellationToken = default)
    {
        var featureCount = schema.Columns[0].Width;
        var features = new float[checked(rows * featureCount)];
        var labels = new long[rows];
        var read = await DecodeDenseAsync(shard, path, featureCount, features, labels, 0, cancellationToken).ConfigureAwait(false);
        if (read != rows)
        {
            throw new InvalidDataException($"Shard '{path}' holds {read} rows, the manifest says {rows}.");
        }
        shard.Position = 0;
        var rowIds = await ReadRowIdsAsync(shard, path, cancellationToken).ConfigureAwait(false);
        var names = new string?[rows];
        for (var i = 0; i < rows; i++)
        {
            names[i] = labels[i] >= 0 && labels[i] < classes.Length ? classes[labels[i]]
                : throw new InvalidDataException($"Shard '{path}': label {labels[i]} is outside the {classes.Length} classes.");
        }
        return new Table(schema, [new Column(schema.Columns[0], features), new Column(schema.Columns[1], names)], rowIds);
    }

    /// <summary>A shard's row ids (<c>_row</c>, or <c>row</c> in format 1): each row's index in the source it came from.</summary>
    public static async Task<long[]> ReadRowIdsAsync(Stream shard, string path, CancellationToken cancellationToken = default)
    {
        await using var reader = await ParquetReader.CreateAsync(shard, cancellationToken: cancellationToken).ConfigureAwait(false);
        var fields = reader.Schema.GetDataFields();
        var rowField = fields.FirstOrDefault(f => f.Name == RowIdField.Name) ?? fields.FirstOrDefault(f => f.Name == LegacyRowField.Name)
            ?? throw new InvalidDataException($"Shard '{path}' has no '{RowIdField.Name}' column.");
        var ids = new List<long>();
        for (var g = 0; g < reader.RowGroupCount; g++)
        {
            using var group = reader.OpenRowGroupReader(g);
            var chunk = new long[checked((int)group.RowCount)];
            await group.ReadAsync<long>(rowField, chunk, null, cancellationToken).ConfigureAwait(false);
            ids.AddRange(chunk);
        }
        return [.. ids];
    }

    public static string Sha256(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    /// <summary>
    /// Decodes a shard into <paramref name="features"/> and <paramref name="labels"/> starting at row <paramref name="offset"/>.
    /// Returns the number of rows read.
    /// </summary>
    internal static async Task<int> DecodeDenseAsync(Stream shard, string path, int featureCount, float[] features, long[] labels, int offset, CancellationToken cancellationToken = default)
    {
        await using var reader = await ParquetReader.CreateAsync(shard, cancellationToken: cancellationToken).ConfigureAwait(false);
        var fields = reader.Schema.GetDataFields();
        var featureField = fields.FirstOrDefault(f => f.Name == LegacyFeaturesField.Name)
            ?? throw new InvalidDataException($"Shard '{path}' has no 'features' column.");
        var labelField = fields.FirstOrDefault(f => f.Name == LegacyLabelField.Name)
            ?? throw new InvalidDataException($"Shard '{path}' has no 'label' column.");
        var rows = 0;
        for (var g = 0; g < reader.RowGroupCount; g++)
        {
            using var group = reader.OpenRowGroupReader(g);
            var count = checked((int)group.RowCount);
            if (offset + rows + count > labels.Length)
            {
                throw new InvalidDataException($"Shard '{path}' holds more rows than its manifest declares.");
            }
            // A list column carries definition and repetition levels; every row must hold exactly featureCount values.
            var levels = count * featureCount;
            var definitions = new int[levels];
            var repetitions = new int[levels];
            try
            {
                await group.ReadRawAsync<float>(featureField, features.AsMemory((offset + rows) * featureCount, levels), definitions, repetitions, cancellationToken).ConfigureAwait(false);
            }
            catch (ArgumentException e)
            {
                // Parquet.Net refuses a destination too small for the column: more values than rows times features.
                throw new InvalidDataException($"Shard '{path}': its feature values do not make {count} rows of exactly {featureCount} features ({e.Message}).", e);
            }
            var rowStarts = 0;
            for (var i = 0; i < levels; i++)
            {
                if (definitions[i] != featureField.MaxDefinitionLevel)
                {
                    throw new InvalidDataException($"Shard '{path}': row {offset + rows + rowStarts} has missing or empty features.");
                }
                rowStarts += repetitions[i] == 0 ? 1 : 0;
                if (i % featureCount == 0 && repetitions[i] != 0)
                {
                    throw new InvalidDataException($"Shard '{path}': a row does not hold exactly {featureCount} features.");
                }
            }
            if (rowStarts != count)
            {
                throw new InvalidDataException($"Shard '{path}': {rowStarts} feature lists for {count} rows; each row must hold exactly {featureCount} features.");
            }
            await group.ReadAsync<long>(labelField, labels.AsMemory(offset + rows, count), null, cancellationToken).ConfigureAwait(false);
            rows += count;
        }
        return rows;
    }

    /// <summary>Format 1, kept so tests can write what earlier releases stored: rows [start, start+count) of <paramref name="table"/>; <paramref name="rowIds"/> gives each row's source index.</summary>
    public static async Task<byte[]> EncodeLegacyAsync(DatasetTable table, int start, int count, long[] rowIds, CancellationToken cancellationToken = default)
    {
        var fc = table.FeatureCount;
        var repetition = new int[count * fc];
        for (var r = 0; r < count; r++)
        {
            repetition.AsSpan(r * fc + 1, fc - 1).Fill(1);
        }
        using var buffer = new MemoryStream();
        await using (var writer = await ParquetWriter.CreateAsync(LegacyParquetSchema, buffer, WriteOptions, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            using var group = writer.CreateRowGroup();
            await group.WriteAsync<long>(LegacyRowField, rowIds.AsMemory(start, count), null, null, cancellationToken).ConfigureAwait(false);
            await group.WriteAsync<float>(LegacyFeaturesField, table.Features.AsMemory(start * fc, count * fc), repetition, null, cancellationToken).ConfigureAwait(false);
            await group.WriteAsync<long>(LegacyLabelField, table.Labels.AsMemory(start, count), null, null, cancellationToken).ConfigureAwait(false);
        }
        return buffer.ToArray();
    }

    private static readonly ParquetSchema LegacyParquetSchema = new(LegacyRowField, LegacyFeaturesField, LegacyLabelField);
}
