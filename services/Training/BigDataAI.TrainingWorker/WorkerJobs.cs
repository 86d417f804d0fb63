using System.Collections.Concurrent;
using System.Threading.Channels;

namespace BigDataAI.Training.Workers;

/// <summary>The jobs handed to this worker: waiting for a free slot, or running.</summary>
public sealed class WorkerJobs
{
    private readonly Channel<string> _waiting = Channel.CreateUnbounded<string>();
    private readonly ConcurrentDictionary<string, byte> _held = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (CancellationTokenSource? Run, string? Reason)> _stops = new(StringComparer.Ordinal);

    /// <summary>Raised when the set of held jobs changes, so the worker announces itself at once.</summary>
    public event Action? Changed;

    /// <summary>Takes a job unless this worker holds it already (a repeated hand-out). True when it was new.</summary>
    public bool TryAdd(string jobId)
    {
        if (!_held.TryAdd(jobId, 0))
        {
            return false;
        }
        _waiting.Writer.TryWrite(jobId);
        Changed?.Invoke();
        return true;
    }

    public void Done(string jobId)
    {
        _stops.TryRemove(jobId, out _);
        if (_held.TryRemove(jobId, out _))
        {
            Changed?.Invoke();
        }
    }

    public IReadOnlyList<string> Held => [.. _held.Keys];

    /// <summary>
    /// A run of <paramref name="jobId"/> starts: the returned source cancels it when a stop is asked for (at once if one
    /// came before the run started). Dispose it, and call <see cref="Ended"/>, when the run ends.
    /// </summary>
    public CancellationTokenSource Starting(string jobId, CancellationToken runToken)
    {
        var run = CancellationTokenSource.CreateLinkedTokenSource(runToken);
        var entry = _stops.AddOrUpdate(jobId, _ => (run, null), (_, old) => (run, old.Reason));
        if (entry.Reason is not null)
        {
            run.Cancel();
        }
        return run;
    }

    /// <summary>Why the run of <paramref name="jobId"/> was asked to stop, or null.</summary>
    public string? StopReason(string jobId) => _stops.TryGetValue(jobId, out var entry) ? entry.Reason : null;

    /// <summary>
    /// Asks the run of <paramref name="jobId"/> to stop, now if it runs, else when it starts. False (and nothing kept)
    /// when this worker does not hold the job, so a stale stop never cancels a later run.
    /// </summary>
    public bool RequestStop(string jobId, string reason)
    {
        if (!_held.ContainsKey(jobId))
        {
            return false;
        }
        var entry = _stops.AddOrUpdate(jobId, _ => (null, reason), (_, old) => (old.Run, old.Reason ?? reason));
        try
        {
            entry.Run?.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The run ended meanwhile.
        }
        return true;
    }

    /// <summary>The run of <paramref name="jobId"/> ended: forget its stop.</summary>
    public void Ended(string jobId) => _stops.TryRemove(jobId, out _);

    public IAsyncEnumerable<string> ReadAllAsync(CancellationToken cancellationToken) => _waiting.Reader.ReadAllAsync(cancellationToken);
}
