using BigDataAI.Storage;

namespace BigDataAI.UnitTests.Storage;

/// <summary>
/// A real store with a hook that runs before each create-only write, so a test can let "another writer" act at
/// exactly the moment a race would matter. Everything else passes straight through.
/// </summary>
internal sealed class InterceptingObjectStore(IObjectStore inner) : IObjectStore
{
    /// <summary>Runs before <see cref="TryCreateAsync"/> with the path about to be created.</summary>
    public Func<string, Task>? BeforeTryCreate { get; set; }

    public string Location => inner.Location;

    public async Task<bool> TryCreateAsync(string path, Stream content, CancellationToken cancellationToken = default)
    {
        if (BeforeTryCreate is { } hook)
        {
            await hook(path);
        }
        return await inner.TryCreateAsync(path, content, cancellationToken);
    }

    /// <summary>Runs before <see cref="PutAsync"/>; throwing from it stands for a failed write (storage unreachable).</summary>
    public Func<string, Task>? BeforePut { get; set; }

    public async Task PutAsync(string path, Stream content, CancellationToken cancellationToken = default)
    {
        if (BeforePut is { } hook)
        {
            await hook(path);
        }
        await inner.PutAsync(path, content, cancellationToken);
    }

    public Task<Stream?> OpenReadAsync(string path, CancellationToken cancellationToken = default) => inner.OpenReadAsync(path, cancellationToken);

    public IAsyncEnumerable<string> ListAsync(string prefix, CancellationToken cancellationToken = default) => inner.ListAsync(prefix, cancellationToken);

    public Task<bool> ExistsAsync(string path, CancellationToken cancellationToken = default) => inner.ExistsAsync(path, cancellationToken);

    public Task DeleteAsync(string path, CancellationToken cancellationToken = default) => inner.DeleteAsync(path, cancellationToken);

    public Task PutAsync(string path, Stream content, ObjectLease lease, CancellationToken cancellationToken = default) => inner.PutAsync(path, content, lease, cancellationToken);

    public Task<ObjectLease?> TryAcquireLeaseAsync(string path, TimeSpan duration, CancellationToken cancellationToken = default) => inner.TryAcquireLeaseAsync(path, duration, cancellationToken);

    public Task RenewLeaseAsync(ObjectLease lease, CancellationToken cancellationToken = default) => inner.RenewLeaseAsync(lease, cancellationToken);

    public Task ReleaseLeaseAsync(ObjectLease lease, CancellationToken cancellationToken = default) => inner.ReleaseLeaseAsync(lease, cancellationToken);
}
