namespace BigDataAI.Training.Services;

/// <summary>
/// A loop's "look again now": any number of <see cref="Set"/> calls while the loop is busy wake it once; the loop waits
/// with <see cref="WaitAsync"/> for a wake-up or its regular interval, whichever comes first.
/// </summary>
internal sealed class Wakeup : IDisposable
{
    private readonly SemaphoreSlim _signal = new(0, 1);

    public void Set()
    {
        try
        {
            if (_signal.CurrentCount == 0)
            {
                _signal.Release();
            }
        }
        catch (SemaphoreFullException)
        {
            // Another Set got there first: already awake.
        }
        catch (ObjectDisposedException)
        {
            // Its loop (or watcher) has ended; an event raised just then has no one to wake.
        }
    }

    /// <summary>True when woken, false when <paramref name="interval"/> passed.</summary>
    public Task<bool> WaitAsync(TimeSpan interval, CancellationToken cancellationToken) => _signal.WaitAsync(interval, cancellationToken);

    public void Dispose() => _signal.Dispose();
}
