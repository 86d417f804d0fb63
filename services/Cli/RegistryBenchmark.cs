using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using BigDataAI.Models;
using BigDataAI.Models.Registry;
using BigDataAI.Protos.Training.V1;
using BigDataAI.Storage;
using BigDataAI.Training.Model;
using Grpc.Net.Client;

namespace BigDataAI.Cli;

/// <summary>
/// <c>bigdataai bench registry</c>: writes N job records and N model records into a fresh embedded store, starts the
/// embedded services on it, and times SearchJobs and SearchModels against the baseline a registry without an index pays
/// per query: reading and filtering every stored record (docs/registry.md).
/// </summary>
public static class RegistryBenchmark
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    // As the job tracker and the registry write them.
    private static readonly JsonSerializerOptions JobJson = new(JsonSerializerDefaults.Web) { WriteIndented = true, Converters = { new JsonStringEnumConverter() } };
    private static readonly JsonSerializerOptions ModelJson = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public static async Task<int> RunAsync(string dataDirectory, int runs, int models, CancellationToken ct)
    {
        if (runs < 100 || models < 0)
        {
            throw new ArgumentException($"--runs must be at least 100 (not {runs}) and --models not negative (not {models}).");
        }
        var data = Path.Combine(dataDirectory, "bench-registry-" + DateTime.UtcNow.ToString("yyyyMMddHHmmss", Inv));
        var store = new FileSystemObjectStore(Path.Combine(data, "store"));
        Console.WriteLine($"Registry benchmark: {runs:N0} job records and {models:N0} model records in {data}; {Environment.ProcessorCount} cores");

        var clock = Stopwatch.StartNew();
        // Every model record names the same real weights, so the embedded inference service can load the newest of each name.
        TorchRuntime.EnsureLoadable();
        using (var model = ModelFactory.Create(ModelSpec.MnistMlp, 1))
        using (var weights = new MemoryStream())
        {
            ModelWeights.Save(model, weights);
            weights.Position = 0;
            await store.PutAsync(SharedWeights, weights, ct).ConfigureAwait(false);
        }
        await WriteAsync(runs, i => ($"jobs/{JobId(i)}/job.json", JsonSerializer.SerializeToUtf8Bytes(Job(i), JobJson)), store, ct).ConfigureAwait(false);
        await WriteAsync(models, i => (ModelRegistry.RecordPath(ModelId(i)), JsonSerializer.SerializeToUtf8Bytes(Model(i), ModelJson)), store, ct).ConfigureAwait(false);
        Console.WriteLine($"wrote the records in {clock.Elapsed.TotalSeconds.ToString("F1", Inv)} s");

        // The query every measurement below answers: one dataset, a test-score threshold and a tag (about 1 in 2,000 runs).
        static bool Matches(JobRecord j) => j.Spec.Dataset == "d007" && j.TestMetrics is { Accuracy: >= 0.9 } && j.Tags.TryGetValue("team", out var t) && t == "t3";
        var scan = Stopwatch.StartNew();
        var expected = 0;
        await foreach (var path in store.ListAsync("jobs/", ct).ConfigureAwait(false))
        {
            await using var stream = await store.OpenReadAsync(path, ct).ConfigureAwait(false);
            expected += Matches((await JsonSerializer.DeserializeAsync<JobRecord>(stream!, JobJson, ct).ConfigureAwait(false))!) ? 1 : 0;
        }
        var scanSeconds = scan.Elapsed.TotalSeconds;
        Console.WriteLine($"baseline, every stored job record read and filtered: {scanSeconds.ToString("F2", Inv)} s for {expected} matches");

        var url = $"http://127.0.0.1:{Demo.FreePort()}";
        clock.Restart();
        await using var app = EmbeddedHost.Build(data, url, quiet: true);
        await app.StartAsync(ct).ConfigureAwait(false);
        using var channel = GrpcChannel.ForAddress(url);
        var training = new TrainingService.TrainingServiceClient(channel);
        var query = new SearchJobsRequest { Dataset = "d007", MinTestAccuracy = 0.9, Tags = { ["team"] = "t3" }, Limit = 10_000 };
        // The control plane loads the stored jobs at start: wait until the query sees all of them.
        while ((await training.SearchJobsAsync(query, cancellationToken: ct)).Jobs.Count < expected)
        {
            await Task.Delay(50, ct).ConfigureAwait(false);
        }
        Console.WriteLine($"services started and {runs:N0} jobs loaded in {clock.Elapsed.TotalSeconds.ToString("F2", Inv)} s");

        var jobTimes = await TimeAsync(async () => (await training.SearchJobsAsync(query, cancellationToken: ct)).Jobs.Count, expected, "SearchJobs").ConfigureAwait(false);
        var broad = await TimeAsync(async () => (await training.SearchJobsAsync(new SearchJobsRequest { State = JobState.Succeeded, MinTestAccuracy = 0.99, Limit = 100 }, cancellationToken: ct)).Jobs.Count, -1, "SearchJobs").ConfigureAwait(false);
        Console.WriteLine($"SearchJobs dataset+score+tag at {runs:N0} runs: p50 {Ms(jobTimes.P50)} ms, max {Ms(jobTimes.Max)} ms ({expected} jobs); baseline / p50 = {(scanSeconds / jobTimes.P50).ToString("F0", Inv)}x");
        Console.WriteLine($"SearchJobs state+score, first 100 of the whole set: p50 {Ms(broad.P50)} ms, max {Ms(broad.Max)} ms");

        if (models > 0)
        {
            var modelQuery = new SearchModelsRequest { Dataset = "d007", MinTestAccuracy = 0.9, Limit = 10_000 };
            clock.Restart();
            var first = (await training.SearchModelsAsync(modelQuery, cancellationToken: ct)).Models.Count;
            Console.WriteLine($"SearchModels, first call (reads every model record once): {clock.Elapsed.TotalSeconds.ToString("F2", Inv)} s, {first} models");
            var modelTimes = await TimeAsync(async () => (await training.SearchModelsAsync(modelQuery, cancellationToken: ct)).Models.Count, first, "SearchModels").ConfigureAwait(false);
            Console.WriteLine($"SearchModels dataset+score at {models:N0} models: p50 {Ms(modelTimes.P50)} ms, max {Ms(modelTimes.Max)} ms");
        }
        await app.StopAsync(ct).ConfigureAwait(false);
        return 0;
    }

    private static string Ms(double seconds) => (seconds * 1000).ToString("F2", Inv);

    /// <summary>20 timed calls after 3 untimed ones; each must return <paramref name="expected"/> results (-1: any).</summary>
    private static async Task<(double P50, double Max)> TimeAsync(Func<Task<int>> call, int expected, string what)
    {
        var times = new List<double>();
        for (var i = 0; i < 23; i++)
        {
            var watch = Stopwatch.StartNew();
            var count = await call().ConfigureAwait(false);
            if (i >= 3)
            {
                times.Add(watch.Elapsed.TotalSeconds);
            }
            if (expected >= 0 && count != expected)
            {
                throw new InvalidOperationException($"{what} returned {count} results, the scan found {expected}.");
            }
        }
        times.Sort();
        return (times[times.Count / 2], times[^1]);
    }

    private static async Task WriteAsync(int count, Func<int, (string Path, byte[] Content)> record, IObjectStore store, CancellationToken ct) =>
        await Parallel.ForAsync(0, count, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = ct }, async (i, token) =>
        {
            var (path, content) = record(i);
            using var stream = new MemoryStream(content, writable: false);
            await store.PutAsync(path, stream, token).ConfigureAwait(false);
        }).ConfigureAwait(false);

    private const string SharedWeights = "models/bench-shared/weights.pt";

    private static string JobId(int i) => $"d{i % 100:D3}-v1-mlp-{i:x10}";
    private static string ModelId(int i) => $"d{i % 100:D3}-m{i:D7}";

    /// <summary>Score of record i: a fixed function, so every run of the benchmark queries the same records.</summary>
    private static double Score(int i) => new Random(i).NextDouble();

    private static JobRecord Job(int i)
    {
        var spec = new JobSpec($"d{i % 100:D3}", 1, "mlp", new BigDataAI.Training.Model.HyperParameters(10, 128, 1e-3, "adam", i + 1));
        var succeeded = i % 10 != 0;
        var at = DateTimeOffset.UnixEpoch.AddMinutes(i);
        return new JobRecord(JobId(i), spec, succeeded ? JobStatus.Succeeded : JobStatus.Failed, 10, 0, 0, 10, 0.1, 0.9, 5000, "cpu",
            succeeded ? new TestMetrics(Score(i), [], [], [], [], 10, 1000) : null, succeeded ? ModelId(i) : null, succeeded ? null : "worker lost", at, at)
        {
            Revision = 3,
            Tags = new Dictionary<string, string> { ["team"] = $"t{i % 7}", ["owner"] = $"u{i % 13}" },
        };
    }

    private static ModelRecord Model(int i) =>
        new(ModelId(i), ModelSpec.MnistMlp, SharedWeights, $"d{i % 100:D3}", 1, ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"], [28, 28],
            Score(i), JsonSerializer.SerializeToElement(new { accuracy = Score(i) }), JobId(i), DateTimeOffset.UnixEpoch.AddMinutes(i))
        {
            Name = $"d{i % 100:D3}",
            ModelVersion = i / 100 + 1,
        };
}
