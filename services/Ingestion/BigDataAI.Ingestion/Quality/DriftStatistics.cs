namespace BigDataAI.Ingestion.Quality;

/// <summary>
/// The statistics drift is measured with, as pure functions: population stability index, the two-sample
/// Kolmogorov-Smirnov test, Pearson's chi-square test of homogeneity, and the Jensen-Shannon distance.
/// </summary>
public static class DriftStatistics
{
    /// <summary>The share given to an empty bin in PSI, so its logarithm stays finite (the usual 1e-4).</summary>
    public const double PsiFloor = 1e-4;

    /// <summary>
    /// PSI = Σ (q_i - p_i) ln(q_i / p_i) over bins, with p the reference shares and q the current ones (each share at
    /// least <see cref="PsiFloor"/>). Under 0.1 is usually read as stable, 0.1-0.2 as a moderate shift, over 0.2 as drift.
    /// </summary>
    public static double Psi(IReadOnlyList<long> reference, IReadOnlyList<long> current)
    {
        CheckSameLength(reference, current);
        double p = reference.Sum(), q = current.Sum();
        if (p == 0 || q == 0)
        {
            return 0;
        }
        var psi = 0.0;
        for (var i = 0; i < reference.Count; i++)
        {
            var a = Math.Max(reference[i] / p, PsiFloor);
            var b = Math.Max(current[i] / q, PsiFloor);
            psi += (b - a) * Math.Log(b / a);
        }
        return psi;
    }

    /// <summary>
    /// Bin edges for PSI: the reference's deciles (at most <paramref name="bins"/> - 1 distinct inner edges of the
    /// sorted sample); a value v falls in bin i when edge[i-1] &lt; v &lt;= edge[i].
    /// </summary>
    public static double[] QuantileEdges(double[] sortedReference, int bins = 10)
    {
        var edges = new SortedSet<double>();
        for (var i = 1; i < bins; i++)
        {
            edges.Add(Quantile(sortedReference, (double)i / bins));
        }
        return [.. edges];
    }

    /// <summary>How many of <paramref name="values"/> fall in each of the bins <paramref name="edges"/> make (edges.Length + 1 bins).</summary>
    public static long[] Bin(IEnumerable<double> values, double[] edges)
    {
        var counts = new long[edges.Length + 1];
        foreach (var v in values)
        {
            var index = Array.BinarySearch(edges, v);
            counts[index >= 0 ? index : ~index]++;
        }
        return counts;
    }

    /// <summary>The q-quantile of a sorted sample by linear interpolation between order statistics (type 7, as NumPy's default).</summary>
    public static double Quantile(double[] sorted, double q)
    {
        if (sorted.Length == 0)
        {
            return double.NaN;
        }
        var h = (sorted.Length - 1) * q;
        var lower = (int)Math.Floor(h);
        var upper = Math.Min(lower + 1, sorted.Length - 1);
        return sorted[lower] + (h - lower) * (sorted[upper] - sorted[lower]);
    }

    /// <summary>
    /// The two-sample Kolmogorov-Smirnov statistic D = sup |F_a(x) - F_b(x)| of two sorted samples, and its asymptotic
    /// p-value Q_KS((√n_e + 0.12 + 0.11/√n_e) D) with n_e = n_a n_b / (n_a + n_b) (Stephens' correction, as in
    /// Numerical Recipes' kstwo).
    /// </summary>
    public static (double Statistic, double PValue) KolmogorovSmirnov(double[] sortedA, double[] sortedB)
    {
        if (sortedA.Length == 0 || sortedB.Length == 0)
        {
            return (0, 1);
        }
        int i = 0, j = 0;
        double d = 0;
        while (i < sortedA.Length && j < sortedB.Length)
        {
            var x = Math.Min(sortedA[i], sortedB[j]);
            while (i < sortedA.Length && sortedA[i] <= x)
            {
                i++;
            }
            while (j < sortedB.Length && sortedB[j] <= x)
            {
                j++;
            }
            d = Math.Max(d, Math.Abs((double)i / sortedA.Length - (double)j / sortedB.Length));
        }
        var ne = Math.Sqrt((double)sortedA.Length * sortedB.Length / (sortedA.Length + sortedB.Length));
        return (d, KolmogorovQ((ne + 0.12 + 0.11 / ne) * d));
    }

    /// <summary>Q_KS(λ) = 2 Σ_{k≥1} (-1)^(k-1) exp(-2 k² λ²): the chance a Kolmogorov variable exceeds λ.</summary>
    public static double KolmogorovQ(double lambda)
    {
        if (lambda < 1e-3)
        {
            return 1;
        }
        double sum = 0, sign = 1, previous = 0;
        for (var k = 1; k <= 100; k++)
        {
            var term = sign * 2 * Math.Exp(-2 * k * k * lambda * lambda);
            sum += term;
            if (Math.Abs(term) <= 1e-10 * Math.Abs(sum) || Math.Abs(term) <= 1e-8 * previous)
            {
                return Math.Clamp(sum, 0, 1);
            }
            sign = -sign;
            previous = Math.Abs(term);
        }
        return 1; // no convergence: λ too small to tell the samples apart
    }

    /// <summary>
    /// Pearson's chi-square test that two samples of counts over the same categories come from one distribution (a 2 x k
    /// contingency table): χ² = Σ (observed - expected)² / expected, degrees of freedom k - 1 over the categories seen in
    /// either, p = P(χ²_(k-1) ≥ χ²).
    /// </summary>
    public static (double Statistic, int DegreesOfFreedom, double PValue) ChiSquare(IReadOnlyList<long> a, IReadOnlyList<long> b)
    {
        CheckSameLength(a, b);
        double na = a.Sum(), nb = b.Sum();
        var total = na + nb;
        if (na == 0 || nb == 0)
        {
            return (0, 0, 1);
        }
        double chi = 0;
        var categories = 0;
        for (var i = 0; i < a.Count; i++)
        {
            var column = a[i] + b[i];
            if (column == 0)
            {
                continue;
            }
            categories++;
            var ea = column * na / total;
            var eb = column * nb / total;
            chi += (a[i] - ea) * (a[i] - ea) / ea + (b[i] - eb) * (b[i] - eb) / eb;
        }
        var df = categories - 1;
        return df <= 0 ? (0, 0, 1) : (chi, df, ChiSquareSurvival(chi, df));
    }

    /// <summary>P(χ²_df ≥ x) = Q(df/2, x/2), the regularized upper incomplete gamma function.</summary>
    public static double ChiSquareSurvival(double x, int df) => x <= 0 ? 1 : UpperGammaRegularized(df / 2.0, x / 2.0);

    /// <summary>
    /// The Jensen-Shannon distance: the square root of the Jensen-Shannon divergence in bits, so 0 for equal
    /// distributions and 1 for disjoint ones (as SciPy's <c>jensenshannon(p, q, base=2)</c>).
    /// </summary>
    public static double JensenShannon(IReadOnlyList<long> a, IReadOnlyList<long> b)
    {
        CheckSameLength(a, b);
        double na = a.Sum(), nb = b.Sum();
        if (na == 0 || nb == 0)
        {
            return na == nb ? 0 : 1;
        }
        double divergence = 0;
        for (var i = 0; i < a.Count; i++)
        {
            var p = a[i] / na;
            var q = b[i] / nb;
            var m = (p + q) / 2;
            if (p > 0)
            {
                divergence += 0.5 * p * Math.Log2(p / m);
            }
            if (q > 0)
            {
                divergence += 0.5 * q * Math.Log2(q / m);
            }
        }
        return Math.Sqrt(Math.Max(0, divergence));
    }

    /// <summary>1 - cos(a, b).</summary>
    public static double CosineDistance(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double dot = 0, na = 0, nb = 0;
        for (var i = 0; i < a.Length; i++)
        {
            dot += a[i] * b[i];
            na += a[i] * a[i];
            nb += b[i] * b[i];
        }
        return na == 0 || nb == 0 ? (na == nb ? 0 : 1) : 1 - dot / Math.Sqrt(na * nb);
    }

    /// <summary>
    /// The squared maximum mean discrepancy of two samples of vectors with a Gaussian kernel exp(-|x-y|² / (2σ²)), σ the
    /// median distance between all pooled pairs (the median heuristic); the biased estimate (V-statistic), so 0 for
    /// identical samples and at most 2.
    /// </summary>
    public static double MaximumMeanDiscrepancy(IReadOnlyList<float[]> a, IReadOnlyList<float[]> b)
    {
        if (a.Count == 0 || b.Count == 0)
        {
            return 0;
        }
        var pooled = a.Concat(b).ToList();
        var distances = new List<double>();
        for (var i = 0; i < pooled.Count; i++)
        {
            for (var j = i + 1; j < pooled.Count; j++)
            {
                distances.Add(SquaredDistance(pooled[i], pooled[j]));
            }
        }
        distances.Sort();
        var median = distances.Count == 0 ? 1 : distances[distances.Count / 2];
        var gamma = median > 0 ? 1 / median : 1; // exp(-d² / (2σ²)) with 2σ² = median squared distance
        double Mean(IReadOnlyList<float[]> x, IReadOnlyList<float[]> y)
        {
            double sum = 0;
            foreach (var u in x)
            {
                foreach (var v in y)
                {
                    sum += Math.Exp(-gamma * SquaredDistance(u, v));
                }
            }
            return sum / (x.Count * (double)y.Count);
        }
        return Math.Max(0, Mean(a, a) + Mean(b, b) - 2 * Mean(a, b));
    }

    private static double SquaredDistance(float[] u, float[] v)
    {
        double sum = 0;
        for (var i = 0; i < u.Length; i++)
        {
            var d = u[i] - (double)v[i];
            sum += d * d;
        }
        return sum;
    }

    /// <summary>Q(s, x) = Γ(s, x) / Γ(s): a series for x &lt; s + 1, else a continued fraction (Numerical Recipes' gammq).</summary>
    public static double UpperGammaRegularized(double s, double x)
    {
        if (x <= 0)
        {
            return 1;
        }
        var logPrefix = -x + s * Math.Log(x) - LogGamma(s);
        if (x < s + 1)
        {
            double sum = 1 / s, term = sum, a = s;
            for (var n = 0; n < 1000; n++)
            {
                a++;
                term *= x / a;
                sum += term;
                if (Math.Abs(term) < Math.Abs(sum) * 1e-15)
                {
                    break;
                }
            }
            return Math.Clamp(1 - sum * Math.Exp(logPrefix), 0, 1);
        }
        const double tiny = 1e-300;
        double bb = x + 1 - s, c = 1 / tiny, d = 1 / bb, h = d;
        for (var i = 1; i < 1000; i++)
        {
            var an = -i * (i - s);
            bb += 2;
            d = an * d + bb;
            if (Math.Abs(d) < tiny)
            {
                d = tiny;
            }
            c = bb + an / c;
            if (Math.Abs(c) < tiny)
            {
                c = tiny;
            }
            d = 1 / d;
            var delta = d * c;
            h *= delta;
            if (Math.Abs(delta - 1) < 1e-15)
            {
                break;
            }
        }
        return Math.Clamp(Math.Exp(logPrefix) * h, 0, 1);
    }

    /// <summary>ln Γ(x) for x &gt; 0 (Lanczos, g = 7, 9 terms; relative error about 1e-15).</summary>
    public static double LogGamma(double x)
    {
        if (x < 0.5)
        {
            return Math.Log(Math.PI / Math.Abs(Math.Sin(Math.PI * x))) - LogGamma(1 - x);
        }
        ReadOnlySpan<double> g =
        [
            0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
            12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
        ];
        x -= 1;
        var a = g[0];
        var t = x + 7.5;
        for (var i = 1; i < 9; i++)
        {
            a += g[i] / (x + i);
        }
        return 0.5 * Math.Log(2 * Math.PI) + (x + 0.5) * Math.Log(t) - t + Math.Log(a);
    }

    private static void CheckSameLength<T>(IReadOnlyList<T> a, IReadOnlyList<T> b)
    {
        if (a.Count != b.Count)
        {
            throw new ArgumentException($"Distributions over {a.Count} and {b.Count} categories cannot be compared.");
        }
    }
}
