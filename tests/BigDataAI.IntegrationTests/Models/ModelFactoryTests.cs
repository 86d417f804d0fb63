using System.Text.Json;
using BigDataAI.Models;
using TorchSharp;

namespace BigDataAI.IntegrationTests.Models;

public sealed class ModelFactoryTests
{
    [Fact]
    public void The_MNIST_MLP_is_784_128_64_10()
    {
        using var model = ModelFactory.Create(ModelSpec.MnistMlp);

        Assert.Equal(
            ["layers.fc1.weight [128, 784]", "layers.fc1.bias [128]", "layers.fc2.weight [64, 128]",
             "layers.fc2.bias [64]", "layers.fc3.weight [10, 64]", "layers.fc3.bias [10]"],
            Shapes(model));
        Assert.Equal([5L, 10], Output(model, rows: 5, features: 784));
    }

    [Fact]
    public void The_MNIST_CNN_is_conv16_pool_conv32_pool_fc128_fc10()
    {
        using var model = ModelFactory.Create(ModelSpec.MnistCnn);

        Assert.Equal(
            ["features.conv1.weight [16, 1, 5, 5]", "features.conv1.bias [16]",
             "features.conv2.weight [32, 16, 5, 5]", "features.conv2.bias [32]",
             "classifier.fc1.weight [128, 1568]", "classifier.fc1.bias [128]",
             "classifier.fc2.weight [10, 128]", "classifier.fc2.bias [10]"],
            Shapes(model));
        Assert.Equal([3L, 10], Output(model, rows: 3, features: 784));
    }

    [Fact]
    public void An_unknown_architecture_is_rejected_listing_the_valid_ones()
    {
        var spec = ModelSpec.MnistMlp with { Architecture = "transformer" };

        var error = Assert.Throws<ArgumentException>(() => ModelFactory.Create(spec));

        Assert.Contains("'transformer' is unknown", error.Message);
        Assert.Contains("Valid architectures: mlp, cnn", error.Message);
    }

    [Fact]
    public void Invalid_specs_are_rejected_naming_the_field()
    {
        Assert.Contains("ModelSpec.Classes is 1", Assert.Throws<ArgumentException>(() => (ModelSpec.MnistMlp with { Classes = 1 }).Validate()).Message);
        Assert.Contains("ModelSpec.InputShape", Assert.Throws<ArgumentException>(() => (ModelSpec.MnistMlp with { InputShape = [0] }).Validate()).Message);
        Assert.Contains("too small for 2 2x2 poolings",
            Assert.Throws<ArgumentException>(() => (ModelSpec.MnistCnn with { InputShape = [3, 3] }).Validate()).Message);
        Assert.Contains("ModelSpec.Channels must be empty for architecture 'mlp'",
            Assert.Throws<ArgumentException>(() => (ModelSpec.MnistMlp with { Channels = [8] }).Validate()).Message);
    }

    [Fact]
    public void Seeded_creation_gives_equal_weights_and_another_seed_different_ones()
    {
        using var a = ModelFactory.Create(ModelSpec.MnistMlp, seed: 7);
        using var b = ModelFactory.Create(ModelSpec.MnistMlp, seed: 7);
        using var c = ModelFactory.Create(ModelSpec.MnistMlp, seed: 8);

        Assert.Equal(Weights(a), Weights(b));
        Assert.NotEqual(Weights(a), Weights(c));
    }

    [Fact]
    public void ModelSpec_round_trips_through_System_Text_Json_with_value_equality()
    {
        foreach (var options in new[] { JsonSerializerOptions.Default, JsonSerializerOptions.Web })
        {
            var json = JsonSerializer.Serialize(ModelSpec.MnistCnn, options);
            var back = JsonSerializer.Deserialize<ModelSpec>(json, options);

            Assert.Equal(ModelSpec.MnistCnn, back);
            Assert.Equal(ModelSpec.MnistCnn.GetHashCode(), back!.GetHashCode());
            Assert.DoesNotContain("FeatureCount", json, StringComparison.OrdinalIgnoreCase);
        }
        var web = JsonSerializer.Deserialize<ModelSpec>("""{"architecture":"mlp","inputShape":[20],"classes":3}""", JsonSerializerOptions.Web)!;
        Assert.Equal(20, web.FeatureCount);
        Assert.Empty(web.HiddenSizes);
        Assert.NotEqual(ModelSpec.MnistCnn, ModelSpec.MnistCnn with { Channels = [16, 33] });
    }

    private static List<string> Shapes(torch.nn.Module model) =>
        model.named_parameters().Select(p => $"{p.name} [{string.Join(", ", p.parameter.shape)}]").ToList();

    private static long[] Output(torch.nn.Module<torch.Tensor, torch.Tensor> model, int rows, int features)
    {
        using var _ = torch.no_grad();
        using var generator = new torch.Generator(5); // not torch's global generator, which seeded model creation uses
        using var input = torch.rand([rows, features], generator: generator);
        using var output = model.call(input);
        return output.shape;
    }

    private static float[] Weights(torch.nn.Module model) =>
        model.parameters().SelectMany(p => p.data<float>().ToArray()).ToArray();
}
