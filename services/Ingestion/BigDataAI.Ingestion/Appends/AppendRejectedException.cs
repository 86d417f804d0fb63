namespace BigDataAI.Ingestion.Appends;

/// <summary>Why a batch was refused, as the gRPC status it becomes.</summary>
public enum AppendRejection
{
    /// <summary>INVALID_ARGUMENT: the batch or its rows are wrong.</summary>
    Invalid,

    /// <summary>NOT_FOUND: the dataset has no version.</summary>
    NotFound,

    /// <summary>FAILED_PRECONDITION: a sequence gap, or a dataset whose newest version cannot take appends.</summary>
    Precondition,
}

/// <summary>A batch refused for a reason the producer must fix (or, for a gap, wait out: an earlier batch is still on its way).</summary>
public sealed class AppendRejectedException(AppendRejection kind, string message) : Exception(message)
{
    public AppendRejection Kind { get; } = kind;

    /// <summary>A sequence gap: the batch before this one has not arrived.</summary>
    public bool IsGap { get; init; }
}
