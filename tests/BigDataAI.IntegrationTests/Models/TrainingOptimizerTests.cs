using BigDataAI.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace BigDataAI.IntegrationTests.Models;

public sealed class TrainingOptimizerTests
{
    [Theory]
    [InlineData("adam", 1e-2, 0.0, 0.0)]
    [InlineData("sgd", 5e-2, 0.0, 0.0)]
    [InlineData("adam", 1e-2, 0.05, 0.0)]
    [InlineData("sgd", 5e-2, 0.05, 0.0)]
    [InlineData("adam", 1e-2, 0.0, 0.25)]
    [InlineData("sgd", 5e-2, 0.01, 0.25)]
    public void Our_optimizers_update_weights_like_torch_optim(string name, double learningRate, double weightDecay, double maxNorm)
    {
        var spec = new ModelSpec { Architecture = "mlp", InputShape = [12], Classes = 3, HiddenSizes = [8] };
        var data = Synthetic.Blobs(rows: 32, features: 12, classes: 3, seed: 1);
        using var ours = ModelFactory.Create(spec, seed: 5);
        using var theirs = ModelFactory.Create(spec, seed: 5);
        using var optimizer = new TrainingOptimizer(ours, name, weightDecay);
        using optim.Optimizer reference = name == "adam"
            ? optim.Adam(theirs.parameters(), lr: learningRate, weight_decay: weightDecay)
            : optim.SGD(theirs.parameters(), learningRate, momentum: 0.9, weight_decay: weightDecay);
        using var x = tensor(data.Features, [data.Rows, data.FeatureCount]);
        using var y = tensor(data.Labels, [data.Rows]);
        var clipped = 0;

        for (var step = 0; step < 5; step++)
        {
            using (NewDisposeScope())
            {
                optimizer.ZeroGrad();
                nn.functional.cross_entropy(ours.call(x), y).backward();
                if (maxNorm > 0)
                {
                    optimizer.ClipGradients(maxNorm);
                    var ourNorm = Math.Sqrt(ours.parameters().Sum(p => Math.Pow(p.grad!.norm().item<float>(), 2)));
                    Assert.True(ourNorm <= maxNorm + 1e-4, $"our gradients' norm after clipping is {ourNorm}, above {maxNorm}");
                }
                optimizer.Step(learningRate);

                reference.zero_grad();
                nn.functional.cross_entropy(theirs.call(x), y).backward();
                if (maxNorm > 0)
                {
                    // torch.nn.utils.clip_grad_norm_'s rule, written out: total L2 norm, coefficient min(1, max / (norm + 1e-6)).
                    var norm = Math.Sqrt(theirs.parameters().Sum(p => Math.Pow(p.grad!.norm().item<float>(), 2)));
                    var coefficient = Math.Min(1, maxNorm / (norm + 1e-6));
                    clipped += coefficient < 1 ? 1 : 0;
                    using (no_grad())
                    {
                        foreach (var p in theirs.parameters())
                        {
                            p.grad!.mul_(coefficient);
                        }
                    }
                }
                reference.step();
            }
        }

        var a = Weights(ours);
        var b = Weights(theirs);
        Assert.NotEqual(Weights(ModelFactory.Create(spec, seed: 5)), a); // the weights did move
        Assert.All(a.Zip(b), pair => Assert.Equal(pair.Second, pair.First, 1e-5f));
        if (maxNorm > 0)
        {
            Assert.True(clipped > 0, "the norm limit never bit: the test would not see clipping");
        }
    }

    [Fact]
    public void Weight_decay_shrinks_the_weights_against_the_same_run_without_it()
    {
        var spec = new ModelSpec { Architecture = "mlp", InputShape = [12], Classes = 3, HiddenSizes = [8] };
        var data = Synthetic.Blobs(rows: 64, features: 12, classes: 3, seed: 2);
        var options = new TrainingOptions { Epochs = 6, BatchSize = 16, LearningRate = 1e-2, Seed = 4, Device = "cpu", Optimizer = "sgd" };
        using var plain = Trainer.Train(spec, data, null, options);
        using var decayed = Trainer.Train(spec, data, null, options with { WeightDecay = 0.5 });
        var plainNorm = Math.Sqrt(Weights(plain.Model).Sum(w => (double)w * w));
        var decayedNorm = Math.Sqrt(Weights(decayed.Model).Sum(w => (double)w * w));
        Assert.True(decayedNorm < 0.9 * plainNorm, $"weight norm {decayedNorm} with decay, {plainNorm} without");
    }

    private static float[] Weights(nn.Module model) => model.parameters().SelectMany(p => p.data<float>().ToArray()).ToArray();
}
