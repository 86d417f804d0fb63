using BigDataAI.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace BigDataAI.IntegrationTests.Models;

public sealed class TrainingOptimizerTests
{
    [Theory]
    [InlineData("adam", 1e-2)]
    [InlineData("sgd", 5e-2)]
    public void Our_optimizers_update_weights_like_torch_optim(string name, double learningRate)
    {
        var spec = new ModelSpec { Architecture = "mlp", InputShape = [12], Classes = 3, HiddenSizes = [8] };
        var data = Synthetic.Blobs(rows: 32, features: 12, classes: 3, seed: 1);
        using var ours = ModelFactory.Create(spec, seed: 5);
        using var theirs = ModelFactory.Create(spec, seed: 5);
        using var optimizer = new TrainingOptimizer(ours, name, learningRate);
        using optim.Optimizer reference = name == "adam"
            ? optim.Adam(theirs.parameters(), lr: learningRate)
            : optim.SGD(theirs.parameters(), learningRate, momentum: 0.9);
        using var x = tensor(data.Features, [data.Rows, data.FeatureCount]);
        using var y = tensor(data.Labels, [data.Rows]);

        for (var step = 0; step < 5; step++)
        {
            using (NewDisposeScope())
            {
                optimizer.ZeroGrad();
                nn.functional.cross_entropy(ours.call(x), y).backward();
                optimizer.Step();

                reference.zero_grad();
                nn.functional.cross_entropy(theirs.call(x), y).backward();
                reference.step();
            }
        }

        var a = Weights(ours);
        var b = Weights(theirs);
        Assert.NotEqual(Weights(ModelFactory.Create(spec, seed: 5)), a); // the weights did move
        Assert.All(a.Zip(b), pair => Assert.Equal(pair.Second, pair.First, 1e-5f));
    }

    private static float[] Weights(nn.Module model) => model.parameters().SelectMany(p => p.data<float>().ToArray()).ToArray();
}
