using BigDataAI.Datasets;

namespace BigDataAI.Ingestion.Parsing;

/// <summary>
/// The second pass done inside the first (docs/decisions/0019, "speculative second pass"). Once the first pass over a
/// strict CSV or TSV file has read <see cref="AfterRows"/> data rows, <see cref="Begin"/> is given the schema those rows
/// suggest; the first pass then converts those rows again (read from the file's start through <see cref="Follow"/>) and
/// every later row as it reads it, still voting on the types as before, and hands each chunk to <see cref="Store"/>, in
/// order. A row the schema cannot hold ends it (<see cref="Abandon"/>); the first pass goes on as usual. Whether the rows
/// stored may be kept is the caller's to decide once the first pass is done: only when the whole file's schema is the
/// same one and every row was stored.
/// </summary>
public abstract class Speculation
{
    protected Speculation(int afterRows)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(afterRows, 1);
        AfterRows = afterRows;
    }

    /// <summary>Data rows read before the schema is guessed, and the rows of every chunk stored but the last (a file with no more rows starts none).</summary>
    public int AfterRows { get; }

    /// <summary>Starts with the first rows' schema; false declines (nothing more is asked of it).</summary>
    protected internal abstract bool Begin(DatasetSchema provisional);

    /// <summary>A new stream of the whole file from its start (the caller disposes it), that waits for bytes still arriving.</summary>
    protected internal abstract Stream Follow();

    /// <summary>
    /// Keeps a chunk of converted rows (in order; its arrays are refilled once this returns). It may block, holding the
    /// first pass back while storage is slower. False when it cannot: the speculation is over.
    /// </summary>
    protected internal abstract bool Store(TableChunk chunk);

    /// <summary>A row the schema cannot hold, or rows that could not be converted: the speculation is over.</summary>
    protected internal abstract void Abandon(string reason);
}
