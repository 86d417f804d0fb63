namespace BigDataAI.Datasets.Profiling;

/// <summary>
/// Count, mean and the sum of squared deviations (Welford's update), minimum and maximum of finite values; two merge by
/// Chan, Golub and LeVeque's parallel formula, so shards are summarized apart and combined.
/// </summary>
public sealed class Moments
{
    public long Count { get; set; }

    public double Mean { get; set; }

    /// <summary>Sum of squared deviations from the mean.</summary>
    public double M2 { get; set; }

    public double Min { get; set; } = double.PositiveInfinity;

    public double Max { get; set; } = double.NegativeInfinity;

    /// <summary>Population standard deviation (divided by n); 0 for fewer than two values.</summary>
    public double StdDev => Count < 2 ? 0 : Math.Sqrt(Math.Max(0, M2 / Count));

    public void Add(double value)
    {
        Count++;
        var delta = value - Mean;
        Mean += delta / Count;
        M2 += delta * (value - Mean);
        if (value < Min)
        {
            Min = value;
        }
        if (value > Max)
        {
            Max = value;
        }
    }

    /// <summary>Adds <paramref name="count"/> copies of <paramref name="value"/> (Chan's formula with a part of zero spread).</summary>
    public void Add(double value, long count)
    {
        if (count == 1)
        {
            Add(value);
            return;
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var n = Count + count;
        var delta = value - Mean;
        Mean += delta * count / n;
        M2 += delta * delta * ((double)Count * count / n);
        Count = n;
        if (value < Min)
        {
            Min = value;
        }
        if (value > Max)
        {
            Max = value;
        }
    }

    public void Merge(Moments other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.Count == 0)
        {
            return;
        }
        if (Count == 0)
        {
            (Count, Mean, M2, Min, Max) = (other.Count, other.Mean, other.M2, other.Min, other.Max);
            return;
        }
        var n = Count + other.Count;
        var delta = other.Mean - Mean;
        Mean += delta * other.Count / n;
        M2 += other.M2 + delta * delta * ((double)Count * other.Count / n);
        Count = n;
        Min = Math.Min(Min, other.Min);
        Max = Math.Max(Max, other.Max);
    }
}

/// <summary>A value and the row it came from.</summary>
public sealed record ValueAt(double Value, long Row);

/// <summary>The <see cref="Size"/> smallest and largest values with their rows (examples for outliers); mergeable.</summary>
public sealed class Extremes
{
    public int Size { get; set; } = 5;

    /// <summary>Smallest first.</summary>
    public List<ValueAt> Lowest { get; set; } = [];

    /// <summary>Largest first.</summary>
    public List<ValueAt> Highest { get; set; } = [];

    public void Add(double value, long row)
    {
        if (Lowest.Count < Size || value < Lowest[^1].Value)
        {
            Insert(Lowest, new ValueAt(value, row), ascending: true);
        }
        if (Highest.Count < Size || value > Highest[^1].Value)
        {
            Insert(Highest, new ValueAt(value, row), ascending: false);
        }
    }

    /// <summary>
    /// Values strictly between these two cannot change the extremes: the largest kept low and the smallest kept high
    /// (infinities while a side holds fewer than <see cref="Size"/>).
    /// </summary>
    public (double Low, double High) Bounds() =>
        (Lowest.Count < Size ? double.PositiveInfinity : Lowest[^1].Value, Highest.Count < Size ? double.NegativeInfinity : Highest[^1].Value);

    public void Merge(Extremes other)
    {
        ArgumentNullException.ThrowIfNull(other);
        foreach (var v in other.Lowest)
        {
            if (Lowest.Count < Size || v.Value < Lowest[^1].Value)
            {
                Insert(Lowest, v, ascending: true);
            }
        }
        foreach (var v in other.Highest)
        {
            if (Highest.Count < Size || v.Value > Highest[^1].Value)
            {
                Insert(Highest, v, ascending: false);
            }
        }
    }

    private void Insert(List<ValueAt> list, ValueAt item, bool ascending)
    {
        // Ties keep the lower row first, so the order does not depend on how the rows were split into parts.
        var i = 0;
        while (i < list.Count && (ascending
            ? list[i].Value < item.Value || (list[i].Value == item.Value && list[i].Row < item.Row)
            : list[i].Value > item.Value || (list[i].Value == item.Value && list[i].Row < item.Row)))
        {
            i++;
        }
        list.Insert(i, item);
        if (list.Count > Size)
        {
            list.RemoveAt(list.Count - 1);
        }
    }
}
