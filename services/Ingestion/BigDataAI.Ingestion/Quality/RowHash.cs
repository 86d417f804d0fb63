using System.Runtime.InteropServices;
using BigDataAI.Datasets;

namespace BigDataAI.Ingestion.Quality;

/// <summary>
/// A 64-bit hash of a row's cells (every column, not the row id): each cell's type, null-ness and value bytes in column
/// order, mixed with SplitMix64. Equal rows hash alike on every machine; different rows collide with a chance of 2^-64.
/// </summary>
internal static class RowHash
{
    public static ulong Of(Table table, int row)
    {
        var h = 0x243F6A8885A308D3UL;
        foreach (var column in table.Columns)
        {
            h = Mix(h, (ulong)column.Schema.Type + 1);
            switch (column.Values)
            {
                case long?[] v: h = v[row] is { } l ? Mix(Mix(h, 1), (ulong)l) : Mix(h, 0); break;
                case double?[] v: h = v[row] is { } d ? Mix(Mix(h, 1), (ulong)BitConverter.DoubleToInt64Bits(d)) : Mix(h, 0); break;
                case bool?[] v: h = v[row] is { } b ? Mix(Mix(h, 1), b ? 1UL : 2UL) : Mix(h, 0); break;
                case DateTime?[] v: h = v[row] is { } t ? Mix(Mix(h, 1), (ulong)t.Ticks) : Mix(h, 0); break;
                case string?[] v: h = v[row] is { } s ? Bytes(Mix(h, 1), MemoryMarshal.AsBytes(s.AsSpan())) : Mix(h, 0); break;
                case byte[]?[] v: h = v[row] is { } bytes ? Bytes(Mix(h, 1), bytes) : Mix(h, 0); break;
                case float[] v:
                    var width = column.Schema.Width;
                    h = Bytes(h, MemoryMarshal.AsBytes(v.AsSpan(row * width, width)));
                    break;
            }
        }
        return h;
    }

    private static ulong Bytes(ulong h, ReadOnlySpan<byte> bytes)
    {
        h = Mix(h, (ulong)bytes.Length);
        var i = 0;
        for (; i + 8 <= bytes.Length; i += 8)
        {
            h = Mix(h, MemoryMarshal.Read<ulong>(bytes[i..]));
        }
        ulong tail = 0;
        for (var shift = 0; i < bytes.Length; i++, shift += 8)
        {
            tail |= (ulong)bytes[i] << shift;
        }
        return Mix(h, tail);
    }

    private static ulong Mix(ulong h, ulong value)
    {
        var z = h ^ (value + 0x9E3779B97F4A7C15UL + (h << 6) + (h >> 2));
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
