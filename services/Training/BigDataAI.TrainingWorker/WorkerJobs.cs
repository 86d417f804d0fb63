using System.Collections.Concurrent;
using System.Threading.Channels;

namespace BigDataAI.Training.Workers;

/// <summary>The jobs handed to this worker: waiting for a free slot, or running.</summary>
public sealed class WorkerJobs
{
    private readonly Channel<string> _waiting = Channel.CreateUnbounded<string>();
    private readonly ConcurrentDictionary<string, byte> _held = new(StringComparer.Ordinal);

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
        if (_held.TryRemove(jobId, out _))
        {
            Changed?.Invoke();
        }
    }

    public IReadOnlyList<string> Held => [.. _held.Keys];

    public IAsyncEnumerable<string> ReadAllAsync(CancellationToken cancellationToken) => _waiting.Reader.ReadAllAsync(cancellationToken);
}
