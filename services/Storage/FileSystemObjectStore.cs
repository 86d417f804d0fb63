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
    private const string LeasePrefix = ".lease-";
    private static readonly TimeSpan LockWait = TimeSpan.FromSeconds(10);
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

    public Task PutAsync(string path, Stream content, CancellationToken cancellationToken = default) =>
        PutCoreAsync(path, content, lease: null, cancellationToken);

    public Task PutAsync(string path, Stream content, ObjectLease lease, CancellationToken cancellationToken = default) =>
        PutCoreAsync(path, content, lease ?? throw new ArgumentNullException(nameof(lease)), cancellationToken);

    /// <summary>
    /// Writes a temporary file, then moves it into place: at once when the object was never leased, else while holding
    /// the lease file's lock, and only if nobody else's lease is active (<paramref name="lease"/> null) or the active one
    /// is <paramref name="lease"/>.
    /// </summary>
    private async Task PutCoreAsync(string path, Stream content, ObjectLease? lease, CancellationToken cancellationToken)
    {
        var target = Resolve(path);
        var temp = await WriteTempAsync(target, content, cancellationToken).ConfigureAwait(false);
        try
        {
            if (lease is null && !File.Exists(LeaseFile(target)))
            {
                File.Move(temp, target, overwrite: true);
                return;
            }
            await WithLeaseStateAsync(target, state =>
            {
                if (lease is not null && state.Id != lease.Id)
                {
                    throw new LeaseLostException($"The lease on '{path}' is no longer ours.");
                }
                if (lease is null && state.IsActive)
                {
                    throw new ObjectLeasedException($"'{path}' is leased by another holder; it can be replaced only with that lease.");
                }
                File.Move(temp, target, overwrite: true);
                return state;
            }, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            File.Delete(temp); // a no-op once moved
        }
    }

    /// <summary>
    /// Leases live in a hidden sidecar file next to the object (<c>.lease-name</c>: id and expiry), read and changed only
    /// while holding an exclusive lock on that file (flock(2) through FileShare.None), so processes sharing the folder agree.
    /// Any positive duration is accepted here (Azure: 15 to 60 s).
    /// </summary>
    public async Task<ObjectLease?> TryAcquireLeaseAsync(string path, TimeSpan duration, CancellationToken cancellationToken = default)
    {
        if (duration <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(duration), duration, $"A lease on '{path}' must last a positive time.");
        }
        var target = Resolve(path);
        if (!File.Exists(target))
        {
            throw new FileNotFoundException($"There is no object at '{path}' to lease.", path);
        }
        ObjectLease? acquired = null;
        await WithLeaseStateAsync(target, state =>
        {
            if (state.IsActive)
            {
                return state;
            }
            acquired = new ObjectLease(path, Guid.NewGuid().ToString(), duration);
            return new LeaseState(acquired.Id, DateTimeOffset.UtcNow + duration);
        }, cancellationToken).ConfigureAwait(false);
        return acquired;
    }

    public Task RenewLeaseAsync(ObjectLease lease, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(lease);
        return WithLeaseStateAsync(Resolve(lease.Path), state => state.Id == lease.Id
            ? state with { Expires = DateTimeOffset.UtcNow + lease.Duration }
            : throw new LeaseLostException($"The lease on '{lease.Path}' is no longer ours."), cancellationToken);
    }

    public Task ReleaseLeaseAsync(ObjectLease lease, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(lease);
        return WithLeaseStateAsync(Resolve(lease.Path), state => state.Id == lease.Id ? LeaseState.None : state, cancellationToken);
    }

    private static string LeaseFile(string target) => Path.Combine(Path.GetDirectoryName(target)!, LeasePrefix + Path.GetFileName(target));

    private static async Task WithLeaseStateAsync(string target, Func<LeaseState, LeaseState> change, CancellationToken cancellationToken)
    {
        var file = LeaseFile(target);
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        var waited = System.Diagnostics.Stopwatch.StartNew();
        FileStream stream;
        while (true)
        {
            try
            {
                stream = new FileStream(file, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
                break;
            }
            catch (IOException) when (waited.Elapsed < LockWait)
            {
                // Another process or thread holds the lock for the few microseconds of its change.
                await Task.Delay(2, cancellationToken).ConfigureAwait(false);
            }
        }
        await using (stream.ConfigureAwait(false))
        {
            var text = await new StreamReader(stream, leaveOpen: true).ReadToEndAsync(cancellationToken).ConfigureAwait(false);
            var state = LeaseState.Parse(text);
            var updated = change(state);
            if (updated != state)
            {
                stream.SetLength(0);
                stream.Position = 0;
                await using var writer = new StreamWriter(stream, leaveOpen: true);
                await writer.WriteAsync(updated.ToString()).ConfigureAwait(false);
            }
        }
    }

    private sealed record LeaseState(string? Id, DateTimeOffset Expires)
    {
        public static readonly LeaseState None = new(null, DateTimeOffset.MinValue);

        public bool IsActive => Id is not null && Expires > DateTimeOffset.UtcNow;

        public static LeaseState Parse(string text)
        {
            var parts = text.Split(' ', 2);
            return parts.Length == 2 && long.TryParse(parts[1], System.Globalization.CultureInfo.InvariantCulture, out var ticks)
                ? new LeaseState(parts[0], new DateTimeOffset(ticks, TimeSpan.Zero))
                : None;
        }

        public override string ToString() => Id is null ? "" : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{Id} {Expires.UtcTicks}");
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
            .Where(p => p.StartsWith(prefix, StringComparison.Ordinal) && !IsHidden(Path.GetFileName(p)))
            .Order(StringComparer.Ordinal);
        foreach (var p in paths)
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return p;
        }
    }

    public Task<bool> ExistsAsync(string path, CancellationToken cancellationToken = default) =>
        Task.FromResult(File.Exists(Resolve(path)));

    public async Task DeleteAsync(string path, CancellationToken cancellationToken = default)
    {
        var target = Resolve(path);
        if (!File.Exists(LeaseFile(target)))
        {
            File.Delete(target);
            return;
        }
        await WithLeaseStateAsync(target, state =>
        {
            if (state.IsActive)
            {
                throw new ObjectLeasedException($"'{path}' is leased by another holder; it cannot be deleted now.");
            }
            File.Delete(target);
            return state;
        }, cancellationToken).ConfigureAwait(false);
    }

    private static bool IsHidden(string name) => name.StartsWith(TempPrefix, StringComparison.Ordinal) || name.StartsWith(LeasePrefix, StringComparison.Ordinal);

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
