namespace BigDataAI.Ingestion.Appends;

/// <summary>
/// Bounds what one dataset has being staged at once: at most <c>Appends:MaxPendingBatches</c> batches and
/// <c>Appends:MaxPendingBytes</c> bytes. A caller over the bound waits (in order of arrival) until earlier batches are
/// stored; a single batch larger than the byte bound still passes alone, so nothing waits for ever.
/// </summary>
internal sealed class AppendGate(int maxBatches, long maxBytes)
{
    private readonly object _lock = new();
    private readonly LinkedList<(long Bytes, TaskCompletionSource Ready)> _waiting = new();
    private int _batches;
    private long _bytes;

    public int PendingBatches { get { lock (_lock) { return _batches; } } }

    public long PendingBytes { get { lock (_lock) { return _bytes; } } }

    /// <summary>Waiting callers: what back-pressure holds back now.</summary>
    public int Waiting { get { lock (_lock) { return _waiting.Count; } } }

    public async Task<IDisposable> EnterAsync(long bytes, CancellationToken cancellationToken)
    {
        LinkedListNode<(long, TaskCompletionSource)> node;
        lock (_lock)
        {
            if (_waiting.Count == 0 && Fits(bytes))
            {
                Take(bytes);
                return new Release(this, bytes);
            }
            node = _waiting.AddLast((bytes, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)));
        }
        try
        {
            await node.Value.Item2.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            return new Release(this, bytes);
        }
        catch (OperationCanceledException)
        {
            lock (_lock)
            {
                if (node.List is not null)
                {
                    _waiting.Remove(node);
                    throw;
                }
            }
            // Admitted just as it was cancelled: give the place back.
            Exit(bytes);
            throw;
        }
    }

    private bool Fits(long bytes) => _batches < maxBatches && (_batches == 0 || _bytes + bytes <= maxBytes);

    private void Take(long bytes)
    {
        _batches++;
        _bytes += bytes;
    }

    private void Exit(long bytes)
    {
        lock (_lock)
        {
            _batches--;
            _bytes -= bytes;
            while (_waiting.First is { } first && Fits(first.Value.Bytes))
            {
                _waiting.RemoveFirst();
                Take(first.Value.Bytes);
                first.Value.Ready.TrySetResult();
            }
        }
    }

    private sealed class Release(AppendGate gate, long bytes) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0)
            {
                gate.Exit(bytes);
            }
        }
    }
}
