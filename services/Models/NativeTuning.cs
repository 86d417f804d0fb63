using System.Runtime.InteropServices;

namespace BigDataAI.Models;

/// <summary>
/// Process-wide native settings applied once, before libtorch loads: glibc's malloc thresholds and OpenMP's wait
/// policy. Both were measured on this project's 2-core machine (see docs/benchmarks.md).
/// </summary>
/// <remarks>
/// <para>
/// <b>malloc.</b> libtorch's CPU allocator uses malloc. By default glibc serves blocks of a few MB with mmap and returns
/// them with munmap, and trims the heap once 128 KB are free at its top. A CNN batch allocates and frees several such
/// blocks per step, so every step paid for fresh pages: 15-30 % system time, and throughput that swung by a factor of
/// two between identical runs. Raising both thresholds keeps the memory for reuse. Setting them explicitly also stops
/// glibc from adjusting them itself, so behaviour no longer depends on what ran before.
/// </para>
/// <para>
/// <b>OpenMP.</b> libtorch's intra-op threads (GNU OpenMP) spin-wait between parallel regions by default. In a service
/// host, the threads of an earlier team keep spinning beside the training thread's team and steal its cores. A passive
/// wait policy made the platform's throughput match a bare loop's from run to run. A value the user already set is
/// kept.
/// </para>
/// </remarks>
internal static class NativeTuning
{
    private const int TrimThreshold = -1; // M_TRIM_THRESHOLD
    private const int TopPad = -2; // M_TOP_PAD
    private const int MmapThreshold = -3; // M_MMAP_THRESHOLD

    /// <summary>32 MiB: glibc's upper limit for the mmap threshold on 64-bit hosts.</summary>
    private const int MmapBytes = 32 << 20;

    /// <summary>Freed memory at the top of the heap kept for reuse before glibc gives it back.</summary>
    private const int TrimBytes = 512 << 20;

    /// <summary>
    /// 64 MiB, the size of a per-thread arena's heap: with this pad glibc never unmaps a whole heap of a thread's arena
    /// when it empties (it does that whatever the trim threshold), and a training thread usually has such an arena.
    /// </summary>
    private const int PadBytes = 64 << 20;

    /// <summary>Applies both settings on Linux. Returns a description for the caller to log.</summary>
    public static string Apply()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "native settings left as they are (not Linux)";
        }
        string wait;
        string allocator;
        try
        {
            // .NET's Environment.SetEnvironmentVariable does not reach the C environment that libgomp reads at load.
            wait = Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") is { Length: > 0 } set
                ? $"OMP_WAIT_POLICY={set} (kept)"
                : setenv("OMP_WAIT_POLICY", "PASSIVE", 0) == 0 ? "OMP_WAIT_POLICY=PASSIVE" : "OMP_WAIT_POLICY not set (setenv failed)";
            var mmap = mallopt(MmapThreshold, MmapBytes) == 1;
            var trim = mallopt(TrimThreshold, TrimBytes) == 1;
            var pad = mallopt(TopPad, PadBytes) == 1;
            allocator = mmap && trim && pad
                ? $"malloc mmap threshold {MmapBytes >> 20} MiB, trim threshold {TrimBytes >> 20} MiB, top pad {PadBytes >> 20} MiB"
                : "malloc thresholds refused, left as they are";
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return "native settings left as they are (no glibc: " + e.Message + ")";
        }
        return $"{wait}; {allocator}";
    }

#pragma warning disable SYSLIB1054 // LibraryImport would need unsafe code for these two plain calls
    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int mallopt(int parameter, int value);

    [DllImport("libc", EntryPoint = "setenv")]
    private static extern int setenv([MarshalAs(UnmanagedType.LPUTF8Str)] string name, [MarshalAs(UnmanagedType.LPUTF8Str)] string value, int overwrite);
#pragma warning restore SYSLIB1054
}
