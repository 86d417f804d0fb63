using BigDataAI.Labeling.Rules;
using Xunit.Abstractions;

namespace BigDataAI.UnitTests.Labeling;

public sealed class AnchoredLabelModelTests(ITestOutputHelper output)
{
    /// <summary>
    /// Unipolar, correlated functions, as people write them: a precise spam rule, a precise ham rule, and three copies of
    /// a poor spam rule ("many links") that fire together, on newsletters (ham) more than on spam. Majority vote follows
    /// the copies; the unsupervised model takes their agreement for accuracy; fitted on 100 gold rows, the
    /// class-conditional model learns what the copies firing means.
    /// </summary>
    [Fact]
    public void Fitted_on_a_few_gold_rows_it_beats_majority_vote_where_correlated_functions_fool_the_unsupervised_model()
    {
        const int rows = 3000;
        var random = new Random(5);
        var truth = new int[rows];
        var votes = new int[rows, 5];
        for (var i = 0; i < rows; i++)
        {
            truth[i] = random.NextDouble() < 0.4 ? 1 : 0;
            var spam = truth[i] == 1;
            votes[i, 0] = random.NextDouble() < (spam ? 0.5 : 0.03) ? 1 : LabelModel.Abstain;
            votes[i, 1] = random.NextDouble() < (spam ? 0.05 : 0.5) ? 0 : LabelModel.Abstain;
            var links = random.NextDouble() < (spam ? 0.2 : 0.3);
            for (var j = 2; j < 5; j++)
            {
                votes[i, j] = links ? 1 : LabelModel.Abstain;
            }
        }
        var gold = Enumerable.Range(0, 100).ToArray();
        var model = AnchoredLabelModel.Fit(votes, 2, gold, [.. gold.Select(i => truth[i])]);
        var unsupervised = LabelModel.Fit(votes, 2);
        var majority = LabelModel.MajorityVote(votes, 2);
        var unsupervisedPredicted = unsupervised.Predict(votes);
        var posterior = new double[2];
        int right = 0, majorityRight = 0, unsupervisedRight = 0, counted = 0;
        for (var i = 100; i < rows; i++)
        {
            counted++;
            model.Posterior(votes, i, posterior);
            right += (posterior[1] > posterior[0] ? 1 : 0) == truth[i] ? 1 : 0;
            majorityRight += majority[i] == truth[i] ? 1 : 0;
            unsupervisedRight += unsupervisedPredicted[i].Class == truth[i] ? 1 : 0;
        }
        double Share(int n) => n / (double)counted;
        output.WriteLine($"on {counted} rows not fitted on: anchored {Share(right):P1}, unsupervised {Share(unsupervisedRight):P1}, majority vote {Share(majorityRight):P1}");
        output.WriteLine($"accuracies: anchored {string.Join(", ", model.Accuracies.Select(a => a.ToString("F2", System.Globalization.CultureInfo.InvariantCulture)))}; unsupervised {string.Join(", ", unsupervised.Accuracies.Select(a => a.ToString("F2", System.Globalization.CultureInfo.InvariantCulture)))}");
        Assert.True(Share(right) > Share(majorityRight) + 0.05, $"anchored {Share(right):P1} vs majority vote {Share(majorityRight):P1}");
        Assert.True(Share(right) > Share(unsupervisedRight) + 0.05, $"anchored {Share(right):P1} vs unsupervised {Share(unsupervisedRight):P1}");
        // The copies are right about 2 times in 5 when they fire (0.4 x 0.2 spam against 0.6 x 0.3 ham): learned so.
        Assert.InRange(model.Accuracies[2], 0.2, 0.45);
        Assert.InRange(model.Prior[1], 0.3, 0.5);

        var crossFitted = AnchoredLabelModel.CrossFitted(votes, 2, gold, [.. gold.Select(i => truth[i])]);
        Assert.Equal(100, crossFitted.Length);
        Assert.True(crossFitted.Where((c, n) => c == truth[gold[n]]).Count() > 70);
    }
}
