using BigDataAI.Labeling.Rules;
using Xunit.Abstractions;

namespace BigDataAI.UnitTests.Labeling;

public sealed class LabelModelTests(ITestOutputHelper output)
{
    /// <summary>
    /// Seeded votes with known truth: two precise functions that rarely vote and three noisy ones that nearly always
    /// do, so majority vote follows the noisy ones. The label model must learn which is which and beat it.
    /// </summary>
    private static (int[,] Votes, int[] Truth) Plant(int rows, int classes, double[] accuracy, double[] coverage, int seed)
    {
        var random = new Random(seed);
        var truth = new int[rows];
        var votes = new int[rows, accuracy.Length];
        for (var i = 0; i < rows; i++)
        {
            truth[i] = random.Next(classes);
            for (var j = 0; j < accuracy.Length; j++)
            {
                if (random.NextDouble() >= coverage[j])
                {
                    votes[i, j] = LabelModel.Abstain;
                    continue;
                }
                votes[i, j] = random.NextDouble() < accuracy[j]
                    ? truth[i]
                    : (truth[i] + 1 + random.Next(classes - 1)) % classes;
            }
        }
        return (votes, truth);
    }

    [Fact]
    public void The_label_model_learns_each_functions_accuracy_and_beats_majority_vote()
    {
        double[] accuracy = [0.95, 0.90, 0.60, 0.55, 0.50];
        double[] coverage = [0.35, 0.40, 0.90, 0.90, 0.90];
        var (votes, truth) = Plant(rows: 3000, classes: 3, accuracy, coverage, seed: 7);

        var model = LabelModel.Fit(votes, classes: 3);
        var predicted = model.Predict(votes);
        var modelAccuracy = predicted.Where((p, i) => p.Class == truth[i]).Count() / (double)truth.Length;
        var majority = LabelModel.MajorityVote(votes, 3);
        var majorityAccuracy = majority.Where((p, i) => p == truth[i]).Count() / (double)truth.Length;
        output.WriteLine($"label model {modelAccuracy:P2} against majority vote {majorityAccuracy:P2} after {model.Iterations} EM iterations");
        foreach (var f in model.Summarize(votes))
        {
            output.WriteLine($"  function {f.Function}: coverage {f.Coverage:P0}, overlap {f.Overlap:P0}, conflict {f.Conflict:P0}, learned accuracy {f.LearnedAccuracy:F3} (planted {accuracy[f.Function]:F2})");
        }

        Assert.True(modelAccuracy > majorityAccuracy + 0.03, $"label model {modelAccuracy:P2} does not beat majority vote {majorityAccuracy:P2} by 3 points");
        for (var j = 0; j < accuracy.Length; j++)
        {
            Assert.InRange(model.Accuracies[j], accuracy[j] - 0.05, accuracy[j] + 0.05);
        }
        Assert.All(model.Prior, p => Assert.InRange(p, 0.28, 0.39));
    }

    [Fact]
    public void Coverage_overlap_and_conflict_count_rows_by_hand()
    {
        int[,] votes =
        {
            { 0, 0, LabelModel.Abstain },
            { 1, 0, LabelModel.Abstain },
            { LabelModel.Abstain, 1, 1 },
            { 0, LabelModel.Abstain, LabelModel.Abstain },
        };
        var summary = LabelModel.Fit(votes, 2).Summarize(votes);
        Assert.Equal(0.75, summary[0].Coverage, 12);
        Assert.Equal(0.50, summary[0].Overlap, 12);
        Assert.Equal(0.25, summary[0].Conflict, 12);
        Assert.Equal(0.75, summary[1].Coverage, 12);
        Assert.Equal(0.75, summary[1].Overlap, 12);
        Assert.Equal(0.25, summary[1].Conflict, 12);
        Assert.Equal(0.25, summary[2].Coverage, 12);
        Assert.Equal(0.00, summary[2].Conflict, 12);
    }

    [Fact]
    public void A_vote_outside_the_classes_is_refused_naming_row_and_function()
    {
        int[,] votes = { { 0, 2 } };
        var e = Assert.Throws<ArgumentException>(() => LabelModel.Fit(votes, 2));
        Assert.Contains("row 0, function 1", e.Message, StringComparison.Ordinal);
    }
}
