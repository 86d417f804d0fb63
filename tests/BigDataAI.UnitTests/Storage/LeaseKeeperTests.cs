using BigDataAI.Storage;
using Microsoft.Extensions.Logging.Abstractions;

namespace BigDataAI.UnitTests.Storage;

/// <summary>The lease keeper both a training worker's job and an append commit are guarded by, on the folder store.</summary>
public sealed class LeaseKeeperTests : IDisposable
{
    private readonly TempObjectStore _temp = new();

    public void Dispose() => _temp.Dispose();

    private async Task<ObjectLease> LeasedObjectAsync(string path, TimeSpan duration)
    {
        using (var empty = new MemoryStream([]))
        {
            Assert.True(await _temp.Store.TryCreateAsync(path, empty));
        }
        return await _temp.Store.TryAcquireLeaseAsync(path, duration) ?? throw new InvalidOperationException("no lease");
    }

    [Fact]
    public async Task It_keeps_the_lease_beyond_its_duration_and_gives_it_up_when_disposed()
    {
        // Renewed every second, so only a two-second stall lapses it; a one-second lease could lapse on a machine busy
        // with the integration tests (a CI run there failed one test that its output did not name).
        var duration = TimeSpan.FromSeconds(3);
        var lease = await LeasedObjectAsync("jobs/a.json", duration);
        await using (var keeper = new LeaseKeeper(_temp.Store, lease, NullLogger.Instance, CancellationToken.None))
        {
            // More than two durations: without renewals the lease would have lapsed twice over.
            await Task.Delay(2 * duration + TimeSpan.FromSeconds(1));
            Assert.Null(await _temp.Store.TryAcquireLeaseAsync("jobs/a.json", duration));
            Assert.False(keeper.Lost);
            Assert.False(keeper.Token.IsCancellationRequested);
        }
        // Released at once, not left to lapse.
        Assert.NotNull(await _temp.Store.TryAcquireLeaseAsync("jobs/a.json", duration));
    }

    [Fact]
    public async Task Losing_the_lease_cancels_the_token_and_leaves_the_new_holder_alone()
    {
        var duration = TimeSpan.FromMilliseconds(600);
        var lease = await LeasedObjectAsync("appends/b", duration);
        var keeper = new LeaseKeeper(_temp.Store, lease, NullLogger.Instance, CancellationToken.None);
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        keeper.Token.Register(() => cancelled.TrySetResult());

        // Someone else ends up holding it (as after a lapse): the next renewal finds it lost.
        await _temp.Store.ReleaseLeaseAsync(lease);
        var other = await _temp.Store.TryAcquireLeaseAsync("appends/b", TimeSpan.FromSeconds(30));
        Assert.NotNull(other);
        await cancelled.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(keeper.Lost);
        await keeper.DisposeAsync();
        // The keeper did not release the new holder's lease.
        Assert.Null(await _temp.Store.TryAcquireLeaseAsync("appends/b", duration));
        await _temp.Store.RenewLeaseAsync(other);
    }

    [Fact]
    public async Task The_callers_cancellation_cancels_the_token_without_losing_the_lease()
    {
        var lease = await LeasedObjectAsync("jobs/c.json", TimeSpan.FromSeconds(30));
        using var caller = new CancellationTokenSource();
        await using var keeper = new LeaseKeeper(_temp.Store, lease, NullLogger.Instance, caller.Token);
        await caller.CancelAsync();
        Assert.True(keeper.Token.IsCancellationRequested);
        Assert.False(keeper.Lost);
    }
}
