namespace BigDataAI.Storage;

/// <summary>
/// A flat namespace of immutable-by-convention objects addressed by '/'-separated paths.
/// Every write is all-or-nothing: a reader sees the whole object or no object.
/// </summary>
public interface IObjectStore
{
    /// <summary>Where this store lives, for logs and messages (a folder or a container URI).</summary>
    string Location { get; }

    /// <summary>Writes <paramref name="content"/> at <paramref name="path"/> unless an object is there already.</summary>
    /// <returns><c>false</c> when the path was taken (by anyone, including a concurrent writer).</returns>
    Task<bool> TryCreateAsync(string path, Stream content, CancellationToken cancellationToken = default);

    /// <summary>Writes or replaces the object at <paramref name="path"/>. Throws <see cref="ObjectLeasedException"/> while someone holds a lease on it.</summary>
    Task PutAsync(string path, Stream content, CancellationToken cancellationToken = default);

    /// <summary>Opens the object for reading, or returns <c>null</c> when there is none.</summary>
    Task<Stream?> OpenReadAsync(string path, CancellationToken cancellationToken = default);

    /// <summary>Paths of the objects under <paramref name="prefix"/>, in ordinal order.</summary>
    IAsyncEnumerable<string> ListAsync(string prefix, CancellationToken cancellationToken = default);

    Task<bool> ExistsAsync(string path, CancellationToken cancellationToken = default);

    /// <summary>Deletes the object (quietly when there is none). Throws <see cref="ObjectLeasedException"/> while someone holds a lease on it.</summary>
    Task DeleteAsync(string path, CancellationToken cancellationToken = default);

    /// <summary>
    /// Takes a lease on the existing object at <paramref name="path"/> for <paramref name="duration"/> (Azure allows 15 to
    /// 60 s). Returns <c>null</c> when someone else holds an active lease on it.
    /// </summary>
    /// <exception cref="FileNotFoundException">There is no object at <paramref name="path"/>.</exception>
    Task<ObjectLease?> TryAcquireLeaseAsync(string path, TimeSpan duration, CancellationToken cancellationToken = default);

    /// <summary>Extends <paramref name="lease"/> by its duration. Throws <see cref="LeaseLostException"/> when it is no longer ours.</summary>
    Task RenewLeaseAsync(ObjectLease lease, CancellationToken cancellationToken = default);

    /// <summary>Gives <paramref name="lease"/> up so another can take one at once. Quiet when it was already lost.</summary>
    Task ReleaseLeaseAsync(ObjectLease lease, CancellationToken cancellationToken = default);

    /// <summary>
    /// Replaces the object at <paramref name="path"/> while holding <paramref name="lease"/> on it. Throws
    /// <see cref="LeaseLostException"/> when the object's lease is someone else's now.
    /// </summary>
    Task PutAsync(string path, Stream content, ObjectLease lease, CancellationToken cancellationToken = default);
}
