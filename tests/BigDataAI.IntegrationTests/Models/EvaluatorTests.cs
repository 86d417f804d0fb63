using BigDataAI.Models;

namespace BigDataAI.IntegrationTests.Models;

public sealed class EvaluatorTests
{
    [Fact]
    public void Compute_matches_a_hand_computed_three_class_example()
    {
        long[] actual = [0, 0, 0, 1, 1, 2, 2, 2, 2, 0];
        long[] predicted = [0, 1, 0, 1, 2, 2, 2, 0, 2, 2];
        // Confusion (row = actual): [2 1 1] [0 1 1] [1 0 3]; 6 of 10 correct.
        // Precision = TP / column sum: 2/3, 1/2, 3/5.  Recall = TP / row sum: 2/4, 1/2, 3/4.
        // F1 = 2PR / (P + R): 4/7, 1/2, 2/3.

        var result = Evaluator.Compute(actual, predicted, classes: 3);

        Assert.Equal(3, result.Classes);
        Assert.Equal(10, result.Samples);
        Assert.Equal(0.6, result.Accuracy, 12);
        Assert.Equal([2L, 1, 1, 0, 1, 1, 1, 0, 3], result.ConfusionMatrix);
        Assert.Equal(1, result.Count(actual: 0, predicted: 2));
        Assert.Equal(1, result.Count(actual: 2, predicted: 0));
        AssertClose([2.0 / 3, 1.0 / 2, 3.0 / 5], result.Precision);
        AssertClose([2.0 / 4, 1.0 / 2, 3.0 / 4], result.Recall);
        AssertClose([4.0 / 7, 1.0 / 2, 2.0 / 3], result.F1);
        Assert.Equal((4.0 / 7 + 1.0 / 2 + 2.0 / 3) / 3, result.MacroF1, 12);
    }

    [Fact]
    public void A_class_never_present_nor_predicted_scores_zero_not_NaN()
    {
        var result = Evaluator.Compute([0, 1, 1], [0, 1, 0], classes: 3);

        Assert.Equal([1.0 / 2, 1.0, 0.0], result.Precision);
        Assert.Equal([1.0, 1.0 / 2, 0.0], result.Recall);
        Assert.Equal(0.0, result.F1[2]);
        Assert.All(result.F1, value => Assert.True(double.IsFinite(value)));
        Assert.Equal(0.0, Evaluator.Compute([], [], classes: 2).Accuracy);
    }

    [Fact]
    public void Compute_rejects_unpaired_or_out_of_range_classes_naming_the_index()
    {
        var lengths = Assert.Throws<ArgumentException>(() => Evaluator.Compute([0, 1], [0], classes: 2));
        Assert.Contains("actual has 2 labels but predicted has 1", lengths.Message);

        var actual = Assert.Throws<ArgumentException>(() => Evaluator.Compute([0, 5], [0, 1], classes: 3));
        Assert.Contains("actual[1] = 5 is outside 0..2", actual.Message);

        var predicted = Assert.Throws<ArgumentException>(() => Evaluator.Compute([0, 1], [-1, 1], classes: 3));
        Assert.Contains("predicted[0] = -1 is outside 0..2", predicted.Message);
    }

    private static void AssertClose(double[] expected, double[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i], actual[i], 12);
        }
    }
}
