using System.IO.Compression;
using System.Text.Json.Nodes;
using BigDataAI.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace BigDataAI.IntegrationTests.Models;

/// <summary>
/// The training recipe (issue 9 item 1): weight decay, dropout, learning-rate schedules, early stopping, class weights,
/// gradient clipping, and the best validation epoch's weights as the result, all checkpointed so resume stays exact.
/// </summary>
public sealed class TrainingRecipeTests
{
    private static readonly ModelSpec Mlp = new() { Architecture = "mlp", InputShape = [20], Classes = 4, HiddenSizes = [32, 16] };
    private static readonly TrainingData Train = Synthetic.Blobs(rows: 200, features: 20, classes: 4, seed: 1, spread: 1.5);
    private static readonly TrainingData Validation = Synthetic.Blobs(rows: 60, features: 20, classes: 4, seed: 2, spread: 1.5);
    private static readonly TrainingOptions Options = new() { Epochs = 5, BatchSize = 32, LearningRate = 1e-2, Seed = 7, Device = "cpu" };

    /// <summary>The same features as <see cref="Validation"/>, every label moved to the next class: the better the model learns, the worse it scores.</summary>
    private static readonly TrainingData Misleading = new(Validation.Features, Validation.Labels.Select(label => (label + 1) % 4).ToArray(), 20);

    [Fact]
    public void Schedules_give_each_batch_its_learning_rate()
    {
        var warm = new TrainingOptions { Epochs = 4, LearningRate = 0.1, WarmupEpochs = 1 };
        // 4 batches per epoch: warmup climbs 0.025, 0.05, 0.075, 0.1 over epoch 1, then the constant rate.
        Assert.Equal([0.025, 0.05, 0.075, 0.1, 0.1], Enumerable.Range(0, 5).Select(step => Math.Round(warm.LearningRateAt(1 + step / 4, step % 4, 4), 12)));

        var step = new TrainingOptions { Epochs = 6, LearningRate = 1.0, Schedule = "step", StepEpochs = 2, StepGamma = 0.5 };
        Assert.Equal([1.0, 1.0, 0.5, 0.5, 0.25, 0.25], Enumerable.Range(1, 6).Select(epoch => step.LearningRateAt(epoch, 3, 4)));

        var cosine = new TrainingOptions { Epochs = 2, LearningRate = 1.0, Schedule = "cosine" };
        // 2 epochs x 2 batches: 0.5 (1 + cos(pi t / 4)) for t = 0..3.
        Assert.Equal([1.0, 0.853553, 0.5, 0.146447], new[] { (1, 0), (1, 1), (2, 0), (2, 1) }.Select(p => Math.Round(cosine.LearningRateAt(p.Item1, p.Item2, 2), 6)));

        // The rates reach the callbacks: per batch and per epoch.
        var batches = new Recorder<BatchProgress>();
        using var result = Trainer.Train(Mlp, Train, null, Options with { Epochs = 2, Schedule = "cosine" }, new TrainingCallbacks { Batch = batches });
        Assert.Equal(14, batches.Items.Count);
        Assert.Equal(Options.LearningRate, batches.Items[0].LearningRate);
        Assert.True(batches.Items.Zip(batches.Items.Skip(1)).All(pair => pair.Second.LearningRate < pair.First.LearningRate), "a cosine rate falls every batch");
        Assert.Equal([batches.Items[0].LearningRate, batches.Items[7].LearningRate], result.Epochs.Select(e => e.LearningRate!.Value));
    }

    [Fact]
    public void Each_bad_recipe_value_is_refused_naming_the_option()
    {
        void Refused(TrainingOptions options, string expected, TrainingData? validation = null, ModelSpec? spec = null)
        {
            var error = Assert.Throws<ArgumentException>(() => Trainer.Train(spec ?? Mlp, Train, validation, options));
            Assert.Contains(expected, error.Message);
        }
        Refused(Options with { WeightDecay = -1 }, "TrainingOptions.WeightDecay must be 0 or a positive number, not -1");
        Refused(Options with { Schedule = "linear" }, "TrainingOptions.Schedule 'linear' is unknown. Valid schedules: constant, step, cosine");
        Refused(Options with { Schedule = "step" }, "TrainingOptions.StepEpochs must be at least 1 for the 'step' schedule, not 0");
        Refused(Options with { StepEpochs = 2 }, "TrainingOptions.StepEpochs (2) applies to the 'step' schedule only");
        Refused(Options with { Schedule = "step", StepEpochs = 1, StepGamma = 1.5 }, "TrainingOptions.StepGamma must be above 0 and at most 1, not 1.5");
        Refused(Options with { WarmupEpochs = 5 }, "TrainingOptions.WarmupEpochs must be at least 0 and below Epochs (5), not 5");
        Refused(Options with { Patience = -1 }, "TrainingOptions.Patience must be 0 (no early stopping) or positive, not -1");
        Refused(Options with { Patience = 2 }, "TrainingOptions.Patience is 2 but there is no validation data");
        Refused(Options with { MinDelta = double.NaN }, "TrainingOptions.MinDelta must be 0 or a positive number");
        Refused(Options with { ClassWeights = [1, 0, 1, 1] }, "TrainingOptions.ClassWeights[1] is 0; every class weight must be a positive number");
        Refused(Options with { ClassWeights = [1, 2] }, "TrainingOptions.ClassWeights has 2 weights but the model");
        Refused(Options with { MaxGradientNorm = -0.5 }, "TrainingOptions.MaxGradientNorm must be 0 (no clipping) or a positive number, not -0.5");
        var noHidden = Assert.Throws<ArgumentException>(() => (Mlp with { HiddenSizes = [], Dropout = 0.2 }).Validate());
        Assert.Contains("ModelSpec.Dropout is 0.2 but the model has no hidden layers", noHidden.Message);
        Assert.Contains("ModelSpec.Dropout must be at least 0 and below 1, not 1", Assert.Throws<ArgumentException>(() => (Mlp with { Dropout = 1 }).Validate()).Message);
    }

    [Fact]
    public void Dropout_is_seeded_acts_only_in_training_and_adds_no_weights()
    {
        var spec = Mlp with { Dropout = 0.5 };
        using var model = ModelFactory.Create(spec, seed: 3);
        using var plain = ModelFactory.Create(Mlp, seed: 3);
        using var x = tensor(Train.Features, [Train.Rows, 20]);
        using var once = Forward(model, x, train: true);
        using var twice = Forward(model, x, train: true);
        Assert.False(Same(once, twice), "two training passes draw different masks");
        using var eval = Forward(model, x, train: false);
        using var plainEval = Forward(plain, x, train: false);
        Assert.True(Same(eval, plainEval), "in eval mode dropout is the identity, and the weights are the seed's");
        Assert.Equal(plain.state_dict().Keys.Order(), model.state_dict().Keys.Order());

        // Equal seeds, equal masks: two runs are identical, and differ from the run without dropout.
        using var a = Trainer.Train(spec, Train, Validation, Options with { Epochs = 2 });
        using var b = Trainer.Train(spec, Train, Validation, Options with { Epochs = 2 });
        using var none = Trainer.Train(Mlp, Train, Validation, Options with { Epochs = 2 });
        Assert.Equal(WeightBytes(a), WeightBytes(b));
        Assert.NotEqual(WeightBytes(none), WeightBytes(a));
        // The model trained with dropout loads into one without (and is served as such).
        using var weights = new MemoryStream(WeightBytes(a));
        using var loaded = ModelWeights.Load(Mlp, weights, "cpu");
    }

    [Fact]
    public void The_best_validation_epoch_is_the_result_and_early_stopping_ends_the_run_after_patience()
    {
        // Against the misleading labels the score falls as the model learns: the best epoch is an early one.
        using var all = Trainer.Train(Mlp, Train, Misleading, Options with { Epochs = 6 });
        var scores = all.Epochs.Select(e => e.ValidationAccuracy!.Value).ToArray();
        var best = Array.IndexOf(scores, scores.Max()) + 1;
        Assert.True(best < 6, $"scores {string.Join(", ", scores)}: the test needs a best epoch before the last");
        Assert.Equal(best, all.Best);
        Assert.False(all.StoppedEarly);
        // The model returned is that epoch's: it scores what that epoch scored, not what the last did.
        Assert.Equal(scores[best - 1], Evaluator.Evaluate(all.Model, Mlp, Misleading).Accuracy, 9);

        using var stopped = Trainer.Train(Mlp, Train, Misleading, Options with { Epochs = 6, Patience = 2 });
        Assert.True(stopped.StoppedEarly);
        Assert.Equal(best + 2, stopped.Epochs.Count);
        Assert.Equal(best, stopped.Best);
        Assert.Equal(WeightBytes(all), WeightBytes(stopped));

        // MinDelta: a rise smaller than it is not an improvement.
        using var strict = Trainer.Train(Mlp, Train, Validation, Options with { Epochs = 4, MinDelta = 2 });
        Assert.Equal(1, strict.Best);

        // Without validation data the last epoch is the result.
        using var blind = Trainer.Train(Mlp, Train, null, Options with { Epochs = 2 });
        Assert.Null(blind.Best);
    }

    [Fact]
    public void Balanced_class_weights_lift_the_recall_of_a_rare_class()
    {
        // Two overlapping classes, 19 to 1.
        static TrainingData Imbalanced(int rows, int seed)
        {
            var all = Synthetic.Blobs(rows * 2, 6, 2, seed, spread: 1.8, centreSeed: 5);
            var keep = Enumerable.Range(0, all.Rows).Where(r => all.Labels[r] == 0 || r % 38 == 1).Take(rows).ToArray();
            return new TrainingData(keep.SelectMany(r => all.Features.Skip(r * 6).Take(6)).ToArray(), keep.Select(r => all.Labels[r]).ToArray(), 6);
        }
        var spec = new ModelSpec { Architecture = "mlp", InputShape = [6], Classes = 2, HiddenSizes = [16] };
        var train = Imbalanced(800, 1);
        var test = Imbalanced(800, 2);
        var counts = new long[] { train.Labels.Count(l => l == 0), train.Labels.Count(l => l == 1) };
        var weights = TrainingOptions.BalancedClassWeights(counts);
        Assert.Equal(train.Rows / (2.0 * counts[1]), weights[1], 4);

        var options = Options with { Epochs = 8 };
        using var plain = Trainer.Train(spec, train, null, options);
        using var balanced = Trainer.Train(spec, train, null, options with { ClassWeights = weights });
        var plainRecall = Evaluator.Evaluate(plain.Model, spec, test).Recall[1];
        var balancedRecall = Evaluator.Evaluate(balanced.Model, spec, test).Recall[1];
        Assert.True(balancedRecall > plainRecall + 0.2, $"rare-class recall {balancedRecall} balanced, {plainRecall} plain");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_run_with_the_whole_recipe_resumes_bit_for_bit_from_any_checkpoint(bool midEpoch)
    {
        var spec = Mlp with { Dropout = 0.3 };
        var options = Options with
        {
            Epochs = 6, Optimizer = "sgd", WeightDecay = 1e-3, Schedule = "cosine", WarmupEpochs = 1, Patience = 2,
            ClassWeights = [1, 2, 1, 0.5f], MaxGradientNorm = 0.5, CheckpointEveryBatches = midEpoch ? 3 : 0,
        };
        var checkpoints = new List<byte[]>();
        using var uninterrupted = Trainer.Train(spec, Train, Misleading, options, new TrainingCallbacks { Checkpoint = c => checkpoints.Add(Write(c)) });
        Assert.True(uninterrupted.StoppedEarly, "the misleading validation set makes the run stop early");
        Assert.True(checkpoints.Count >= 3);

        foreach (var (saved, i) in checkpoints.Select((c, i) => (c, i)))
        {
            var resume = TrainingResume.Read(new MemoryStream(saved));
            using var resumed = Trainer.Train(spec, Train, Misleading, options, null, resume);
            Assert.True(WeightBytes(uninterrupted).SequenceEqual(WeightBytes(resumed)), $"resumed from checkpoint {i} (epoch {resume.Epoch}, position {resume.Position}): weights differ");
            Assert.Equal(uninterrupted.Epochs.Select(e => e.TrainLoss), resumed.Epochs.Select(e => e.TrainLoss));
            Assert.Equal(uninterrupted.Best, resumed.Best);
            Assert.Equal(uninterrupted.StoppedEarly, resumed.StoppedEarly);
        }
    }

    [Fact]
    public void A_checkpoint_carries_the_best_weights_the_recipe_and_the_dropout_generator()
    {
        var spec = Mlp with { Dropout = 0.2 };
        var options = Options with { Epochs = 4, WeightDecay = 0.01, MaxGradientNorm = 1 };
        var checkpoints = new List<byte[]>();
        using var result = Trainer.Train(spec, Train, Misleading, options, new TrainingCallbacks { Checkpoint = c => checkpoints.Add(Write(c)) });
        Assert.True(result.Best < 4);

        using var zip = new ZipArchive(new MemoryStream(checkpoints[^1]), ZipArchiveMode.Read);
        Assert.Equal(["best.pt", "checkpoint.json", "dropout-rng.bin", "model.pt", "optimizer.bin", "rng.bin"], zip.Entries.Select(e => e.FullName).Order());
        var json = JsonNode.Parse(zip.GetEntry("checkpoint.json")!.Open())!;
        Assert.Equal(result.Best, (int)json["bestEpoch"]!);
        Assert.Equal(0.01, (double)json["hyperParameters"]!["weightDecay"]!);
        Assert.Equal(1.0, (double)json["hyperParameters"]!["maxGradientNorm"]!);
        Assert.Equal(0.2, (double)json["spec"]!["dropout"]!);
        Assert.Contains("dropout-rng.bin", json["files"]!.AsObject().Select(p => p.Key));
        using var best = new MemoryStream();
        zip.GetEntry("best.pt")!.Open().CopyTo(best);
        Assert.Equal(WeightBytes(result), best.ToArray());

        // A resumed run must have the same recipe: the field that differs is named.
        var resume = TrainingResume.Read(new MemoryStream(checkpoints[0]));
        Assert.Equal(1, resume.BestEpoch);
        var changed = Assert.Throws<ArgumentException>(() => Trainer.Train(spec, Train, Misleading, options with { WeightDecay = 0.02 }, null, resume));
        Assert.Contains("TrainingOptions.WeightDecay = 0.01, but this run has 0.02", changed.Message);
        var dropout = Assert.Throws<ArgumentException>(() => Trainer.Train(Mlp with { Dropout = 0.4 }, Train, Misleading, options, null, resume));
        Assert.Contains("ModelSpec.Dropout = 0.2, but this run has 0.4", dropout.Message);

        var cosine = Options with { Epochs = 3, Schedule = "cosine" };
        byte[]? first = null;
        using (Trainer.Train(Mlp, Train, null, cosine, new TrainingCallbacks { Checkpoint = c => first ??= Write(c) }))
        {
        }
        var longer = Assert.Throws<ArgumentException>(() => Trainer.Train(Mlp, Train, null, cosine with { Epochs = 4 }, null, TrainingResume.Read(new MemoryStream(first!))));
        Assert.Contains("cosine schedule spans 3 epochs", longer.Message);
    }

    private static bool Same(Tensor a, Tensor b)
    {
        using var equal = a.eq(b);
        using var all = equal.all();
        return all.item<bool>();
    }

    private static Tensor Forward(nn.Module<Tensor, Tensor> model, Tensor x, bool train)
    {
        model.train(train);
        using var _ = no_grad();
        return model.call(x);
    }

    private static byte[] Write(TrainingCheckpoint checkpoint)
    {
        using var stream = new MemoryStream();
        checkpoint.Write(stream);
        return stream.ToArray();
    }

    private static byte[] WeightBytes(TrainingResult result)
    {
        using var stream = new MemoryStream();
        ModelWeights.Save(result.Model, stream);
        return stream.ToArray();
    }
}
