using BigDataAI.Datasets;
using BigDataAI.Models;
using BigDataAI.Training.Workers;

namespace BigDataAI.IntegrationTests.Models;

/// <summary>Training against probabilistic labels (<see cref="TrainingData.SoftTargets"/>) instead of hard ones.</summary>
public sealed class SoftTargetTests
{
    private static readonly ModelSpec Mlp = new() { Architecture = "mlp", InputShape = [10], Classes = 3, HiddenSizes = [16] };
    private static readonly TrainingOptions Options = new() { Epochs = 8, BatchSize = 25, LearningRate = 1e-2, Seed = 5, Device = "cpu" };

    private static TrainingData WithSoft(TrainingData data, Func<int, int, float> probability)
    {
        var soft = new float[data.Rows * 3];
        for (var r = 0; r < data.Rows; r++)
        {
            for (var c = 0; c < 3; c++)
            {
                soft[r * 3 + c] = probability(r, c);
            }
        }
        return new TrainingData(data.Features, data.Labels, data.FeatureCount) { SoftTargets = soft };
    }

    [Fact]
    public void One_hot_soft_targets_train_exactly_as_the_labels_and_softened_ones_train_differently()
    {
        var hard = Synthetic.Blobs(rows: 150, features: 10, classes: 3, seed: 1, spread: 1.0);
        var oneHot = WithSoft(hard, (r, c) => hard.Labels[r] == c ? 1f : 0f);
        // Label smoothing by hand: 0.7 on the label, 0.15 on each other class.
        var smoothed = WithSoft(hard, (r, c) => hard.Labels[r] == c ? 0.7f : 0.15f);

        using var a = Trainer.Train(Mlp, hard, null, Options);
        using var b = Trainer.Train(Mlp, oneHot, null, Options);
        using var s = Trainer.Train(Mlp, smoothed, null, Options);

        var hardLoss = a.Epochs.Select(e => e.TrainLoss).ToArray();
        var oneHotLoss = b.Epochs.Select(e => e.TrainLoss).ToArray();
        var smoothLoss = s.Epochs.Select(e => e.TrainLoss).ToArray();
        for (var e = 0; e < hardLoss.Length; e++)
        {
            Assert.Equal(hardLoss[e], oneHotLoss[e], 4);
        }
        // Smoothed targets keep the loss up: its floor is their entropy (about 0.82 nats), not 0.
        Assert.True(smoothLoss[^1] > hardLoss[^1] + 0.2, $"soft {string.Join(", ", smoothLoss)} vs hard {string.Join(", ", hardLoss)}");
        Assert.True(smoothLoss[^1] > 0.8, $"soft {smoothLoss[^1]}");
    }

    [Fact]
    public void Soft_targets_of_the_wrong_width_are_refused()
    {
        var hard = Synthetic.Blobs(rows: 20, features: 10, classes: 3, seed: 1);
        var bad = new TrainingData(hard.Features, hard.Labels, hard.FeatureCount) { SoftTargets = new float[20 * 2] };
        var e = Assert.Throws<ArgumentException>(() => Trainer.Train(Mlp, bad, null, Options));
        Assert.Contains("SoftTargets", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_label_probability_and_label_source_columns_are_never_model_inputs_but_give_the_soft_targets()
    {
        var x = new ColumnSchema("x", ColumnType.Tensor, ColumnRole.Feature, Nullable: false, Shape: [4]);
        var label = new ColumnSchema("label", ColumnType.String, ColumnRole.Label);
        var probs = new ColumnSchema("_label_probs", ColumnType.Tensor, ColumnRole.Ignored, Nullable: false, Shape: [2]);
        var source = new ColumnSchema("_label_source", ColumnType.String, ColumnRole.Ignored);
        var random = new Random(3);
        const int rows = 40;
        var table = new Table(new DatasetSchema([x, label, probs, source]),
        [
            new Column(x, Enumerable.Range(0, rows * 4).Select(_ => (float)random.NextDouble()).ToArray()),
            new Column(label, Enumerable.Range(0, rows).Select(r => (string?)(r % 2 == 0 ? "a" : "b")).ToArray()),
            new Column(probs, Enumerable.Range(0, rows).SelectMany(r => r % 2 == 0 ? new[] { 0.9f, 0.1f } : [0.2f, 0.8f]).ToArray()),
            new Column(source, Enumerable.Range(0, rows).Select(r => (string?)(r % 3 == 0 ? "rules" : "human")).ToArray()),
        ], [.. Enumerable.Range(0, rows).Select(r => (long)r)]);

        var prepared = JobRunner.Prepare("mlp", ["a", "b"], table, table, table, softTargets: true);

        Assert.Equal(4, prepared.Features.Width);
        Assert.Equal(4, prepared.Train.FeatureCount);
        Assert.Equal((float[])table["_label_probs"].Values, prepared.Train.SoftTargets);
        Assert.Null(prepared.Validation.SoftTargets); // evaluation stays on the hard labels
        Assert.Null(JobRunner.Prepare("mlp", ["a", "b"], table, table, table).Train.SoftTargets);
        Assert.Equal(4, JobRunner.Prepare("mlp", ["a", "b"], table, table, table).Features.Width);
    }
}
