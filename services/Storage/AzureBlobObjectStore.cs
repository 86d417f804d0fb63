using System.Runtime.CompilerServices;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;

namespace BigDataAI.Storage;

/// <summary>
/// Objects as block blobs in one container. A blob upload is committed in one step, so readers never
/// see part of an object; create-only writes use If-None-Match: * and lose cleanly to a concurrent writer.
/// </summary>
public sealed class AzureBlobObjectStore : IObjectStore
{
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
        await _ensureContainer.Value.ConfigureAwait(false);
        try
        {
            await _container.GetBlobClient(ObjectPath.Validate(path)).UploadAsync(
                content,
                new BlobUploadOptions { Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All } },
                cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (RequestFailedException e) when (e.Status is 409 or 412)
        {
            return false;
        }
    }

    public async Task PutAsync(string path, Stream content, CancellationToken cancellationToken = default)
    {
        await _ensureContainer.Value.ConfigureAwait(false);
        await _container.GetBlobClient(ObjectPath.Validate(path)).UploadAsync(content, overwrite: true, cancellationToken).ConfigureAwait(false);
    }

    public async Task<Stream?> OpenReadAsync(string path, CancellationToken cancellationToken = default)
    {
        await _ensureContainer.Value.ConfigureAwait(false);
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
        await _ensureContainer.Value.ConfigureAwait(false);
        await foreach (var item in _container.GetBlobsAsync(BlobTraits.None, BlobStates.None, prefix, cancellationToken).ConfigureAwait(false))
        {
            yield return item.Name;
        }
    }

    public async Task<bool> ExistsAsync(string path, CancellationToken cancellationToken = default)
    {
        await _ensureContainer.Value.ConfigureAwait(false);
        return await _container.GetBlobClient(ObjectPath.Validate(path)).ExistsAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task DeleteAsync(string path, CancellationToken cancellationToken = default)
    {
        await _ensureContainer.Value.ConfigureAwait(false);
        await _container.GetBlobClient(ObjectPath.Validate(path)).DeleteIfExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
    }
}
