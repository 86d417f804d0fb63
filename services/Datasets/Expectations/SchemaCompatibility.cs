namespace BigDataAI.Datasets.Expectations;

/// <summary>
/// Whether a new version's columns can follow the previous version's: every earlier column is still there (a column
/// dropped or renamed is a difference), with its type (int64 to double is a widening and allowed; any other change of
/// type, tensor shapes included, is a difference), and the label column is the same one. New columns, other roles and
/// other nullability are compatible.
/// </summary>
public static class SchemaCompatibility
{
    /// <summary>The differences that make <paramref name="next"/> incompatible with <paramref name="previous"/>, each as a sentence; empty when compatible.</summary>
    public static IReadOnlyList<string> Differences(DatasetSchema previous, DatasetSchema next)
    {
        ArgumentNullException.ThrowIfNull(previous);
        ArgumentNullException.ThrowIfNull(next);
        var differences = new List<string>();
        var added = next.Columns.Where(c => previous.Find(c.Name) is null).Select(c => c.Name).ToList();
        foreach (var before in previous.Columns)
        {
            if (next.Find(before.Name) is not { } after)
            {
                differences.Add($"column '{before.Name}' ({before.TypeName}) is missing (dropped or renamed{(added.Count > 0 ? $"; new columns: {string.Join(", ", added)}" : "")})");
                continue;
            }
            if (after.TypeName != before.TypeName && !(before.Type == ColumnType.Int64 && after.Type == ColumnType.Double))
            {
                differences.Add($"column '{before.Name}' changed type from {before.TypeName} to {after.TypeName} (only int64 to double widens)");
            }
        }
        var (oldLabel, newLabel) = (previous.Label?.Name, next.Label?.Name);
        if (oldLabel != newLabel)
        {
            differences.Add($"the label column changed from {(oldLabel is null ? "none" : $"'{oldLabel}'")} to {(newLabel is null ? "none" : $"'{newLabel}'")}");
        }
        return differences;
    }
}
