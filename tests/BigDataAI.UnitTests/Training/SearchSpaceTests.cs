using System.Globalization;
using BigDataAI.Training.Model;
using BigDataAI.Training.Services;

namespace BigDataAI.UnitTests.Training;

public sealed class SearchSpaceTests
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    [Fact]
    public void A_grid_is_every_combination_with_ranges_spaced_evenly_in_linear_or_log_space()
    {
        var space = new[]
        {
            new SearchParameter("learning_rate", 1e-4, 1e-2, LogScale: true),
            new SearchParameter("optimizer", Choices: ["adam", "sgd"]),
            new SearchParameter("batch_size", 16, 64, GridPoints: 4),
        };
        SearchSpace.Check(space);
        var trials = SearchSpace.Trials(space, "grid", 0, 1);
        Assert.Equal(3 * 2 * 4, trials.Count);
        Assert.Equal(["0.0001", "0.001", "0.01"], trials.Select(t => t["learning_rate"]).Distinct());
        Assert.Equal(["16", "32", "48", "64"], trials.Select(t => t["batch_size"]).Distinct());
        Assert.Equal(trials.Count, trials.Select(t => SweepController.Describe(t)).Distinct().Count());
    }

    [Fact]
    public void Random_draws_stay_in_their_ranges_repeat_with_the_seed_and_differ_with_another()
    {
        var space = new[]
        {
            new SearchParameter("learning_rate", 1e-5, 1e-1, LogScale: true),
            new SearchParameter("dropout", 0, 0.5),
            new SearchParameter("epochs", 2, 9),
            new SearchParameter("lr_schedule", Choices: ["constant", "cosine"]),
        };
        var a = SearchSpace.Trials(space, "random", 200, 7);
        Assert.Equal(200, a.Count);
        Assert.All(a, t =>
        {
            Assert.InRange(double.Parse(t["learning_rate"], Inv), 1e-5, 1e-1);
            Assert.InRange(double.Parse(t["dropout"], Inv), 0, 0.5);
            Assert.InRange(int.Parse(t["epochs"], Inv), 2, 9);
            Assert.Contains(t["lr_schedule"], new[] { "constant", "cosine" });
        });
        // Log-uniform: about a quarter of the draws in each decade of four.
        var decades = a.GroupBy(t => (int)Math.Floor(Math.Log10(double.Parse(t["learning_rate"], Inv)))).ToDictionary(g => g.Key, g => g.Count());
        Assert.All(new[] { -5, -4, -3, -2 }, d => Assert.InRange(decades.GetValueOrDefault(d), 25, 80));
        Assert.Equal(a.Select(SweepController.Describe), SearchSpace.Trials(space, "random", 200, 7).Select(SweepController.Describe));
        Assert.NotEqual(a.Select(SweepController.Describe), SearchSpace.Trials(space, "random", 200, 8).Select(SweepController.Describe));
    }

    [Theory]
    [InlineData("momentum", 0, 1, false, "", "Field 'space[0].name': 'momentum' is not a parameter")]
    [InlineData("dropout", 0.5, 0.5, false, "", "Field 'space[0]': the range of 'dropout' is empty")]
    [InlineData("dropout", 0, 2, false, "", "'dropout' must stay within [0, 0.95]")]
    [InlineData("weight_decay", 0, 0.1, true, "", "Field 'space[0].min': a log-scale range of 'weight_decay' must start above 0")]
    [InlineData("model", 0, 1, false, "", "'model' takes choices")]
    [InlineData("model", 0, 0, false, "mlp,transformer", "'transformer' is not a value of 'model'")]
    [InlineData("batch_size", 0, 0, false, "16,16", "lists a choice twice")]
    [InlineData("batch_size", 0, 0, false, "16.5", "'16.5' is not a value of 'batch_size'")]
    public void A_bad_dimension_is_refused_naming_its_field(string name, double min, double max, bool log, string choices, string message)
    {
        var parameter = new SearchParameter(name, min, max, log, choices.Length == 0 ? [] : choices.Split(','));
        var e = Assert.Throws<ArgumentException>(() => SearchSpace.Check([parameter]));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Trial_values_become_the_request_fields_they_name()
    {
        var request = SearchSpace.Apply(new TrainingRequest("d", 1, "mlp", Epochs: 5),
            new Dictionary<string, string> { ["learning_rate"] = "0.003", ["batch_size"] = "32", ["optimizer"] = "sgd", ["dropout"] = "0.25", ["model"] = "logreg" });
        Assert.Equal((0.003, 32, "sgd", 0.25, "logreg", 5), (request.LearningRate, request.BatchSize, request.Optimizer, request.Dropout, request.Model, request.Epochs));
    }

    [Fact]
    public void Asha_rungs_grow_by_the_factor_below_the_budget()
    {
        Assert.Equal([1, 3, 9], Asha.Rungs(1, 3, 27));
        Assert.Equal([1, 2, 4], Asha.Rungs(1, 2, 6));
        Assert.Equal([2], Asha.Rungs(2, 3, 5));
        Assert.Empty(Asha.Rungs(4, 2, 4));
    }

    [Fact]
    public void Asha_lets_a_trial_go_on_only_within_the_top_fraction_of_its_rung_so_far()
    {
        Assert.True(Asha.Decide([0.5], 0.5, 3).GoesOn); // the first at a rung always goes on
        Assert.False(Asha.Decide([0.9, 0.5], 0.5, 2).GoesOn); // top 1 of 2
        Assert.True(Asha.Decide([0.9, 0.95], 0.95, 2).GoesOn);
        var (goesOn, cutoff) = Asha.Decide([0.9, 0.8, 0.7, 0.6, 0.85, 0.65], 0.8, 3); // top 2 of 6: 0.9 and 0.85
        Assert.Equal((false, 0.85), (goesOn, cutoff));
        Assert.True(Asha.Decide([0.9, 0.8, 0.7, 0.6, 0.85, 0.65], 0.85, 3).GoesOn);
    }
}
