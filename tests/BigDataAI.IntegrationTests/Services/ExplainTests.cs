using BigDataAI.IntegrationTests.Infrastructure;
using BigDataAI.Models;
using BigDataAI.Protos.Inference.V1;
using Grpc.Core;
using Xunit.Abstractions;

namespace BigDataAI.IntegrationTests.Services;

/// <summary>
/// Explain (issue 9 item 5) in a real inference host: integrated gradients through TorchSharp's autograd add up to the
/// output's change from the baseline, an input at 0 gets no attribution, and the refusals.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class ExplainTests(ServersFixture servers, ITestOutputHelper output)
{
    [Fact]
    public async Task Integrated_gradients_add_up_to_the_outputs_change_and_bad_calls_are_refused_with_the_reason()
    {
        await using var host = await ServiceHost.StartAsync(servers, output, Modules.Training | Modules.Inference);
        var name = "explain-" + Guid.NewGuid().ToString("N")[..8];
        var mlp = new ModelSpec { Architecture = "mlp", InputShape = [8], Classes = 3, HiddenSizes = [16] };
        await SeededModels.RegisterAsync(host, name, mlp, seed: 4, accuracy: 0.5);

        float[] row = [0.9f, -0.4f, 0, 1.5f, 0.2f, 0, -1.1f, 0.7f];
        var request = new ExplainRequest { Model = name, Dense = new Input { Features = { row } }, Steps = 256 };
        var predicted = (await host.Inference.PredictAsync(new PredictRequest { Model = name, Inputs = { new Input { Features = { row } } } })).Predictions[0];
        var reply = await host.Inference.ExplainAsync(request);
        var column = Assert.Single(reply.Columns);
        output.WriteLine($"class {reply.TargetClass} ({reply.ClassName}): output {reply.Output:F5}, baseline {reply.BaselineOutput:F5}, gap {reply.CompletenessGap:E2}; attributions {string.Join(", ", column.Values.Select(v => v.ToString("F5")))}");
        Assert.Equal(predicted.ClassIndex, reply.TargetClass); // unset target: the predicted class
        Assert.Equal(predicted.Probabilities[predicted.ClassIndex], reply.Output, 5);
        Assert.Equal("features", column.Column);
        Assert.Equal([8], column.Shape);
        Assert.Equal(column.Values.Sum(), column.Attribution, 4);
        // Completeness: the attributions add up to output(x) - output(baseline).
        Assert.True(Math.Abs(column.Attribution - (reply.Output - reply.BaselineOutput)) < 1e-3, $"gap {reply.CompletenessGap}");
        Assert.True(Math.Abs(reply.CompletenessGap) < 1e-3);
        // An input at the baseline's value moves nothing.
        Assert.Equal(0f, column.Values[2]);
        Assert.Equal(0f, column.Values[5]);
        // Another class's probability; its attributions add up to its own change.
        var other = await host.Inference.ExplainAsync(new ExplainRequest { Model = name, Dense = new Input { Features = { row } }, TargetClass = (predicted.ClassIndex + 1) % 3, Steps = 256 });
        Assert.Equal((predicted.ClassIndex + 1) % 3, other.TargetClass);
        Assert.True(Math.Abs(other.CompletenessGap) < 1e-3);

        async Task Refused(ExplainRequest bad, StatusCode code, string message)
        {
            var e = await Assert.ThrowsAsync<RpcException>(async () => await host.Inference.ExplainAsync(bad));
            Assert.Equal(code, e.StatusCode);
            Assert.Contains(message, e.Status.Detail, StringComparison.Ordinal);
        }
        await Refused(new ExplainRequest { Model = name }, StatusCode.InvalidArgument, "Field 'input'");
        await Refused(new ExplainRequest { Model = name, Dense = new Input { Features = { row } }, TargetClass = 3 }, StatusCode.InvalidArgument, "Field 'target_class': 3 is not a class");
        await Refused(new ExplainRequest { Model = name, Dense = new Input { Features = { row } }, Steps = 5000 }, StatusCode.InvalidArgument, "Field 'steps'");
        await Refused(new ExplainRequest { Model = name, Dense = new Input { Features = { 1f, 2f } } }, StatusCode.InvalidArgument, "Input 0 has 2 features");
        await Refused(new ExplainRequest { Model = "no-such-model", Dense = new Input { Features = { row } } }, StatusCode.NotFound, "no-such-model");

        // fastText reads token ids: nothing to differentiate.
        var text = name + "-text";
        await SeededModels.RegisterAsync(host, text, new ModelSpec { Architecture = "fasttext", InputShape = [8], Classes = 2, EmbeddingRows = 50, EmbeddingSize = 4 }, seed: 1, accuracy: 0.5);
        await Refused(new ExplainRequest { Model = text, Dense = new Input { Features = { 2, 3, 4, 0, 0, 0, 0, 0 } } }, StatusCode.FailedPrecondition, "cannot be differentiated with respect to its input");
    }
}
