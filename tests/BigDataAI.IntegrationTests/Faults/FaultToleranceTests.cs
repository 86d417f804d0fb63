using System.Collections.Concurrent;
using System.Diagnostics;
using BigDataAI.Client;
using BigDataAI.IntegrationTests.EndToEnd;
using BigDataAI.IntegrationTests.Infrastructure;
using BigDataAI.IntegrationTests.Services;
using BigDataAI.Protos.Inference.V1;
using BigDataAI.Protos.Ingestion.V1;
using BigDataAI.Protos.Training.V1;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Xunit.Abstractions;

namespace BigDataAI.IntegrationTests.Faults;

/// <summary>
/// Faults injected into the running distributed platform (the five host processes, a private RabbitMQ and a private
/// Azurite that only this test uses, all on loopback): the broker SIGKILLed mid-pipeline and restarted, storage frozen
/// for longer than the clients' retries, inference SIGKILLed under Predict load. Each asserts what callers saw during
/// the fault (UNAVAILABLE, never UNKNOWN; readiness down) and that afterwards no dataset, labeled version, job or model
/// was lost or duplicated and the newest model is served. Each step is printed with its time, which is where the
/// recovery figures in the closing notes come from.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class FaultToleranceTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(120);
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(150);
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Bounds shortened so the suite runs in minutes: each is a documented setting with a production default.
    /// Storage: a request gives up after 2 s, once retried (about 5 s in all), so a 20 s freeze outlasts the retries.
    /// </summary>
    private static readonly Dictionary<string, string> Settings = new()
    {
        ["Messaging__PublishTimeout"] = "00:00:03",
        ["Storage__NetworkTimeout"] = "00:00:02",
        ["Storage__MaxRetries"] = "1",
        ["Inference__ReconcileInterval"] = "00:00:03",
        ["Labeling__ReconcileInterval"] = "00:00:03",
        ["Training__Worker__ProbeInterval"] = "00:00:01",
        ["Training__Worker__ProbeTimeout"] = "00:00:06",
        ["Training__Scheduler__SilentWorkerPause"] = "00:00:10",
    };

    private readonly ServersFixture _servers = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly TempFolder _data = new();

    public Task InitializeAsync() => _servers.InitializeAsync();

    public async Task DisposeAsync()
    {
        await _servers.DisposeAsync();
        _data.Dispose();
    }

    [Fact]
    public async Task The_broker_SIGKILLed_mid_pipeline_loses_and_duplicates_nothing()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(6));
        var ct = timeout.Token;
        await using var platform = await StartAsync(ct);
        try
        {
            // Kill 1: right after an upload is stored and announced, while labeling, training and serving are ahead.
            var a = await platform.IngestionClient.UploadIdxAsync(_data, "fault-a", TestData.Idx(600, seed: 1));
            Step($"uploaded fault-a v{a.Dataset.Version}; SIGKILL the broker now");
            await _servers.RabbitMq.KillAsync();
            var down = Stopwatch.StartNew();

            // While it is down, once the hosts have seen it: readiness is off everywhere, and an upload is refused at
            // once with UNAVAILABLE instead of blocking. (An upload racing the kill may still be stored; it carries the
            // same content as the upload after the restart, so that one is then deduplicated.)
            var fileB = TestData.Idx(900, seed: 2);
            await AssertAllNotServingAsync(platform, TimeSpan.FromSeconds(30), ct);
            var refusedIn = Stopwatch.StartNew();
            var refused = await Assert.ThrowsAsync<RpcException>(() => platform.IngestionClient.UploadIdxAsync(_data, "fault-b", fileB));
            Step($"upload during the outage: {refused.StatusCode} after {refusedIn.Elapsed.TotalSeconds:F1} s: {refused.Status.Detail}");
            Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
            Assert.True(refusedIn.Elapsed < TimeSpan.FromSeconds(5), $"the refused upload took {refusedIn.Elapsed.TotalSeconds:F1} s");

            await _servers.RabbitMq.RestartAsync();
            Step($"broker back after {down.Elapsed.TotalSeconds:F1} s down");
            await WaitAllServingAsync(platform, "the first broker restart", ct);

            // Kill 2: while fault-b's job trains (its progress, its ModelTrained and the scheduler's view all cross the broker).
            var b = await platform.IngestionClient.UploadIdxAsync(_data, "fault-b", fileB);
            Step($"uploaded fault-b v{b.Dataset.Version}");
            // A job long enough (about 10 s) to be caught running; the auto-trained 2-epoch one is over in a second.
            var longJob = await platform.TrainingClient.StartTrainingWhenLabeledAsync(MlpJob("fault-b", epochs: 200), Settle, callTimeout: CallTimeout, cancellationToken: ct);
            await WaitForAsync($"job {longJob.JobId} to run", async () =>
                (await platform.TrainingClient.GetJobAsync(new GetJobRequest { JobId = longJob.JobId }, deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: ct)).State == JobState.Running, ct);
            Step($"job {longJob.JobId} runs (200 epochs); SIGKILL the broker again");
            await _servers.RabbitMq.KillAsync();
            down.Restart();
            await Task.Delay(TimeSpan.FromSeconds(3), ct); // an outage that lasts: the job goes on without the broker
            await _servers.RabbitMq.RestartAsync();
            Step($"broker back after {down.Elapsed.TotalSeconds:F1} s down");
            await WaitAllServingAsync(platform, "the second broker restart", ct);

            await AssertSettledAsync(platform, ["fault-a", "fault-b"], expectedModels: 3, ct);
        }
        catch
        {
            platform.WriteOutputs(output);
            throw;
        }
    }

    [Fact]
    public async Task Storage_frozen_longer_than_the_client_retries_answers_unavailable_and_loses_nothing()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(6));
        var ct = timeout.Token;
        await using var platform = await StartAsync(ct);
        try
        {
            await platform.IngestionClient.UploadIdxAsync(_data, "store-a", TestData.Idx(600, seed: 3));
            var first = await AutoTrainedModelServedAsync(platform.TrainingClient, platform.InferenceClient, "store-a", ct);
            Step($"store-a's auto-trained model {first} is served");

            // A longer job, running when storage freezes: its lease (15 s) lapses during the freeze.
            var job = await platform.TrainingClient.StartTrainingAsync(new StartTrainingRequest
            {
                Dataset = "store-a",
                Model = "mlp",
                HyperParameters = new HyperParameters { Epochs = 6, Seed = 7 },
            }, deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: ct);
            await WaitForAsync($"job {job.JobId} to run", async () =>
                (await platform.TrainingClient.GetJobAsync(new GetJobRequest { JobId = job.JobId }, deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: ct)).State == JobState.Running, ct);

            await _servers.Azurite.PauseAsync();
            var frozen = Stopwatch.StartNew();
            Step($"job {job.JobId} runs; storage frozen (SIGSTOP)");
            try
            {
                var upload = Stopwatch.StartNew();
                var refused = await Assert.ThrowsAsync<RpcException>(() => platform.IngestionClient.UploadIdxAsync(_data, "store-b", TestData.Idx(300, seed: 4)));
                Step($"upload while frozen: {refused.StatusCode} after {upload.Elapsed.TotalSeconds:F1} s: {refused.Status.Detail}");
                Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
                var read = await Assert.ThrowsAsync<RpcException>(() => platform.IngestionClient.GetDatasetAsync(
                    new GetDatasetRequest { Dataset = "store-a", Version = 1 }, deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: ct).ResponseAsync);
                Step($"GetDataset while frozen: {read.StatusCode}: {read.Status.Detail}");
                Assert.Equal(StatusCode.Unavailable, read.StatusCode);
                var predicted = await PredictAsync(platform.InferenceClient, ct);
                Step($"Predict while frozen: answered by {predicted} (the served model is in memory)");
                Assert.Equal(first, predicted);
                await AssertAllNotServingAsync(platform, TimeSpan.FromSeconds(30), ct);
                var rest = TimeSpan.FromSeconds(20) - frozen.Elapsed;
                if (rest > TimeSpan.Zero)
                {
                    await Task.Delay(rest, ct); // the outage must outlast the job's lease and every client retry
                }
            }
            finally
            {
                await _servers.Azurite.ResumeAsync();
            }
            Step($"storage resumed after {frozen.Elapsed.TotalSeconds:F1} s frozen");
            await WaitAllServingAsync(platform, "storage's return", ct);

            await platform.IngestionClient.UploadIdxAsync(_data, "store-b", TestData.Idx(300, seed: 4));
            Step("store-b uploaded after the freeze");
            var final = await platform.TrainingClient.WatchToEndAsync(job.JobId, timeout: Settle, cancellationToken: ct);
            Step($"job {job.JobId} ended {final.State} on worker {final.WorkerId}, attempt {final.Attempt}, resumed from epoch {final.ResumedFromEpoch}{(final.Error.Length > 0 ? ": " + final.Error : "")}");
            Assert.Equal(JobState.Succeeded, final.State);
            await AssertSettledAsync(platform, ["store-a", "store-b"], expectedModels: 3, ct);
        }
        catch
        {
            platform.WriteOutputs(output);
            throw;
        }
    }

    [Fact]
    public async Task Inference_SIGKILLed_under_Predict_load_answers_only_unavailable_and_serves_the_newest_model_again()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        var ct = timeout.Token;
        await using var platform = await StartAsync(ct);
        try
        {
            await platform.IngestionClient.UploadIdxAsync(_data, "load-a", TestData.Idx(600, seed: 5));
            var model = await AutoTrainedModelServedAsync(platform.TrainingClient, platform.InferenceClient, "load-a", ct);
            Step($"serving {model}; starting Predict load (4 callers)");

            // The callers know the service's address, not the process behind it: the restart keeps the port.
            using var channel = GrpcChannel.ForAddress(platform.Inference.Address);
            var client = new InferenceService.InferenceServiceClient(channel);
            var statuses = new ConcurrentDictionary<string, int>();
            var answeredBy = new ConcurrentDictionary<string, int>();
            long lastFailureTicks = 0; // DateTimeOffset.UtcNow ticks of the latest failed call, written by every caller
            using var stop = new CancellationTokenSource();
            var calls = 0;
            var callers = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
            {
                // Bounded: at most 5,000 calls each, and stopped by the test.
                for (var i = 0; i < 5000 && !stop.IsCancellationRequested; i++)
                {
                    Interlocked.Increment(ref calls);
                    try
                    {
                        var reply = await client.PredictAsync(Request(), deadline: DateTime.UtcNow.AddSeconds(5), cancellationToken: ct);
                        statuses.AddOrUpdate("OK", 1, (_, n) => n + 1);
                        answeredBy.AddOrUpdate(reply.ModelId, 1, (_, n) => n + 1);
                    }
                    catch (RpcException e)
                    {
                        statuses.AddOrUpdate(e.StatusCode.ToString(), 1, (_, n) => n + 1);
                        Interlocked.Exchange(ref lastFailureTicks, DateTimeOffset.UtcNow.UtcTicks);
                        await Task.Delay(50, ct); // a real client backs off too; this also keeps the loop bounded in time
                    }
                }
            }, ct)).ToList();

            await Task.Delay(TimeSpan.FromSeconds(3), ct);
            var okBefore = statuses.GetValueOrDefault("OK");
            Assert.True(okBefore > 0, "no Predict call succeeded before the kill");
            var killedAt = DateTimeOffset.UtcNow;
            Step($"{okBefore} calls answered; SIGKILL inference");
            await platform.KillAndRestartAsync("Inference", ct, samePort: true, whileDown: () => Task.Delay(TimeSpan.FromSeconds(2), ct));
            var backAt = DateTimeOffset.UtcNow;
            Step($"inference restarted and serving on the same address {(backAt - killedAt).TotalSeconds:F1} s after the kill");
            var okAtRestart = statuses.GetValueOrDefault("OK");
            await WaitForAsync("Predict to succeed again", () => Task.FromResult(statuses.GetValueOrDefault("OK") > okAtRestart + 100), ct);
            stop.Cancel();
            await Task.WhenAll(callers);
            DateTimeOffset? lastFailure = Interlocked.Read(ref lastFailureTicks) is var t and > 0 ? new DateTimeOffset(t, TimeSpan.Zero) : null;

            Step($"{calls} calls: {string.Join(", ", statuses.OrderBy(s => s.Key).Select(s => $"{s.Key} {s.Value}"))}; answered by {string.Join(", ", answeredBy.Select(a => $"{a.Key} ({a.Value})"))}; last failure {((lastFailure ?? killedAt) - killedAt).TotalSeconds:F1} s after the kill");
            Assert.All(statuses.Keys, s => Assert.True(s is "OK" or "Unavailable", $"{statuses[s]} calls answered {s}; during the outage only UNAVAILABLE is right"));
            Assert.True(statuses.GetValueOrDefault("Unavailable") > 0, "the kill was not seen by any caller");
            Assert.Equal([model], answeredBy.Keys);
            // A call sent just before the host served may still fail on its broken connection: allow a few seconds on a
            // loaded 2-core machine (4.2 s was seen with five builds running beside the suite).
            Assert.True(lastFailure is null || lastFailure <= backAt.AddSeconds(6), $"calls still failed {(lastFailure - backAt)?.TotalSeconds:F1} s after the restarted host served");
            await platform.AssertAllServingAsync(ct);
        }
        catch
        {
            platform.WriteOutputs(output);
            throw;
        }
    }

    [Fact]
    public async Task A_worker_whose_job_queue_is_gone_says_so_gets_no_job_and_exits_so_a_fresh_one_runs_it()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        var ct = timeout.Token;
        await using var platform = await StartAsync(ct, autoTrain: false, ("Training__Worker__ExitWhenDeafFor", "00:00:30"));
        try
        {
            await platform.IngestionClient.UploadIdxAsync(_data, "deaf-a", TestData.Idx(600, seed: 6));

            var queue = await DeafenWorkerQueueAsync(ct);
            var deafened = Stopwatch.StartNew();
            Step($"deleted the exchange of the worker's queue {queue}");

            Worker? deaf = null;
            await WaitForAsync("the worker to say it takes no jobs", async () =>
            {
                deaf = (await platform.TrainingClient.ListWorkersAsync(new ListWorkersRequest(), deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: ct)).Workers.SingleOrDefault();
                return deaf is { NotTakingJobs.Length: > 0 };
            }, ct);
            Step($"after {deafened.Elapsed.TotalSeconds:F1} s ListWorkers says {deaf!.WorkerId} takes no jobs: {deaf.NotTakingJobs}");
            await WaitForHealthAsync(platform.Host("worker"), HealthCheckResponse.Types.ServingStatus.NotServing, TimeSpan.FromSeconds(10), ct);
            Step("the worker reports NOT_SERVING");

            var job = await platform.TrainingClient.StartTrainingWhenLabeledAsync(MlpJob("deaf-a"), Settle, callTimeout: CallTimeout, cancellationToken: ct);
            await WaitForAsync("the job to say why it waits", async () =>
            {
                job = await platform.TrainingClient.GetJobAsync(new GetJobRequest { JobId = job.JobId }, deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: ct);
                return job.WaitingReason.Contains("delivers nothing", StringComparison.Ordinal);
            }, ct);
            Step($"job {job.JobId} {job.State}: {job.WaitingReason}");
            Assert.Equal(JobState.Queued, job.State);

            var worker = platform.Host("worker");
            Assert.True(await worker.WaitForExitAsync(TimeSpan.FromSeconds(60), ct), "the deaf worker did not exit");
            Step($"the deaf worker exited with code {worker.ExitCode} {deafened.Elapsed.TotalSeconds:F1} s after its queue went deaf");
            Assert.Equal(75, worker.ExitCode);

            // Its supervisor would start a fresh one; here the test does.
            await platform.StartWorkerAsync("worker-2", new Dictionary<string, string>(), ct);
            var final = await platform.TrainingClient.WatchToEndAsync(job.JobId, timeout: Settle, cancellationToken: ct);
            Step($"job {final.JobId} {final.State} on {final.WorkerId} (attempt {final.Attempt})");
            Assert.Equal(JobState.Succeeded, final.State);
            Assert.NotEqual(deaf.WorkerId, final.WorkerId);
        }
        catch
        {
            platform.WriteOutputs(output);
            throw;
        }
    }

    [Fact]
    public async Task A_job_handed_to_a_worker_that_never_starts_it_goes_to_another_and_the_silent_worker_gets_no_more()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        var ct = timeout.Token;
        // The worker's own probe is made slow here, so that only the scheduler's deadline can notice.
        await using var platform = await StartAsync(ct, autoTrain: false,
            ("Training__Worker__ProbeTimeout", "00:05:00"), ("Training__Worker__ExitWhenDeafFor", "00:00:00"), ("Training__Scheduler__AssignTimeout", "00:00:03"));
        try
        {
            await platform.IngestionClient.UploadIdxAsync(_data, "silent-a", TestData.Idx(600, seed: 8));
            var queue = await DeafenWorkerQueueAsync(ct);
            Step($"deleted the exchange of the worker's queue {queue}");

            var job = await platform.TrainingClient.StartTrainingWhenLabeledAsync(MlpJob("silent-a"), Settle, callTimeout: CallTimeout, cancellationToken: ct);
            var handed = Stopwatch.StartNew();
            Worker? silent = null;
            await WaitForAsync("the scheduler to bench the silent worker", async () =>
            {
                silent = (await platform.TrainingClient.ListWorkersAsync(new ListWorkersRequest(), deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: ct)).Workers.SingleOrDefault();
                return silent is { NotTakingJobs.Length: > 0 };
            }, ct);
            Step($"after {handed.Elapsed.TotalSeconds:F1} s: {silent!.WorkerId} takes no jobs: {silent.NotTakingJobs}");
            Assert.Contains($"did not start job {job.JobId}", silent.NotTakingJobs, StringComparison.Ordinal);
            job = await platform.TrainingClient.GetJobAsync(new GetJobRequest { JobId = job.JobId }, deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: ct);
            Step($"job {job.JobId} {job.State}: {job.WaitingReason}");
            Assert.Equal(JobState.Queued, job.State);

            await platform.StartWorkerAsync("worker-2", new Dictionary<string, string>(), ct);
            var final = await platform.TrainingClient.WatchToEndAsync(job.JobId, timeout: Settle, cancellationToken: ct);
            Step($"job {final.JobId} {final.State} on {final.WorkerId} (attempt {final.Attempt})");
            Assert.Equal(JobState.Succeeded, final.State);
            Assert.NotEqual(silent.WorkerId, final.WorkerId);
        }
        catch
        {
            platform.WriteOutputs(output);
            throw;
        }
    }

    /// <summary>
    /// What was seen once after a broker crash, made on purpose: the worker's queue stays, and its consumer, but nothing
    /// routes to it any more (its exchange is deleted; the next send to it fails once and declares it again, unbound,
    /// since a sender may not touch another connection's exclusive queue), so neither hand-outs nor probes arrive and
    /// MassTransit notices nothing. Returns the queue's name.
    /// </summary>
    private async Task<string> DeafenWorkerQueueAsync(CancellationToken ct)
    {
        var queue = Assert.Single(await _servers.RabbitMq.ListQueuesAsync(), q => q.StartsWith("training-worker-", StringComparison.Ordinal));
        await using var connection = await _servers.RabbitMq.CreateConnectionFactory().CreateConnectionAsync(ct);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: ct);
        await channel.ExchangeDeleteAsync(queue, cancellationToken: ct);
        return queue;
    }

    /// <summary>An MLP job on the newest version of <paramref name="dataset"/>; with the default epochs, the auto-train's spec (so the same job).</summary>
    internal static StartTrainingRequest MlpJob(string dataset, int epochs = DistributedPlatform.AutoTrainEpochs) =>
        new() { Dataset = dataset, Model = DistributedPlatform.AutoTrainModel, HyperParameters = new HyperParameters { Epochs = epochs } };

    /// <summary>
    /// The model the auto-train of <paramref name="dataset"/> registers, once inference serves it. Its job is found by
    /// its spec (asking for the same spec again is the same job, whichever asks first; where nothing auto-trains, this
    /// starts it), then followed to its end.
    /// </summary>
    internal static async Task<string> AutoTrainedModelServedAsync(TrainingService.TrainingServiceClient training, InferenceService.InferenceServiceClient inference, string dataset, CancellationToken ct)
    {
        var job = await training.StartTrainingWhenLabeledAsync(MlpJob(dataset), Settle, callTimeout: CallTimeout, cancellationToken: ct);
        var final = await training.WatchToEndAsync(job.JobId, timeout: Settle, cancellationToken: ct);
        if (final.State != JobState.Succeeded)
        {
            throw new InvalidOperationException($"The auto-train job {final.JobId} of {dataset} ended {final.State}, so no model of it will be served: {final.Error}");
        }
        return (await inference.WaitUntilServedAsync(dataset, final.ModelId, Settle, ct)).ModelId;
    }

    private Task<DistributedPlatform> StartAsync(CancellationToken ct, bool autoTrain = true, params (string Key, string Value)[] extra)
    {
        Step($"private broker on {_servers.RabbitMq.Port}, Azurite on {_servers.Azurite.Port}; starting five hosts");
        var settings = new Dictionary<string, string>(Settings);
        foreach (var (key, value) in extra)
        {
            settings[key] = value;
        }
        return DistributedPlatform.StartAsync(_servers, output, ReadyTimeout, ct, environment: settings, autoTrain: autoTrain);
    }

    /// <summary>
    /// After the faults: each dataset has exactly one version, one succeeded auto-train job, jobs are unique, models
    /// are one per job, and inference serves the newest model.
    /// </summary>
    private async Task AssertSettledAsync(DistributedPlatform platform, string[] datasets, int expectedModels, CancellationToken ct)
    {
        IReadOnlyList<ModelInfo> models = [];
        await WaitForAsync($"{expectedModels} models", async () =>
        {
            models = (await platform.TrainingClient.ListModelsAsync(new BigDataAI.Protos.Training.V1.ListModelsRequest(), deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: ct)).Models;
            return models.Count >= expectedModels;
        }, ct);
        var newest = models.OrderBy(m => DateTimeOffset.Parse(m.CreatedAt, System.Globalization.CultureInfo.InvariantCulture)).ThenBy(m => m.ModelId, StringComparer.Ordinal).Last();
        var served = (await platform.InferenceClient.WaitUntilServedAsync(newest.Name, newest.ModelId, Settle, ct)).ModelId;
        Step($"settled: {models.Count} models ({string.Join(", ", models.Select(m => m.ModelId))}); inference serves the newest, {served}");

        var all = (await platform.IngestionClient.ListDatasetsAsync(new ListDatasetsRequest(), deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: ct)).Datasets;
        Assert.Equal(datasets.Order(StringComparer.Ordinal), all.Select(d => d.Dataset).Order(StringComparer.Ordinal));
        Assert.All(all, d => Assert.Equal(1, d.Version));
        // The control plane's view of a job that ended while the broker was away (its last JobUpdated lost) catches up
        // from storage once the worker's announcements show it no longer runs the job: wait for that, then judge.
        IReadOnlyList<Job> jobs = [];
        await WaitForAsync("every job to be seen ended", async () =>
        {
            jobs = await ListJobsAsync(platform, ct);
            return jobs.All(j => j.State is JobState.Succeeded or JobState.Failed);
        }, ct);
        Assert.Equal(jobs.Count, jobs.Select(j => j.JobId).Distinct().Count());
        Assert.All(jobs, j => Assert.True(j.State == JobState.Succeeded, $"job {j.JobId} ({j.Dataset}) is {j.State}: {j.Error}"));
        foreach (var dataset in datasets)
        {
            Assert.Single(jobs, j => j.Dataset == dataset && j.Model == DistributedPlatform.AutoTrainModel && j.Epochs == DistributedPlatform.AutoTrainEpochs);
        }
        Assert.Equal(expectedModels, models.Count);
        Assert.Equal(models.Count, models.Select(m => m.ModelId).Distinct().Count());
        Assert.Equal(jobs.Count, models.Count);
        Assert.Equal(jobs.Select(j => j.ModelId).Order(StringComparer.Ordinal), models.Select(m => m.ModelId).Order(StringComparer.Ordinal));
        await platform.AssertAllServingAsync(ct);
    }

    private static async Task<IReadOnlyList<Job>> ListJobsAsync(DistributedPlatform platform, CancellationToken ct) =>
        (await platform.TrainingClient.ListJobsAsync(new ListJobsRequest(), deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: ct)).Jobs;

    private static async Task<string> PredictAsync(InferenceService.InferenceServiceClient client, CancellationToken ct) =>
        (await client.PredictAsync(Request(), deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: ct)).ModelId;

    private static PredictRequest Request()
    {
        var input = new Input();
        input.Features.AddRange(TestData.Features(1, seed: 11));
        return new PredictRequest { Inputs = { input } };
    }

    /// <summary>Waits until every host reports SERVING again; prints how long that took.</summary>
    private async Task WaitAllServingAsync(DistributedPlatform platform, string after, CancellationToken ct)
    {
        var watch = Stopwatch.StartNew();
        foreach (var host in platform.Hosts)
        {
            await host.WaitUntilServingAsync(ReadyTimeout, ct);
        }
        Step($"every host SERVING {watch.Elapsed.TotalSeconds:F1} s after {after}");
    }

    /// <summary>Every host reports NOT_SERVING within <paramref name="timeout"/> (asked at once).</summary>
    private async Task AssertAllNotServingAsync(DistributedPlatform platform, TimeSpan timeout, CancellationToken ct)
    {
        var watch = Stopwatch.StartNew();
        var seen = await Task.WhenAll(platform.Hosts.Select(async h => (h.Name, After: await WaitForHealthAsync(h, HealthCheckResponse.Types.ServingStatus.NotServing, timeout, ct))));
        Step($"every host reports NOT_SERVING within {watch.Elapsed.TotalSeconds:F1} s ({string.Join(", ", seen.Select(s => $"{s.Name} {s.After.TotalSeconds:F1} s"))})");
    }

    /// <summary>Polls the host's gRPC health until it reports <paramref name="wanted"/>; returns how long that took.</summary>
    private static async Task<TimeSpan> WaitForHealthAsync(HostProcess host, HealthCheckResponse.Types.ServingStatus wanted, TimeSpan timeout, CancellationToken ct)
    {
        var watch = Stopwatch.StartNew();
        HealthCheckResponse.Types.ServingStatus? last = null;
        while (watch.Elapsed < timeout)
        {
            last = await host.TryCheckHealthAsync(TimeSpan.FromSeconds(15), ct);
            if (last == wanted)
            {
                return watch.Elapsed;
            }
            // Polled: readiness is computed on request, nothing pushes it.
            await Task.Delay(250, ct);
        }
        throw new TimeoutException($"{host.Name} did not report {wanted} within {timeout.TotalSeconds} s (last: {last?.ToString() ?? "no answer"}).");
    }

    /// <summary>Polls <paramref name="condition"/> with back-off until it holds or <see cref="Settle"/> passes.</summary>
    private static async Task WaitForAsync(string what, Func<Task<bool>> condition, CancellationToken ct)
    {
        var watch = Stopwatch.StartNew();
        var delay = TimeSpan.FromMilliseconds(100);
        Exception? last = null;
        while (watch.Elapsed < Settle)
        {
            try
            {
                if (await condition())
                {
                    return;
                }
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable)
            {
                last = e; // a service still reconnecting
            }
            await Task.Delay(delay, ct);
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 1000));
        }
        throw new TimeoutException($"Waited {Settle.TotalSeconds} s for {what}{(last is null ? "" : $" (last: {last.Message})")}.");
    }

    private void Step(string what) => output.WriteLine($"[{_clock.Elapsed.TotalSeconds,6:F1}s] {what}");
}
