using BigDataAI.Models;
using TorchSharp;

namespace BigDataAI.IntegrationTests.Models;

public sealed class PredictorTests
{
    private static readonly ModelSpec Spec = new() { Architecture = "cnn", InputShape = [8, 8], Classes = 3, Channels = [4], HiddenSizes = [8] };

    [Fact]
    public void Weights_saved_and_loaded_through_a_stream_give_identical_probabilities()
    {
        var train = Synthetic.Blobs(rows: 120, features: 64, classes: 3, seed: 1);
        var probe = Synthetic.Blobs(rows: 17, features: 64, classes: 3, seed: 2);
        using var result = Trainer.Train(Spec, train, null, new TrainingOptions { Epochs = 1, BatchSize = 16, Device = "cpu" });
        var direct = DirectProbabilities(result.Model, probe);

        using var stream = new MemoryStream();
        stream.Write("header"u8);
        ModelWeights.Save(result.Model, stream);
        stream.Write("trailer"u8); // the stream is left open, positioned after the weights
        stream.Position = 6;
        using var predictor = new Predictor(Spec, stream, device: "cpu");

        var probabilities = predictor.Predict(probe.Features, probe.Rows);

        Assert.Equal(direct, probabilities);
        Assert.Equal(probe.Rows * 3, probabilities.Length);
        for (var row = 0; row < probe.Rows; row++)
        {
            Assert.Equal(1f, probabilities.AsSpan(row * 3, 3).ToArray().Sum(), 4);
        }
        Assert.Equal("trailer", System.Text.Encoding.ASCII.GetString(stream.ToArray()[(int)stream.Position..]));
        Assert.Equal((Spec, "cpu", 64, 3), (predictor.Spec, predictor.Device, predictor.FeatureCount, predictor.Classes));
    }

    [Fact]
    public void Predict_rejects_a_wrong_number_of_features_naming_expected_and_actual()
    {
        using var predictor = SeededPredictor();

        var error = Assert.Throws<ArgumentException>(() => predictor.Predict(new float[127], count: 2));

        Assert.Contains("Expected 128 feature values (2 rows x 64 features", error.Message);
        Assert.Contains("but got 127", error.Message);
        Assert.Empty(predictor.Predict([], count: 0));
    }

    [Fact]
    public void Weights_of_another_architecture_are_rejected_as_invalid_data()
    {
        using var other = ModelFactory.Create(Spec with { HiddenSizes = [9] }, seed: 1);
        using var stream = new MemoryStream();
        ModelWeights.Save(other, stream);
        stream.Position = 0;

        var error = Assert.Throws<InvalidDataException>(() => new Predictor(Spec, stream, "cpu"));

        Assert.Contains("The weights do not fit the model cnn [8x8]", error.Message);
    }

    [Fact]
    public async Task Concurrent_predictions_equal_serial_ones_and_a_disposed_predictor_refuses_work()
    {
        var probe = Synthetic.Blobs(rows: 40, features: 64, classes: 3, seed: 3);
        var predictor = SeededPredictor();
        var rows = Enumerable.Range(0, probe.Rows).Select(r => probe.Features.AsSpan(r * 64, 64).ToArray()).ToArray();
        var serial = rows.Select(row => predictor.Predict(row, 1)).ToArray();

        var concurrent = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ =>
            Task.Run(() => rows.Select(row => predictor.Predict(row, 1)).ToArray())));

        Assert.All(concurrent, run => Assert.Equal(serial, run));
        // One batch of 40 rows gives the same probabilities up to float rounding (other kernels, other summation order).
        var batch = predictor.Predict(probe.Features, probe.Rows);
        Assert.All(serial.SelectMany(p => p).Zip(batch), pair => Assert.Equal(pair.First, pair.Second, 1e-5f));

        predictor.Dispose();
        predictor.Dispose();
        Assert.Throws<ObjectDisposedException>(() => predictor.Predict(rows[0], 1));
    }

    private static Predictor SeededPredictor()
    {
        using var model = ModelFactory.Create(Spec, seed: 11);
        using var stream = new MemoryStream();
        ModelWeights.Save(model, stream);
        stream.Position = 0;
        return new Predictor(Spec, stream, "cpu");
    }

    private static float[] DirectProbabilities(torch.nn.Module<torch.Tensor, torch.Tensor> model, TrainingData data)
    {
        TorchRuntime.EnsureLoadable();
        model.eval();
        using var _ = torch.no_grad();
        using var input = torch.tensor(data.Features, [data.Rows, data.FeatureCount]);
        using var logits = model.call(input);
        using var probabilities = logits.softmax(1);
        return probabilities.data<float>().ToArray();
    }
}
