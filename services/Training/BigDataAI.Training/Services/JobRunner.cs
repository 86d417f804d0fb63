using System.Text.Json;
using BigDataAI.Contracts.Training;
using BigDataAI.Datasets;
using BigDataAI.Models;
using BigDataAI.Models.Registry;
using BigDataAI.Storage;
using BigDataAI.Training.Model;
using MassTransit;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace BigDataAI.Training.Services;

/// <summary>
/// Runs one job: reads the labeled splits from their shards, trains on a dedicated thread with a checkpoint per
/// epoch, evaluates on the test split, registers the model and announces it.
/// </summary>
public sealed class JobRunner(
    DatasetStore datasets,
    IObjectStore store,
    ModelRegistry registry,
    JobTracker tracker,
    IBus bus,
    IOptions<TrainingOptions> options,
    ILogger<JobRunner> logger)
{
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromMilliseconds(250);

    public async Task RunAsync(string jobId, CancellationToken cancellationToken)
    {
        var job = tracker.Get(jobId) ?? throw new InvalidOperationException($"Job '{jobId}' is not tracked.");
        var spec = job.Spec;
        using var activity = TrainingTelemetry.Source.StartActivity("train");
        activity?.SetTag("bigdataai.job_id", jobId);
        activity?.SetTag("bigdataai.dataset", spec.Dataset);
        activity?.SetTag("bigdataai.dataset_version", spec.Version);
        activity?.SetTag("bigdataai.model", spec.Model);
        TrainingTelemetry.Running.Add(1);
        try
        {
            var device = DeviceName(options.Value.Device);
            activity?.SetTag("bigdataai.device", device);
            if (!await tracker.TryBeginAsync(jobId, device, cancellationToken).ConfigureAwait(false))
            {
                logger.LogInformation("Job {JobId} is {Status}, not queued: not running it again", jobId, tracker.Get(jobId)?.Status);
                return;
            }
            if (await registry.GetAsync(jobId, cancellationToken).ConfigureAwait(false) is { } earlier)
            {
                // A previous run registered the model and stopped before recording success (or before announcing it):
                // finish from the registry instead of training again under the same model id.
                logger.LogInformation("Job {JobId} already registered model {ModelId}; announcing it instead of training again", jobId, earlier.ModelId);
                await CompleteAsync(jobId, earlier, cancellationToken).ConfigureAwait(false);
                return;
            }
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var labeled = await datasets.GetLabeledAsync(spec.Dataset, spec.Version, cancellationToken).ConfigureAwait(false)
                ?? throw new DatasetNotFoundException($"Dataset '{spec.Dataset}' v{spec.Version} has no labeled version.");
            // The three splits are independent reads and decodes: do them at once.
            var splits = await Task.WhenAll(
                Task.Run(() => datasets.ReadSplitAsync(labeled, Splits.Train, cancellationToken), cancellationToken),
                Task.Run(() => datasets.ReadSplitAsync(labeled, Splits.Validation, cancellationToken), cancellationToken),
                Task.Run(() => datasets.ReadSplitAsync(labeled, Splits.Test, cancellationToken), cancellationToken)).ConfigureAwait(false);
            var (train, validation, test) = (ToTrainingData(splits[0]), ToTrainingData(splits[1]), ToTrainingData(splits[2]));
            var modelSpec = SpecFor(spec.Model, labeled.FeatureShape, labeled.Classes.Length);
            logger.LogInformation("Job {JobId} read {Train} train, {Validation} validation and {Test} test rows from their shards in {ElapsedMs} ms",
                jobId, train.Rows, validation.Rows, test.Rows, clock.ElapsedMilliseconds);

            // TorchSharp work is synchronous and its dispose scopes are thread-bound: one dedicated thread, no awaits inside.
            var (record, weights) = await Task.Factory.StartNew(
                () => Train(job, modelSpec, labeled, train, validation.Rows > 0 ? validation : null, test, cancellationToken),
                cancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default).ConfigureAwait(false);

            logger.LogInformation("Job {JobId} trained and evaluated at {ElapsedMs} ms", jobId, clock.ElapsedMilliseconds);
            var registered = await registry.RegisterAsync(record, weights, cancellationToken).ConfigureAwait(false);
            activity?.SetTag("bigdataai.model_id", registered.ModelId);
            await CompleteAsync(jobId, registered, cancellationToken).ConfigureAwait(false);
            TrainingTelemetry.Jobs.Add(1, new KeyValuePair<string, object?>("outcome", "succeeded"));
            logger.LogInformation("Job {JobId} registered and announced at {ElapsedMs} ms", jobId, clock.ElapsedMilliseconds);
            logger.LogInformation("Job {JobId} succeeded: model {ModelId}, test accuracy {Accuracy:P2}", jobId, registered.ModelId, registered.TestAccuracy);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Shutting down: the job stays Running in storage and is queued again at the next start.
            logger.LogWarning("Job {JobId} interrupted by shutdown; it will run again at the next start", jobId);
            throw;
        }
        catch (Exception e)
        {
            logger.LogError(e, "Job {JobId} failed", jobId);
            activity?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, e.Message);
            TrainingTelemetry.Jobs.Add(1, new KeyValuePair<string, object?>("outcome", "failed"));
            await tracker.UpdateAsync(jobId, j => j with { Status = JobStatus.Failed, Error = e.Message }, persist: true, CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            TrainingTelemetry.Running.Add(-1);
        }
    }

    private async Task CompleteAsync(string jobId, ModelRecord registered, CancellationToken cancellationToken)
    {
        await bus.Publish(new ModelTrained(registered.ModelId, ModelRegistry.RecordPath(registered.ModelId), registered.Spec.Architecture,
            registered.Dataset, registered.DatasetVersion, registered.TestAccuracy, registered.CreatedAt), cancellationToken).ConfigureAwait(false);
        var metrics = registered.MetricsJson.Deserialize<TestMetrics>(JobTracker.Json);
        await tracker.UpdateAsync(jobId, j => j with { Status = JobStatus.Succeeded, ModelId = registered.ModelId, TestMetrics = metrics }, persist: true, CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>The architecture a job's model name stands for, sized to the dataset.</summary>
    public static ModelSpec SpecFor(string model, int[] featureShape, int classes) => model switch
    {
        "cnn" => ModelSpec.MnistCnn with { InputShape = featureShape, Classes = classes },
        "mlp" => ModelSpec.MnistMlp with { InputShape = featureShape, Classes = classes },
        _ => throw new ArgumentException($"Unknown model '{model}'."),
    };

    private (ModelRecord Record, byte[] Weights) Train(JobRecord job, ModelSpec modelSpec, LabeledManifest labeled, TrainingData train, TrainingData? validation, TrainingData test, CancellationToken cancellationToken)
    {
        var h = job.Spec.HyperParameters;
        var device = options.Value.Device is null or "" or "auto" ? null : options.Value.Device;
        var trainingOptions = new Models.TrainingOptions
        {
            Epochs = h.Epochs,
            BatchSize = h.BatchSize,
            LearningRate = h.LearningRate,
            Optimizer = h.Optimizer,
            Seed = checked((int)h.Seed),
            Device = device,
        };
        var lastProgress = 0L;
        var callbacks = new TrainingCallbacks
        {
            Batch = new SyncProgress<BatchProgress>(p =>
            {
                // Progress watchers need a few updates a second, not one per batch: each update wakes every
                // WatchJob stream, and that work would compete with training for the same cores.
                var now = System.Diagnostics.Stopwatch.GetTimestamp();
                if (p.Batch != p.Batches && System.Diagnostics.Stopwatch.GetElapsedTime(lastProgress, now) < ProgressInterval)
                {
                    return;
                }
                lastProgress = now;
                tracker.UpdateAsync(job.JobId, j => j with
                {
                    Epoch = p.Epoch,
                    Batch = p.Batch,
                    Batches = p.Batches,
                    TrainLoss = p.Loss,
                }, persist: false).GetAwaiter().GetResult();
            }),
            Epoch = new SyncProgress<EpochResult>(e =>
            {
                TrainingTelemetry.Throughput.Record(e.SamplesPerSecond);
                TrainingTelemetry.EpochLoss.Record(e.TrainLoss);
                if (e.ValidationAccuracy is { } accuracy)
                {
                    TrainingTelemetry.EpochAccuracy.Record(accuracy);
                }
                logger.LogInformation("Job {JobId} epoch {Epoch}/{Epochs}: loss {Loss:F4}, validation accuracy {Accuracy:P2}, {SamplesPerSecond:N0} samples/s, {EpochMs} ms with validation",
                    job.JobId, e.Epoch, h.Epochs, e.TrainLoss, e.ValidationAccuracy ?? double.NaN, e.SamplesPerSecond, (long)e.Duration.TotalMilliseconds);
                tracker.UpdateAsync(job.JobId, j => j with
                {
                    EpochsCompleted = e.Epoch,
                    TrainLoss = e.TrainLoss,
                    ValidationAccuracy = e.ValidationAccuracy ?? 0,
                    SamplesPerSecond = e.SamplesPerSecond,
                }, persist: true, cancellationToken).GetAwaiter().GetResult();
            }),
            Checkpoint = checkpoint =>
            {
                using var buffer = new MemoryStream();
                checkpoint.WriteWeights(buffer);
                buffer.Position = 0;
                store.PutAsync(JobTracker.CheckpointPath(job.JobId, checkpoint.Epoch.Epoch), buffer, cancellationToken).GetAwaiter().GetResult();
            },
        };

        using var result = Trainer.Train(modelSpec, train, validation, trainingOptions, callbacks, cancellationToken);
        tracker.UpdateAsync(job.JobId, j => j with { Device = result.Device }, persist: false).GetAwaiter().GetResult();
        var evaluation = Evaluator.Evaluate(result.Model, modelSpec, test);
        var metrics = new TestMetrics(evaluation.Accuracy, evaluation.Precision, evaluation.Recall, evaluation.F1, evaluation.ConfusionMatrix, evaluation.Classes, evaluation.Samples);
        using var weights = new MemoryStream();
        ModelWeights.Save(result.Model, weights);
        var record = new ModelRecord(job.JobId, modelSpec, WeightsPath: "", labeled.Dataset, labeled.Version, labeled.Classes,
            labeled.FeatureShape, evaluation.Accuracy, JsonSerializer.SerializeToElement(metrics, JobTracker.Json), job.JobId, DateTimeOffset.UtcNow);
        return (record, weights.ToArray());
    }

    /// <summary>The device a job will use: the configured one, or CUDA when TorchSharp finds it, else the CPU.</summary>
    private static string DeviceName(string? configured) => configured is null or "" or "auto"
        ? (TorchRuntime.EnsureLoadable() is not null && TorchSharp.torch.cuda.is_available() ? "cuda:0" : "cpu")
        : configured;

    private static TrainingData ToTrainingData(DatasetTable table) => new(table.Features, table.Labels, table.FeatureCount);

    /// <summary>An IProgress that reports on the calling thread (Progress&lt;T&gt; would post to the thread pool, out of order).</summary>
    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
