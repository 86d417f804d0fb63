using System.Runtime.CompilerServices;
using Azure;
using Azure.Storage;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;

namespace BigDataAI.Storage;

/// <summary>
/// Objects as block blobs in one container. A blob upload is committed in one step, so readers never
/// see part of an object; create-only writes use If-None-Match: * and lose cleanly to a concurrent writer.
/// </summary>
public sealed class AzureBlobObjectStore : IObjectStore
{
    /// <summary>
    /// Objects above 4 MiB go up as 4 MiB blocks committed in one step (still all or nothing), so that each request fits
    /// within <c>Storage:NetworkTimeout</c> on a slow link; the SDK's default sends up to 256 MB in one request.
    /// </summary>
    private static readonly StorageTransferOptions Transfer = new()
    {
        InitialTransferSize = 4 << 20,
        MaximumTransferSize = 4 << 20,
        MaximumConcurrency = 2,
    };

    private readonly BlobContainerClient _container;
    private Lazy<Task> _ensureContainer;

    public AzureBlobObjectStore(BlobContainerClient container)
    {
        _container = container;
        _ensureContainer = NewEnsure();
    }

    // A failed creation (storage unreachable at the first call) is not cached: the next call tries again.
    private Lazy<Task> NewEnsure() => new(async () =>
    {
        try
        {
            await _container.CreateIfNotExistsAsync().ConfigureAwait(false);
        }
        catch
        {
            _ensureContainer = NewEnsure();
            throw;
        }
    });

    public string Location => _container.Uri.ToString();

    public async Task<bool> TryCreateAsync(string path, Stream content, CancellationToken cancellationToken = default)
    {
        await _ensureContainer.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await _container.GetBlobClient(ObjectPath.Validate(path)).UploadAsync(
                content,
                new BlobUploadOptions { Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All }, TransferOptions = Transfer },
                cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (RequestFailedException e) when (e.Status is 409 or 412)
        {
            return false;
        }
    }

    public Task PutAsync(string path, Stream content, CancellationToken cancellationToken = default) =>
        PutCoreAsync(path, content, lease: null, cancellationToken);

    public Task PutAsync(string path, Stream content, ObjectLease lease, CancellationToken cancellationToken = default) =>
        PutCoreAsync(path, content, lease ?? throw new ArgumentNullException(nameof(lease)), cancellationToken);

    /// <summary>Overwrites the blob; with <paramref name="lease"/>, only while that lease is the blob's (the service checks).</summary>
    private async Task PutCoreAsync(string path, Stream content, ObjectLease? lease, CancellationToken cancellationToken)
    {
        await _ensureContainer.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await _container.GetBlobClient(ObjectPath.Validate(path)).UploadAsync(
                content,
                new BlobUploadOptions { Conditions = lease is null ? null : new BlobRequestConditions { LeaseId = lease.Id }, TransferOptions = Transfer },
                cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException e) when (lease is null && e.Status == 412)
        {
            throw new ObjectLeasedException($"'{path}' is leased by another holder; it can be replaced only with that lease.", e);
        }
        catch (RequestFailedException e) when (lease is not null && e.Status is 409 or 412)
        {
            throw new LeaseLostException($"The lease on '{path}' is no longer ours ({e.ErrorCode}).", e);
        }
    }

    public async Task<ObjectLease?> TryAcquireLeaseAsync(string path, TimeSpan duration, CancellationToken cancellationToken = default)
    {
        if (duration < ObjectLease.MinimumAzureDuration || duration > ObjectLease.MaximumAzureDuration)
        {
            throw new ArgumentOutOfRangeException(nameof(duration), duration, $"Azure Blob Storage leases last 15 to 60 s; {duration.TotalSeconds} s was asked for '{path}'.");
        }
        await _ensureContainer.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
        var leases = _container.GetBlobClient(ObjectPath.Validate(path)).GetBlobLeaseClient(Guid.NewGuid().ToString());
        try
        {
            var lease = await leases.AcquireAsync(duration, cancellationToken: cancellationToken).ConfigureAwait(false);
            return new ObjectLease(path, lease.Value.LeaseId, duration);
        }
        catch (RequestFailedException e) when (e.Status == 409)
        {
            return null;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            throw new FileNotFoundException($"There is no object at '{path}' to lease.", path, e);
        }
    }

    public async Task RenewLeaseAsync(ObjectLease lease, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(lease);
        await _ensureContainer.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await _container.GetBlobClient(ObjectPath.Validate(lease.Path)).GetBlobLeaseClient(lease.Id).RenewAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException e) when (e.Status is 404 or 409 or 412)
        {
            throw new LeaseLostException($"The lease on '{lease.Path}' is no longer ours ({e.ErrorCode}).", e);
        }
    }

    public async Task ReleaseLeaseAsync(ObjectLease lease, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(lease);
        await _ensureContainer.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await _container.GetBlobClient(ObjectPath.Validate(lease.Path)).GetBlobLeaseClient(lease.Id).ReleaseAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException e) when (e.Status is 404 or 409 or 412)
        {
            // Already lost or gone: nothing to give up.
        }
    }

    public async Task<Stream?> OpenReadAsync(string path, CancellationToken cancellationToken = default)
    {
        await _ensureContainer.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var result = await _container.GetBlobClient(ObjectPath.Validate(path)).DownloadStreamingAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            return result.Value.Content;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
    }

    public async IAsyncEnumerable<string> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await _ensureContainer.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
        await foreach (var item in _container.GetBlobsAsync(BlobTraits.None, BlobStates.None, prefix, cancellationToken).ConfigureAwait(false))
        {
            yield return item.Name;
        }
    }

    public async Task<bool> ExistsAsync(string path, CancellationToken cancellationToken = default)
    {
        await _ensureContainer.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
        return await _container.GetBlobClient(ObjectPath.Validate(path)).ExistsAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task DeleteAsync(string path, CancellationToken cancellationToken = default)
    {
        await _ensureContainer.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await _container.GetBlobClient(ObjectPath.Validate(path)).DeleteIfExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException e) when (e.Status == 412)
        {
            throw new ObjectLeasedException($"'{path}' is leased by another holder; it cannot be deleted now.", e);
        }
    }
}
