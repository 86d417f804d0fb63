using System.Runtime.InteropServices;

namespace BigDataAI.Datasets.Profiling;

/// <summary>
/// The most frequent values (Misra and Gries 1982) in at most twice <see cref="Capacity"/> counters. A counter is a lower bound
/// on its value's count, short by at most <see cref="Decremented"/> (which never exceeds n / (capacity + 1)); every value
/// more frequent than that bound has a counter. While no counter was ever decremented (at most 2 x capacity distinct
/// values) the counts are exact. Mergeable
/// (Agarwal et al. 2012): sum the counters, then subtract the (capacity + 1)-th largest from all.
/// </summary>
public sealed class HeavyHitters
{
    public const int DefaultCapacity = 64;

    public HeavyHitters() : this(DefaultCapacity)
    {
    }

    public HeavyHitters(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
    }

    public int Capacity { get; set; }

    public Dictionary<string, long> Counters { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Values added.</summary>
    public long Total { get; set; }

    /// <summary>The most any counter may be short of its value's true count.</summary>
    public long Decremented { get; set; }

    public bool Exact => Decremented == 0;

    public void Add(string value) => Add(value, 1);

    /// <summary>Adds <paramref name="times"/> occurrences of <paramref name="value"/> at once (the same bounds hold: a merge of a one-value sketch).</summary>
    public void Add(string value, long times)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(times, 1);
        Total += times;
        ref var count = ref CollectionsMarshal.GetValueRefOrAddDefault(Counters, value, out _);
        count += times;
        // Lazy reduction (amortized O(1) per value): let the counters grow to twice the capacity, then cut them back
        // as a merge does. Each cut removes at least capacity + 1 times its size, so the bound n / (capacity + 1) holds.
        if (Counters.Count > 2 * Capacity)
        {
            Reduce();
        }
    }

    public void Merge(HeavyHitters other)
    {
        ArgumentNullException.ThrowIfNull(other);
        Total += other.Total;
        Decremented += other.Decremented;
        foreach (var (key, count) in other.Counters)
        {
            Counters[key] = Counters.GetValueOrDefault(key) + count;
        }
        if (Counters.Count > 2 * Capacity)
        {
            Reduce();
        }
    }

    /// <summary>Subtracts the (capacity + 1)-th largest counter from every counter and drops those left at zero or below.</summary>
    private void Reduce()
    {
        var cut = Counters.Values.OrderDescending().ElementAt(Capacity);
        Decremented += cut;
        foreach (var key in Counters.Keys.ToList())
        {
            if ((Counters[key] -= cut) <= 0)
            {
                Counters.Remove(key);
            }
        }
    }

    /// <summary>The <paramref name="count"/> largest counters, largest first (ties by value, ordinal).</summary>
    public IReadOnlyList<KeyValuePair<string, long>> Top(int count) =>
        [.. Counters.OrderByDescending(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal).Take(count)];
}
