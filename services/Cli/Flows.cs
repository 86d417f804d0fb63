using BigDataAI.Datasets;
using System.Diagnostics;
using System.Globalization;
using BigDataAI.Client;
using BigDataAI.Ingestion.Parsing;
using BigDataAI.Protos.Inference.V1;
using BigDataAI.Protos.Ingestion.V1;
using BigDataAI.Protos.Training.V1;
using Grpc.Core;
using Grpc.Net.Client;

namespace BigDataAI.Cli;

/// <summary>The client side of each command, shared by the commands and the demo.</summary>
public sealed class Flows(GrpcChannel ingestion, GrpcChannel training, GrpcChannel inference, TextWriter output)
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public async Task<DatasetInfo> IngestAsync(string dataset, string? images, string? labels, string? csv, string labelColumn, string? source, CancellationToken ct)
    {
        var client = new IngestionService.IngestionServiceClient(ingestion);
        var watch = Stopwatch.StartNew();
        UploadReply reply;
        if (csv is not null)
        {
            output.WriteLine($"Uploading {csv} as dataset '{dataset}' ...");
            reply = await client.UploadCsvAsync(dataset, csv, labelColumn, source, ct);
        }
        else
        {
            output.WriteLine($"Uploading {images} and {labels} as dataset '{dataset}' ...");
            reply = await client.UploadIdxAsync(dataset, images!, labels!, source, ct);
        }
        var d = reply.Dataset;
        output.WriteLine(reply.Deduplicated
            ? $"Same content as {d.Dataset} v{d.Version}: nothing new stored ({watch.ElapsedMilliseconds} ms)."
            : $"Stored {d.Dataset} v{d.Version}: {d.Rows:N0} rows, {d.Features} features [{string.Join("x", d.FeatureShape)}], {d.Classes.Count} classes, {d.Shards} Parquet shards ({watch.ElapsedMilliseconds} ms).");
        return d;
    }

    /// <summary>Starts a job, waiting up to <paramref name="labelWait"/> for labeling to finish first.</summary>
    public async Task<Job> StartTrainingAsync(StartTrainingRequest request, TimeSpan labelWait, CancellationToken ct)
    {
        var client = new TrainingService.TrainingServiceClient(training);
        var deadline = Stopwatch.StartNew();
        var delay = TimeSpan.FromMilliseconds(100);
        var said = false;
        while (true)
        {
            try
            {
                var job = await client.StartTrainingAsync(request, cancellationToken: ct);
                output.WriteLine($"Job {job.JobId}: {job.Model} on {job.Dataset} v{job.Version}, {job.Epochs} epochs, batch {job.HyperParameters.BatchSize}, {job.HyperParameters.Optimizer} lr {job.HyperParameters.LearningRate.ToString(Inv)}, seed {job.HyperParameters.Seed}.");
                return job;
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.FailedPrecondition && deadline.Elapsed < labelWait)
            {
                if (!said)
                {
                    output.WriteLine("Waiting for labeling to finish ...");
                    said = true;
                }
                await Task.Delay(delay, ct);
                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 2000));
            }
        }
    }

    /// <summary>Follows a job's progress stream to its end, printing progress; returns the final state.</summary>
    public async Task<Job> WatchAsync(string jobId, CancellationToken ct)
    {
        var client = new TrainingService.TrainingServiceClient(training);
        using var call = client.WatchJob(new GetJobRequest { JobId = jobId }, cancellationToken: ct);
        Job? last = null;
        var interactive = !Console.IsOutputRedirected && ReferenceEquals(output, Console.Out);
        var started = Stopwatch.StartNew();
        await foreach (var job in call.ResponseStream.ReadAllAsync(ct))
        {
            if (last is null || job.State != last.State)
            {
                EndLine(interactive);
                output.WriteLine($"[{started.Elapsed:mm\\:ss}] {job.State switch { JobState.Queued => "queued", JobState.Running => $"running on {job.Device}", JobState.Succeeded => "succeeded", JobState.Failed => "failed", _ => job.State.ToString() }}");
            }
            if (job.EpochsCompleted > (last?.EpochsCompleted ?? 0))
            {
                EndLine(interactive);
                output.WriteLine($"[{started.Elapsed:mm\\:ss}] epoch {job.EpochsCompleted}/{job.Epochs}: train loss {job.TrainLoss.ToString("F4", Inv)}, validation accuracy {job.ValidationAccuracy.ToString("P2", Inv)}, {job.SamplesPerSecond.ToString("N0", Inv)} samples/s");
            }
            else if (interactive && job.State == JobState.Running && job.Batches > 0)
            {
                Console.Write($"\r  epoch {job.Epoch}/{job.Epochs} batch {job.Batch}/{job.Batches} loss {job.TrainLoss.ToString("F4", Inv)}   ");
            }
            last = job;
        }
        EndLine(interactive);
        if (last is null)
        {
            throw new InvalidOperationException($"The progress stream of job {jobId} ended without a state.");
        }
        if (last.State == JobState.Succeeded)
        {
            PrintMetrics(last);
        }
        else if (last.State == JobState.Failed)
        {
            output.WriteLine($"Job {jobId} failed: {last.Error}");
        }
        return last;
    }

    public void PrintMetrics(Job job)
    {
        var m = job.TestMetrics;
        if (m is null)
        {
            return;
        }
        output.WriteLine($"Model {job.ModelId}");
        output.WriteLine($"Held-out test accuracy: {m.Accuracy.ToString("P2", Inv)} on {m.Samples:N0} samples");
        output.WriteLine("class  precision  recall  f1");
        for (var c = 0; c < m.Classes; c++)
        {
            output.WriteLine($"{c,5}  {m.Precision[c].ToString("F4", Inv),9}  {m.Recall[c].ToString("F4", Inv),6}  {m.F1[c].ToString("F4", Inv),6}");
        }
        output.WriteLine("confusion matrix (row = actual, column = predicted):");
        for (var a = 0; a < m.Classes; a++)
        {
            output.WriteLine("  " + string.Join(" ", Enumerable.Range(0, m.Classes).Select(p => m.Confusion[a * m.Classes + p].ToString(Inv).PadLeft(4))));
        }
    }

    /// <summary>Classifies rows of an IDX or CSV file and prints each prediction beside the file's label.</summary>
    public async Task<PredictReply> PredictAsync(string? images, string? labels, string? csv, string labelColumn, int offset, int count, CancellationToken ct)
    {
        DatasetTable table;
        if (csv is not null)
        {
            await using var data = File.OpenRead(csv);
            table = CsvParser.Parse(data, Path.GetFileName(csv), labelColumn);
        }
        else
        {
            await using var imageStream = File.OpenRead(images!);
            await using var labelStream = File.OpenRead(labels!);
            table = IdxParser.Parse(imageStream, Path.GetFileName(images!), labelStream, Path.GetFileName(labels!));
        }
        if (count < 1)
        {
            throw new ArgumentException($"--count {count}: give at least 1 row to classify.");
        }
        if (offset < 0 || offset >= table.Rows)
        {
            throw new ArgumentException($"--offset {offset} is outside the file's {table.Rows} rows.");
        }
        count = Math.Min(count, table.Rows - offset);
        var request = new PredictRequest();
        for (var i = offset; i < offset + count; i++)
        {
            var input = new Input();
            input.Features.AddRange(table.Features.AsSpan(i * table.FeatureCount, table.FeatureCount).ToArray());
            request.Inputs.Add(input);
        }
        var client = new InferenceService.InferenceServiceClient(inference);
        var watch = Stopwatch.StartNew();
        var reply = await client.PredictAsync(request, cancellationToken: ct);
        var elapsed = watch.Elapsed;
        var correct = 0;
        for (var i = 0; i < reply.Predictions.Count; i++)
        {
            var p = reply.Predictions[i];
            var actual = table.Classes[table.Labels[offset + i]];
            correct += p.ClassName == actual ? 1 : 0;
            output.WriteLine($"row {offset + i}: predicted {p.ClassName} (p={p.Probabilities[p.ClassIndex].ToString("F3", Inv)}), labeled {actual}{(p.ClassName == actual ? "" : "  <- wrong")}");
        }
        output.WriteLine($"Predict: {reply.Predictions.Count} inputs answered by model {reply.ModelId} in {elapsed.TotalMilliseconds.ToString("F1", Inv)} ms; {correct}/{reply.Predictions.Count} match the file's labels.");
        return reply;
    }

    private void EndLine(bool interactive)
    {
        if (interactive)
        {
            Console.Write("\r" + new string(' ', 70) + "\r");
        }
    }
}
