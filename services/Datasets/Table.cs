using System.Globalization;

namespace BigDataAI.Datasets;

/// <summary>
/// One column's values in memory, typed by <see cref="ColumnSchema.Type"/>: <c>long?[]</c>, <c>double?[]</c>,
/// <c>bool?[]</c>, <c>string?[]</c>, <c>DateTime?[]</c> (UTC), <c>byte[]?[]</c>, or for a tensor column one flat
/// <c>float[]</c> of rows x <see cref="ColumnSchema.Width"/> values (row-major, never null).
/// </summary>
public sealed class Column
{
    public Column(ColumnSchema schema, Array values)
    {
        ArgumentNullException.ThrowIfNull(schema);
        ArgumentNullException.ThrowIfNull(values);
        var expected = ClrArrayType(schema.Type);
        if (values.GetType() != expected)
        {
            throw new ArgumentException($"Column '{schema.Name}' is {schema.TypeName}; its values must be a {expected.Name}, not a {values.GetType().Name}.", nameof(values));
        }
        if (schema.Type == ColumnType.Tensor && values.Length % schema.Width != 0)
        {
            throw new ArgumentException($"Tensor column '{schema.Name}': {values.Length} values do not make rows of {schema.Width}.", nameof(values));
        }
        Schema = schema;
        Values = values;
        Rows = schema.Type == ColumnType.Tensor ? values.Length / schema.Width : values.Length;
    }

    public ColumnSchema Schema { get; }
    public string Name => Schema.Name;
    public Array Values { get; }
    public int Rows { get; }

    /// <summary>The array type that holds a column of <paramref name="type"/>.</summary>
    public static Type ClrArrayType(ColumnType type) => type switch
    {
        ColumnType.Int64 => typeof(long?[]),
        ColumnType.Double => typeof(double?[]),
        ColumnType.Bool => typeof(bool?[]),
        ColumnType.String => typeof(string?[]),
        ColumnType.Timestamp => typeof(DateTime?[]),
        ColumnType.Binary => typeof(byte[]?[]),
        ColumnType.Tensor => typeof(float[]),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Unknown column type."),
    };

    /// <summary>An empty column of <paramref name="rows"/> nulls (zeros for a tensor column) of the schema's type.</summary>
    public static Column Allocate(ColumnSchema schema, int rows) =>
        new(schema, Array.CreateInstance(ClrArrayType(schema.Type).GetElementType()!, checked(rows * (schema.Type == ColumnType.Tensor ? schema.Width : 1))));

    public bool IsNull(int row) => Values switch
    {
        long?[] v => v[row] is null,
        double?[] v => v[row] is null,
        bool?[] v => v[row] is null,
        string?[] v => v[row] is null,
        DateTime?[] v => v[row] is null,
        byte[]?[] v => v[row] is null,
        _ => false,
    };

    /// <summary>The first null row, or null when there is none (never for a tensor column): one typed scan, not a type test per cell.</summary>
    public int? FirstNull()
    {
        var index = Values switch
        {
            long?[] v => FirstNull(v),
            double?[] v => FirstNull(v),
            bool?[] v => FirstNull(v),
            DateTime?[] v => FirstNull(v),
            string?[] v => Array.IndexOf(v, null),
            byte[]?[] v => Array.IndexOf(v, null),
            _ => -1,
        };
        return index < 0 ? null : index;
    }

    private static int FirstNull<T>(T?[] values) where T : struct
    {
        for (var r = 0; r < values.Length; r++)
        {
            if (!values[r].HasValue)
            {
                return r;
            }
        }
        return -1;
    }

    /// <summary>The rows at <paramref name="indices"/>, in that order.</summary>
    public Column Select(IReadOnlyList<int> indices)
    {
        var result = Allocate(Schema, indices.Count);
        if (Schema.Type == ColumnType.Tensor)
        {
            var width = Schema.Width;
            var source = (float[])Values;
            var target = (float[])result.Values;
            for (var i = 0; i < indices.Count; i++)
            {
                Array.Copy(source, (long)indices[i] * width, target, (long)i * width, width);
            }
            return result;
        }
        switch (Values)
        {
            case long?[] v: Gather(v, (long?[])result.Values, indices); break;
            case double?[] v: Gather(v, (double?[])result.Values, indices); break;
            case bool?[] v: Gather(v, (bool?[])result.Values, indices); break;
            case string?[] v: Gather(v, (string?[])result.Values, indices); break;
            case DateTime?[] v: Gather(v, (DateTime?[])result.Values, indices); break;
            case byte[]?[] v: Gather(v, (byte[]?[])result.Values, indices); break;
        }
        return result;
    }

    // Typed, so a row is copied without boxing (Array.GetValue/SetValue box every cell).
    private static void Gather<T>(T[] source, T[] target, IReadOnlyList<int> indices)
    {
        for (var i = 0; i < indices.Count; i++)
        {
            target[i] = source[indices[i]];
        }
    }

    /// <summary>The value of <paramref name="row"/> as invariant text (what class names and messages show); null for a null.</summary>
    public string? Format(int row) => Schema.Type switch
    {
        ColumnType.Int64 => ((long?[])Values)[row]?.ToString(CultureInfo.InvariantCulture),
        ColumnType.Double => ((double?[])Values)[row]?.ToString("R", CultureInfo.InvariantCulture),
        ColumnType.Bool => ((bool?[])Values)[row] is { } b ? (b ? "true" : "false") : null,
        ColumnType.String => ((string?[])Values)[row],
        ColumnType.Timestamp => ((DateTime?[])Values)[row]?.ToString("O", CultureInfo.InvariantCulture),
        ColumnType.Binary => ((byte[]?[])Values)[row] is { } bytes ? $"<{bytes.Length} bytes>" : null,
        ColumnType.Tensor => $"<{Schema.Width} floats>",
        _ => null,
    };
}

/// <summary>
/// Rows held in memory as typed columns (the dataset format's columns, in the schema's order), with each row's index in
/// its source.
/// </summary>
public sealed class Table
{
    public Table(DatasetSchema schema, IReadOnlyList<Column> columns, long[] rowIds)
    {
        ArgumentNullException.ThrowIfNull(schema);
        ArgumentNullException.ThrowIfNull(columns);
        ArgumentNullException.ThrowIfNull(rowIds);
        schema.Validate();
        if (columns.Count != schema.Columns.Count)
        {
            throw new ArgumentException($"{columns.Count} columns for a schema of {schema.Columns.Count}.", nameof(columns));
        }
        for (var i = 0; i < columns.Count; i++)
        {
            if (!columns[i].Schema.Equals(schema.Columns[i]))
            {
                throw new ArgumentException($"Column {i} is '{columns[i].Name}' ({columns[i].Schema.TypeName}), the schema says '{schema.Columns[i].Name}' ({schema.Columns[i].TypeName}).", nameof(columns));
            }
            if (columns[i].Rows != rowIds.Length)
            {
                throw new ArgumentException($"Column '{columns[i].Name}' has {columns[i].Rows} rows, the table {rowIds.Length}.", nameof(columns));
            }
            if (!columns[i].Schema.Nullable && columns[i].FirstNull() is { } r)
            {
                throw new ArgumentException($"Column '{columns[i].Name}' is declared never null but row {rowIds[r]} is null.", nameof(columns));
            }
        }
        Schema = schema;
        Columns = columns;
        RowIds = rowIds;
    }

    private Table(DatasetSchema schema, IReadOnlyList<Column> columns, long[] rowIds, bool trusted)
    {
        Schema = schema;
        Columns = columns;
        RowIds = rowIds;
    }

    /// <summary>A table over columns already checked against <paramref name="schema"/> (a copy of a checked table's cells), without checking them again.</summary>
    internal static Table Trusted(DatasetSchema schema, IReadOnlyList<Column> columns, long[] rowIds) => new(schema, columns, rowIds, trusted: true);

    public DatasetSchema Schema { get; }
    public IReadOnlyList<Column> Columns { get; }
    public long[] RowIds { get; }
    public int Rows => RowIds.Length;

    public Column this[string name] => Columns.FirstOrDefault(c => c.Name == name)
        ?? throw new KeyNotFoundException($"The table has no column '{name}' (it has: {string.Join(", ", Columns.Select(c => c.Name))}).");

    public Column? Find(string name) => Columns.FirstOrDefault(c => c.Name == name);

    /// <summary>The <paramref name="count"/> rows from <paramref name="start"/>, as a new table.</summary>
    public Table Slice(int start, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, Rows - start);
        return Select([.. Enumerable.Range(start, count)]);
    }

    /// <summary>The rows at <paramref name="indices"/>, in that order, as a new table.</summary>
    public Table Select(IReadOnlyList<int> indices) =>
        new(Schema, [.. Columns.Select(c => c.Select(indices))], [.. indices.Select(i => RowIds[i])]);

    /// <summary>
    /// The class index of each row's label (-1 for a null label, an unlabeled row): the position of the label's invariant
    /// text in <paramref name="classes"/>. A label not among the classes is an <see cref="InvalidDataException"/>.
    /// </summary>
    public long[] ClassIndices(IReadOnlyList<string> classes)
    {
        var label = Schema.Label ?? throw new InvalidOperationException("The table has no label column.");
        var column = this[label.Name];
        var lookup = new Dictionary<string, long>(StringComparer.Ordinal);
        for (var i = 0; i < classes.Count; i++)
        {
            lookup[classes[i]] = i;
        }
        var result = new long[Rows];
        for (var r = 0; r < Rows; r++)
        {
            var text = column.Format(r);
            result[r] = text is null ? -1
                : lookup.TryGetValue(text, out var index) ? index
                : throw new InvalidDataException($"Row {RowIds[r]}: label '{text}' is not one of the dataset's classes.");
        }
        return result;
    }

    /// <summary>
    /// The classes of the label column: its distinct non-null values as invariant text, sorted numerically when the
    /// column is numeric (so 10 comes after 9), otherwise ordinally. Empty without a label column, and for a double label
    /// (a regression target, <see cref="DatasetSchema.IsRegression"/>).
    /// </summary>
    public string[] DistinctClasses()
    {
        if (Schema.Label is not { } label || Schema.IsRegression)
        {
            return [];
        }
        var column = this[label.Name];
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var r = 0; r < Rows; r++)
        {
            if (column.Format(r) is { } text)
            {
                seen.Add(text);
            }
        }
        return label.Type switch
        {
            ColumnType.Int64 => [.. seen.OrderBy(s => long.Parse(s, CultureInfo.InvariantCulture))],
            ColumnType.Double => [.. seen.OrderBy(s => double.Parse(s, CultureInfo.InvariantCulture))],
            _ => [.. seen.Order(StringComparer.Ordinal)],
        };
    }

    /// <summary>A regression's targets: the double label column's values (NaN for a null label).</summary>
    public float[] Targets()
    {
        var label = Schema.Label is { Type: ColumnType.Double } l ? this[l.Name] : throw new InvalidOperationException("The table has no double label column.");
        return [.. ((double?[])label.Values).Select(v => v is { } d ? (float)d : float.NaN)];
    }

    /// <summary>A table of one tensor column (role feature) and, when given, a label column of class names.</summary>
    public static Table FromDense(DatasetTable dense, string featureColumn = "features", string labelColumn = "label", bool labelsAsIntegers = false)
    {
        ArgumentNullException.ThrowIfNull(dense);
        var tensor = new ColumnSchema(featureColumn, ColumnType.Tensor, ColumnRole.Feature, Nullable: false, Shape: dense.FeatureShape);
        Column label;
        if (labelsAsIntegers)
        {
            label = new Column(new ColumnSchema(labelColumn, ColumnType.Int64, ColumnRole.Label, Nullable: false),
                dense.Labels.Select(l => (long?)long.Parse(dense.Classes[l], CultureInfo.InvariantCulture)).ToArray());
        }
        else
        {
            label = new Column(new ColumnSchema(labelColumn, ColumnType.String, ColumnRole.Label, Nullable: false),
                dense.Labels.Select(l => (string?)dense.Classes[l]).ToArray());
        }
        var columns = new[] { new Column(tensor, dense.Features), label };
        return new Table(new DatasetSchema([tensor, label.Schema]), columns, [.. Enumerable.Range(0, dense.Rows).Select(i => (long)i)]);
    }
}
