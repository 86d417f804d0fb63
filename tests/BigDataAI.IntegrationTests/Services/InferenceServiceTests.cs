using System.Collections.Concurrent;
using System.Text.Json;
using BigDataAI.Contracts.Training;
using BigDataAI.IntegrationTests.Infrastructure;
using BigDataAI.Models;
using BigDataAI.Models.Registry;
using BigDataAI.Protos.Inference.V1;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace BigDataAI.IntegrationTests.Services;

/// <summary>The inference module's gRPC API in a real host: models arrive through the registry and ModelTrained.</summary>
[Collection(ServersCollection.Name)]
public sealed class InferenceServiceTests(ServersFixture servers, ITestOutputHelper output)
{
    private static readonly ModelSpec Spec = new() { Architecture = "mlp", InputShape = [8], Classes = 3, HiddenSizes = [16] };
    private static readonly string[] ClassNames = ["red", "green", "blue"];

    [Fact]
    public async Task Without_a_model_it_is_unavailable_then_serves_an_announced_model_and_rejects_bad_inputs()
    {
        await using var host = await ServiceHost.StartAsync(servers, output, Modules.Inference);

        var predict = await Assert.ThrowsAsync<RpcException>(async () => await host.Inference.PredictAsync(Request(Row(1))));
        Assert.Equal(StatusCode.Unavailable, predict.StatusCode);
        var get = await Assert.ThrowsAsync<RpcException>(async () => await host.Inference.GetModelAsync(new GetModelRequest()));
        Assert.Equal(StatusCode.Unavailable, get.StatusCode);

        var record = await RegisterAndAnnounceAsync(host, "model-a-" + Guid.NewGuid().ToString("N")[..8], seed: 1);

        var served = await host.Inference.GetModelAsync(new GetModelRequest());
        Assert.Equal(record.ModelId, served.ModelId);
        Assert.Equal("mlp", served.Architecture);
        Assert.Equal(record.Dataset, served.Dataset);
        Assert.Equal(record.DatasetVersion, served.Version);
        Assert.Equal(8, served.Features);
        Assert.Equal(ClassNames, served.Classes);
        Assert.Equal(record.TestAccuracy, served.TestAccuracy, 9);

        var reply = await host.Inference.PredictAsync(Request(Row(1), Row(2), Row(3)));
        Assert.Equal(record.ModelId, reply.ModelId);
        Assert.Equal(3, reply.Predictions.Count);
        foreach (var prediction in reply.Predictions)
        {
            Assert.Equal(Spec.Classes, prediction.Probabilities.Count);
            Assert.All(prediction.Probabilities, p => Assert.InRange(p, 0f, 1f));
            Assert.InRange(prediction.Probabilities.Sum(), 0.999, 1.001);
            var best = prediction.Probabilities.IndexOf(prediction.Probabilities.Max());
            Assert.Equal(best, prediction.ClassIndex);
            Assert.Equal(ClassNames[best], prediction.ClassName);
        }

        var wrongCount = await Assert.ThrowsAsync<RpcException>(async () => await host.Inference.PredictAsync(Request(Row(1), Row(2)[..7])));
        Assert.Equal(StatusCode.InvalidArgument, wrongCount.StatusCode);
        Assert.Contains("Input 1 has 7 features", wrongCount.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("expects 8", wrongCount.Status.Detail, StringComparison.Ordinal);

        var empty = await Assert.ThrowsAsync<RpcException>(async () => await host.Inference.PredictAsync(new PredictRequest()));
        Assert.Equal(StatusCode.InvalidArgument, empty.StatusCode);
        Assert.Contains("'inputs'", empty.Status.Detail, StringComparison.Ordinal);

        var notFinite = Row(4);
        notFinite[5] = float.NaN;
        var nan = await Assert.ThrowsAsync<RpcException>(async () => await host.Inference.PredictAsync(Request(Row(1), notFinite)));
        Assert.Equal(StatusCode.InvalidArgument, nan.StatusCode);
        Assert.Contains("Input 1, feature 5", nan.Status.Detail, StringComparison.Ordinal);

        // Still serving after the rejections.
        Assert.Equal(record.ModelId, (await host.Inference.PredictAsync(Request(Row(5)))).ModelId);
    }

    [Fact]
    public async Task A_newer_model_is_swapped_in_while_predictions_run_and_no_call_fails()
    {
        await using var host = await ServiceHost.StartAsync(servers, output, Modules.Inference);
        var first = await RegisterAndAnnounceAsync(host, "model-old-" + Guid.NewGuid().ToString("N")[..8], seed: 1);

        const int Loops = 4;
        var failures = new ConcurrentQueue<Exception>();
        var served = Enumerable.Range(0, Loops).Select(_ => new List<string>()).ToArray();
        var warmedUp = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var newSeen = Enumerable.Range(0, Loops).Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
        string? second = null;
        var calls = 0;
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        var loops = Enumerable.Range(0, Loops).Select(loop => Task.Run(async () =>
        {
            var random = new Random(loop);
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    var reply = await host.Inference.PredictAsync(Request(Row(random.Next()), Row(random.Next())));
                    served[loop].Add(reply.ModelId);
                    if (Interlocked.Increment(ref calls) >= 40)
                    {
                        warmedUp.TrySetResult();
                    }
                    if (reply.ModelId == Volatile.Read(ref second))
                    {
                        newSeen[loop].TrySetResult();
                    }
                }
                catch (Exception e) when (!stop.IsCancellationRequested)
                {
                    failures.Enqueue(e);
                    newSeen[loop].TrySetException(e);
                }
            }
        })).ToArray();

        await warmedUp.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var newer = "model-new-" + Guid.NewGuid().ToString("N")[..8];
        Volatile.Write(ref second, newer);
        await RegisterAndAnnounceAsync(host, newer, seed: 2);
        try
        {
            await Task.WhenAll(newSeen.Select(s => s.Task)).WaitAsync(TimeSpan.FromSeconds(30));
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(loops);
        }

        Assert.Empty(failures);
        for (var loop = 0; loop < Loops; loop++)
        {
            var ids = served[loop];
            output.WriteLine($"loop {loop}: {ids.Count(id => id == first.ModelId)} calls by the old model, then {ids.Count(id => id == newer)} by the new one");
            Assert.All(ids, id => Assert.Contains(id, new[] { first.ModelId, newer }));
            Assert.Equal(first.ModelId, ids[0]);
            // Once the new model answers, the old one never does again.
            var switched = ids.IndexOf(newer);
            Assert.True(switched > 0, $"loop {loop} never saw {newer}");
            Assert.All(ids[switched..], id => Assert.Equal(newer, id));
        }
        Assert.Equal(newer, (await host.Inference.GetModelAsync(new GetModelRequest())).ModelId);
    }

    [Fact]
    public async Task Every_replica_swaps_in_an_announced_model()
    {
        // Two inference hosts over the same storage and broker, as two replicas of the service would be.
        var container = ServiceHost.NewContainerName("replicas");
        await using var first = await ServiceHost.StartAsync(servers, output, Modules.Inference, container);
        await using var second = await ServiceHost.StartAsync(servers, output, Modules.Inference, container);

        var record = await RegisterAndAnnounceAsync(first, "model-r-" + Guid.NewGuid().ToString("N")[..8], seed: 5);
        await second.Messages.Consumed<ModelTrained>("inference", m => m.ModelId == record.ModelId);

        Assert.Equal(record.ModelId, (await first.Inference.GetModelAsync(new GetModelRequest())).ModelId);
        Assert.Equal(record.ModelId, (await second.Inference.GetModelAsync(new GetModelRequest())).ModelId);
    }

    /// <summary>Registers a model with untrained (seeded) weights, as the training service would, publishes ModelTrained and waits until inference consumed it.</summary>
    private static async Task<ModelRecord> RegisterAndAnnounceAsync(ServiceHost host, string modelId, int seed)
    {
        TorchRuntime.EnsureLoadable();
        byte[] weights;
        using (var model = ModelFactory.Create(Spec, seed))
        using (var buffer = new MemoryStream())
        {
            ModelWeights.Save(model, buffer);
            weights = buffer.ToArray();
        }
        var record = new ModelRecord(modelId, Spec, WeightsPath: "", "colours", seed, ClassNames, [8], 0.5 + seed / 10.0,
            JsonSerializer.SerializeToElement(new { accuracy = 0.5 + seed / 10.0 }), "job-" + modelId, DateTimeOffset.UtcNow);
        var registry = host.Services.GetRequiredService<ModelRegistry>();
        var registered = await registry.RegisterAsync(record, weights);
        await host.Bus.Publish(new ModelTrained(registered.ModelId, ModelRegistry.RecordPath(registered.ModelId), Spec.Architecture,
            registered.Dataset, registered.DatasetVersion, registered.TestAccuracy, registered.CreatedAt));
        await host.Messages.Consumed<ModelTrained>("inference", m => m.ModelId == modelId);
        return registered;
    }

    private static float[] Row(int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, 8).Select(_ => (float)random.NextDouble())];
    }

    private static PredictRequest Request(params float[][] rows)
    {
        var request = new PredictRequest();
        foreach (var row in rows)
        {
            request.Inputs.Add(new Input { Features = { row } });
        }
        return request;
    }
}
