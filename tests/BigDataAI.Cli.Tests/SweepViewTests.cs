using BigDataAI.Cli;
using BigDataAI.Protos.Training.V1;

namespace BigDataAI.Cli.Tests;

public sealed class SweepViewTests
{
    [Fact]
    public void Params_are_ranges_with_log_and_grid_points_or_choices()
    {
        var lr = SweepView.ParseParam("learning_rate=1e-4:1e-2:log");
        Assert.Equal(("learning_rate", 1e-4, 1e-2, true, 0), (lr.Name, lr.Min, lr.Max, lr.LogScale, lr.GridPoints));
        var batch = SweepView.ParseParam("batch_size=16:64:4");
        Assert.Equal((16.0, 64.0, false, 4), (batch.Min, batch.Max, batch.LogScale, batch.GridPoints));
        Assert.Equal(["adam", "sgd"], SweepView.ParseParam("optimizer=adam, sgd").Choices);
        Assert.Contains("--param 'dropout'", Assert.Throws<ArgumentException>(() => SweepView.ParseParam("dropout")).Message, StringComparison.Ordinal);
        Assert.Contains("'fast' is neither 'log'", Assert.Throws<ArgumentException>(() => SweepView.ParseParam("dropout=0:1:fast")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Changes_print_a_line_only_when_a_trial_moves_and_the_table_marks_the_best()
    {
        var sweep = new Sweep { SweepId = "s", State = JobState.Running, BestTrial = -1 };
        sweep.Trials.Add(new Trial { Index = 0, State = JobState.Running, EpochsCompleted = 1, ValidationScore = 0.8, Parameters = { ["dropout"] = "0.2" } });
        sweep.Trials.Add(new Trial { Index = 1, State = JobState.Stopped, EpochsCompleted = 1, ValidationScore = 0.3, StopReason = "ASHA: low", Parameters = { ["dropout"] = "0" } });
        var seen = new Dictionary<int, string>();
        Assert.Equal(["trial 0 (dropout=0.2): epoch 1, validation 0.8000", "trial 1 (dropout=0): stopped after 1 epochs: ASHA: low"], SweepView.Changes(sweep, seen));
        Assert.Empty(SweepView.Changes(sweep, seen));
        sweep.Trials[0].State = JobState.Succeeded;
        sweep.Trials[0].TestScore = 0.79;
        sweep.Trials[0].ModelId = "m1";
        (sweep.State, sweep.BestTrial, sweep.BestModelId) = (JobState.Succeeded, 0, "m1");
        Assert.Single(SweepView.Changes(sweep, seen));
        var table = SweepView.Describe(sweep);
        Assert.Contains("* 0", table, StringComparison.Ordinal);
        Assert.Contains("Best: trial 0 (dropout=0.2), validation 0.8000, test 0.7900, model m1", table, StringComparison.Ordinal);
    }
}
