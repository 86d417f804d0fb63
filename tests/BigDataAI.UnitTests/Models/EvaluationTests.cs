using BigDataAI.Models;

namespace BigDataAI.UnitTests.Models;

public sealed class EvaluationTests
{
    private static float[] Binary(params float[] positive) => [.. positive.SelectMany(p => new[] { 1 - p, p })];

    [Fact]
    public void Roc_auc_and_average_precision_match_scikit_learn_on_its_documented_example()
    {
        // sklearn: roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75; average_precision_score(...) == 0.8333...
        var curves = Evaluation.Curves(Binary(0.1f, 0.4f, 0.35f, 0.8f), [0, 0, 1, 1], 2);
        Assert.Equal(0.75, curves[1].RocAuc, 12);
        Assert.Equal(5.0 / 6, curves[1].AveragePrecision, 12);
        Assert.Equal(0.75, curves[0].RocAuc, 12); // the same ranking seen from class 0
        Assert.Equal((0.0, 0.0), (curves[1].RocFpr[0], curves[1].RocTpr[0]));
        Assert.Equal((1.0, 1.0), (curves[1].RocFpr[^1], curves[1].RocTpr[^1]));
    }

    [Fact]
    public void Ties_count_half_and_a_class_absent_from_the_split_has_no_curve()
    {
        var tied = Evaluation.Curves(Binary(0.5f, 0.5f, 0.5f, 0.5f), [0, 1, 0, 1], 2);
        Assert.Equal(0.5, tied[1].RocAuc, 12);
        var absent = Evaluation.Curves([0.6f, 0.3f, 0.1f, 0.2f, 0.7f, 0.1f], [0, 1], 3);
        Assert.Equal((0.0, 0), (absent[2].RocAuc, absent[2].RocFpr.Length));
        Assert.Equal(1.0, absent[0].RocAuc, 12);
    }

    [Fact]
    public void Curves_keep_at_most_21_points_with_their_ends()
    {
        var random = new Random(3);
        var positive = Enumerable.Range(0, 500).Select(_ => (float)random.NextDouble()).ToArray();
        var actual = positive.Select(p => random.NextDouble() < p ? 1L : 0L).ToArray();
        var c = Evaluation.Curves(Binary(positive), actual, 2)[1];
        Assert.Equal(21, c.RocFpr.Length);
        Assert.Equal(21, c.PrRecall.Length);
        Assert.Equal((1.0, 1.0), (c.RocFpr[^1], c.RocTpr[^1]));
        Assert.InRange(c.RocAuc, 0.7, 0.9); // calibrated scores: clearly better than chance
    }

    [Fact]
    public void The_expected_calibration_error_weighs_each_bins_gap_by_its_rows()
    {
        // Two rows at 0.95 confidence, one right, one wrong (gap 0.45); two at 0.65, both right (gap 0.35).
        var probabilities = Binary(0.95f, 0.95f, 0.65f, 0.65f);
        var calibration = Evaluation.Calibrate(probabilities, [1, 0, 1, 1], 2);
        Assert.Equal(10, calibration.Bins);
        Assert.Equal((2L, 2L), (calibration.Rows[9], calibration.Rows[6]));
        Assert.Equal(0.5, calibration.Accuracy[9], 6);
        Assert.Equal(0.5 * 0.45 + 0.5 * 0.35, calibration.ExpectedCalibrationError, 6);
        Assert.Equal(0, Evaluation.Calibrate(Binary(1f, 0f), [1, 0], 2).ExpectedCalibrationError, 6);
    }

    [Fact]
    public void Slices_give_each_groups_figures_the_largest_gaps_and_the_fairness_differences()
    {
        // Group a: 4 rows, 3 right, predicted positive 2 of 4; group b: 4 rows, all right, predicted positive 1 of 4.
        string[] groups = ["a", "a", "a", "a", "b", "b", "b", "b"];
        long[] actual = [1, 1, 0, 0, 1, 0, 0, 0];
        long[] predicted = [1, 0, 1, 0, 1, 0, 0, 0];
        var slice = Evaluation.Slice("g", sensitive: true, groups, actual, predicted, 2);
        var (a, b) = (slice.Groups[0], slice.Groups[1]);
        Assert.Equal(("a", 4L, 0.5), (a.Value, a.Rows, a.Accuracy));
        Assert.Equal(("b", 4L, 1.0), (b.Value, b.Rows, b.Accuracy));
        Assert.Equal(0.5, slice.AccuracyGap, 12);
        Assert.Equal(1, slice.PositiveClass);
        Assert.Equal(0.5 - 0.25, slice.DemographicParityDifference, 12);
        // True-positive rates 0.5 and 1, false-positive rates 0.5 and 0: the larger gap is 0.5.
        Assert.Equal((0.5, 1.0), (a.TruePositiveRate, b.TruePositiveRate));
        Assert.Equal(0.5, slice.EqualizedOddsDifference, 12);
        Assert.Equal(0, Evaluation.Slice("g", sensitive: false, groups, actual, predicted, 2).DemographicParityDifference);
    }

    [Fact]
    public void A_group_without_positives_takes_no_part_in_the_true_positive_rate_gap()
    {
        // A perfect classifier: group b has no positives, so its (undefined) true-positive rate must not make a gap.
        string[] groups = ["a", "a", "b", "b"];
        long[] actual = [1, 0, 0, 0];
        var slice = Evaluation.Slice("g", sensitive: true, groups, actual, actual, 2);
        Assert.Equal(0, slice.EqualizedOddsDifference);
        Assert.Equal(0.5, slice.DemographicParityDifference, 12); // a predicts positive half the time, b never
    }

    [Fact]
    public void Probabilities_a_diverged_model_made_NaN_count_as_zero_and_the_figures_stay_finite()
    {
        float[] probabilities = [float.NaN, float.NaN, 0.2f, 0.8f, float.PositiveInfinity, 0.1f];
        var curves = Evaluation.Curves(probabilities, [0, 1, 0], 2);
        Assert.All(curves, c => Assert.True(double.IsFinite(c.RocAuc) && double.IsFinite(c.AveragePrecision)));
        Assert.True(double.IsFinite(Evaluation.Calibrate(probabilities, [0, 1, 0], 2).ExpectedCalibrationError));
    }

    [Fact]
    public void Numeric_columns_with_many_values_are_sliced_in_quartile_bins_and_nulls_are_their_own_group()
    {
        var values = Enumerable.Range(0, 100).Select(i => (object?)(long)i).Append(null).ToList();
        var groups = Evaluation.Groups(values, numeric: true);
        Assert.Equal(["(null)", "[0, 25)", "[25, 50)", "[50, 75)", "[75, 99]"], groups.Distinct().Order(StringComparer.Ordinal));
        Assert.Equal(25, groups.Count(g => g == "[0, 25)"));
        Assert.Equal(["false", "true"], Evaluation.Groups([false, true, false], numeric: false).Distinct().Order());
    }
}
