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

    public static async Task<int> RunAsync(string dataDirectory, string? samples, string model, int epochs, int rounds, CancellationToken ct)
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
        var validationRows = await store.ReadSplitAsync(labeled, Splits.Validation, ct);
        var empty = trainRows.Select([]);
        var prepared = BigDataAI.Training.Workers.JobRunner.Prepare(string.IsNullOrEmpty(model) ? ModelCatalog.DefaultFor(labeled.EffectiveSchema).Name : model,
            labeled.Classes, trainRows, validationRows, empty);
        var (spec, train, validation) = (prepared.Spec, prepared.Train, prepared.Validation);

        Console.WriteLine($"Train split: {train.Rows:N0} rows. Warming up (1 bare epoch, not counted) ...");
        Timed("Warm-up", () => BareLoop(spec, train, 1));
        // Rounds alternate a bare loop and a job, and each job is compared with the bare loops either side of it, so
        // that the machine's drift during the run (this one's speed varies by a tenth from minute to minute) cancels out.
        rounds = Math.Max(1, rounds);
        var bares = new List<double> { Timed("Bare TorchSharp loop on the same tensors and model", () => BareLoop(spec, train, epochs)) };
        var jobs = new List<(double Seconds, double LoopRate, Job Last)>();
        for (var round = 1; round <= rounds; round++)
        {
            Console.WriteLine($"Round {round} of {rounds}: a training job through the gRPC API ...");
            var request = new StartTrainingRequest
            {
                Dataset = "bench",
                Version = dataset.Version,
                Model = model,
                ModelName = $"bench-round-{round}",
                HyperParameters = new HyperParameters { Epochs = epochs },
            };
            var (ended, seconds, loopRates) = await WatchAsync(channel, await flows.StartTrainingAsync(request, TimeSpan.FromMinutes(2), ct), ct);
            if (ended.State != JobState.Succeeded)
            {
                Console.Error.WriteLine($"The job failed: {ended.Error}");
                return 1;
            }
            jobs.Add((seconds, loopRates.Average(), ended));
            bares.Add(Timed($"Round {round} of {rounds}: the bare loop again", () => BareLoop(spec, train, epochs)));
        }

        // Text: the fastText-style model on the generated notes, through a job; then MiniLM embeddings on their texts.
        Console.WriteLine("Text: the fastText-style model on 2,000 generated notes (SampleData.WriteNotesZip, seed 5), through a job ...");
        var notes = Path.Combine(data, "notes.zip");
        SampleData.WriteNotesZip(notes, 2000, seed: 5);
        var textDataset = await flows.IngestArchiveAsync("bench-text", notes, "generated notes", ct);
        var textJob = await flows.StartTrainingAsync(new StartTrainingRequest { Dataset = "bench-text", Version = textDataset.Version, Model = "fasttext", HyperParameters = new HyperParameters { Seed = 1 } }, TimeSpan.FromMinutes(2), ct);
        var (textLast, _, textRates) = await WatchAsync(channel, textJob, ct);
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

        var samplesTrained = (double)train.Rows * epochs;
        Console.WriteLine();
        Console.WriteLine($"{"round",5} {"bare before s",14} {"job s",8} {"bare after s",13} {"whole job / bare",17} {"loop only / bare",17}");
        var wholeRatios = new List<double>();
        var loopRatios = new List<double>();
        for (var i = 0; i < jobs.Count; i++)
        {
            var bareRate = samplesTrained / ((bares[i] + bares[i + 1]) / 2);
            var whole = samplesTrained / jobs[i].Seconds / bareRate;
            var loop = jobs[i].LoopRate / bareRate;
            wholeRatios.Add(whole);
            loopRatios.Add(loop);
            Console.WriteLine($"{i + 1,5} {bares[i],14:F2} {jobs[i].Seconds,8:F2} {bares[i + 1],13:F2} {whole,17:F3} {loop,17:F3}");
        }
        var (last, platformSeconds) = (jobs[^1].Last, jobs.Select(j => j.Seconds).Average());
        var bare = samplesTrained / bares.Average();
        Console.WriteLine();
        Console.WriteLine($"bare TorchSharp loop (mean of {bares.Count} runs): {bare.ToString("N0", Inv)} samples/s");
        Console.WriteLine($"platform, whole job (shards read, {epochs} validations and checkpoints, evaluation, registration; mean of {jobs.Count}): {(samplesTrained / platformSeconds).ToString("N0", Inv)} samples/s ({platformSeconds.ToString("F2", Inv)} s)");
        Console.WriteLine($"platform, training loop only (mean over epochs and jobs): {jobs.Select(j => j.LoopRate).Average().ToString("N0", Inv)} samples/s");
        Console.WriteLine($"ratio platform (whole job) / bare, median of {jobs.Count} rounds: {Median(wholeRatios).ToString("F3", Inv)}");
        Console.WriteLine($"ratio platform (loop only) / bare, median of {jobs.Count} rounds: {Median(loopRatios).ToString("F3", Inv)}");
        // What validating after every epoch costs by itself: the same forward passes over the validation split in bare
        // TorchSharp (batches of 128, no_grad), so the job can also be compared with a bare loop doing the same work.
        var bareValidation = Timed($"Bare validation: {epochs} passes over the {validation.Rows:N0} validation rows", () => BareValidation(spec, validation, epochs));
        var withValidation = jobs.Select((j, i) => (bares[i] + bares[i + 1]) / 2 + bareValidation).Zip(jobs, (b, j) => b / j.Seconds).ToList();
        Console.WriteLine($"bare validation ({epochs} passes of {validation.Rows:N0} rows): {bareValidation.ToString("F2", Inv)} s");
        Console.WriteLine($"ratio platform (whole job) / bare loop that also validates every epoch, median of {jobs.Count} rounds: {Median(withValidation).ToString("F3", Inv)}");
        // Where the last job's time went beyond the training loop, from its own record.
        var history = last.History;
        var loopSeconds = history.Sum(e => train.Rows / e.SamplesPerSecond);
        var epochSeconds = history.Sum(e => e.Seconds);
        Console.WriteLine($"the last job's {jobs[^1].Seconds.ToString("F2", Inv)} s: training loop {loopSeconds.ToString("F2", Inv)} s, validation {(epochSeconds - loopSeconds).ToString("F2", Inv)} s, the rest (shards read, checkpoints, evaluation, registration) {(jobs[^1].Seconds - epochSeconds).ToString("F2", Inv)} s");
        Console.WriteLine($"test accuracy of the platform's model: {last.TestMetrics.Accuracy.ToString("P2", Inv)}");
        Console.WriteLine($"text, fastText-style model: {textRates.Average().ToString("N0", Inv)} samples/s (training loop, mean over {textRates.Count} epochs), test accuracy {textLast.TestMetrics.Accuracy.ToString("P2", Inv)} on {textLast.TestMetrics.Samples} notes");
        Console.WriteLine($"MiniLM (all-MiniLM-L6-v2, ONNX Runtime, batches of 64): {sentencesPerSecond.ToString("N0", Inv)} sentences/s ({embedded} notes in {embedSeconds.ToString("F2", Inv)} s)");
        return 0;
    }

    /// <summary>
    /// Runs <paramref name="run"/> on a thread of its own, as a worker runs each job (a fresh thread, so a fresh malloc
    /// arena and thread-local state for libtorch), so that the bare loop and the job train under the same conditions.
    /// </summary>
    private static double Timed(string what, Func<double> run)
    {
        Console.WriteLine(what + " ...");
        var seconds = 0.0;
        System.Runtime.ExceptionServices.ExceptionDispatchInfo? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                seconds = run();
            }
            catch (Exception e)
            {
                failure = System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e);
            }
        }) { Name = "bare loop" };
        thread.Start();
        thread.Join();
        failure?.Throw();
        return seconds;
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
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

    /// <summary>
    /// Follows <paramref name="job"/> to its end: its last state, the seconds from its first RUNNING update to the end,
    /// and each epoch's training-loop samples/s.
    /// </summary>
    private static async Task<(Job Last, double Seconds, List<double> LoopRates)> WatchAsync(GrpcChannel channel, Job job, CancellationToken ct)
    {
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
        return (last, running?.Elapsed.TotalSeconds ?? double.NaN, loopRates);
    }

    /// <summary><paramref name="passes"/> forward passes over <paramref name="validation"/> in batches of 128 under no_grad, with the argmax; seconds.</summary>
    private static double BareValidation(ModelSpec spec, TrainingData validation, int passes)
    {
        using var model = ModelFactory.Create(spec, 1);
        using var x = tensor(validation.Features, [validation.Rows, validation.FeatureCount]);
        model.eval();
        var clock = Stopwatch.StartNew();
        for (var pass = 0; pass < passes; pass++)
        {
            using var _ = no_grad();
            for (var start = 0; start < validation.Rows; start += 128)
            {
                using var scope = NewDisposeScope();
                model.call(x.narrow(0, start, Math.Min(128, validation.Rows - start))).argmax(1).data<long>().ToArray();
            }
        }
        return clock.Elapsed.TotalSeconds;
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
