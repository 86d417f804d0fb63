namespace BigDataAI.Ingestion.Appends;

/// <summary>
/// What this process knows is staged and not yet committed, per dataset: the rows and when each batch was staged,
/// so the gatherer knows when a dataset is due (Appends:MaxRows rows, or the oldest batch Appends:MaxDelay old).
/// Batches other processes staged are found by the gatherer's scans and are due at once.
/// </summary>
public sealed class AppendPending(TimeProvider time)
{
    private readonly object _lock = new();
    private readonly Dictionary<string, List<(DateTimeOffset At, int Rows)>> _staged = new(StringComparer.Ordinal);
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TimeProvider Time => time;

    /// <summary>A batch of <paramref name="rows"/> was staged now.</summary>
    public void Record(string dataset, int rows) => Add(dataset, time.GetUtcNow(), rows);

    /// <summary>Staged batches of <paramref name="dataset"/> were found in storage (left by another process): due now.</summary>
    public void Found(string dataset) => Add(dataset, DateTimeOffset.MinValue, 0);

    private void Add(string dataset, DateTimeOffset at, int rows)
    {
        TaskCompletionSource wake;
        lock (_lock)
        {
            if (!_staged.TryGetValue(dataset, out var list))
            {
                _staged[dataset] = list = [];
            }
            list.Add((at, rows));
            wake = _wake;
        }
        wake.TrySetResult();
    }

    /// <summary>Whether this process staged batches of <paramref name="dataset"/> that are not committed yet.</summary>
    public bool Knows(string dataset)
    {
        lock (_lock)
        {
            return _staged.ContainsKey(dataset);
        }
    }

    /// <summary>The datasets due for a commit now, and how long until the next one is due otherwise.</summary>
    public (IReadOnlyList<string> Due, TimeSpan? Next) Due(int maxRows, TimeSpan maxDelay)
    {
        var now = time.GetUtcNow();
        var due = new List<string>();
        TimeSpan? next = null;
        lock (_lock)
        {
            // A batch staged after this look wakes the next WaitAsync.
            if (_wake.Task.IsCompleted)
            {
                _wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
            foreach (var (dataset, list) in _staged)
            {
                if (list.Count == 0)
                {
                    continue;
                }
                var oldest = list.Min(b => b.At);
                var wait = oldest == DateTimeOffset.MinValue ? TimeSpan.Zero : oldest + maxDelay - now;
                if (list.Sum(b => (long)b.Rows) >= maxRows || wait <= TimeSpan.Zero)
                {
                    due.Add(dataset);
                }
                else if (next is null || wait < next)
                {
                    next = wait;
                }
            }
        }
        return (due, next);
    }

    /// <summary>Everything staged up to <paramref name="listedAt"/> (when the commit listed the staged batches) is committed.</summary>
    public void Committed(string dataset, DateTimeOffset listedAt)
    {
        lock (_lock)
        {
            if (_staged.TryGetValue(dataset, out var list))
            {
                list.RemoveAll(b => b.At <= listedAt);
                if (list.Count == 0)
                {
                    _staged.Remove(dataset);
                }
            }
        }
    }

    /// <summary>Waits until a batch is staged after the last <see cref="Due"/>, or <paramref name="timeout"/> passes.</summary>
    public async Task WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        Task wake;
        lock (_lock)
        {
            wake = _wake.Task;
        }
        try
        {
            await wake.WaitAsync(timeout, time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
    }
}
