namespace BigDataAI.Ingestion.Quality;

/// <summary>A cleaning or drift request that cannot run as asked: INVALID_ARGUMENT naming <see cref="Field"/>.</summary>
public sealed class QualityRequestException(string field, string reason) : Exception($"{field}: {reason}")
{
    public string Field { get; } = field;
}

/// <summary>A request that is well-formed but cannot run on these versions: FAILED_PRECONDITION.</summary>
public sealed class QualityPreconditionException(string message) : Exception(message);
