using BigDataAI.Datasets;
using BigDataAI.Datasets.Expectations;
using BigDataAI.Ingestion.Parsing;
using Microsoft.Extensions.Logging;

namespace BigDataAI.Ingestion.Services;

/// <summary>
/// The speculative second pass of a strict CSV or TSV upload (<see cref="Speculation"/>): a new version written from the
/// rows the first pass converts while the file arrives, under the schema of its first shard of rows, each chunk checked
/// against the dataset's expectations. It is used (<see cref="Take"/>) only when the first pass's schema of the whole
/// file is the same and every row was stored; any doubt (another schema, a cell that did not fit, a broken expectation, a
/// storage failure) drops it and the usual second pass runs, so what is committed does not depend on it. Disposing it
/// deletes its shards unless <see cref="Keep"/> said a committed manifest references them.
/// </summary>
internal sealed class SpeculativeVersion(DatasetStore datasets, string dataset, int rowsPerShard, Func<CancellationToken, Stream> follow,
    DatasetExpectations expectations, ILogger logger, CancellationToken cancellationToken) : Speculation(rowsPerShard), IAsyncDisposable
{
    private readonly List<Stream> _streams = [];
    private VersionWriter? _writer;
    private ExpectationChecker? _checker;
    private DatasetSchema? _provisional;
    private string? _folder;
    private string? _abandoned;
    private bool _kept;
    private bool _disposed;

    protected internal override bool Begin(DatasetSchema provisional)
    {
        try
        {
            _checker = new ExpectationChecker(expectations, provisional);
        }
        catch (ExpectationException e)
        {
            Abandon(e.Message);
            return false;
        }
        _provisional = provisional;
        // Its own folder: the upload's SHA-256, which names the usual one, is not known until the last byte.
        var key = "spec" + Guid.NewGuid().ToString("N");
        _folder = DatasetPaths.ShardFolder(dataset, key);
        _writer = datasets.BeginVersion(dataset, provisional, key, AfterRows);
        return true;
    }

    protected internal override Stream Follow()
    {
        var stream = follow(cancellationToken);
        lock (_streams)
        {
            _streams.Add(stream);
        }
        return stream;
    }

    protected internal override bool Store(TableChunk chunk)
    {
        if (_abandoned is not null || _writer is null)
        {
            return false;
        }
        if (_checker!.Check(chunk.Rows) is { Count: > 0 } violations)
        {
            Abandon($"expectation {violations[0].Expectation} is broken at row {chunk.SourceRows[violations[0].Row]}");
            return false;
        }
        try
        {
            // The first pass's thread (not a request's) waits here while two shards are being stored: back-pressure.
            // Not cancelled with the upload: a shard cut off mid-write might land unlisted, and could not be deleted.
            cancellationToken.ThrowIfCancellationRequested();
            _writer.AppendAsync(chunk.Rows, CancellationToken.None).GetAwaiter().GetResult();
            return true;
        }
        catch (Exception e) when (e is not OutOfMemoryException and not OperationCanceledException)
        {
            Abandon($"storing a shard failed: {e.Message}");
            return false;
        }
    }

    protected internal override void Abandon(string reason) => _abandoned ??= reason;

    /// <summary>
    /// The writer holding every row, ready to commit, when the speculation held: the first pass's schema of the whole file
    /// is <paramref name="schema"/>, the one it started with, and it stored all <paramref name="rows"/> rows. Else null,
    /// with the reason logged, and the caller runs the usual second pass.
    /// </summary>
    public async Task<VersionWriter?> TakeAsync(DatasetSchema schema, long rows)
    {
        if (_writer is null && _abandoned is null)
        {
            return null; // the file has no more rows than a shard, or its first rows made no schema
        }
        var reason = _abandoned
            ?? (!schema.Equals(_provisional) ? "the whole file's column types differ from its first rows'"
            : _writer!.Rows != rows ? $"it holds {_writer.Rows} of {rows} rows" : null);
        if (reason is null)
        {
            return _writer;
        }
        logger.LogInformation("Speculative second pass for {Dataset} not kept ({Reason}); the rows are read again", dataset, reason);
        await DisposeAsync().ConfigureAwait(false);
        return null;
    }

    /// <summary>The writer <see cref="TakeAsync"/> gave has committed: its shards are the version's and stay.</summary>
    public void Keep() => _kept = true;

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        Stream[] streams;
        lock (_streams)
        {
            streams = [.. _streams];
        }
        foreach (var stream in streams)
        {
            await stream.DisposeAsync().ConfigureAwait(false);
        }
        if (_kept || Interlocked.Exchange(ref _writer, null) is not { } writer)
        {
            return;
        }
        await writer.AbandonAsync().ConfigureAwait(false);
        // Everything in the folder, not only the shards the writer finished: it is this speculation's alone.
        try
        {
            await foreach (var path in datasets.Objects.ListAsync(_folder!, CancellationToken.None).ConfigureAwait(false))
            {
                await datasets.Objects.DeleteAsync(path, CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            logger.LogWarning(e, "Could not delete the speculative shards under {Folder} of {Dataset}; they are unreferenced", _folder, dataset);
        }
    }
}
