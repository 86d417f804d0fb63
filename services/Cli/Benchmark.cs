using System.Diagnostics;
using System.Globalization;
using BigDataAI.Client;
using BigDataAI.Datasets;
using BigDataAI.Models;
using BigDataAI.Protos.Training.V1;
using BigDataAI.Storage;
using Grpc.Net.Client;
using TorchSharp;
using static TorchSharp.torch;

namespace BigDataAI.Cli;

/// <summary>
/// Training throughput through the platform (a real job: labeled shards read from storage, per-epoch
/// checkpoints, evaluation, registration) against a bare TorchSharp loop on the same tensors and model,
/// measured in one run, one after the other, on this machine.
/// </summary>
public static class Benchmark
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static async Task<int> RunAsync(string dataDirectory, string? samples, string model, int epochs, CancellationToken ct)
    {
        epochs = epochs == 0 ? 12 : epochs;
        TorchRuntime.EnsureLoadable(); // before the first torch call below

        var folder = Demo.SampleFolder(samples);
        var data = Path.Combine(dataDirectory, "bench-" + DateTime.UtcNow.ToString("yyyyMMddHHmmss", Inv));
        var url = $"http://127.0.0.1:{Demo.FreePort()}";
        Console.WriteLine($"Benchmark: model {(model.Length == 0 ? "(the dataset's default)" : model)}, {epochs} epochs, batch 128, Adam 1e-3, seed 1; {Environment.ProcessorCount} cores; torch threads {get_num_threads()}");

        await using var app = EmbeddedHost.Build(data, url, quiet: true);
        await app.StartAsync(ct);
        using var channel = GrpcChannel.ForAddress(url);
        var flows = new Flows(channel, channel, channel, TextWriter.Null);
        var dataset = await flows.IngestAsync("bench", Path.Combine(folder, "images.idx3-ubyte.gz"), Path.Combine(folder, "labels.idx1-ubyte.gz"), null, "label", null, ct);

        // The same train split the job will read, for the bare loop (read outside any timing).
        var store = new DatasetStore(new FileSystemObjectStore(Path.Combine(data, "store")));
        var labeled = await WaitForLabelsAsync(store, dataset.Version, ct);
        var trainRows = await store.ReadSplitAsync(labeled, Splits.Train, ct);
        var empty = trainRows.Select([]);
        var prepared = BigDataAI.Training.Workers.JobRunner.Prepare(string.IsNullOrEmpty(model) ? ModelCatalog.DefaultFor(labeled.EffectiveSchema).Name : model,
            labeled.Classes, trainRows, empty, empty);
        var (spec, train) = (prepared.Spec, prepared.Train);

        Console.WriteLine($"Train split: {train.Rows:N0} rows. Warming up (1 bare epoch, not counted) ...");
        BareLoop(spec, train, 1);
        Console.WriteLine("Bare TorchSharp loop on the same tensors and model ...");
        var bareBefore = BareLoop(spec, train, epochs);

        Console.WriteLine("Platform: a training job through the gRPC API ...");
        var request = new StartTrainingRequest { Dataset = "bench", Version = dataset.Version, Model = model, HyperParameters = new HyperParameters { Epochs = epochs } };
        var job = await flows.StartTrainingAsync(request, TimeSpan.FromMinutes(2), ct);
        Stopwatch? running = null;
        var completed = 0;
        var loopRates = new List<double>();
        var last = await new TrainingService.TrainingServiceClient(channel).WatchToEndAsync(job.JobId, update =>
        {
            if (update.State == JobState.Running && running is null)
            {
                running = Stopwatch.StartNew();
            }
            if (update.EpochsCompleted > completed)
            {
                loopRates.Add(update.SamplesPerSecond);
                completed = update.EpochsCompleted;
            }
        }, cancellationToken: ct);
        var platformSeconds = running!.Elapsed.TotalSeconds;
        if (last.State != JobState.Succeeded)
        {
            Console.Error.WriteLine($"The job failed: {last.Error}");
            return 1;
        }

        // Text: the fastText-style model on the generated notes, through a job; then MiniLM embeddings on their texts.
        Console.WriteLine("Text: the fastText-style model on 2,000 generated notes (SampleData.WriteNotesZip, seed 5), through a job ...");
        var notes = Path.Combine(data, "notes.zip");
        SampleData.WriteNotesZip(notes, 2000, seed: 5);
        var textDataset = await flows.IngestArchiveAsync("bench-text", notes, "generated notes", ct);
        var textJob = await flows.StartTrainingAsync(new StartTrainingRequest { Dataset = "bench-text", Version = textDataset.Version, Model = "fasttext", HyperParameters = new HyperParameters { Seed = 1 } }, TimeSpan.FromMinutes(2), ct);
        var textRates = new List<double>();
        var textCompleted = 0;
        var textLast = await new TrainingService.TrainingServiceClient(channel).WatchToEndAsync(textJob.JobId, update =>
        {
            if (update.EpochsCompleted > textCompleted)
            {
                textRates.Add(update.SamplesPerSecond);
                textCompleted = update.EpochsCompleted;
            }
        }, cancellationToken: ct);
        if (textLast.State != JobState.Succeeded)
        {
            Console.Error.WriteLine($"The text job failed: {textLast.Error}");
            return 1;
        }
        await app.StopAsync(CancellationToken.None);

        var sentences = ReadTexts(notes, 320);
        BigDataAI.Models.Text.TextEncoders.Embed(sentences[..64], ct); // load the ONNX model and warm up, not counted
        var embedClock = Stopwatch.StartNew();
        for (var start = 64; start < sentences.Length; start += 64)
        {
            BigDataAI.Models.Text.TextEncoders.Embed(sentences[start..Math.Min(sentences.Length, start + 64)], ct);
        }
        var embedded = sentences.Length - 64;
        var embedSeconds = embedClock.Elapsed.TotalSeconds;
        var sentencesPerSecond = embedded / embedSeconds;

        Console.WriteLine("Bare TorchSharp loop on the same tensors and model, again ...");
        var bareAfter = BareLoop(spec, train, epochs);

        var samplesTrained = (double)train.Rows * epochs;
        var bare = samplesTrained / ((bareBefore + bareAfter) / 2);
        var platform = samplesTrained / platformSeconds;
        var loopOnly = loopRates.Average();
        Console.WriteLine();
        Console.WriteLine($"bare TorchSharp loop (mean of the run before and the run after the job): {bare.ToString("N0", Inv)} samples/s ({bareBefore.ToString("F2", Inv)} s, {bareAfter.ToString("F2", Inv)} s)");
        Console.WriteLine($"platform, whole job (shards read, {epochs} validations and checkpoints, evaluation, registration): {platform.ToString("N0", Inv)} samples/s ({platformSeconds.ToString("F2", Inv)} s)");
        Console.WriteLine($"platform, training loop only (mean over epochs): {loopOnly.ToString("N0", Inv)} samples/s");
        Console.WriteLine($"ratio platform (whole job) / bare: {(platform / bare).ToString("F3", Inv)}");
        Console.WriteLine($"ratio platform (loop only) / bare: {(loopOnly / bare).ToString("F3", Inv)}");
        Console.WriteLine($"test accuracy of the platform's model: {last.TestMetrics.Accuracy.ToString("P2", Inv)}");
        Console.WriteLine($"text, fastText-style model: {textRates.Average().ToString("N0", Inv)} samples/s (training loop, mean over {textRates.Count} epochs), test accuracy {textLast.TestMetrics.Accuracy.ToString("P2", Inv)} on {textLast.TestMetrics.Samples} notes");
        Console.WriteLine($"MiniLM (all-MiniLM-L6-v2, ONNX Runtime, batches of 64): {sentencesPerSecond.ToString("N0", Inv)} sentences/s ({embedded} notes in {embedSeconds.ToString("F2", Inv)} s)");
        return 0;
    }

    /// <summary>The texts of the first <paramref name="count"/> files of a zip.</summary>
    private static string[] ReadTexts(string zipPath, int count)
    {
        using var zip = System.IO.Compression.ZipFile.OpenRead(zipPath);
        return [.. zip.Entries.Take(count).Select(e =>
        {
            using var reader = new StreamReader(e.Open());
            return reader.ReadToEnd();
        })];
    }

    private static async Task<LabeledManifest> WaitForLabelsAsync(DatasetStore store, int version, CancellationToken ct)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            if (await store.GetLabeledAsync("bench", version, ct) is { } labeled)
            {
                return labeled;
            }
            if (watch.Elapsed > TimeSpan.FromMinutes(1))
            {
                throw new TimeoutException("Labeling did not finish within a minute.");
            }
            await Task.Delay(50, ct);
        }
    }

    /// <summary>The plainest TorchSharp loop: one tensor per split, a seeded permutation per epoch, index_select per batch.</summary>
    private static double BareLoop(ModelSpec spec, TrainingData train, int epochs, int batchSize = 128, int seed = 1)
    {
        TorchRuntime.EnsureLoadable();
        manual_seed(seed);
        using var model = ModelFactory.Create(spec, seed);
        using var optimizer = optim.Adam(model.parameters(), 1e-3);
        using var lossFunction = nn.CrossEntropyLoss();
        using var x = tensor(train.Features, [train.Rows, train.FeatureCount]);
        using var y = tensor(train.Labels, [train.Rows]);
        var random = new Random(seed);
        var order = Enumerable.Range(0, train.Rows).Select(i => (long)i).ToArray();
        model.train();
        var clock = Stopwatch.StartNew();
        for (var epoch = 0; epoch < epochs; epoch++)
        {
            random.Shuffle(order);
            for (var start = 0; start < train.Rows; start += batchSize)
            {
                using var scope = NewDisposeScope();
                var count = Math.Min(batchSize, train.Rows - start);
                var index = tensor(order.AsSpan(start, count).ToArray(), [count]);
                var output = model.call(x.index_select(0, index));
                var loss = lossFunction.call(output, y.index_select(0, index));
                optimizer.zero_grad();
                loss.backward();
                optimizer.step();
            }
        }
        return clock.Elapsed.TotalSeconds;
    }
}
