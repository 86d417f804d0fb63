using BigDataAI.Ingestion.Quality;

namespace BigDataAI.UnitTests.Quality;

/// <summary>Each statistic against a value computed by hand (the arithmetic is in the comments).</summary>
public sealed class DriftStatisticsTests
{
    [Fact]
    public void Psi_of_a_half_half_split_moving_to_a_quarter()
    {
        // (0.25 - 0.5) ln(0.25 / 0.5) + (0.75 - 0.5) ln(0.75 / 0.5) = 0.25 ln 2 + 0.25 ln 1.5
        Assert.Equal(0.25 * Math.Log(2) + 0.25 * Math.Log(1.5), DriftStatistics.Psi([50, 50], [25, 75]), 12);
        Assert.Equal(0, DriftStatistics.Psi([10, 20, 30], [1, 2, 3]), 12);
        // An empty bin counts as 1e-4: (1e-4 - 0.5) ln(1e-4 / 0.5) + (1 - 0.5) ln(1 / 0.5)
        Assert.Equal((1e-4 - 0.5) * Math.Log(1e-4 / 0.5) + 0.5 * Math.Log(2), DriftStatistics.Psi([5, 5], [0, 10]), 12);
    }

    [Fact]
    public void Quantiles_interpolate_and_bins_are_right_closed()
    {
        double[] sorted = [1, 2, 3, 4];
        Assert.Equal(2.5, DriftStatistics.Quantile(sorted, 0.5), 12);
        Assert.Equal(1.75, DriftStatistics.Quantile(sorted, 0.25), 12);
        Assert.Equal(4, DriftStatistics.Quantile(sorted, 1), 12);
        Assert.Equal([2L, 2, 1], DriftStatistics.Bin([0, 1, 1.5, 2, 3], [1, 2]));
        // Repeated values give fewer, distinct edges.
        Assert.Equal([1.0], DriftStatistics.QuantileEdges([1, 1, 1, 1, 1], 10));
    }

    [Fact]
    public void Kolmogorov_smirnov_of_two_shifted_samples()
    {
        // F_a - F_b is 0.5 from x = 2 to x = 4: D = 0.5. n_e = 4*4/8 = 2, λ = (√2 + 0.12 + 0.11/√2) * 0.5 = 0.80600;
        // Q(λ) = 2 (e^{-2λ²} - e^{-8λ²} + e^{-18λ²} - ...) = 0.534416.
        var (d, p) = DriftStatistics.KolmogorovSmirnov([1, 2, 3, 4], [3, 4, 5, 6]);
        Assert.Equal(0.5, d, 12);
        Assert.Equal(0.5344157192165071, p, 9);
        Assert.Equal((0.0, 1.0), DriftStatistics.KolmogorovSmirnov([1, 2, 3], [1, 2, 3]));
        Assert.Equal(1.0, DriftStatistics.KolmogorovSmirnov([1, 2], [3, 4]).Statistic, 12);
    }

    [Fact]
    public void Chi_square_of_a_two_by_two_table()
    {
        // Expected 15 in every cell: χ² = 4 · 5²/15 = 6.667, df 1, p = erfc(√(χ²/2)) = 0.0098233.
        var (chi, df, p) = DriftStatistics.ChiSquare([10, 20], [20, 10]);
        Assert.Equal(20.0 / 3, chi, 12);
        Assert.Equal(1, df);
        Assert.Equal(0.009823274507519245, p, 9);
        // A category neither side has is no degree of freedom.
        Assert.Equal(1, DriftStatistics.ChiSquare([10, 0, 20], [20, 0, 10]).DegreesOfFreedom);
        // χ²_2 survives x with e^{-x/2}; χ²_6 with e^{-x/2} (1 + x/2 + (x/2)²/2).
        Assert.Equal(Math.Exp(-2), DriftStatistics.ChiSquareSurvival(4, 2), 12);
        Assert.Equal(0.5438131158833296, DriftStatistics.ChiSquareSurvival(5, 6), 10);
        Assert.Equal(0.9999999, DriftStatistics.ChiSquareSurvival(0.0001, 30), 6);
        Assert.Equal(Math.Log(24), DriftStatistics.LogGamma(5), 12);
        Assert.Equal(Math.Log(Math.Sqrt(Math.PI)), DriftStatistics.LogGamma(0.5), 12);
    }

    [Fact]
    public void Jensen_shannon_distance_in_bits()
    {
        // p = (0.5, 0.5), q = (1, 0), m = (0.75, 0.25): KL(p‖m) = 0.5 log2(2/3) + 0.5 log2 2 = 0.20752,
        // KL(q‖m) = log2(4/3) = 0.41504; JS divergence 0.31128, distance √ = 0.557923.
        Assert.Equal(0.5579230452841438, DriftStatistics.JensenShannon([5, 5], [10, 0]), 12);
        Assert.Equal(1, DriftStatistics.JensenShannon([3, 0], [0, 7]), 12);
        Assert.Equal(0, DriftStatistics.JensenShannon([2, 6], [1, 3]), 12);
    }

    [Fact]
    public void Embedding_distances()
    {
        Assert.Equal(1, DriftStatistics.CosineDistance([1, 0], [0, 2]), 12);
        Assert.Equal(0, DriftStatistics.CosineDistance([1, 2], [2, 4]), 12);
        float[][] a = [[0, 0], [1, 1]];
        Assert.Equal(0, DriftStatistics.MaximumMeanDiscrepancy(a, a), 12);
        // Two points per side, pooled squared distances {0, 2, 2, 2, 2, 8} (a = {(0,0),(1,1)}, b = {(1,1),(2,2)}):
        // median 2, kernel exp(-d²/2). K_aa mean = (1 + e^-1)/2, K_bb the same, K_ab = (e^-1 + e^-4 + 1 + e^-1)/4.
        float[][] b = [[1, 1], [2, 2]];
        var kaa = (1 + Math.Exp(-1)) / 2;
        var kab = (2 * Math.Exp(-1) + Math.Exp(-4) + 1) / 4;
        Assert.Equal(2 * kaa - 2 * kab, DriftStatistics.MaximumMeanDiscrepancy(a, b), 6);
    }

    [Fact]
    public void Reservoir_keeps_short_streams_whole_and_samples_long_ones_by_seed()
    {
        var small = new Reservoir<int>(10, seed: 1);
        foreach (var i in Enumerable.Range(0, 5))
        {
            small.Add(i);
        }
        Assert.Equal([0, 1, 2, 3, 4], small.Items);
        Reservoir<int> Sample(int seed)
        {
            var r = new Reservoir<int>(100, seed);
            foreach (var i in Enumerable.Range(0, 10_000))
            {
                r.Add(i);
            }
            return r;
        }
        Assert.Equal(Sample(3).Items, Sample(3).Items);
        Assert.NotEqual(Sample(3).Items, Sample(4).Items);
        Assert.InRange(Sample(3).Items.Average(), 3_500, 6_500);
    }
}
