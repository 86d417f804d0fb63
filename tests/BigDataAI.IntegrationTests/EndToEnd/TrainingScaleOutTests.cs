using System.Diagnostics;
using BigDataAI.Client;
using BigDataAI.IntegrationTests.Infrastructure;
using BigDataAI.Models.Registry;
using BigDataAI.Protos.Training.V1;
using BigDataAI.Storage;
using Grpc.Core;
using Xunit.Abstractions;

namespace BigDataAI.IntegrationTests.EndToEnd;

/// <summary>
/// Training that scales out, with every service and worker its own OS process over the fixture's real RabbitMQ and
/// Azurite: the scheduler places jobs only on workers that fit them, and a worker SIGKILLed mid-epoch is replaced and
/// its job resumes from its checkpoint, ending with the very model an uninterrupted run trains.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class TrainingScaleOutTests(ServersFixture servers, ITestOutputHelper output)
{
    private const string Dataset = "mnist";
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan WholeTest = TimeSpan.FromMinutes(4);

    /// <summary>Fast failure detection for tests: announcements every 0.5 s, a worker gone after 3 s of silence. Leases stay at Azure's minimum, 15 s.</summary>
    private static readonly Dictionary<string, string> FastScheduling = new()
    {
        ["Training__Worker__AnnounceInterval"] = "00:00:00.500",
        ["Training__Scheduler__WorkerTimeout"] = "00:00:03",
        ["Training__Scheduler__Interval"] = "00:00:00.500",
        ["Training__LeaseDuration"] = "00:00:15",
    };

    private readonly Stopwatch _clock = Stopwatch.StartNew();

    [Fact]
    public async Task Two_workers_with_different_capacity_get_only_the_jobs_that_fit_them()
    {
        using var timeout = new CancellationTokenSource(WholeTest);
        var ct = timeout.Token;
        var workers = new Dictionary<string, IReadOnlyDictionary<string, string>>
        {
            ["small"] = new Dictionary<string, string> { ["Training__Worker__Id"] = "small", ["Training__Worker__MemoryMiB"] = "2048" },
            ["large"] = new Dictionary<string, string> { ["Training__Worker__Id"] = "large", ["Training__Worker__MemoryMiB"] = "8192" },
        };
        await using var platform = await DistributedPlatform.StartAsync(servers, output, ReadyTimeout, ct, workers, FastScheduling, autoTrain: false);
        try
        {
            var version = await UploadAsync(platform, ct);
            var connected = await WaitForWorkersAsync(platform, 2, ct);
            Assert.Equal(new[] { ("large", 0, 8192, 1), ("small", 0, 2048, 1) }, connected.Select(w => (w.WorkerId, w.Gpus, w.MemoryMib, w.Slots)));

            // Four MLP trials: two need 4 GiB (only "large" has it), one 1 GiB, one states no need; one asks for a GPU.
            var needs = new[] { 4096, 4096, 1024, 0 };
            var jobs = new List<Job>();
            for (var i = 0; i < needs.Length; i++)
            {
                jobs.Add(await StartAsync(platform, version, "mlp", epochs: 1, seed: 10 + i, memoryMiB: needs[i], ct: ct));
            }
            var gpuJob = await StartAsync(platform, version, "mlp", epochs: 1, seed: 20, gpus: 1, ct: ct);

            var finished = new List<Job>();
            foreach (var job in jobs)
            {
                finished.Add(await platform.TrainingClient.WatchToEndAsync(job.JobId, timeout: TimeSpan.FromMinutes(2), cancellationToken: ct));
            }
            foreach (var (job, need) in finished.Zip(needs))
            {
                Step($"job {job.JobId} (needs {need} MiB) {job.State} on worker {job.WorkerId}");
                Assert.True(job.State == JobState.Succeeded, $"{job.JobId}: {job.State} {job.Error}");
                Assert.Equal(need, job.Resources.MemoryMib);
                var ranOn = connected.Single(w => w.WorkerId == job.WorkerId);
                Assert.True(ranOn.MemoryMib >= need, $"job needing {need} MiB ran on {ranOn.WorkerId} with {ranOn.MemoryMib} MiB");
            }
            Assert.All(finished.Take(2), job => Assert.Equal("large", job.WorkerId));
            Assert.Contains(finished, job => job.WorkerId == "small"); // the small worker took work too

            // Hand-outs were sent to each worker's own queue: a worker queue is reached from the default exchange and its
            // own exchange only, so no published message (RunJob, WorkerProbe) reaches any worker, and the other worker
            // never saw a job it was not given.
            var bindings = await servers.RabbitMq.ListBindingsAsync();
            var workerQueues = bindings.Where(b => b.Kind == "queue" && b.Destination.StartsWith("training-worker-", StringComparison.Ordinal)).GroupBy(b => b.Destination).ToList();
            Step($"worker queues: {string.Join("; ", workerQueues.Select(q => $"{q.Key} <- {string.Join(", ", q.Select(b => b.Source.Length == 0 ? "(default)" : b.Source))}"))}");
            Assert.True(workerQueues.Count >= 2, $"expected the two workers' queues, found {workerQueues.Count}");
            Assert.All(workerQueues, q => Assert.All(q, b => Assert.True(b.Source.Length == 0 || b.Source == q.Key, $"{q.Key} is bound to {b.Source}")));
            Assert.DoesNotContain(bindings, b => b.Source.Contains("RunJob", StringComparison.Ordinal) || b.Source.Contains("WorkerProbe", StringComparison.Ordinal));

            // Nobody has a GPU: the GPU job waits, visibly, and says why.
            var waiting = await platform.TrainingClient.GetJobAsync(new GetJobRequest { JobId = gpuJob.JobId }, cancellationToken: ct);
            Step($"GPU job: {waiting.State}, {waiting.WaitingReason}");
            Assert.Equal(JobState.Queued, waiting.State);
            Assert.StartsWith("no connected worker has 1 GPU", waiting.WaitingReason, StringComparison.Ordinal);
            var listed = await platform.TrainingClient.ListJobsAsync(new ListJobsRequest(), cancellationToken: ct);
            Assert.Equal(5, listed.Jobs.Count);
            Assert.Equal(4, listed.Jobs.Count(j => j.State == JobState.Succeeded));

            // An impossible request is refused at submission.
            var impossible = await Assert.ThrowsAsync<RpcException>(() => StartAsync(platform, version, "mlp", epochs: 1, seed: 30, gpus: 64, ct: ct));
            Assert.Equal(StatusCode.InvalidArgument, impossible.StatusCode);
            Assert.Contains("resources.gpus", impossible.Status.Detail, StringComparison.Ordinal);
        }
        catch
        {
            platform.WriteOutputs(output);
            throw;
        }
    }

    [Fact]
    public async Task A_worker_killed_mid_epoch_is_replaced_and_the_job_resumes_from_its_checkpoint_to_the_same_model()
    {
        using var timeout = new CancellationTokenSource(WholeTest);
        var ct = timeout.Token;
        var workers = new Dictionary<string, IReadOnlyDictionary<string, string>>
        {
            ["first"] = new Dictionary<string, string> { ["Training__Worker__Id"] = "first" },
        };
        await using var platform = await DistributedPlatform.StartAsync(servers, output, ReadyTimeout, ct, workers, FastScheduling, autoTrain: false);
        try
        {
            var version = await UploadAsync(platform, ct);
            await WaitForWorkersAsync(platform, 1, ct);
            const int epochs = 3;
            var job = await StartAsync(platform, version, "cnn", epochs, seed: 7, batchSize: 64, ct: ct);

            // Kill the worker in the middle of epoch 2, after epoch 1's checkpoint.
            using (var watch = platform.TrainingClient.WatchJob(new GetJobRequest { JobId = job.JobId }, cancellationToken: ct))
            {
                await foreach (var update in watch.ResponseStream.ReadAllAsync(ct))
                {
                    if (update.EpochsCompleted >= 1 && update.Epoch == 2 && update.Batch >= 5)
                    {
                        Step($"killing worker 'first' at epoch {update.Epoch}, batch {update.Batch}/{update.Batches}");
                        break;
                    }
                    Assert.NotEqual(JobState.Succeeded, update.State);
                }
            }
            await platform.Host("first").KillAsync();
            var killedAt = _clock.Elapsed;

            await platform.StartWorkerAsync("second", new Dictionary<string, string> { ["Training__Worker__Id"] = "second" }, ct);
            Step("replacement worker 'second' serving");
            var resumed = await platform.TrainingClient.WatchToEndAsync(job.JobId, timeout: TimeSpan.FromMinutes(2), cancellationToken: ct);
            Step($"job {resumed.JobId} {resumed.State} on {resumed.WorkerId}, attempt {resumed.Attempt}, resumed from epoch {resumed.ResumedFromEpoch}, {(_clock.Elapsed - killedAt).TotalSeconds:F1} s after the kill; accuracy {resumed.TestMetrics?.Accuracy:P2}");
            Assert.True(resumed.State == JobState.Succeeded, $"{resumed.State}: {resumed.Error}");
            Assert.Equal("second", resumed.WorkerId);
            Assert.Equal(2, resumed.Attempt);
            Assert.Equal(1, resumed.ResumedFromEpoch);
            Assert.Equal(Enumerable.Range(1, epochs), resumed.History.Select(e => e.Epoch));

            // The same training uninterrupted (a different job only because it states a memory need).
            var whole = await StartAsync(platform, version, "cnn", epochs, seed: 7, batchSize: 64, memoryMiB: 1, ct: ct);
            Assert.NotEqual(job.JobId, whole.JobId);
            var uninterrupted = await platform.TrainingClient.WatchToEndAsync(whole.JobId, timeout: TimeSpan.FromMinutes(2), cancellationToken: ct);
            Assert.Equal(JobState.Succeeded, uninterrupted.State);
            Assert.Equal(1, uninterrupted.Attempt);
            Assert.Equal(0, uninterrupted.ResumedFromEpoch);
            Step($"uninterrupted run: accuracy {uninterrupted.TestMetrics.Accuracy:P2}");

            // Same losses epoch by epoch, same test accuracy, and bit-identical weights (their blob name is their hash).
            Assert.Equal(uninterrupted.History.Select(e => e.TrainLoss), resumed.History.Select(e => e.TrainLoss));
            Assert.NotNull(uninterrupted.TestMetrics);
            Assert.Equal(uninterrupted.TestMetrics.Accuracy, resumed.TestMetrics?.Accuracy);
            var registry = new ModelRegistry(new AzureBlobObjectStore(servers.Azurite.CreateServiceClient().GetBlobContainerClient(platform.Container)));
            var a = await registry.GetAsync(resumed.ModelId, ct);
            var b = await registry.GetAsync(uninterrupted.ModelId, ct);
            Assert.NotNull(a);
            Assert.NotNull(b);
            Assert.Equal(Path.GetFileName(b.WeightsPath), Path.GetFileName(a.WeightsPath)); // weights-{sha256[..16]}.pt
        }
        catch
        {
            platform.WriteOutputs(output);
            throw;
        }
    }

    [Fact]
    public async Task Killing_the_control_plane_mid_job_loses_nothing_and_a_new_one_reports_the_job_to_its_end()
    {
        using var timeout = new CancellationTokenSource(WholeTest);
        var ct = timeout.Token;
        var workers = new Dictionary<string, IReadOnlyDictionary<string, string>>
        {
            ["worker"] = new Dictionary<string, string> { ["Training__Worker__Id"] = "worker" },
        };
        await using var platform = await DistributedPlatform.StartAsync(servers, output, ReadyTimeout, ct, workers, FastScheduling, autoTrain: false);
        try
        {
            var version = await UploadAsync(platform, ct);
            await WaitForWorkersAsync(platform, 1, ct);
            // Long enough (about 12 s here) that the job is still running when the new control plane is up (about 4 s).
            const int epochs = 8;
            var job = await StartAsync(platform, version, "cnn", epochs, seed: 11, batchSize: 64, ct: ct);
            using (var watch = platform.TrainingClient.WatchJob(new GetJobRequest { JobId = job.JobId }, cancellationToken: ct))
            {
                await foreach (var update in watch.ResponseStream.ReadAllAsync(ct))
                {
                    if (update.State == JobState.Running && update.Batch >= 5)
                    {
                        Step($"killing the control plane at epoch {update.Epoch}, batch {update.Batch}/{update.Batches}");
                        break;
                    }
                }
            }

            await platform.KillAndRestartAsync("Training", ct);
            Step("new control plane serving");
            var updates = new List<Job>();
            await platform.TrainingClient.WatchToEndAsync(job.JobId, updates.Add, TimeSpan.FromMinutes(2), ct);
            // The new control plane found the running job in storage and followed the worker's progress to the end.
            Assert.Equal(JobState.Running, updates[0].State);
            Assert.True(updates[0].EpochsCompleted < epochs, $"the job had finished ({updates[0].EpochsCompleted} epochs) before the new control plane saw it");
            Assert.Contains(updates, u => u.State == JobState.Running && u.EpochsCompleted > updates[0].EpochsCompleted);
            var done = updates[^1];
            Step($"job {done.JobId} {done.State} on {done.WorkerId}, attempt {done.Attempt}");

            // The worker never noticed: same worker, one attempt, all epochs, one model.
            Assert.True(done.State == JobState.Succeeded, $"{done.State}: {done.Error}");
            Assert.Equal("worker", done.WorkerId);
            Assert.Equal(1, done.Attempt);
            Assert.Equal(Enumerable.Range(1, epochs), done.History.Select(e => e.Epoch));
            var models = await platform.TrainingClient.ListModelsAsync(new ListModelsRequest(), cancellationToken: ct);
            Assert.Equal(done.ModelId, Assert.Single(models.Models).ModelId);
        }
        catch
        {
            platform.WriteOutputs(output);
            throw;
        }
    }

    [Fact]
    public async Task A_sweep_whose_worker_is_killed_mid_trial_still_finishes_every_trial()
    {
        using var timeout = new CancellationTokenSource(WholeTest);
        var ct = timeout.Token;
        var workers = new Dictionary<string, IReadOnlyDictionary<string, string>>
        {
            ["first"] = new Dictionary<string, string> { ["Training__Worker__Id"] = "first" },
        };
        await using var platform = await DistributedPlatform.StartAsync(servers, output, ReadyTimeout, ct, workers, FastScheduling, autoTrain: false);
        try
        {
            var version = await UploadAsync(platform, ct);
            await WaitForWorkersAsync(platform, 1, ct);
            var request = new StartSweepRequest
            {
                Base = new StartTrainingRequest { Dataset = Dataset, Version = version, Model = "mlp", HyperParameters = new HyperParameters { Epochs = 3, Seed = 4, BatchSize = 64 } },
                Strategy = "random",
                Trials = 2,
                Seed = 9,
            };
            request.Space.Add(new SearchParameter { Name = "learning_rate", Min = 1e-4, Max = 1e-2, LogScale = true });
            var sweep = await platform.TrainingClient.StartSweepAsync(request, cancellationToken: ct);
            Step($"sweep {sweep.SweepId}: trials {string.Join(", ", sweep.Trials.Select(t => t.JobId))}");

            // Kill the only worker once the first trial has finished an epoch (its checkpoint is written).
            var first = sweep.Trials[0].JobId;
            using (var watch = platform.TrainingClient.WatchJob(new GetJobRequest { JobId = first }, cancellationToken: ct))
            {
                await foreach (var update in watch.ResponseStream.ReadAllAsync(ct))
                {
                    if (update.EpochsCompleted >= 1 && update.State == JobState.Running)
                    {
                        break;
                    }
                }
            }
            await platform.Host("first").KillAsync();
            Step("killed worker 'first' mid-trial");
            await platform.StartWorkerAsync("second", new Dictionary<string, string> { ["Training__Worker__Id"] = "second" }, ct);

            Sweep? final = null;
            using (var watch = platform.TrainingClient.WatchSweep(new GetSweepRequest { SweepId = sweep.SweepId }, cancellationToken: ct))
            {
                await foreach (var update in watch.ResponseStream.ReadAllAsync(ct))
                {
                    final = update;
                }
            }
            Step($"sweep {final!.State}: {string.Join("; ", final.Trials.Select(t => $"trial {t.Index} {t.State} ({t.EpochsCompleted} epochs)"))}, best {final.BestTrial}");
            Assert.Equal(JobState.Succeeded, final.State);
            Assert.All(final.Trials, t => Assert.Equal((JobState.Succeeded, 3), (t.State, t.EpochsCompleted)));
            var resumed = await platform.TrainingClient.GetJobAsync(new GetJobRequest { JobId = first }, cancellationToken: ct);
            Assert.Equal(("second", 2), (resumed.WorkerId, resumed.Attempt));
            Assert.True(resumed.ResumedFromEpoch >= 1, $"resumed from epoch {resumed.ResumedFromEpoch}");
        }
        catch
        {
            platform.WriteOutputs(output);
            throw;
        }
    }

    private async Task<int> UploadAsync(DistributedPlatform platform, CancellationToken ct)
    {
        var sample = MnistSample.Load();
        await using var events = await BusEvents.SubscribeAsync(servers.RabbitMq.CreateConnectionFactory(), [BusEvents.DatasetLabeled], ct);
        var upload = await platform.IngestionClient.UploadIdxAsync(Dataset, sample.ImagesPath, sample.LabelsPath, "samples/mnist", ct);
        var version = upload.Dataset.Version;
        await events.WaitForAsync($"DatasetLabeled for v{version}", e => e.Dataset == Dataset && e.Version == version, TimeSpan.FromSeconds(60), ct);
        Step($"uploaded and labeled {Dataset} v{version}");
        return version;
    }

    private async Task<IReadOnlyList<Worker>> WaitForWorkersAsync(DistributedPlatform platform, int count, CancellationToken ct)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var reply = await platform.TrainingClient.ListWorkersAsync(new ListWorkersRequest(), cancellationToken: ct);
            if (reply.Workers.Count >= count)
            {
                Step($"workers connected: {string.Join(", ", reply.Workers.Select(w => $"{w.WorkerId} ({w.Gpus} GPU, {w.MemoryMib} MiB)"))}");
                return reply.Workers;
            }
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(30), $"only {reply.Workers.Count} of {count} workers announced themselves within 30 s");
            await Task.Delay(200, ct);
        }
    }

    private static Task<Job> StartAsync(DistributedPlatform platform, int version, string model, int epochs, int seed, int batchSize = 0, int gpus = 0, int memoryMiB = 0, CancellationToken ct = default) =>
        platform.TrainingClient.StartTrainingAsync(new StartTrainingRequest
        {
            Dataset = Dataset,
            Version = version,
            Model = model,
            HyperParameters = new HyperParameters { Epochs = epochs, Seed = seed, BatchSize = batchSize },
            Resources = new Resources { Gpus = gpus, MemoryMib = memoryMiB },
        }, cancellationToken: ct).ResponseAsync;

    private void Step(string what) => output.WriteLine($"[{_clock.Elapsed.TotalSeconds,6:F1}s] {what}");
}
