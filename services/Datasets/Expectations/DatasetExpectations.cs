using System.Globalization;
using System.Text.Json.Serialization;

namespace BigDataAI.Datasets.Expectations;

/// <summary>
/// What one column of every new version must hold. Null fields expect nothing. <see cref="Min"/> and <see cref="Max"/>
/// are inclusive and apply to numeric columns (int64, double); <see cref="AllowedValues"/> compares a cell's invariant
/// text (<see cref="Column.Format"/>: 3, 2.5, true, cat); <see cref="NotNull"/> refuses nulls; <see cref="Unique"/>
/// refuses a non-null value that an earlier row of the same version holds.
/// </summary>
public sealed record ColumnExpectation(string Column)
{
    /// <summary>The column's stored type; a cell that does not fit it is a bad row (the parser reads the column as this type).</summary>
    public ColumnType? Type { get; init; }

    public double? Min { get; init; }

    public double? Max { get; init; }

    public IReadOnlyList<string>? AllowedValues { get; init; }

    public bool NotNull { get; init; }

    public bool Unique { get; init; }
}

/// <summary>The expectations declared for a dataset (stored at <c>datasets/{name}/expectations.json</c>), checked on every new version.</summary>
public sealed record DatasetExpectations(IReadOnlyList<ColumnExpectation> Columns)
{
    /// <summary>When they were last set.</summary>
    public DateTimeOffset? UpdatedAt { get; init; }

    [JsonIgnore]
    public bool IsEmpty => Columns.Count == 0;

    public static readonly DatasetExpectations None = new([]);

    public ColumnExpectation? For(string column) => Columns.FirstOrDefault(c => c.Column == column);

    /// <summary>
    /// The problems of the declaration itself, or of it against <paramref name="schema"/> (the latest version's, when
    /// there is one): a column named twice or empty, a range whose minimum exceeds its maximum, a type a table cannot
    /// declare, a column the schema lacks, a range on a column that is not numeric. Empty when it is sound.
    /// </summary>
    public IReadOnlyList<string> Problems(DatasetSchema? schema)
    {
        var problems = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < Columns.Count; i++)
        {
            var e = Columns[i];
            var at = $"columns[{i.ToString(CultureInfo.InvariantCulture)}]";
            if (string.IsNullOrEmpty(e.Column))
            {
                problems.Add($"{at}: the column name is empty");
                continue;
            }
            if (!seen.Add(e.Column))
            {
                problems.Add($"{at}: column '{e.Column}' is named twice");
            }
            if (e.Min is { } min && e.Max is { } max && min > max)
            {
                problems.Add($"{at}: column '{e.Column}': min {Show(min)} is above max {Show(max)}");
            }
            if (e.Min is { } m1 && !double.IsFinite(m1) || e.Max is { } m2 && !double.IsFinite(m2))
            {
                problems.Add($"{at}: column '{e.Column}': min and max must be finite numbers");
            }
            if (e.Type is { } t && t is not (ColumnType.Int64 or ColumnType.Double or ColumnType.Bool or ColumnType.String or ColumnType.Timestamp))
            {
                problems.Add($"{at}: column '{e.Column}': type {t.ToString().ToLowerInvariant()} cannot be expected; use one of int64, double, bool, string, timestamp");
            }
            var numericType = e.Type is null or ColumnType.Int64 or ColumnType.Double;
            if ((e.Min is not null || e.Max is not null) && !numericType)
            {
                problems.Add($"{at}: column '{e.Column}': min/max apply to int64 and double columns, not {e.Type.ToString()!.ToLowerInvariant()}");
            }
            if (schema is null)
            {
                continue;
            }
            if (schema.Find(e.Column) is not { } column)
            {
                problems.Add($"{at}: the latest version has no column '{e.Column}' (it has: {string.Join(", ", schema.Columns.Select(c => c.Name))})");
                continue;
            }
            if (e.Type is null && (e.Min is not null || e.Max is not null) && column.Type is not (ColumnType.Int64 or ColumnType.Double))
            {
                problems.Add($"{at}: column '{e.Column}' is {column.TypeName}; min/max apply to int64 and double columns");
            }
        }
        return problems;
    }

    internal static string Show(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
