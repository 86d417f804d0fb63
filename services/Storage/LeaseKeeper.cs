using Microsoft.Extensions.Logging;

namespace BigDataAI.Storage;

/// <summary>
/// Renews a lease every third of its duration until disposed, then gives it up. When renewal finds the lease lost,
/// <see cref="Token"/> is cancelled so the work it guards stops. A renewal that fails for another reason (storage
/// unreachable) is tried again at the next tick; if the lease lapses meanwhile, the next renewal finds it lost.
/// Guards a training worker's job (its record's lease) and an append commit (the dataset's append lease).
/// </summary>
public sealed class LeaseKeeper : IAsyncDisposable
{
    private readonly IObjectStore _store;
    private readonly ObjectLease _lease;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop;
    private readonly CancellationTokenSource _guarded;
    private readonly Task _loop;

    public LeaseKeeper(IObjectStore store, ObjectLease lease, ILogger logger, CancellationToken cancellationToken)
    {
        _store = store;
        _lease = lease;
        _logger = logger;
        _stop = new CancellationTokenSource();
        _guarded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _loop = RenewAsync();
    }

    /// <summary>Cancelled when the lease is lost or the caller's token is.</summary>
    public CancellationToken Token => _guarded.Token;

    /// <summary>True once a renewal found the lease taken or released; <see cref="Token"/> is cancelled by then.</summary>
    public bool Lost { get; private set; }

    private async Task RenewAsync()
    {
        var period = _lease.Duration / 3;
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(period, _stop.Token).ConfigureAwait(false);
                await _store.RenewLeaseAsync(_lease, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (LeaseLostException e)
            {
                Lost = true;
                _logger.LogWarning("Lease on {Path} lost: {Reason}", _lease.Path, e.Message);
                await _guarded.CancelAsync().ConfigureAwait(false);
                return;
            }
            catch (Exception e)
            {
                _logger.LogWarning(e, "Renewing the lease on {Path} failed; trying again", _lease.Path);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        if (!Lost)
        {
            try
            {
                await _store.ReleaseLeaseAsync(_lease, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                _logger.LogWarning(e, "Could not give up the lease on {Path}; it lapses by itself", _lease.Path);
            }
        }
        _stop.Dispose();
        _guarded.Dispose();
    }
}
