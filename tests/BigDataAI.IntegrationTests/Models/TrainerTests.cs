using BigDataAI.Models;
using TorchSharp;

namespace BigDataAI.IntegrationTests.Models;

public sealed class TrainerTests
{
    private static readonly ModelSpec SmallMlp = new() { Architecture = "mlp", InputShape = [20], Classes = 4, HiddenSizes = [32, 16] };
    private static readonly ModelSpec SmallCnn = new() { Architecture = "cnn", InputShape = [8, 8], Classes = 4, Channels = [4, 16], HiddenSizes = [16] };

    private static readonly TrainingOptions Quick = new() { Epochs = 4, BatchSize = 32, LearningRate = 1e-2, Seed = 3, Device = "cpu" };

    [Theory]
    [InlineData("adam")]
    [InlineData("sgd")]
    public void The_MLP_learns_a_separable_problem(string optimizer)
    {
        var train = Synthetic.Blobs(rows: 800, features: 20, classes: 4, seed: 1);
        var validation = Synthetic.Blobs(rows: 400, features: 20, classes: 4, seed: 2);

        using var result = Trainer.Train(SmallMlp, train, validation, Quick with { Optimizer = optimizer });

        Assert.Equal(4, result.Epochs.Count);
        Assert.Equal([1, 2, 3, 4], result.Epochs.Select(e => e.Epoch));
        Assert.True(result.Epochs[^1].ValidationAccuracy >= 0.95, $"validation accuracy {result.Epochs[^1].ValidationAccuracy}");
        Assert.True(result.Epochs[^1].TrainLoss < result.Epochs[0].TrainLoss / 2, string.Join(", ", result.Epochs.Select(e => e.TrainLoss)));
        Assert.Equal("cpu", result.Device);
        Assert.True(Evaluator.Evaluate(result.Model, SmallMlp, validation).Accuracy >= 0.95);
    }

    [Fact]
    public void A_regression_learns_a_linear_target_with_mean_squared_error_and_predicts_values()
    {
        static TrainingData Line(int rows, int seed)
        {
            var random = new Random(seed);
            var x = new float[rows * 2];
            var y = new float[rows];
            for (var r = 0; r < rows; r++)
            {
                (x[2 * r], x[2 * r + 1]) = ((float)random.NextDouble(), (float)random.NextDouble());
                y[r] = 3 * x[2 * r] - 2 * x[2 * r + 1] + 1;
            }
            return new TrainingData(x, y, 2);
        }
        var spec = new ModelSpec { Architecture = "mlp", InputShape = [2], Classes = 1, Regression = true, HiddenSizes = [16] };
        var train = Line(600, 1);
        var validation = Line(200, 2);

        using var result = Trainer.Train(spec, train, validation, Quick with { Epochs = 30, LearningRate = 0.01 });

        var metrics = Evaluator.EvaluateRegression(result.Model, spec, validation);
        Assert.True(metrics.R2 > 0.98, $"R² {metrics.R2}");
        Assert.True(metrics.Mae < 0.1, $"MAE {metrics.Mae}");
        Assert.Equal(metrics.R2, result.Epochs[^1].ValidationAccuracy!.Value, 6); // the per-epoch score is R²
        using var weights = new MemoryStream();
        ModelWeights.Save(result.Model, weights);
        weights.Position = 0;
        using var predictor = new Predictor(spec, weights);
        var value = predictor.Predict([0.5f, 0.25f], 1);
        Assert.Single(value);
        Assert.InRange(value[0], 2.0 - 0.2, 2.0 + 0.2); // 3 * 0.5 - 2 * 0.25 + 1
        Assert.Throws<ArgumentException>(() => Trainer.Train(spec, Synthetic.Blobs(rows: 10, features: 2, classes: 2, seed: 1), null, Quick));
        Assert.Throws<ArgumentException>(() => (spec with { Classes = 2 }).Validate());
    }

    [Theory]
    [InlineData("mlp")]
    [InlineData("cnn")]
    public void The_same_seed_gives_identical_losses_and_predictions_and_another_seed_does_not(string architecture)
    {
        var spec = architecture == "mlp" ? SmallMlp with { InputShape = [64] } : SmallCnn;
        var train = Synthetic.Blobs(rows: 300, features: 64, classes: 4, seed: 1, spread: 1.5);
        var probe = Synthetic.Blobs(rows: 50, features: 64, classes: 4, seed: 9, spread: 1.5);
        var options = Quick with { Epochs = 2 };

        var first = TrainAndPredict(spec, train, probe, options);
        var second = TrainAndPredict(spec, train, probe, options);
        var other = TrainAndPredict(spec, train, probe, options with { Seed = 4 });

        Assert.Equal(first.Losses, second.Losses);
        Assert.Equal(first.Probabilities, second.Probabilities);
        Assert.NotEqual(first.Losses, other.Losses);
        Assert.NotEqual(first.Probabilities, other.Probabilities);
    }

    [Fact]
    public void Callbacks_see_every_batch_and_epoch_and_each_checkpoint_holds_that_epochs_weights()
    {
        var train = Synthetic.Blobs(rows: 100, features: 20, classes: 4, seed: 1); // batches of 32, 32, 32, 4
        var probe = Synthetic.Blobs(rows: 10, features: 20, classes: 4, seed: 5);
        var batches = new Recorder<BatchProgress>();
        var epochs = new Recorder<EpochResult>();
        var checkpoints = new List<(EpochResult Epoch, byte[] Weights)>();
        var callbacks = new TrainingCallbacks
        {
            Batch = batches,
            Epoch = epochs,
            Checkpoint = checkpoint =>
            {
                using var stream = new MemoryStream();
                checkpoint.WriteWeights(stream);
                checkpoints.Add((checkpoint.Epoch, stream.ToArray()));
            },
        };

        using var result = Trainer.Train(SmallMlp, train, validation: null, Quick with { Epochs = 3 }, callbacks);

        Assert.Equal(3 * 4, batches.Items.Count);
        Assert.Equal(
            Enumerable.Range(1, 3).SelectMany(epoch => Enumerable.Range(1, 4).Select(batch => (epoch, batch, 4))),
            batches.Items.Select(b => (b.Epoch, b.Batch, b.Batches)));
        Assert.All(batches.Items, b => Assert.True(b.Loss > 0 && b.SamplesPerSecond > 0));
        Assert.Equal(result.Epochs, epochs.Items);
        Assert.All(result.Epochs, e => Assert.Null(e.ValidationAccuracy));
        Assert.Equal(result.Epochs, checkpoints.Select(c => c.Epoch));

        // The last checkpoint is the final model; an earlier one differs.
        using var final = new Predictor(SmallMlp, new MemoryStream(checkpoints[^1].Weights));
        using var early = new Predictor(SmallMlp, new MemoryStream(checkpoints[0].Weights));
        var expected = Probabilities(result, probe);
        Assert.Equal(expected, final.Predict(probe.Features, probe.Rows));
        Assert.NotEqual(expected, early.Predict(probe.Features, probe.Rows));
    }

    [Fact]
    public void Cancellation_is_honoured_between_batches()
    {
        var train = Synthetic.Blobs(rows: 320, features: 20, classes: 4, seed: 1);
        using var cancellation = new CancellationTokenSource();
        var batches = new Recorder<BatchProgress>();
        var callbacks = new TrainingCallbacks
        {
            Batch = new SyncProgress<BatchProgress>(progress =>
            {
                batches.Report(progress);
                if (progress.Batch == 3)
                {
                    cancellation.Cancel();
                }
            }),
        };

        Assert.ThrowsAny<OperationCanceledException>(() => Trainer.Train(SmallMlp, train, null, Quick, callbacks, cancellation.Token));
        Assert.Equal(3, batches.Items.Count);
    }

    [Fact]
    public void Data_that_does_not_fit_the_spec_is_rejected_naming_the_row_and_reason()
    {
        var good = Synthetic.Blobs(rows: 20, features: 20, classes: 4, seed: 1);
        var labels = (long[])good.Labels.Clone();
        labels[7] = 4;
        var badLabel = new TrainingData(good.Features, labels, 20);

        var label = Assert.Throws<ArgumentException>(() => Trainer.Train(SmallMlp, badLabel, null, Quick));
        Assert.Contains("train: label 4 at row 7 is outside 0..3", label.Message);

        var width = Assert.Throws<ArgumentException>(() => Trainer.Train(SmallMlp, good, Synthetic.Blobs(10, 19, 4, 1), Quick));
        Assert.Contains("validation has 19 features per row but the model", width.Message);

        var lengths = Assert.Throws<ArgumentException>(() => new TrainingData(new float[39], new long[2], 20));
        Assert.Contains("features has 39 values but 2 labels x 20 features per row need 40", lengths.Message);
    }

    [Fact]
    public void Invalid_options_are_rejected_naming_the_option()
    {
        var data = Synthetic.Blobs(rows: 20, features: 20, classes: 4, seed: 1);

        Assert.Contains("Valid optimizers: adam, sgd",
            Assert.Throws<ArgumentException>(() => Trainer.Train(SmallMlp, data, null, Quick with { Optimizer = "rmsprop" })).Message);
        Assert.Contains("TrainingOptions.BatchSize must be at least 1",
            Assert.Throws<ArgumentException>(() => Trainer.Train(SmallMlp, data, null, Quick with { BatchSize = 0 })).Message);
        Assert.Contains("CUDA is not available",
            Assert.Throws<ArgumentException>(() => Trainer.Train(SmallMlp, data, null, Quick with { Device = "cuda" })).Message);
    }

    [Fact]
    public void A_CNN_with_a_later_convolution_of_8_channels_trains_unless_this_host_computes_its_gradients_wrongly()
    {
        var spec = SmallCnn with { Channels = [4, 8] };
        var data = Synthetic.Blobs(rows: 64, features: 64, classes: 4, seed: 1);

        if (HostComputesWrongConvolutionInputGradients())
        {
            var error = Assert.Throws<ArgumentException>(() => Trainer.Train(spec, data, null, Quick with { Epochs = 1 }));
            Assert.Contains("ModelSpec.Channels[1] = 8 cannot be trained correctly on this host", error.Message);
            Assert.Contains("multiples of 16", error.Message);
        }
        else
        {
            using var result = Trainer.Train(spec, data, null, Quick with { Epochs = 1 });
            Assert.True(double.IsFinite(result.Epochs[0].TrainLoss));
        }
        // Channel counts that are multiples of 16 after the first convolution train everywhere (SmallCnn is [4, 16]).
        using var fine = Trainer.Train(SmallCnn, data, null, Quick with { Epochs = 1 });
        Assert.True(double.IsFinite(fine.Epochs[0].TrainLoss));
    }

    /// <summary>
    /// An independent look at the defect the trainer guards against: autograd's float32 input gradient of a 16-to-4
    /// channel convolution against float64 (computed without oneDNN).
    /// </summary>
    private static bool HostComputesWrongConvolutionInputGradients()
    {
        TorchRuntime.EnsureLoadable();
        using var scope = torch.NewDisposeScope();
        using var generator = new torch.Generator(99);
        var input = torch.rand([4, 16, 8, 8], generator: generator);
        var weight = torch.randn([4, 16, 5, 5], generator: generator);
        double[] Gradient(torch.ScalarType type)
        {
            var x = input.to(type).detach().requires_grad_(true); // a fresh leaf each time
            var output = torch.nn.functional.conv2d(x, weight.to(type), padding: [2, 2]);
            output.square().sum().backward();
            return x.grad!.to(torch.ScalarType.Float64).data<double>().ToArray();
        }
        var single = Gradient(torch.ScalarType.Float32);
        var reference = Gradient(torch.ScalarType.Float64);
        return single.Zip(reference).Any(pair => !(Math.Abs(pair.First - pair.Second) <= 1e-3));
    }

    private static (double[] Losses, float[] Probabilities) TrainAndPredict(ModelSpec spec, TrainingData train, TrainingData probe, TrainingOptions options)
    {
        using var result = Trainer.Train(spec, train, null, options);
        return (result.Epochs.Select(e => e.TrainLoss).ToArray(), Probabilities(result, probe));
    }

    /// <summary>Probabilities of the trained model, through a save and a load.</summary>
    internal static float[] Probabilities(TrainingResult result, TrainingData probe)
    {
        using var weights = new MemoryStream();
        ModelWeights.Save(result.Model, weights);
        weights.Position = 0;
        using var predictor = new Predictor(result.Spec, weights, "cpu");
        return predictor.Predict(probe.Features, probe.Rows);
    }
}

/// <summary>An <see cref="IProgress{T}"/> that calls its handler synchronously.</summary>
internal sealed class SyncProgress<T>(Action<T> handler) : IProgress<T>
{
    public void Report(T value) => handler(value);
}
