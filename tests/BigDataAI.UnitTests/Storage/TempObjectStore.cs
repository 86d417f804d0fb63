using BigDataAI.Storage;

namespace BigDataAI.UnitTests.Storage;

/// <summary>A <see cref="FileSystemObjectStore"/> on a fresh temporary folder, deleted on dispose.</summary>
internal sealed class TempObjectStore : IDisposable
{
    public TempObjectStore()
    {
        Root = Path.Combine(Path.GetTempPath(), "bigdataai-unit-" + Guid.NewGuid().ToString("N"));
        Store = new FileSystemObjectStore(Root);
    }

    public string Root { get; }

    public FileSystemObjectStore Store { get; }

    /// <summary>The file behind an object path, for tests that damage storage behind the store's back.</summary>
    public string FileOf(string objectPath) => Path.Combine(Root, objectPath);

    public void Dispose()
    {
        if (Directory.Exists(Root))
        {
            Directory.Delete(Root, recursive: true);
        }
    }
}
