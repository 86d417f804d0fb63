using System.Numerics;
using System.Runtime.InteropServices;
using System.Text;

namespace BigDataAI.Datasets.Profiling;

/// <summary>
/// A 64-bit hash that is the same in every process and on every machine (unlike <see cref="string.GetHashCode()"/>), so
/// sketches built by different replicas merge: 8 bytes at a time through a multiply-rotate round, then the MurmurHash3
/// 64-bit finalizer, which spreads every input bit over the output (HyperLogLog reads the top bits).
/// </summary>
public static class StableHash
{
    private const ulong Prime1 = 0x9E3779B185EBCA87UL;
    private const ulong Prime2 = 0xC2B2AE3D27D4EB4FUL;

    public static ulong Of(ReadOnlySpan<byte> bytes, ulong seed = 0)
    {
        var h = seed ^ ((ulong)bytes.Length * Prime1);
        var words = MemoryMarshal.Cast<byte, ulong>(bytes);
        foreach (var w in words)
        {
            h = BitOperations.RotateLeft(h ^ (w * Prime2), 31) * Prime1;
        }
        ulong tail = 0;
        var rest = bytes[(words.Length * 8)..];
        for (var i = 0; i < rest.Length; i++)
        {
            tail |= (ulong)rest[i] << (8 * i);
        }
        h = BitOperations.RotateLeft(h ^ (tail * Prime2), 31) * Prime1;
        return Mix(h);
    }

    public static ulong Of(string text, ulong seed = 0)
    {
        // UTF-16 code units as bytes: no encoding pass, the same on every platform (little-endian everywhere .NET runs).
        return Of(MemoryMarshal.AsBytes(text.AsSpan()), seed);
    }

    public static ulong Of(long value) => Mix((ulong)value * Prime1 + Prime2);

    /// <summary>Doubles by value: 0.0 and -0.0 hash alike, every NaN alike.</summary>
    public static ulong Of(double value) => Of(BitConverter.DoubleToInt64Bits(value == 0 ? 0 : double.IsNaN(value) ? double.NaN : value));

    /// <summary>Combines a running hash with the next one (order matters).</summary>
    public static ulong Combine(ulong running, ulong next) => Mix(BitOperations.RotateLeft(running, 27) * Prime1 ^ next);

    /// <summary>The MurmurHash3 fmix64 finalizer.</summary>
    public static ulong Mix(ulong h)
    {
        h ^= h >> 33;
        h *= 0xFF51AFD7ED558CCDUL;
        h ^= h >> 33;
        h *= 0xC4CEB9FE1A85EC53UL;
        h ^= h >> 33;
        return h;
    }

    internal static ulong OfUtf8(string text) => Of(Encoding.UTF8.GetBytes(text));
}
