using System.Text.Json.Serialization;

namespace BigDataAI.Datasets;

/// <summary>
/// The type of a column as stored in Parquet: <c>int64</c>, <c>double</c>, <c>boolean</c>, UTF-8 <c>string</c>,
/// <c>timestamp</c> (UTC, microseconds), <c>binary</c> (e.g. an encoded image) or <c>tensor</c> (a <c>list&lt;float&gt;</c>
/// of a fixed shape: pixels, embeddings).
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<ColumnType>))]
public enum ColumnType
{
    Int64,
    Double,
    Bool,
    String,
    Timestamp,
    Binary,
    Tensor,
}

/// <summary>
/// What a column is for. <c>Feature</c>: a model input. <c>Label</c>: the target (at most one per dataset; its nulls are
/// unlabeled rows). <c>Text</c>: free text for text models. <c>Image</c>: encoded image bytes. <c>Id</c>: a row key,
/// never an input. <c>Ignored</c>: kept in the shards, never an input.
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<ColumnRole>))]
public enum ColumnRole
{
    Feature,
    Label,
    Text,
    Image,
    Id,
    Ignored,
}

/// <summary>One column of a dataset: its name as in the source, its stored type, its role and whether it holds nulls.</summary>
/// <param name="Name">The source's own column name.</param>
/// <param name="Type">The stored type.</param>
/// <param name="Role">What the column is for.</param>
/// <param name="Nullable">Whether the column may hold nulls (tensor columns never do).</param>
/// <param name="Shape">Tensor columns only: the shape of one row's value, e.g. [28, 28].</param>
public sealed record ColumnSchema(string Name, ColumnType Type, ColumnRole Role, bool Nullable = true, int[]? Shape = null)
{
    /// <summary>Values in one row of a tensor column (the product of <see cref="Shape"/>); 1 for every other type.</summary>
    [JsonIgnore]
    public int Width => Type == ColumnType.Tensor ? (Shape ?? [1]).Aggregate(1, (a, d) => checked(a * d)) : 1;

    /// <summary>Lower-case name of the type, as shown to users: int64, double, bool, string, timestamp, binary, tensor[28x28].</summary>
    [JsonIgnore]
    public string TypeName => Type == ColumnType.Tensor
        ? $"tensor[{string.Join("x", Shape ?? [])}]"
        : Type.ToString().ToLowerInvariant();

    /// <inheritdoc />
    public bool Equals(ColumnSchema? other) =>
        other is not null && Name == other.Name && Type == other.Type && Role == other.Role && Nullable == other.Nullable
        && (Shape ?? []).AsSpan().SequenceEqual(other.Shape ?? []);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Name, Type, Role, Nullable, (Shape ?? []).Length);
}

/// <summary>The columns of a dataset, in the source's order.</summary>
public sealed record DatasetSchema(IReadOnlyList<ColumnSchema> Columns)
{
    /// <summary>The name of the stored column that holds each row's index in its source (0-based). Sources may not use it.</summary>
    public const string RowColumn = "_row";

    /// <summary>The label column, or null when the dataset has none.</summary>
    [JsonIgnore]
    public ColumnSchema? Label => Columns.FirstOrDefault(c => c.Role == ColumnRole.Label);

    /// <summary>Whether the label is a number to predict (a double column: regression) rather than a class.</summary>
    [JsonIgnore]
    public bool IsRegression => Label is { Type: ColumnType.Double };

    /// <summary>The column named <paramref name="name"/> (ordinal), or null.</summary>
    public ColumnSchema? Find(string name) => Columns.FirstOrDefault(c => c.Name == name);

    /// <summary>Throws an <see cref="ArgumentException"/> when names repeat, are empty or reserved, or roles and types disagree.</summary>
    public DatasetSchema Validate()
    {
        if (Columns.Count == 0)
        {
            throw new ArgumentException("A dataset needs at least one column.");
        }
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var column in Columns)
        {
            if (string.IsNullOrEmpty(column.Name))
            {
                throw new ArgumentException("A column has an empty name.");
            }
            if (column.Name == RowColumn)
            {
                throw new ArgumentException($"Column '{RowColumn}' is reserved for the row index the platform stores; rename it in the source.");
            }
            if (!seen.Add(column.Name))
            {
                throw new ArgumentException($"Column '{column.Name}' appears more than once.");
            }
            if (column.Type == ColumnType.Tensor && (column.Shape is not { Length: > 0 } || column.Shape.Any(d => d <= 0)))
            {
                throw new ArgumentException($"Tensor column '{column.Name}' needs a shape of positive sizes.");
            }
            if (column.Type == ColumnType.Tensor && column.Nullable)
            {
                throw new ArgumentException($"Tensor column '{column.Name}' cannot hold nulls.");
            }
            if (column.Role == ColumnRole.Image && column.Type != ColumnType.Binary)
            {
                throw new ArgumentException($"Column '{column.Name}' has role image but type {column.TypeName}; images are stored as binary.");
            }
            if (column.Role == ColumnRole.Text && column.Type != ColumnType.String)
            {
                throw new ArgumentException($"Column '{column.Name}' has role text but type {column.TypeName}; text is a string column.");
            }
            if (column.Role == ColumnRole.Label && column.Type is ColumnType.Binary or ColumnType.Tensor)
            {
                throw new ArgumentException($"Column '{column.Name}' cannot be the label: its type is {column.TypeName}.");
            }
        }
        if (Columns.Count(c => c.Role == ColumnRole.Label) > 1)
        {
            throw new ArgumentException($"Only one column may be the label; these are: {string.Join(", ", Columns.Where(c => c.Role == ColumnRole.Label).Select(c => c.Name))}.");
        }
        return this;
    }

    /// <inheritdoc />
    public bool Equals(DatasetSchema? other) => other is not null && Columns.SequenceEqual(other.Columns);

    /// <inheritdoc />
    public override int GetHashCode() => Columns.Count;
}

/// <summary>How a version came to be: the step that made it, from which files or which parent version.</summary>
/// <param name="Step">"ingest" for an upload; later steps (cleaning, labeling) name themselves.</param>
/// <param name="SourceFiles">The files the step read (upload roles, archive entries or storage paths).</param>
/// <param name="ParentVersion">The version this one was derived from, or null for an upload.</param>
/// <param name="Recipe">How the step was asked to run, as the step's own JSON (e.g. an augmentation's operations and seed), or null.</param>
public sealed record DatasetLineage(string Step, IReadOnlyList<string> SourceFiles, int? ParentVersion = null, string? Recipe = null)
{
    /// <summary>A recipe of several steps (cleaning): what each step did, in order; null for other steps.</summary>
    public IReadOnlyList<LineageStepCounts>? StepCounts { get; init; }
}

/// <summary>What one step of a recipe did: rows it read, rows it dropped, cells it changed, what it found (by kind).</summary>
public sealed record LineageStepCounts(string Step, long RowsIn, long RowsDropped, long CellsChanged, IReadOnlyDictionary<string, long>? Found = null, IReadOnlyList<double>? Bounds = null);
