using System.Diagnostics;
using System.Globalization;
using BigDataAI.Client;
using BigDataAI.Protos.Training.V1;
using Grpc.Core;
using Grpc.Net.Client;

namespace BigDataAI.Cli;

/// <summary>
/// <c>bigdataai bench sweep</c>: on the shipped MNIST sample, in one embedded run, a job with the default
/// hyper-parameters against an ASHA sweep's best trial on the same data and budget, and how many epochs ASHA trained
/// against running every trial to its budget. docs/sweeps.md has the figures.
/// </summary>
public static class SweepBenchmark
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static async Task<int> RunAsync(string dataDirectory, string? samples, string model, int epochs, int trials, CancellationToken ct)
    {
        (model, epochs, trials) = (model.Length == 0 ? "mlp" : model, epochs == 0 ? 6 : epochs, trials == 0 ? 12 : trials);
        var folder = Demo.SampleFolder(samples);
        var data = Path.Combine(dataDirectory, "bench-sweep-" + DateTime.UtcNow.ToString("yyyyMMddHHmmss", Inv));
        var url = $"http://127.0.0.1:{Demo.FreePort()}";
        await using var app = EmbeddedHost.Build(data, url, quiet: true);
        await app.StartAsync(ct);
        using var channel = GrpcChannel.ForAddress(url);
        var client = new TrainingService.TrainingServiceClient(channel);
        var flows = new Flows(channel, channel, channel, TextWriter.Null);
        var dataset = await flows.IngestAsync("bench", Path.Combine(folder, "images.idx3-ubyte.gz"), Path.Combine(folder, "labels.idx1-ubyte.gz"), null, "label", null, ct);
        Console.WriteLine($"Sweep benchmark: {model} on the MNIST sample ({dataset.Rows:N0} rows), {epochs} epochs per trial, seed 1; {Environment.ProcessorCount} cores");

        var clock = Stopwatch.StartNew();
        var baseline = await flows.StartTrainingAsync(new StartTrainingRequest { Dataset = "bench", Version = dataset.Version, Model = model, HyperParameters = new HyperParameters { Epochs = epochs } }, TimeSpan.FromMinutes(2), ct);
        baseline = await client.WatchToEndAsync(baseline.JobId, cancellationToken: ct);
        var baselineSeconds = clock.Elapsed.TotalSeconds;
        if (baseline.State != JobState.Succeeded)
        {
            Console.Error.WriteLine($"The default job ended {baseline.State}: {baseline.Error}");
            return 1;
        }
        var baselineValidation = baseline.History.Max(e => e.ValidationAccuracy);
        Console.WriteLine($"Default hyper-parameters (adam, learning rate 1e-3, batch 128, no recipe): validation {baselineValidation:F4}, test {baseline.TestMetrics.Accuracy:F4}, {baselineSeconds:F1} s");

        var request = new StartSweepRequest
        {
            Base = new StartTrainingRequest { Dataset = "bench", Version = dataset.Version, Model = model, HyperParameters = new HyperParameters { Epochs = epochs } },
            Strategy = "asha",
            Trials = trials,
            Seed = 1,
            MinEpochs = 1,
            ReductionFactor = 3,
        };
        request.Space.Add(new SearchParameter { Name = "learning_rate", Min = 1e-4, Max = 3e-2, LogScale = true });
        request.Space.Add(new SearchParameter { Name = "batch_size", Choices = { "32", "64", "128" } });
        request.Space.Add(new SearchParameter { Name = "weight_decay", Choices = { "0", "0.0001" } });
        request.Space.Add(new SearchParameter { Name = "dropout", Choices = { "0", "0.2" } });
        request.Space.Add(new SearchParameter { Name = "lr_schedule", Choices = { "constant", "cosine" } });
        Console.WriteLine($"ASHA sweep: {trials} trials over learning_rate 1e-4..3e-2 (log), batch_size 32|64|128, weight_decay 0|1e-4, dropout 0|0.2, lr_schedule constant|cosine; rungs at 1 and 3 epochs, factor 3 ...");
        clock.Restart();
        var sweep = await client.StartSweepAsync(request, cancellationToken: ct);
        using (var watch = client.WatchSweep(new GetSweepRequest { SweepId = sweep.SweepId }, cancellationToken: ct))
        {
            await foreach (var update in watch.ResponseStream.ReadAllAsync(ct))
            {
                sweep = update;
            }
        }
        var sweepSeconds = clock.Elapsed.TotalSeconds;
        Console.Write(SweepView.Describe(sweep));
        if (sweep.State != JobState.Succeeded)
        {
            return 1;
        }
        var best = sweep.Trials.Single(t => t.Index == sweep.BestTrial);
        var trained = sweep.Trials.Sum(t => t.EpochsCompleted);
        Console.WriteLine();
        Console.WriteLine("| measurement | default hyper-parameters | sweep's best trial | ratio |");
        Console.WriteLine("| --- | --- | --- | --- |");
        Console.WriteLine($"| validation accuracy | {baselineValidation:F4} | {best.ValidationScore:F4} | {best.ValidationScore / baselineValidation:F3} |");
        Console.WriteLine($"| test accuracy | {baseline.TestMetrics.Accuracy:F4} | {best.TestScore:F4} | {best.TestScore / baseline.TestMetrics.Accuracy:F3} |");
        Console.WriteLine($"| test error | {1 - baseline.TestMetrics.Accuracy:F4} | {1 - best.TestScore:F4} | {(1 - best.TestScore) / Math.Max(1e-9, 1 - baseline.TestMetrics.Accuracy):F3} |");
        Console.WriteLine($"| epochs trained | {epochs} | {trained} of {trials * epochs} if every trial ran to its budget | {trained / (double)(trials * epochs):F3} |");
        Console.WriteLine($"| wall time | {baselineSeconds:F1} s | {sweepSeconds:F1} s for the sweep | {sweepSeconds / baselineSeconds:F2} |");
        Console.WriteLine($"Stopped early by ASHA: {sweep.Trials.Count(t => t.State == JobState.Stopped)} of {trials} trials.");
        return 0;
    }
}
