using System.Diagnostics;
using BigDataAI.Client;
using BigDataAI.Contracts.Labeling;
using BigDataAI.IntegrationTests.Infrastructure;
using BigDataAI.Protos.Training.V1;
using Grpc.Core;
using Xunit.Abstractions;

namespace BigDataAI.IntegrationTests.Services;

/// <summary>
/// Stopping jobs and sweeps (issue 9 item 2) in a real host over the fixture's RabbitMQ and Azurite: StopJob on a queued
/// and a running job (and the stopped job resumed by submitting it again), an ASHA sweep that stops weak trials early and
/// reports and tags the best, and the sweep's refusals.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class SweepTests(ServersFixture servers, ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task Jobs_stop_on_request_and_an_asha_sweep_stops_weak_trials_and_tags_the_best()
    {
        await using var host = await ServiceHost.StartAsync(servers, output, Modules.Ingestion | Modules.Labeling | Modules.Training);
        // The shipped MNIST sample: hard enough that the learning rate shows after one epoch (the synthetic digits are not).
        var mnist = EndToEnd.MnistSample.Load();
        var name = "tune-" + Guid.NewGuid().ToString("N")[..8];
        await host.Ingestion.UploadIdxAsync(name, mnist.ImagesPath, mnist.LabelsPath);
        await host.Messages.Published<DatasetLabeled>(m => m.Dataset == name && m.Version == 1);
        var clock = Stopwatch.StartNew();

        // Refusals name the field.
        StartSweepRequest Sweep(string strategy, params SearchParameter[] space)
        {
            var request = new StartSweepRequest { Base = Job(name, epochs: 6), Strategy = strategy };
            request.Space.AddRange(space);
            return request;
        }
        await Refused(host, Sweep("asha", new SearchParameter { Name = "momentum", Min = 0, Max = 1 }), StatusCode.InvalidArgument, "Field 'space[0].name': 'momentum' is not a parameter");
        await Refused(host, Sweep("asha", new SearchParameter { Name = "learning_rate", Min = 0.1, Max = 0.1 }), StatusCode.InvalidArgument, "Field 'space[0]': the range of 'learning_rate' is empty");
        await Refused(host, Sweep("random", new SearchParameter { Name = "weight_decay", Min = 0, Max = 0.1, LogScale = true }), StatusCode.InvalidArgument, "Field 'space[0].min': a log-scale range");
        await Refused(host, Sweep("asha", new SearchParameter { Name = "optimizer", Min = 0, Max = 1 }), StatusCode.InvalidArgument, "'optimizer' takes choices");
        await Refused(host, Sweep("asha", new SearchParameter { Name = "optimizer", Choices = { "adam", "lbfgs" } }), StatusCode.InvalidArgument, "'lbfgs' is not a value of 'optimizer'");
        await Refused(host, Sweep("bayes", new SearchParameter { Name = "dropout", Min = 0, Max = 0.5 }), StatusCode.InvalidArgument, "Field 'strategy': 'bayes' is not a strategy");
        var below = Sweep("asha", new SearchParameter { Name = "dropout", Min = 0, Max = 0.5 });
        below.MinEpochs = -1;
        await Refused(host, below, StatusCode.InvalidArgument, "ASHA budget below one epoch");
        var noRoom = Sweep("asha", new SearchParameter { Name = "dropout", Min = 0, Max = 0.5 });
        noRoom.MinEpochs = 6;
        await Refused(host, noRoom, StatusCode.InvalidArgument, "Field 'min_epochs': ASHA's first rung (6 epochs) must be below every trial's epochs");
        var unknown = Sweep("random", new SearchParameter { Name = "dropout", Min = 0, Max = 0.5 });
        unknown.Base.Dataset = "no-such-dataset";
        await Refused(host, unknown, StatusCode.NotFound, "Dataset 'no-such-dataset' does not exist");
        Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(async () => await host.Training.GetSweepAsync(new GetSweepRequest { SweepId = "sweep-x" }))).StatusCode);
        Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(async () => await host.Training.StopJobAsync(new StopJobRequest { JobId = "no-such-job" }))).StatusCode);

        // StopJob: the running job stops within its epoch, the queued one at once, and the slot goes to the next job.
        var running = await host.Training.StartTrainingAsync(Job(name, epochs: 40, seed: 5));
        var queued = await host.Training.StartTrainingAsync(Job(name, epochs: 40, seed: 6));
        await WaitForAsync(host, running.JobId, j => j.State == JobState.Running && j.EpochsCompleted >= 1);
        var stoppedQueued = await host.Training.StopJobAsync(new StopJobRequest { JobId = queued.JobId, Reason = "not needed" });
        Assert.Equal((JobState.Stopped, "not needed"), (stoppedQueued.State, stoppedQueued.StopReason));
        var asked = Stopwatch.StartNew();
        await host.Training.StopJobAsync(new StopJobRequest { JobId = running.JobId, Reason = "enough" });
        var stopped = await host.Training.WatchToEndAsync(running.JobId, timeout: Timeout);
        output.WriteLine($"[{clock.Elapsed:mm\\:ss}] {running.JobId} stopped {asked.ElapsedMilliseconds} ms after StopJob, after {stopped.EpochsCompleted} epochs");
        Assert.Equal((JobState.Stopped, "enough", ""), (stopped.State, stopped.StopReason, stopped.ModelId));
        Assert.InRange(stopped.EpochsCompleted, 1, 39);
        // The same spec again resumes it from its last checkpoint.
        var again = await host.Training.StartTrainingAsync(Job(name, epochs: 40, seed: 5));
        Assert.Equal(running.JobId, again.JobId);
        await WaitForAsync(host, again.JobId, j => j.State == JobState.Running && j.Attempt == 2);
        var resumed = await host.Training.StopJobAsync(new StopJobRequest { JobId = again.JobId, Reason = "resumed, enough" });
        resumed = await host.Training.WatchToEndAsync(again.JobId, timeout: Timeout);
        Assert.Equal(JobState.Stopped, resumed.State);
        Assert.True(resumed.ResumedFromEpoch >= 1, $"resumed from epoch {resumed.ResumedFromEpoch}");

        // ASHA: six trials over a wide learning-rate range, rungs at epochs 1, 2 and 4 of 6.
        var asha = Sweep("asha", new SearchParameter { Name = "learning_rate", Min = 1e-5, Max = 0.05, LogScale = true }, new SearchParameter { Name = "dropout", Choices = { "0", "0.2" } });
        (asha.Trials, asha.Seed, asha.MinEpochs, asha.ReductionFactor) = (6, 3, 1, 2);
        var started = await host.Training.StartSweepAsync(asha);
        Assert.Equal(6, started.Trials.Count);
        Assert.Equal(started.SweepId, (await host.Training.StartSweepAsync(asha)).SweepId); // the same request is the same sweep
        var updates = 0;
        Sweep? final = null;
        using (var watch = host.Training.WatchSweep(new GetSweepRequest { SweepId = started.SweepId }))
        {
            using var deadline = new CancellationTokenSource(Timeout);
            await foreach (var update in watch.ResponseStream.ReadAllAsync(deadline.Token))
            {
                updates++;
                final = update;
            }
        }
        Assert.NotNull(final);
        foreach (var t in final.Trials)
        {
            output.WriteLine($"trial {t.Index} lr={t.Parameters["learning_rate"]} dropout={t.Parameters["dropout"]}: {t.State}, {t.EpochsCompleted} epochs, validation {t.ValidationScore:F4}, rungs passed [{string.Join(",", t.RungsPassed)}] {t.StopReason}");
        }
        output.WriteLine($"[{clock.Elapsed:mm\\:ss}] sweep {final.SweepId}: {final.State} after {updates} updates; best trial {final.BestTrial}");
        Assert.Equal(JobState.Succeeded, final.State);
        var stoppedTrials = final.Trials.Where(t => t.State == JobState.Stopped).ToList();
        Assert.NotEmpty(stoppedTrials);
        Assert.All(stoppedTrials, t =>
        {
            Assert.StartsWith("ASHA: validation score", t.StopReason, StringComparison.Ordinal);
            Assert.InRange(t.EpochsCompleted, 1, 5);
        });
        var succeeded = final.Trials.Where(t => t.State == JobState.Succeeded).ToList();
        var best = final.Trials.Single(t => t.Index == final.BestTrial);
        Assert.Equal(succeeded.Max(t => t.ValidationScore), best.ValidationScore);
        Assert.Equal(best.ModelId, final.BestModelId);
        var tagged = Assert.Single((await host.Training.SearchModelsAsync(new SearchModelsRequest { Tags = { ["sweep"] = final.SweepId, ["sweep-best"] = "true" } })).Models);
        Assert.Equal(final.BestModelId, tagged.ModelId);
        // Every trial is an ordinary job, tagged with its sweep.
        Assert.Equal(6, (await host.Training.SearchJobsAsync(new SearchJobsRequest { Tags = { ["sweep"] = final.SweepId } })).Jobs.Count);
        Assert.Equal(final.BestTrial, (await host.Training.GetSweepAsync(new GetSweepRequest { SweepId = final.SweepId })).BestTrial);
    }

    private static StartTrainingRequest Job(string dataset, int epochs, long seed = 1) =>
        new() { Dataset = dataset, Model = "mlp", HyperParameters = new HyperParameters { Epochs = epochs, BatchSize = 64, Seed = seed } };

    private static async Task Refused(ServiceHost host, StartSweepRequest request, StatusCode code, string message)
    {
        var e = await Assert.ThrowsAsync<RpcException>(async () => await host.Training.StartSweepAsync(request));
        Assert.Equal(code, e.StatusCode);
        Assert.Contains(message, e.Status.Detail, StringComparison.Ordinal);
    }

    private static async Task WaitForAsync(ServiceHost host, string jobId, Func<Job, bool> condition)
    {
        using var deadline = new CancellationTokenSource(Timeout);
        using var watch = host.Training.WatchJob(new GetJobRequest { JobId = jobId }, cancellationToken: deadline.Token);
        await foreach (var job in watch.ResponseStream.ReadAllAsync(deadline.Token))
        {
            if (condition(job))
            {
                return;
            }
        }
        throw new InvalidOperationException($"Job {jobId} ended before the condition held.");
    }
}
