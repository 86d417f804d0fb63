namespace BigDataAI.Labeling.Augmentation;

/// <summary>One synthetic row: <c>seed + gap * (neighbour - seed)</c> over the numeric features, of the seed's class.</summary>
/// <param name="Seed">The seed row (an index into the rows given to <see cref="Smote.Plan"/>).</param>
/// <param name="Neighbour">One of the seed's k nearest neighbours of the same class.</param>
/// <param name="Gap">In [0, 1).</param>
/// <param name="Class">The class index of both rows.</param>
internal readonly record struct SmoteSample(int Seed, int Neighbour, double Gap, int Class);

/// <summary>
/// SMOTE (Chawla et al., 2002), pure and seeded: for every class smaller than the target (the largest class, or a
/// given size), synthetic rows on the segments between a row of the class and one of its k nearest neighbours of the
/// same class, by Euclidean distance over standardized features (each feature's mean and standard deviation over the
/// usable rows). Rows with a missing value (NaN) in any feature are neither seeds nor neighbours: nothing is imputed.
/// Seeds are taken round-robin in a seeded order, so every row of a class seeds before any seeds twice. A class with
/// fewer than two usable rows has no segment and gets no rows.
/// </summary>
internal static class Smote
{
    /// <summary>
    /// The synthetic rows to make. <paramref name="features"/> holds one row a line; <paramref name="classes"/> each row's
    /// class index (-1: not a row of any class).
    /// </summary>
    public static (IReadOnlyList<SmoteSample> Samples, long[] AddedPerClass) Plan(IReadOnlyList<double[]> features, IReadOnlyList<int> classes,
        int classCount, int neighbours, long targetPerClass, long seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(neighbours, 1);
        if (features.Count != classes.Count)
        {
            throw new ArgumentException($"{features.Count} feature rows for {classes.Count} classes.");
        }
        var counts = new long[classCount];
        var members = Enumerable.Range(0, classCount).Select(_ => new List<int>()).ToArray();
        for (var r = 0; r < classes.Count; r++)
        {
            if (classes[r] < 0)
            {
                continue;
            }
            counts[classes[r]]++;
            if (features[r].All(double.IsFinite))
            {
                members[classes[r]].Add(r);
            }
        }
        var scale = Standardization(features, members.SelectMany(m => m).ToList());
        var target = targetPerClass > 0 ? targetPerClass : counts.DefaultIfEmpty(0).Max();
        var samples = new List<SmoteSample>();
        var added = new long[classCount];
        for (var c = 0; c < classCount; c++)
        {
            var rows = members[c];
            var wanted = target - counts[c];
            if (wanted <= 0 || rows.Count < 2)
            {
                continue;
            }
            var random = new SeededRandom(seed, 0x5307E, c);
            var order = rows.ToArray();
            for (var i = order.Length - 1; i > 0; i--)
            {
                var j = random.Next(i + 1);
                (order[i], order[j]) = (order[j], order[i]);
            }
            var k = Math.Min(neighbours, rows.Count - 1);
            var nearest = new Dictionary<int, int[]>();
            for (long i = 0; i < wanted; i++)
            {
                var s = order[i % order.Length];
                if (!nearest.TryGetValue(s, out var near))
                {
                    near = Nearest(features, scale, rows, s, k);
                    nearest[s] = near;
                }
                samples.Add(new SmoteSample(s, near[random.Next(near.Length)], random.NextDouble(), c));
            }
            added[c] = wanted;
        }
        return (samples, added);
    }

    /// <summary>The interpolated value of one feature.</summary>
    public static double Interpolate(double seed, double neighbour, double gap) => seed + gap * (neighbour - seed);

    /// <summary>
    /// The <paramref name="k"/> rows of <paramref name="rows"/> nearest <paramref name="seed"/>, nearest first (itself
    /// excluded; of equal distances the earlier row). A selection of k in one pass, O(rows x k), not a sort.
    /// </summary>
    public static int[] Nearest(IReadOnlyList<double[]> features, (double[] Mean, double[] Scale) scale, IReadOnlyList<int> rows, int seed, int k)
    {
        var x = features[seed];
        var best = new (double Distance, int Row)[Math.Min(k, Math.Max(0, rows.Count - 1))];
        var found = 0;
        foreach (var r in rows)
        {
            if (r == seed || best.Length == 0)
            {
                continue;
            }
            var y = features[r];
            var distance = 0.0;
            for (var j = 0; j < x.Length; j++)
            {
                var d = (x[j] - y[j]) / scale.Scale[j];
                distance += d * d;
            }
            var candidate = (distance, r);
            if (found == best.Length && !Before(candidate, best[^1]))
            {
                continue;
            }
            var at = found < best.Length ? found++ : best.Length - 1;
            while (at > 0 && Before(candidate, best[at - 1]))
            {
                best[at] = best[at - 1];
                at--;
            }
            best[at] = candidate;
        }
        return [.. best.Take(found).Select(b => b.Row)];
    }

    private static bool Before((double Distance, int Row) a, (double Distance, int Row) b) =>
        a.Distance < b.Distance || (a.Distance == b.Distance && a.Row < b.Row);

    /// <summary>Each feature's mean and standard deviation over <paramref name="rows"/> (1 where it does not vary).</summary>
    public static (double[] Mean, double[] Scale) Standardization(IReadOnlyList<double[]> features, IReadOnlyList<int> rows)
    {
        var width = features.Count == 0 ? 0 : features[0].Length;
        var mean = new double[width];
        var scale = new double[width];
        if (rows.Count == 0)
        {
            Array.Fill(scale, 1.0);
            return (mean, scale);
        }
        foreach (var r in rows)
        {
            for (var j = 0; j < width; j++)
            {
                mean[j] += features[r][j];
            }
        }
        for (var j = 0; j < width; j++)
        {
            mean[j] /= rows.Count;
        }
        foreach (var r in rows)
        {
            for (var j = 0; j < width; j++)
            {
                var d = features[r][j] - mean[j];
                scale[j] += d * d;
            }
        }
        for (var j = 0; j < width; j++)
        {
            var std = Math.Sqrt(scale[j] / rows.Count);
            scale[j] = std > 0 && double.IsFinite(std) ? std : 1.0;
        }
        return (mean, scale);
    }
}
