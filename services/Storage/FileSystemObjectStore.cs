using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace BigDataAI.Storage;

/// <summary>
/// Objects as files under a root folder. Writes go to a hidden temporary file first and are then
/// moved into place, so a crash never leaves a half-written object at a visible path.
/// </summary>
public sealed class FileSystemObjectStore : IObjectStore
{
    private const string TempPrefix = ".tmp-";
    private readonly string _root;

    public FileSystemObjectStore(string root)
    {
        _root = Path.GetFullPath(root);
        Directory.CreateDirectory(_root);
    }

    public string Location => _root;

    public async Task<bool> TryCreateAsync(string path, Stream content, CancellationToken cancellationToken = default)
    {
        var target = Resolve(path);
        if (File.Exists(target))
        {
            return false;
        }
        var temp = await WriteTempAsync(target, content, cancellationToken).ConfigureAwait(false);
        try
        {
            return MoveIfAbsent(temp, target);
        }
        finally
        {
            File.Delete(temp); // a no-op after a successful Windows move
        }
    }

    /// <summary>
    /// Publishes <paramref name="temp"/> at <paramref name="target"/> unless something is there, atomically: of
    /// concurrent callers exactly one wins. On Unix that is link(2), which fails with EEXIST when the name is taken
    /// (File.Move without overwrite checks and then renames, and two racing moves could both "win"); on Windows
    /// MoveFileEx without REPLACE_EXISTING already is atomic.
    /// </summary>
    private static bool MoveIfAbsent(string temp, string target)
    {
        if (OperatingSystem.IsWindows())
        {
            try
            {
                File.Move(temp, target, overwrite: false);
                return true;
            }
            catch (IOException) when (File.Exists(target))
            {
                return false;
            }
        }
        if (link(temp, target) == 0)
        {
            return true;
        }
        var errno = Marshal.GetLastPInvokeError();
        if (errno == EEXIST)
        {
            return false;
        }
        throw new IOException($"Could not publish '{target}': link(2) failed with errno {errno} ({Marshal.GetPInvokeErrorMessage(errno)}).");
    }

    private const int EEXIST = 17; // Linux and macOS

#pragma warning disable SYSLIB1054 // LibraryImport would need unsafe code for this one call
    [DllImport("libc", SetLastError = true)]
    private static extern int link([MarshalAs(UnmanagedType.LPUTF8Str)] string oldPath, [MarshalAs(UnmanagedType.LPUTF8Str)] string newPath);
#pragma warning restore SYSLIB1054

    public async Task PutAsync(string path, Stream content, CancellationToken cancellationToken = default)
    {
        var target = Resolve(path);
        var temp = await WriteTempAsync(target, content, cancellationToken).ConfigureAwait(false);
        File.Move(temp, target, overwrite: true);
    }

    public Task<Stream?> OpenReadAsync(string path, CancellationToken cancellationToken = default)
    {
        var target = Resolve(path);
        try
        {
            return Task.FromResult<Stream?>(new FileStream(target, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1 << 16, useAsync: true));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return Task.FromResult<Stream?>(null);
        }
    }

    public async IAsyncEnumerable<string> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await Task.Yield();
        // The prefix may end inside a segment ("datasets/mn"), so walk from its folder part.
        var slash = prefix.LastIndexOf('/');
        var folder = slash < 0 ? _root : Path.GetFullPath(Path.Combine(_root, prefix[..slash]));
        if (!folder.StartsWith(_root, StringComparison.Ordinal))
        {
            throw new ArgumentException($"List prefix '{prefix}' points outside the store.", nameof(prefix));
        }
        if (!Directory.Exists(folder))
        {
            yield break;
        }
        var paths = Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(_root, f).Replace('\\', '/'))
            .Where(p => p.StartsWith(prefix, StringComparison.Ordinal) && !Path.GetFileName(p).StartsWith(TempPrefix, StringComparison.Ordinal))
            .Order(StringComparer.Ordinal);
        foreach (var p in paths)
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return p;
        }
    }

    public Task<bool> ExistsAsync(string path, CancellationToken cancellationToken = default) =>
        Task.FromResult(File.Exists(Resolve(path)));

    public Task DeleteAsync(string path, CancellationToken cancellationToken = default)
    {
        File.Delete(Resolve(path));
        return Task.CompletedTask;
    }

    private string Resolve(string path) => Path.Combine(_root, ObjectPath.Validate(path));

    private static async Task<string> WriteTempAsync(string target, Stream content, CancellationToken cancellationToken)
    {
        var folder = Path.GetDirectoryName(target)!;
        Directory.CreateDirectory(folder);
        var temp = Path.Combine(folder, TempPrefix + Guid.NewGuid().ToString("N"));
        try
        {
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
            {
                await content.CopyToAsync(file, cancellationToken).ConfigureAwait(false);
                await file.FlushAsync(cancellationToken).ConfigureAwait(false);
                file.Flush(flushToDisk: true);
            }
            return temp;
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }
}
