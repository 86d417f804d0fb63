namespace BigDataAI.Datasets.Profiling;

/// <summary>
/// A mergeable quantile sketch (Karnin, Lang and Liberty 2016, "KLL"): levels of sorted samples, level h standing for
/// 2^h values each. A level that outgrows its capacity (k at the top level, shrinking by 2/3 per level below, at least 2)
/// is sorted and every other item (odd or even positions, by a seeded coin) moves up one level, whenever the levels
/// together hold more than their capacities (the lowest full level is compacted). With k = 200 the
/// normalized rank error stays under about 1.7 % (99 % of the time); the unit tests check 2 % on 100,000 values.
/// Merging appends the levels and compacts: the merged sketch has the same error guarantee as one built over the whole.
/// Until the first compaction (the first k values) it is exact. Deterministic: the coin is part of the state.
/// </summary>
public sealed class KllSketch
{
    public const int DefaultK = 200;

    public KllSketch() : this(DefaultK)
    {
    }

    public KllSketch(int k)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 8);
        K = k;
    }

    public int K { get; set; }

    /// <summary>Values added (the total weight of the levels).</summary>
    public long Count { get; set; }

    public double Min { get; set; } = double.PositiveInfinity;

    public double Max { get; set; } = double.NegativeInfinity;

    /// <summary>Level h holds samples of weight 2^h.</summary>
    public List<List<double>> Levels { get; set; } = [[]];

    /// <summary>State of the xorshift coin that picks which half of a level moves up.</summary>
    public ulong Coin { get; set; } = 0x2545F4914F6CDD1DUL;

    /// <summary>Adds a finite value (callers count NaN and infinities apart).</summary>
    public void Add(double value)
    {
        Levels[0].Add(value);
        Count++;
        if (value < Min)
        {
            Min = value;
        }
        if (value > Max)
        {
            Max = value;
        }
        if (_retained >= 0 && _capacityDepth == Levels.Count)
        {
            _retained++;
        }
        else
        {
            _retained = -1;
            TotalCapacity();
        }
        if (_retained >= _totalCapacity)
        {
            Compress();
        }
    }

    /// <summary>
    /// Adds <paramref name="weight"/> copies of a finite value at once, as the merge of an exact sketch of those copies:
    /// they go in as items of the sketch's top level (or of the top level a sketch of <see cref="Count"/> values would
    /// have, about k items), the rest as one item per set bit of the remainder. Identical items lose nothing when they
    /// are compacted, so the rank error stays that of a sketch fed one value at a time.
    /// </summary>
    public void Add(double value, long weight)
    {
        if (weight == 1)
        {
            Add(value);
            return;
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(weight, 1);
        Count += weight;
        if (value < Min)
        {
            Min = value;
        }
        if (value > Max)
        {
            Max = value;
        }
        var top = Math.Max(Levels.Count - 1, (int)Math.Floor(Math.Log2(Math.Max(1.0, (double)Count / K))));
        while (Levels.Count <= top)
        {
            Levels.Add([]);
        }
        var copies = weight >> top;
        for (long i = 0; i < copies; i++)
        {
            Levels[top].Add(value);
        }
        var rest = weight - (copies << top);
        for (var h = 0; h < top; h++)
        {
            if (((rest >> h) & 1) != 0)
            {
                Levels[h].Add(value);
            }
        }
        Compress();
    }

    // Caches (not state): items retained, and the total capacity for the current number of levels.
    private int _retained = -1;
    private int _capacityDepth = -1;
    private int _totalCapacity;

    public void Merge(KllSketch other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.Count == 0)
        {
            return;
        }
        while (Levels.Count < other.Levels.Count)
        {
            Levels.Add([]);
        }
        for (var h = 0; h < other.Levels.Count; h++)
        {
            Levels[h].AddRange(other.Levels[h]);
        }
        Count += other.Count;
        Min = Math.Min(Min, other.Min);
        Max = Math.Max(Max, other.Max);
        Compress();
    }

    /// <summary>The fraction of values at most <paramref name="value"/> (0 when empty).</summary>
    public double Rank(double value)
    {
        if (Count == 0)
        {
            return 0;
        }
        double below = 0;
        for (var h = 0; h < Levels.Count; h++)
        {
            var weight = Math.ScaleB(1.0, h);
            foreach (var item in Levels[h])
            {
                if (item <= value)
                {
                    below += weight;
                }
            }
        }
        return below / Count;
    }

    /// <summary>The fraction of values below <paramref name="value"/> (strictly).</summary>
    public double RankBelow(double value)
    {
        if (Count == 0)
        {
            return 0;
        }
        double below = 0;
        for (var h = 0; h < Levels.Count; h++)
        {
            var weight = Math.ScaleB(1.0, h);
            foreach (var item in Levels[h])
            {
                if (item < value)
                {
                    below += weight;
                }
            }
        }
        return below / Count;
    }

    /// <summary>The values at the quantiles <paramref name="fractions"/> (each in [0, 1]); 0 gives the minimum, 1 the maximum.</summary>
    public double[] Quantiles(IReadOnlyList<double> fractions)
    {
        var result = new double[fractions.Count];
        if (Count == 0)
        {
            Array.Fill(result, double.NaN);
            return result;
        }
        var items = new List<(double Value, double Weight)>();
        for (var h = 0; h < Levels.Count; h++)
        {
            var weight = Math.ScaleB(1.0, h);
            items.AddRange(Levels[h].Select(v => (v, weight)));
        }
        items.Sort((a, b) => a.Value.CompareTo(b.Value));
        for (var i = 0; i < fractions.Count; i++)
        {
            var q = fractions[i];
            ArgumentOutOfRangeException.ThrowIfLessThan(q, 0.0);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(q, 1.0);
            if (q == 0)
            {
                result[i] = Min;
                continue;
            }
            if (q == 1)
            {
                result[i] = Max;
                continue;
            }
            // The smallest value whose cumulative weight reaches q of the total (the lower quantile, as exact ranks define it).
            var target = q * Count;
            double cumulative = 0;
            result[i] = Max;
            foreach (var (value, weight) in items)
            {
                cumulative += weight;
                if (cumulative >= target)
                {
                    result[i] = value;
                    break;
                }
            }
        }
        return result;
    }

    public double Quantile(double fraction) => Quantiles([fraction])[0];

    private int Capacity(int level)
    {
        TotalCapacity();
        return _capacities[level];
    }

    private int TotalCapacity()
    {
        if (_capacityDepth != Levels.Count)
        {
            _totalCapacity = 0;
            _capacities = new int[Levels.Count];
            for (var h = 0; h < Levels.Count; h++)
            {
                var depth = Levels.Count - 1 - h;
                _totalCapacity += _capacities[h] = Math.Max(2, (int)Math.Ceiling(K * Math.Pow(2.0 / 3.0, depth)));
            }
            _capacityDepth = Levels.Count;
        }
        if (_retained < 0)
        {
            _retained = 0;
            foreach (var level in Levels)
            {
                _retained += level.Count;
            }
        }
        return _totalCapacity;
    }

    private int[] _capacities = [];

    /// <summary>While the levels hold more than their capacities together, compacts the lowest level that is full.</summary>
    private void Compress()
    {
        _retained = -1;
        while (true)
        {
            var total = TotalCapacity();
            if (_retained < total)
            {
                return;
            }
            var h = 0;
            while (h < Levels.Count && Levels[h].Count < Capacity(h))
            {
                h++;
            }
            if (h == Levels.Count)
            {
                return;
            }
            CompactLevel(h);
            _retained = -1;
        }
    }

    private void CompactLevel(int h)
    {
        if (h + 1 == Levels.Count)
        {
            Levels.Add([]);
        }
        var items = Levels[h];
        items.Sort();
        var pairs = items.Count;
        var odd = pairs % 2 == 1;
        // An odd item stays (its weight cannot be halved); the largest, so the rest stay sorted pairs.
        var last = items[^1];
        if (odd)
        {
            pairs--;
        }
        var offset = NextBit();
        var up = Levels[h + 1];
        for (var i = offset; i < pairs; i += 2)
        {
            up.Add(items[i]);
        }
        // The level's list is reused (no allocation per compaction).
        items.Clear();
        if (odd)
        {
            items.Add(last);
        }
    }

    private int NextBit()
    {
        var x = Coin;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        Coin = x;
        return (int)(x >> 63);
    }
}
