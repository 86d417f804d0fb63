using System.Collections;
using System.Diagnostics;
using BigDataAI.Contracts.Training;
using BigDataAI.IntegrationTests.Infrastructure;
using BigDataAI.Protos.Inference.V1;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Trace;
using Xunit.Abstractions;

namespace BigDataAI.IntegrationTests.Services;

/// <summary>
/// One trace follows a dataset from its upload through labeling, training and the inference model swap: the four
/// modules in one host over the real broker (MassTransit carries the trace context in message headers) and the job
/// record (which carries it from the request that queued the job to the worker that runs it), recorded by
/// OpenTelemetry's in-memory exporter.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class TracingTests(ServersFixture servers, ITestOutputHelper output)
{
    [Fact]
    public async Task Upload_label_train_and_model_swap_share_one_trace_and_carry_dataset_and_model_versions()
    {
        var spans = new ConcurrentActivities();
        await using var host = await ServiceHost.StartAsync(servers, output, Modules.Ingestion | Modules.Labeling | Modules.Training | Modules.Inference,
            settings: new Dictionary<string, string?>
            {
                ["Training:AutoTrainModel"] = "mlp",
                ["Training:AutoTrainHyperParameters:Epochs"] = "1",
            },
            configureServices: services => services.AddOpenTelemetry().WithTracing(tracing => tracing
                .AddSource("BigDataAI.*", "MassTransit")
                .AddAspNetCoreInstrumentation()
                .AddInMemoryExporter(spans)));
        using var files = new TempFolder();
        var name = "traced-" + Guid.NewGuid().ToString("N")[..8];

        await host.Ingestion.UploadIdxAsync(files, name, TestData.Idx(300, seed: 9));
        var trained = await host.Messages.Published<ModelTrained>(m => m.Dataset == name);
        await WaitUntilAsync(() => spans.Any(s => s.OperationName == "load-model" && Tag(s, "bigdataai.model_id") == trained.ModelId), "the inference swap span");

        var ingest = spans.Single(s => s.Source.Name == "BigDataAI.Ingestion" && s.OperationName == "ingest" && Tag(s, "bigdataai.dataset") == name);
        var label = spans.Single(s => s.Source.Name == "BigDataAI.Labeling" && s.OperationName == "label" && Tag(s, "bigdataai.dataset") == name);
        var train = spans.Single(s => s.Source.Name == "BigDataAI.Training" && s.OperationName == "train" && Tag(s, "bigdataai.dataset") == name);
        var swap = spans.Single(s => s.Source.Name == "BigDataAI.Inference" && s.OperationName == "load-model" && Tag(s, "bigdataai.model_id") == trained.ModelId);
        foreach (var span in new[] { ingest, label, train, swap })
        {
            output.WriteLine($"{span.Source.Name} {span.OperationName}: trace {span.TraceId}, parent {span.ParentSpanId}, tags {string.Join(", ", span.TagObjects.Select(t => $"{t.Key}={t.Value}"))}");
        }

        Assert.Equal(ingest.TraceId, label.TraceId);
        Assert.Equal(ingest.TraceId, train.TraceId);
        Assert.Equal(ingest.TraceId, swap.TraceId);
        Assert.True(spans.Count(s => s.TraceId == ingest.TraceId && s.Source.Name == "MassTransit") >= 3, "the messages between the modules are spans of the same trace");
        Assert.All(new[] { ingest, label, train, swap }, s => Assert.Equal("1", Tag(s, "bigdataai.dataset_version")));
        Assert.Equal(trained.ModelId, Tag(train, "bigdataai.model_id"));
        Assert.Equal(name, Tag(swap, "bigdataai.dataset"));
        Assert.True(train.StartTimeUtc >= label.StartTimeUtc && swap.StartTimeUtc >= train.StartTimeUtc, "the spans follow the flow in time");
    }

    [Fact]
    public async Task A_model_loaded_by_the_reconcile_loop_without_its_message_joins_the_trace_of_its_training()
    {
        // Training runs where no inference listens, so the ModelTrained message reaches none; an inference host started
        // afterwards on the same storage finds the model by reconciling with the registry, and its load still belongs to
        // the training's trace (the record carries the run's trace parent).
        var spans = new ConcurrentActivities();
        void Traced(IServiceCollection services) => services.AddOpenTelemetry().WithTracing(tracing => tracing
            .AddSource("BigDataAI.*")
            .AddInMemoryExporter(spans));
        var container = ServiceHost.NewContainerName("reconciled");
        var name = "reconciled-" + Guid.NewGuid().ToString("N")[..8];
        ModelTrained trained;
        await using (var training = await ServiceHost.StartAsync(servers, output, Modules.Ingestion | Modules.Labeling | Modules.Training, container: container,
            settings: new Dictionary<string, string?>
            {
                ["Training:AutoTrainModel"] = "mlp",
                ["Training:AutoTrainHyperParameters:Epochs"] = "1",
            },
            configureServices: Traced))
        {
            using var files = new TempFolder();
            await training.Ingestion.UploadIdxAsync(files, name, TestData.Idx(300, seed: 9));
            trained = await training.Messages.Published<ModelTrained>(m => m.Dataset == name);
        }
        try
        {
            await using var inference = await ServiceHost.StartAsync(servers, output, Modules.Inference, container: container, configureServices: Traced);
            await WaitUntilAsync(() => spans.Any(s => s.OperationName == "load-model" && Tag(s, "bigdataai.model_id") == trained.ModelId), "the reconcile loop's load span");
            var train = spans.Single(s => s.Source.Name == "BigDataAI.Training" && s.OperationName == "train" && Tag(s, "bigdataai.dataset") == name);
            var load = spans.Single(s => s.OperationName == "load-model" && Tag(s, "bigdataai.model_id") == trained.ModelId);
            output.WriteLine($"train: trace {train.TraceId}, span {train.SpanId}; load-model: trace {load.TraceId}, parent {load.ParentSpanId}");
            Assert.Equal(train.TraceId, load.TraceId);
            Assert.Equal(train.SpanId, load.ParentSpanId);
        }
        finally
        {
            await servers.Azurite.CreateServiceClient().GetBlobContainerClient(container).DeleteIfExistsAsync();
        }
    }

    private static string? Tag(Activity span, string key) => span.GetTagItem(key)?.ToString();

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60), $"no {what} within 60 s");
            await Task.Delay(50);
        }
    }

    /// <summary>The exporter adds from the export path while the test reads: a collection that allows both.</summary>
    private sealed class ConcurrentActivities : ICollection<Activity>
    {
        private readonly List<Activity> _items = [];

        public int Count { get { lock (_items) { return _items.Count; } } }
        public bool IsReadOnly => false;
        public void Add(Activity item) { lock (_items) { _items.Add(item); } }
        public void Clear() { lock (_items) { _items.Clear(); } }
        public bool Contains(Activity item) { lock (_items) { return _items.Contains(item); } }
        public void CopyTo(Activity[] array, int arrayIndex) { lock (_items) { _items.CopyTo(array, arrayIndex); } }
        public bool Remove(Activity item) { lock (_items) { return _items.Remove(item); } }
        public IEnumerator<Activity> GetEnumerator() { lock (_items) { return _items.ToList().GetEnumerator(); } }
        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
    }
}
