using BigDataAI.Datasets.Profiling;

namespace BigDataAI.UnitTests.Datasets.Profiling;

/// <summary>The profile's sketches against exact answers: rank error, distinct-count error, heavy-hitter bounds, merges.</summary>
public sealed class SketchTests
{
    private static double[] Shuffled(int n, int seed)
    {
        var random = new Random(seed);
        // A skewed distribution with repeats, so ranks are not trivially uniform.
        var values = Enumerable.Range(0, n).Select(_ => Math.Round(Math.Exp(random.NextDouble() * 6), 2)).ToArray();
        random.Shuffle(values);
        return values;
    }

    private static double ExactRank(double[] sorted, double value)
    {
        // Fraction of values <= value.
        var index = Array.BinarySearch(sorted, value);
        if (index < 0)
        {
            return (double)~index / sorted.Length;
        }
        while (index + 1 < sorted.Length && sorted[index + 1] == value)
        {
            index++;
        }
        return (double)(index + 1) / sorted.Length;
    }

    private static void AssertRankError(KllSketch sketch, double[] values, double bound)
    {
        var sorted = values.Order().ToArray();
        var worst = 0.0;
        for (var i = 1; i < 100; i++)
        {
            var q = i / 100.0;
            var value = sketch.Quantile(q);
            // The value's exact rank interval [below, at-or-below] must come within the bound of q.
            var upper = ExactRank(sorted, value);
            var lower = (double)sorted.Count(v => v < value) / sorted.Length;
            var error = q < lower ? lower - q : q > upper ? q - upper : 0;
            worst = Math.Max(worst, error);
        }
        Assert.True(worst <= bound, $"worst normalized rank error {worst:P3} > {bound:P1}");
    }

    [Fact]
    public void Kll_quantiles_are_within_two_percent_of_rank_on_100000_values()
    {
        var values = Shuffled(100_000, 1);
        var sketch = new KllSketch();
        foreach (var v in values)
        {
            sketch.Add(v);
        }
        Assert.Equal(values.Length, sketch.Count);
        Assert.Equal(values.Min(), sketch.Min);
        Assert.Equal(values.Max(), sketch.Max);
        AssertRankError(sketch, values, 0.02);
        var retained = sketch.Levels.Sum(l => l.Count);
        Assert.True(retained < 1000, $"{retained} values retained");
    }

    [Fact]
    public void Kll_fed_counted_values_keeps_the_bound_on_a_mostly_zero_pixel_column()
    {
        // What the profile's tally feeds it: per 4,096-row shard, each distinct value once with its count (an MNIST-like
        // pixel: 70 % zeros, the rest 1-255), 100 shards. The answer is checked against the 409,600 values themselves.
        var random = new Random(3);
        var values = new List<double>();
        var sketch = new KllSketch();
        for (var shard = 0; shard < 100; shard++)
        {
            var counts = new SortedDictionary<int, int>();
            for (var r = 0; r < 4096; r++)
            {
                var v = random.NextDouble() < 0.7 ? 0 : random.Next(1, 256);
                counts[v] = counts.GetValueOrDefault(v) + 1;
                values.Add(v);
            }
            foreach (var (v, n) in counts)
            {
                sketch.Add(v, n);
            }
        }
        Assert.Equal(values.Count, sketch.Count);
        Assert.Equal((0.0, 255.0), (sketch.Min, sketch.Max));
        AssertRankError(sketch, [.. values], 0.02);
        var retained = sketch.Levels.Sum(l => l.Count);
        Assert.True(retained < 1000, $"{retained} values retained");
    }

    [Fact]
    public void Counted_adds_to_moments_and_heavy_hitters_equal_one_at_a_time()
    {
        var (one, counted) = (new Moments(), new Moments());
        var (top, topCounted) = (new HeavyHitters(), new HeavyHitters());
        foreach (var (v, n) in new[] { (3.5, 1), (-2.0, 7), (10.25, 3), (3.5, 2) })
        {
            for (var i = 0; i < n; i++)
            {
                one.Add(v);
                top.Add(v.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
            counted.Add(v, n);
            topCounted.Add(v.ToString(System.Globalization.CultureInfo.InvariantCulture), n);
        }
        Assert.Equal((one.Count, one.Min, one.Max), (counted.Count, counted.Min, counted.Max));
        Assert.Equal(one.Mean, counted.Mean, 1e-12);
        Assert.Equal(one.StdDev, counted.StdDev, 1e-12);
        Assert.True(topCounted.Exact);
        Assert.Equal(top.Top(10), topCounted.Top(10));
        Assert.Equal(13, topCounted.Total);
    }

    [Fact]
    public void Kll_merged_from_eight_parts_keeps_the_bound()
    {
        var values = Shuffled(80_000, 2);
        KllSketch? merged = null;
        foreach (var chunk in values.Chunk(10_000))
        {
            var part = new KllSketch();
            foreach (var v in chunk)
            {
                part.Add(v);
            }
            if (merged is null)
            {
                merged = part;
            }
            else
            {
                merged.Merge(part);
            }
        }
        Assert.Equal(values.Length, merged!.Count);
        AssertRankError(merged, values, 0.02);
    }

    [Fact]
    public void Kll_is_exact_before_its_first_compaction_and_merge_equals_whole()
    {
        var values = Shuffled(150, 3);
        var whole = new KllSketch();
        var (a, b) = (new KllSketch(), new KllSketch());
        for (var i = 0; i < values.Length; i++)
        {
            whole.Add(values[i]);
            (i < 70 ? a : b).Add(values[i]);
        }
        a.Merge(b);
        var sorted = values.Order().ToArray();
        foreach (var q in new[] { 0.1, 0.25, 0.5, 0.75, 0.9 })
        {
            var exact = sorted[(int)Math.Ceiling(q * sorted.Length) - 1];
            Assert.Equal(exact, whole.Quantile(q));
            Assert.Equal(exact, a.Quantile(q));
        }
    }

    [Theory]
    [InlineData(1_000)]
    [InlineData(50_000)]
    [InlineData(200_000)]
    public void HyperLogLog_estimates_distinct_values_within_five_percent(int distinct)
    {
        var hll = new HyperLogLog();
        for (var i = 0; i < distinct; i++)
        {
            // Every value twice: repeats must not count.
            hll.Add(StableHash.Of($"value-{i}"));
            hll.Add(StableHash.Of($"value-{i}"));
        }
        var estimate = hll.Estimate();
        Assert.InRange(estimate, distinct * 0.95, distinct * 1.05);
    }

    [Fact]
    public void HyperLogLog_merge_of_overlapping_halves_equals_the_whole()
    {
        var (whole, a, b) = (new HyperLogLog(), new HyperLogLog(), new HyperLogLog());
        for (var i = 0; i < 20_000; i++)
        {
            var h = StableHash.Of((long)i);
            whole.Add(h);
            if (i < 12_000)
            {
                a.Add(h);
            }
            if (i >= 8_000)
            {
                b.Add(h);
            }
        }
        a.Merge(b);
        Assert.Equal(whole.Registers, a.Registers);
        Assert.Equal(whole.Estimate(), a.Estimate());
    }

    [Fact]
    public void Heavy_hitters_find_the_frequent_values_within_the_bound()
    {
        // Value k appears about 1/k^1.2 of the time (Zipf-like) over 5,000 values.
        var random = new Random(4);
        var weights = Enumerable.Range(1, 5000).Select(k => 1 / Math.Pow(k, 1.2)).ToArray();
        var cumulative = new double[weights.Length];
        double sum = 0;
        for (var i = 0; i < weights.Length; i++)
        {
            cumulative[i] = sum += weights[i];
        }
        var stream = Enumerable.Range(0, 50_000).Select(_ =>
        {
            var x = random.NextDouble() * sum;
            var index = Array.BinarySearch(cumulative, x);
            return $"v{(index < 0 ? ~index : index)}";
        }).ToArray();
        var exact = stream.GroupBy(s => s).ToDictionary(g => g.Key, g => (long)g.Count());
        var (whole, merged) = (new HeavyHitters(), new HeavyHitters());
        foreach (var s in stream)
        {
            whole.Add(s);
        }
        foreach (var chunk in stream.Chunk(12_500))
        {
            var part = new HeavyHitters();
            foreach (var s in chunk)
            {
                part.Add(s);
            }
            merged.Merge(part);
        }
        var bound = stream.Length / (HeavyHitters.DefaultCapacity + 1.0);
        foreach (var sketch in new[] { whole, merged })
        {
            Assert.False(sketch.Exact);
            Assert.True(sketch.Decremented <= bound, $"decremented {sketch.Decremented} > n/(m+1) = {bound:F0}");
            foreach (var (value, count) in sketch.Counters)
            {
                Assert.InRange(count, exact[value] - sketch.Decremented, exact[value]);
            }
            // Every value more frequent than the bound has a counter; the top five are the true top five.
            foreach (var (value, count) in exact.Where(p => p.Value > bound))
            {
                Assert.True(sketch.Counters.ContainsKey(value), $"{value} ({count}) is missing");
            }
            Assert.Equal(exact.OrderByDescending(p => p.Value).Take(5).Select(p => p.Key), sketch.Top(5).Select(p => p.Key));
        }
    }

    [Fact]
    public void Heavy_hitters_are_exact_while_the_values_fit()
    {
        var sketch = new HeavyHitters(8);
        foreach (var s in "abracadabra".Select(c => c.ToString()))
        {
            sketch.Add(s);
        }
        Assert.True(sketch.Exact);
        Assert.Equal(new[] { KeyValuePair.Create("a", 5L), KeyValuePair.Create("b", 2L), KeyValuePair.Create("r", 2L), KeyValuePair.Create("c", 1L), KeyValuePair.Create("d", 1L) }, sketch.Top(10));
    }

    [Fact]
    public void Moments_merged_from_parts_equal_the_whole()
    {
        var values = Shuffled(10_000, 5);
        var whole = new Moments();
        foreach (var v in values)
        {
            whole.Add(v);
        }
        var merged = new Moments();
        foreach (var chunk in values.Chunk(1234))
        {
            var part = new Moments();
            foreach (var v in chunk)
            {
                part.Add(v);
            }
            merged.Merge(part);
        }
        var mean = values.Average();
        var std = Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / values.Length);
        Assert.Equal(mean, whole.Mean, 1e-9);
        Assert.Equal(std, whole.StdDev, 1e-9);
        Assert.Equal(mean, merged.Mean, 1e-9);
        Assert.Equal(std, merged.StdDev, 1e-9);
        Assert.Equal(values.Min(), merged.Min);
        Assert.Equal(values.Max(), merged.Max);
    }
}
