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

    /// <summary>Writes or replaces the object at <paramref name="path"/>.</summary>
    Task PutAsync(string path, Stream content, CancellationToken cancellationToken = default);

    /// <summary>Opens the object for reading, or returns <c>null</c> when there is none.</summary>
    Task<Stream?> OpenReadAsync(string path, CancellationToken cancellationToken = default);

    /// <summary>Paths of the objects under <paramref name="prefix"/>, in ordinal order.</summary>
    IAsyncEnumerable<string> ListAsync(string prefix, CancellationToken cancellationToken = default);

    Task<bool> ExistsAsync(string path, CancellationToken cancellationToken = default);

    Task DeleteAsync(string path, CancellationToken cancellationToken = default);
}
