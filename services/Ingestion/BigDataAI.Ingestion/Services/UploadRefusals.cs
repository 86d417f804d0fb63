namespace BigDataAI.Ingestion.Services;

/// <summary>
/// The upload's columns cannot follow the dataset's previous version (a column dropped or renamed, a type changed other
/// than int64 to double, the label column changed) and the header did not allow a schema change: FAILED_PRECONDITION.
/// </summary>
public sealed class SchemaChangeException(string dataset, int previousVersion, IReadOnlyList<string> differences)
    : Exception($"The upload's columns are incompatible with {dataset} v{previousVersion}: {string.Join("; ", differences)}. Upload matching columns, or set allow_schema_change in the header.")
{
    public IReadOnlyList<string> Differences { get; } = differences;
}

/// <summary>
/// Quarantine mode: more rows were bad than the header's max_bad_fraction allows, or none was good; nothing is stored
/// (INVALID_ARGUMENT).
/// </summary>
public sealed class QuarantineLimitException(string message) : Exception(message);
