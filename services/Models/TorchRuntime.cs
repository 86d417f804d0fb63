using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using TorchSharp;

namespace BigDataAI.Models;

/// <summary>What <see cref="TorchRuntime.EnsureLoadable"/> had to do so that TorchSharp's native library loads.</summary>
public enum TorchRuntimeAction
{
    /// <summary>Nothing: not Linux, the host's libstdc++ provides <c>GLIBCXX_3.4.32</c>, or the library does not need it.</summary>
    NotNeeded,

    /// <summary>The copies of <c>libLibTorchSharp.so</c> in the application folder were already patched (by an earlier start).</summary>
    AlreadyPatched,

    /// <summary>This call marked <c>GLIBCXX_3.4.32</c> weak in at least one copy of <c>libLibTorchSharp.so</c> in the application folder.</summary>
    Patched,
}

/// <summary>Outcome of <see cref="TorchRuntime.EnsureLoadable"/>, for the host to log.</summary>
/// <param name="Action">What was done.</param>
/// <param name="Libraries">The <c>libLibTorchSharp.so</c> copies examined (empty when none had to be).</param>
/// <param name="LibStdCxx">The <c>libstdc++</c> whose version definitions were read, or null when none was found (or not Linux).</param>
/// <param name="Description">One sentence saying what was found and done, and torch's version and devices.</param>
public sealed record TorchRuntimeStatus(
    TorchRuntimeAction Action,
    IReadOnlyList<string> Libraries,
    string? LibStdCxx,
    string Description)
{
    // The generated ToString would print the list's type name (System.Collections.Generic.List`1[System.String]):
    // list its paths instead, as in "Libraries = [/app/libLibTorchSharp.so, /app/cpu/libLibTorchSharp.so]".
    private bool PrintMembers(System.Text.StringBuilder builder)
    {
        builder.Append($"Action = {Action}, Libraries = [{string.Join(", ", Libraries)}], LibStdCxx = {LibStdCxx}, Description = {Description}");
        return true;
    }
}

/// <summary>
/// Makes TorchSharp 0.107's native library load on hosts whose libstdc++ is older than GCC 13 (Debian 12, Ubuntu 22.04).
/// </summary>
/// <remarks>
/// <para><c>libLibTorchSharp.so</c> (TorchSharp 0.107.0) needs the symbol version <c>GLIBCXX_3.4.32</c> for exactly one
/// symbol, <c>std::ios_base_library_init()</c>, which GCC 13 references only to pin the library version; no relocation uses
/// it. Debian 12's libstdc++ stops at <c>GLIBCXX_3.4.30</c>, so the loader refuses the library. When (and only when) the
/// libstdc++ this process uses lacks that version, this marks the need weak (<c>VER_FLG_WEAK</c> in the
/// <c>Elf64_Vernaux</c> of <c>.gnu.version_r</c>) in the copies of the library in the application folder, written to a
/// temporary file and renamed over the original. The NuGet package cache is never modified.</para>
/// <para>Call it before any other use of TorchSharp: TorchSharp's <c>torch</c> class loads its native library in its static
/// constructor, and a failed load there cannot be retried in the same process. Everything in this library
/// (<see cref="ModelFactory"/>, <see cref="Trainer"/>, <see cref="Evaluator"/>, <see cref="Predictor"/>) calls it
/// first; a host calls it at start-up to log the outcome and fail fast.</para>
/// </remarks>
public static class TorchRuntime
{
    /// <summary>The symbol version the TorchSharp 0.107 native library needs and Debian 12 lacks.</summary>
    public const string RequiredLibStdCxxVersion = "GLIBCXX_3.4.32";

    private const string LibraryFileName = "libLibTorchSharp.so";
    private static readonly Lock Gate = new();
    private static TorchRuntimeStatus? _status;
    private static InvalidOperationException? _torchFailure;

    /// <summary>
    /// Ensures TorchSharp's native library loads and torch works (a tiny tensor operation is run). Idempotent and
    /// thread-safe: the first call does the work (reading two files of a few MB, rarely writing one), later calls
    /// return the same status at once. Logs nothing.
    /// </summary>
    /// <returns>What was done, with a sentence for the host's log.</returns>
    /// <exception cref="InvalidOperationException">
    /// The library must be patched but cannot be (not found, in the NuGet cache, folder not writable), or torch failed to
    /// initialise; the message says what is wrong and how to fix it. A patching failure may be retried after fixing its
    /// cause; a torch initialisation failure is final for the process.
    /// </exception>
    public static TorchRuntimeStatus EnsureLoadable()
    {
        if (Volatile.Read(ref _status) is { } done)
        {
            return done;
        }
        lock (Gate)
        {
            if (_status is not null)
            {
                return _status;
            }
            if (_torchFailure is not null)
            {
                throw new InvalidOperationException(_torchFailure.Message, _torchFailure);
            }
            var (action, libraries, libStdCxx, what) = PatchIfNeeded();
            var native = NativeTuning.Apply();
            var torchState = InitialiseTorch(libraries);
            var status = new TorchRuntimeStatus(action, libraries, libStdCxx, $"{what} {torchState} {native}.");
            Volatile.Write(ref _status, status);
            return status;
        }
    }

    private static (TorchRuntimeAction, IReadOnlyList<string>, string?, string) PatchIfNeeded()
    {
        if (!OperatingSystem.IsLinux())
        {
            return (TorchRuntimeAction.NotNeeded, [], null, "Not Linux: no native library patch needed.");
        }

        var libStdCxx = FindLoadedLibStdCxx();
        if (libStdCxx is not null && ElfVersionDefinitions.Contains(File.ReadAllBytes(libStdCxx), RequiredLibStdCxxVersion))
        {
            return (TorchRuntimeAction.NotNeeded, [], libStdCxx,
                $"{libStdCxx} provides {RequiredLibStdCxxVersion}: no native library patch needed.");
        }
        var lacking = libStdCxx is null
            ? "No libstdc++.so.6 was found in this process or the usual library folders"
            : $"{libStdCxx} lacks {RequiredLibStdCxxVersion}";

        var (candidates, searched) = FindLibraryCopies();
        if (candidates.Count == 0)
        {
            throw new InvalidOperationException(
                $"{lacking}, so TorchSharp's {LibraryFileName} must be patched, but no copy of it was found in {string.Join(", ", searched)}. " +
                $"Reference the packages TorchSharp and libtorch-cpu-linux-x64 from the host project (the one that is run), so that the build " +
                $"copies the native libraries into its output, or run on a host with GCC 13+ runtime libraries (Debian 13, Ubuntu 24.04).");
        }

        var patched = new List<string>();
        var alreadyWeak = new List<string>();
        foreach (var path in candidates)
        {
            var outcome = PatchFile(path, lacking);
            if (outcome == TorchRuntimeAction.Patched)
            {
                patched.Add(path);
            }
            else if (outcome == TorchRuntimeAction.AlreadyPatched)
            {
                alreadyWeak.Add(path);
            }
        }

        if (patched.Count > 0)
        {
            return (TorchRuntimeAction.Patched, candidates, libStdCxx,
                $"{lacking}: marked it weak in {string.Join(", ", patched)}" +
                (alreadyWeak.Count > 0 ? $" (already weak in {string.Join(", ", alreadyWeak)})." : "."));
        }
        if (alreadyWeak.Count > 0)
        {
            return (TorchRuntimeAction.AlreadyPatched, candidates, libStdCxx,
                $"{lacking}: it is already marked weak in {string.Join(", ", alreadyWeak)}.");
        }
        return (TorchRuntimeAction.NotNeeded, candidates, libStdCxx,
            $"{lacking}, but {string.Join(", ", candidates)} does not need it: no patch needed.");
    }

    /// <summary>
    /// Marks <see cref="RequiredLibStdCxxVersion"/> weak in the library at <paramref name="path"/>, by writing a patched
    /// copy beside it and renaming it over the original. Refuses files inside an extracted NuGet package.
    /// </summary>
    /// <param name="path">A copy of libLibTorchSharp.so.</param>
    /// <param name="why">Start of the error message: why the patch is needed.</param>
    /// <returns><see cref="TorchRuntimeAction.Patched"/>, <see cref="TorchRuntimeAction.AlreadyPatched"/>, or
    /// <see cref="TorchRuntimeAction.NotNeeded"/> when the file does not need the version.</returns>
    /// <exception cref="InvalidOperationException">The file is in the NuGet cache or cannot be replaced; the message says how to fix it.</exception>
    [SupportedOSPlatform("linux")]
    internal static TorchRuntimeAction PatchFile(string path, string why)
    {
        var bytes = File.ReadAllBytes(path);
        var need = ElfVersionNeeds.Find(bytes, RequiredLibStdCxxVersion);
        if (need is null)
        {
            return TorchRuntimeAction.NotNeeded;
        }
        if (need.IsWeak)
        {
            return TorchRuntimeAction.AlreadyPatched;
        }
        if (IsInPackageCache(path))
        {
            throw new InvalidOperationException(
                $"{why}, so TorchSharp's {LibraryFileName} must be patched, but the copy this process would load, {path}, is in the NuGet " +
                $"package cache, which is never modified. Run the application from its build or publish output, where the native libraries " +
                $"are copied (the default for executables and test projects; check that CopyLocalLockFileAssemblies is not false).");
        }
        ElfVersionNeeds.SetWeak(bytes, RequiredLibStdCxxVersion);
        ReplaceAtomically(path, bytes, why);
        return TorchRuntimeAction.Patched;
    }

    /// <summary>
    /// The libstdc++ the dynamic loader will bind libLibTorchSharp.so to: the one already mapped into this process (the
    /// .NET host itself links libstdc++.so.6, and the loader reuses a loaded soname), else the first in the usual folders.
    /// </summary>
    private static string? FindLoadedLibStdCxx()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/maps"))
            {
                var slash = line.IndexOf('/');
                if (slash < 0)
                {
                    continue;
                }
                var path = line[slash..];
                if (Path.GetFileName(path).StartsWith("libstdc++.so", StringComparison.Ordinal) && File.Exists(path))
                {
                    return path;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // No readable /proc: fall back to the usual folders.
        }

        var triplet = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? "aarch64-linux-gnu" : "x86_64-linux-gnu";
        var folders = (Environment.GetEnvironmentVariable("LD_LIBRARY_PATH") ?? "")
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Concat([$"/lib/{triplet}", $"/usr/lib/{triplet}", "/lib64", "/usr/lib64", "/lib", "/usr/lib"]);
        return folders.Select(f => Path.Combine(f, "libstdc++.so.6")).FirstOrDefault(File.Exists);
    }

    /// <summary>
    /// The copies of libLibTorchSharp.so that TorchSharp may load: those in the runtime's native search folders (from the
    /// application's deps.json: the output root and/or runtimes/linux-x64/native/), beside TorchSharp.dll, and in the
    /// "cpu" folder TorchSharp's own fallback loader fills.
    /// </summary>
    private static (List<string> Found, List<string> Searched) FindLibraryCopies()
    {
        var folders = new List<string>();
        if (AppContext.GetData("NATIVE_DLL_SEARCH_DIRECTORIES") is string searchDirectories)
        {
            folders.AddRange(searchDirectories.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries));
        }
        var torchSharpFolder = Path.GetDirectoryName(typeof(torch).Assembly.Location);
        foreach (var root in new[] { torchSharpFolder, AppContext.BaseDirectory })
        {
            if (!string.IsNullOrEmpty(root))
            {
                folders.Add(root);
                folders.Add(Path.Combine(root, "runtimes", "linux-x64", "native"));
                folders.Add(Path.Combine(root, "cpu"));
            }
        }

        var searched = folders.Select(f => Path.TrimEndingDirectorySeparator(Path.GetFullPath(f))).Distinct(StringComparer.Ordinal).ToList();
        var found = searched.Select(f => Path.Combine(f, LibraryFileName)).Where(File.Exists).ToList();
        return (found, searched);
    }

    /// <summary>True when <paramref name="path"/> lies in an extracted NuGet package (…/id/version/runtimes/rid/native/).</summary>
    private static bool IsInPackageCache(string path)
    {
        var packageVersionFolder = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, "..", "..", ".."));
        return Directory.Exists(packageVersionFolder)
            && (File.Exists(Path.Combine(packageVersionFolder, ".nupkg.metadata"))
                || Directory.EnumerateFiles(packageVersionFolder, "*.nupkg.sha512").Any());
    }

    [SupportedOSPlatform("linux")]
    private static void ReplaceAtomically(string path, byte[] bytes, string lacking)
    {
        var folder = Path.GetDirectoryName(path)!;
        var temp = Path.Combine(folder, $".{LibraryFileName}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }
            File.SetUnixFileMode(temp, File.GetUnixFileMode(path));
            File.Move(temp, path, overwrite: true); // rename(2): readers see the old or the new file, never a mix
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(temp);
            throw new InvalidOperationException(
                $"{lacking}, so TorchSharp's {path} must be patched (one bit: {RequiredLibStdCxxVersion} marked weak), but writing it failed: " +
                $"{e.Message} Make the folder {folder} writable by this process for its first start (the patch persists), run the " +
                $"application once at image build time, or run on a host with GCC 13+ runtime libraries (Debian 13, Ubuntu 24.04, the " +
                $".NET 10 container images), whose libstdc++ provides {RequiredLibStdCxxVersion}.", e);
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: a stray temporary file is harmless.
        }
    }

    private static string InitialiseTorch(IReadOnlyList<string> libraries)
    {
        try
        {
            using var ones = torch.ones(2);
            using var sum = ones.sum();
            var value = sum.item<float>();
            if (value != 2f)
            {
                throw new InvalidOperationException($"torch computed 1 + 1 = {value}.");
            }
            return $"torch {torch.__version__} ready (CUDA available: {(torch.cuda.is_available() ? "yes" : "no")}).";
        }
        catch (Exception e) when (e is TypeInitializationException or DllNotFoundException or NotSupportedException
                                      or EntryPointNotFoundException or BadImageFormatException or InvalidOperationException)
        {
            var loaderMessage = libraries.Count > 0 ? LoaderError(libraries[0]) : null;
            _torchFailure = new InvalidOperationException(
                "TorchSharp failed to initialise its native library" +
                (loaderMessage is null ? "" : $"; the dynamic loader says: {loaderMessage}") +
                $". TorchSharp said: {Innermost(e).Message.Split('\n')[0]} Check that the host project (the one that is run) references " +
                "TorchSharp and libtorch-cpu-linux-x64 so that libtorch_cpu.so and libLibTorchSharp.so are in its output, and that " +
                $"{nameof(TorchRuntime)}.{nameof(EnsureLoadable)}() runs before any other use of TorchSharp (a failed load cannot be retried in-process).",
                e);
            throw _torchFailure;
        }
    }

    /// <summary>The dynamic loader's own error for <paramref name="path"/>, or null when it loads.</summary>
    private static string? LoaderError(string path)
    {
        try
        {
            NativeLibrary.Free(NativeLibrary.Load(path));
            return null;
        }
        catch (DllNotFoundException e)
        {
            return e.Message;
        }
    }

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is not null)
        {
            e = e.InnerException;
        }
        return e;
    }
}
