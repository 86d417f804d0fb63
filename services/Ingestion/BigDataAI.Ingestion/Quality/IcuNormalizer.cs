using System.Runtime.InteropServices;

namespace BigDataAI.Ingestion.Quality;

/// <summary>
/// Unicode NFC through the host's ICU library (libicuuc), called directly: the platform runs with
/// InvariantGlobalization, under which .NET's <see cref="string.Normalize()"/> does not compose (measured: "e" + U+0301
/// stays two code points). ICU's C functions carry the library's major version as a suffix (unorm2_normalize_72), so
/// the library is found by name and the suffix by trying the versions .NET itself supports (50-99). Null when the host
/// has no ICU: then normalize_text refuses to run rather than skip NFC silently.
/// </summary>
internal static class IcuNormalizer
{
    private const int BufferOverflow = 15;

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate IntPtr GetInstance(ref int error);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int Normalize(IntPtr normalizer, IntPtr source, int length, IntPtr destination, int capacity, ref int error);

    private static readonly Lazy<(IntPtr Instance, Normalize Normalize)?> Icu = new(Load);

    public static bool IsAvailable => Icu.Value is not null;

    /// <summary>The NFC form of <paramref name="text"/>; throws <see cref="InvalidOperationException"/> without ICU.</summary>
    public static string Nfc(string text)
    {
        var (instance, normalize) = Icu.Value ?? throw new InvalidOperationException("Unicode NFC needs ICU (libicuuc) on the host, and none was found.");
        if (text.Length == 0 || text.All(c => c < 0x300))
        {
            return text; // nothing below U+0300 composes with a preceding character
        }
        var source = GCHandle.Alloc(text.ToCharArray(), GCHandleType.Pinned);
        try
        {
            var capacity = text.Length + 16;
            while (true)
            {
                var buffer = new char[capacity];
                var target = GCHandle.Alloc(buffer, GCHandleType.Pinned);
                try
                {
                    var error = 0;
                    var length = normalize(instance, source.AddrOfPinnedObject(), text.Length, target.AddrOfPinnedObject(), capacity, ref error);
                    if (error == BufferOverflow)
                    {
                        capacity = length + 16;
                        continue;
                    }
                    if (error > 0)
                    {
                        throw new InvalidOperationException($"ICU's unorm2_normalize failed with error {error}.");
                    }
                    return new string(buffer, 0, length);
                }
                finally
                {
                    target.Free();
                }
            }
        }
        finally
        {
            source.Free();
        }
    }

    private static (IntPtr, Normalize)? Load()
    {
        IntPtr library = 0;
        foreach (var name in new[] { "libicuuc.so" }.Concat(Enumerable.Range(50, 50).Reverse().Select(v => $"libicuuc.so.{v}")).Append("libicuuc.dylib"))
        {
            if (NativeLibrary.TryLoad(name, out library))
            {
                break;
            }
        }
        if (library == 0)
        {
            return null;
        }
        foreach (var suffix in new[] { "" }.Concat(Enumerable.Range(50, 50).Reverse().Select(v => $"_{v}")))
        {
            if (NativeLibrary.TryGetExport(library, "unorm2_getNFCInstance" + suffix, out var get)
                && NativeLibrary.TryGetExport(library, "unorm2_normalize" + suffix, out var normalize))
            {
                var error = 0;
                var instance = Marshal.GetDelegateForFunctionPointer<GetInstance>(get)(ref error);
                return error > 0 || instance == 0 ? null : (instance, Marshal.GetDelegateForFunctionPointer<Normalize>(normalize));
            }
        }
        return null;
    }
}
