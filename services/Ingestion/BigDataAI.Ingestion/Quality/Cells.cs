using System.Globalization;
using BigDataAI.Datasets;

namespace BigDataAI.Ingestion.Quality;

/// <summary>Reading, writing and parsing single cells of a column by value (boxed), for the steps that fill them.</summary>
internal static class Cells
{
    public static object? Get(Column column, int row) => column.Values switch
    {
        long?[] v => v[row],
        double?[] v => v[row],
        bool?[] v => v[row],
        string?[] v => v[row],
        DateTime?[] v => v[row],
        byte[]?[] v => v[row],
        _ => throw new InvalidOperationException($"Column '{column.Name}' ({column.Schema.TypeName}) has no single cells."),
    };

    public static void Set(Column column, int row, object? value)
    {
        switch (column.Values)
        {
            case long?[] v: v[row] = (long?)value; break;
            case double?[] v: v[row] = (double?)value; break;
            case bool?[] v: v[row] = (bool?)value; break;
            case string?[] v: v[row] = (string?)value; break;
            case DateTime?[] v: v[row] = (DateTime?)value; break;
            case byte[]?[] v: v[row] = (byte[]?)value; break;
            default: throw new InvalidOperationException($"Column '{column.Name}' ({column.Schema.TypeName}) has no single cells.");
        }
    }

    /// <summary>Parses <paramref name="text"/> as a value of the column's type, or null when it does not parse.</summary>
    public static object? Parse(ColumnSchema column, string text) => column.Type switch
    {
        ColumnType.Int64 => long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l) ? l : null,
        ColumnType.Double => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d) ? d : null,
        ColumnType.Bool => text.Trim().ToLowerInvariant() switch { "true" => true, "false" => false, _ => null },
        ColumnType.String => text,
        ColumnType.Timestamp => DateTime.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var t)
            ? DateTime.SpecifyKind(t, DateTimeKind.Utc) : null,
        _ => null,
    };

    /// <summary>A numeric cell as a double (timestamps as seconds since 1970), or null.</summary>
    public static double? Number(Column column, int row) => column.Values switch
    {
        long?[] v => v[row],
        double?[] v => v[row],
        DateTime?[] v => v[row] is { } t ? (t - DateTime.UnixEpoch).TotalSeconds : null,
        _ => null,
    };
}
