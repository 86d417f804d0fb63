using System.Runtime.CompilerServices;

namespace BigDataAI.Datasets.Profiling;

/// <summary>
/// Scratch for <see cref="ColumnProfiler.Observe"/>: the distinct cell values of a run of rows (keyed by a 64-bit key
/// and its <see cref="StableHash"/>) with their counts, and the counts per (value, class). A column's cells are tallied
/// here first and the sketches then get each distinct value once with its count, so a low-cardinality column (pixels,
/// flags, small codes) costs a table increment per cell instead of a formatted string, two dictionary lookups and two
/// quantile-sketch updates. Open addressing with generation stamps: clearing is O(1). Not state: never serialized.
/// </summary>
internal sealed class CellTally
{
    private const int SlotBits = 13;
    private const int Slots = 1 << SlotBits;

    /// <summary>Distinct values (and distinct value-class pairs) held before the owner must flush.</summary>
    public const int Capacity = Slots / 2;

    /// <summary>More classes than leakage tracks (<see cref="ProfileBuilder.MaxLeakageClasses"/>) never reach the pair table.</summary>
    public const int MaxClasses = 128;

    private readonly int[] _valueStamp = new int[Slots];
    private readonly int[] _valueSlot = new int[Slots];
    private readonly int[] _pairStamp = new int[Slots];
    private readonly int[] _pairSlot = new int[Slots];
    // Direct slots for small keys (0-255: pixels, flags, codes) and for the pairs of the first 256 values: no probing.
    private const int Small = 256;
    private readonly int[] _smallStamp = new int[Small];
    private readonly int[] _smallSlot = new int[Small];
    private readonly int[] _smallPairStamp = new int[Small * MaxClasses];
    private readonly int[] _smallPairSlot = new int[Small * MaxClasses];
    private int _generation = 1;

    /// <summary>Per value, its latest pair (-1: none); per pair, the value's previous pair: each value's classes as a list.</summary>
    public int[] FirstPair { get; } = new int[Capacity];

    public int[] NextPair { get; } = new int[Capacity];

    public long[] Keys { get; } = new long[Capacity];

    public ulong[] Hashes { get; } = new ulong[Capacity];

    public int[] Counts { get; } = new int[Capacity];

    /// <summary>Per pair: the value's index in <see cref="Keys"/> times <see cref="MaxClasses"/> plus the class.</summary>
    public int[] PairKeys { get; } = new int[Capacity];

    public int[] PairCounts { get; } = new int[Capacity];

    public int Values { get; private set; }

    public int Pairs { get; private set; }

    public bool Full => Values == Capacity || Pairs == Capacity;

    /// <summary>Counts one cell; returns the value's index.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Add(long key, ulong hash)
    {
        if ((ulong)key < Small)
        {
            if (_smallStamp[key] == _generation)
            {
                var known = _smallSlot[key];
                Counts[known]++;
                return known;
            }
            _smallStamp[key] = _generation;
            return _smallSlot[key] = Append(key, hash);
        }
        var slot = (int)(hash >> (64 - SlotBits));
        while (_valueStamp[slot] == _generation)
        {
            var index = _valueSlot[slot];
            if (Keys[index] == key)
            {
                Counts[index]++;
                return index;
            }
            slot = (slot + 1) & (Slots - 1);
        }
        _valueStamp[slot] = _generation;
        return _valueSlot[slot] = Append(key, hash);
    }

    private int Append(long key, ulong hash)
    {
        var added = Values++;
        (Keys[added], Hashes[added], Counts[added], FirstPair[added]) = (key, hash, 1, -1);
        return added;
    }

    /// <summary>Counts one cell of value <paramref name="value"/> (an index from <see cref="Add"/>) in class <paramref name="cls"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void AddPair(int value, int cls)
    {
        var key = value * MaxClasses + cls;
        if (value < Small)
        {
            if (_smallPairStamp[key] == _generation)
            {
                PairCounts[_smallPairSlot[key]]++;
                return;
            }
            _smallPairStamp[key] = _generation;
            _smallPairSlot[key] = AppendPair(value, key);
            return;
        }
        var slot = (int)(((uint)key * 0x9E3779B1u) >> (32 - SlotBits));
        while (_pairStamp[slot] == _generation)
        {
            var index = _pairSlot[slot];
            if (PairKeys[index] == key)
            {
                PairCounts[index]++;
                return;
            }
            slot = (slot + 1) & (Slots - 1);
        }
        _pairStamp[slot] = _generation;
        _pairSlot[slot] = AppendPair(value, key);
    }

    private int AppendPair(int value, int key)
    {
        var added = Pairs++;
        (PairKeys[added], PairCounts[added], NextPair[added]) = (key, 1, FirstPair[value]);
        FirstPair[value] = added;
        return added;
    }

    public void Clear()
    {
        (Values, Pairs) = (0, 0);
        if (++_generation == int.MaxValue)
        {
            Array.Clear(_valueStamp);
            Array.Clear(_pairStamp);
            Array.Clear(_smallStamp);
            Array.Clear(_smallPairStamp);
            _generation = 1;
        }
    }
}
