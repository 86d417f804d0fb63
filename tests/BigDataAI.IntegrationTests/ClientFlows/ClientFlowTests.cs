using System.Diagnostics;
using BigDataAI.Client;
using BigDataAI.Contracts.Labeling;
using BigDataAI.IntegrationTests.Infrastructure;
using BigDataAI.IntegrationTests.Services;
using BigDataAI.Protos.Training.V1;
using BigDataAI.Storage;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace BigDataAI.IntegrationTests.ClientFlows;

/// <summary>
/// The flows of <c>BigDataAI.Client</c> (start when labeled, watch to the end, wait until served) against real modules
/// in one <see cref="ServiceHost"/>, over the shared real RabbitMQ and Azurite. Where a test needs the platform to hold
/// still at a point (labeling not finished, a job not yet training), an <see cref="ObjectStoreGate"/> holds the one
/// read behind that point until the test opens it.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class ClientFlowTests(ServersFixture servers, ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task StartTrainingWhenLabeled_called_right_after_an_upload_waits_for_labeling_and_starts_the_job()
    {
        // Labeling reads the uploaded shards to split them: held, so the first StartTraining surely comes before the labels.
        var labeling = new ObjectStoreGate("/part-");
        await using var host = await StartAsync(Modules.Ingestion | Modules.Labeling | Modules.Training, labeling);
        using var files = new TempFolder();
        var name = "start-" + Guid.NewGuid().ToString("N")[..8];
        await host.Ingestion.UploadIdxAsync(files, name, TestData.Idx(90, seed: 1));

        var notLabeled = new List<RpcException>();
        var job = await host.Training.StartTrainingWhenLabeledAsync(Mlp(name), Timeout, e =>
        {
            notLabeled.Add(e);
            labeling.Open();
        }, cancellationToken: CancellationToken.None);

        output.WriteLine($"job {job.JobId} {job.State} after {notLabeled.Count} FAILED_PRECONDITION answer(s): {notLabeled[0].Status.Detail}");
        Assert.NotEmpty(notLabeled);
        Assert.All(notLabeled, e => Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode));
        Assert.Contains("labeled", notLabeled[0].Status.Detail, StringComparison.Ordinal);
        Assert.Equal((name, 1, "mlp", 2), (job.Dataset, job.Version, job.Model, job.Epochs));
        Assert.Contains(job.State, new[] { JobState.Queued, JobState.Running });
        var labeled = await host.Messages.Published<DatasetLabeled>(m => m.Dataset == name);
        Assert.Equal(1, labeled.Version);
    }

    [Fact]
    public async Task StartTrainingWhenLabeled_fails_at_once_for_an_unknown_dataset_and_after_its_wait_for_one_never_labeled()
    {
        // No labeling module: an uploaded dataset stays unlabeled.
        await using var host = await StartAsync(Modules.Ingestion | Modules.Training);
        using var files = new TempFolder();
        var name = "never-labeled-" + Guid.NewGuid().ToString("N")[..8];
        await host.Ingestion.UploadIdxAsync(files, name, TestData.Idx(30, seed: 2));

        var retried = 0;
        var clock = Stopwatch.StartNew();
        var unknown = await Assert.ThrowsAsync<RpcException>(() => host.Training.StartTrainingWhenLabeledAsync(Mlp("no-such-dataset"), TimeSpan.FromMinutes(2), _ => retried++));
        output.WriteLine($"unknown dataset: {unknown.StatusCode} after {clock.Elapsed.TotalMilliseconds:F0} ms: {unknown.Status.Detail}");
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
        Assert.Contains("no-such-dataset", unknown.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(0, retried);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"NOT_FOUND took {clock.Elapsed.TotalSeconds:F1} s; it is not retried");

        var wait = TimeSpan.FromSeconds(1.5);
        clock.Restart();
        var unlabeled = await Assert.ThrowsAsync<RpcException>(() => host.Training.StartTrainingWhenLabeledAsync(Mlp(name), wait, _ => retried++));
        output.WriteLine($"never labeled: {unlabeled.StatusCode} after {clock.Elapsed.TotalMilliseconds:F0} ms and {retried} retries: {unlabeled.Status.Detail}");
        Assert.Equal(StatusCode.FailedPrecondition, unlabeled.StatusCode);
        Assert.True(clock.Elapsed >= wait, $"gave up after {clock.Elapsed.TotalSeconds:F2} s, before its {wait.TotalSeconds} s");
        Assert.True(retried >= 2, $"{retried} retries in {wait.TotalSeconds} s");
    }

    [Fact]
    public async Task WatchToEnd_reports_every_change_in_order_returns_the_final_state_and_WaitUntilServed_then_finds_its_model_loaded()
    {
        // The job's training split is held until the watch has seen the job, so the watch surely sees every epoch.
        var training = new ObjectStoreGate("/labeled/train-");
        await using var host = await StartAsync(Modules.Ingestion | Modules.Labeling | Modules.Training | Modules.Inference, training);
        using var files = new TempFolder();
        var name = "watch-" + Guid.NewGuid().ToString("N")[..8];
        await host.Ingestion.UploadIdxAsync(files, name, TestData.Idx(150, seed: 3));
        var job = await host.Training.StartTrainingWhenLabeledAsync(Mlp(name, epochs: 3), Timeout);

        var updates = new List<Job>();
        var final = await host.Training.WatchToEndAsync(job.JobId, update =>
        {
            updates.Add(update);
            training.Open();
        }, Timeout);
        output.WriteLine(string.Join("\n", updates.Select(u => $"{u.State} epoch {u.Epoch} batch {u.Batch}/{u.Batches}, {u.EpochsCompleted} completed")));

        Assert.True(final.State == JobState.Succeeded, $"job ended {final.State}: {final.Error}");
        Assert.Equal(updates[^1], final);
        Assert.All(updates[..^1], u => Assert.Contains(u.State, new[] { JobState.Queued, JobState.Running }));
        Assert.All(updates.Zip(updates.Skip(1)), p => Assert.NotEqual(p.First, p.Second));
        // Epochs only go up, from none to all; states that come faster than the reader takes them may be coalesced, so
        // not every epoch need be seen, but the watch sees some between the first and the last.
        var completed = updates.Select(u => u.EpochsCompleted).ToList();
        Assert.Equal([.. completed.Order()], completed);
        Assert.Equal(0, completed[0]);
        Assert.Equal(3, completed[^1]);
        Assert.Contains(completed, c => c is 1 or 2);

        var served = await host.Inference.WaitUntilServedAsync(name, final.ModelId, Timeout);
        Assert.Equal((final.ModelId, name, 1), (served.ModelId, served.Name, served.ModelVersion));
        Assert.NotEmpty(served.LoadedAt);
    }

    [Fact]
    public async Task WatchToEnd_resumes_when_the_connection_breaks_mid_stream_and_still_returns_the_final_state()
    {
        var training = new ObjectStoreGate("/labeled/train-");
        await using var host = await StartAsync(Modules.Ingestion | Modules.Labeling | Modules.Training, training);
        using var files = new TempFolder();
        var name = "resume-" + Guid.NewGuid().ToString("N")[..8];
        await host.Ingestion.UploadIdxAsync(files, name, TestData.Idx(90, seed: 4));
        var job = await host.Training.StartTrainingWhenLabeledAsync(Mlp(name), Timeout);

        // The watching client reaches the service through a relay; its first update cuts the connection under the stream.
        await using var relay = new TcpRelay(host.Address);
        using var channel = GrpcChannel.ForAddress(relay.Address);
        var client = new TrainingService.TrainingServiceClient(channel);
        var updates = new List<Job>();
        var watching = client.WatchToEndAsync(job.JobId, update =>
        {
            updates.Add(update);
            if (updates.Count == 1)
            {
                relay.CutAll();
            }
        }, Timeout);

        // The job cannot train on before the watch has connected again (a watch that gave up instead says why here).
        var reconnected = relay.WaitForConnectionsAsync(2, Timeout);
        if (await Task.WhenAny(reconnected, watching) == watching)
        {
            await watching;
        }
        await reconnected;
        training.Open();
        var final = await watching;

        output.WriteLine($"{relay.Accepted} connections; {string.Join(", ", updates.Select(u => $"{u.State}/{u.EpochsCompleted}"))}");
        Assert.True(final.State == JobState.Succeeded, $"job ended {final.State}: {final.Error}");
        Assert.Equal(job.JobId, final.JobId);
        Assert.Equal(2, final.EpochsCompleted);
        Assert.Equal(updates[^1], final);
        Assert.True(relay.Accepted >= 2, $"{relay.Accepted} connection(s): the watch did not reconnect");
    }

    [Fact]
    public async Task WaitUntilServed_times_out_naming_the_model_it_waited_for()
    {
        await using var host = await StartAsync(Modules.Inference);
        const string modelId = "never-registered-v1-mlp-0123456789";
        var clock = Stopwatch.StartNew();
        var timeout = await Assert.ThrowsAsync<TimeoutException>(() => host.Inference.WaitUntilServedAsync("never-registered", modelId, TimeSpan.FromSeconds(2)));
        output.WriteLine($"after {clock.Elapsed.TotalSeconds:F1} s: {timeout.Message}");
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(2), $"gave up after {clock.Elapsed.TotalSeconds:F2} s");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"gave up only after {clock.Elapsed.TotalSeconds:F2} s");
        Assert.Contains(modelId, timeout.Message, StringComparison.Ordinal);
        Assert.Contains("'never-registered'", timeout.Message, StringComparison.Ordinal);
        Assert.Contains("within 2 s", timeout.Message, StringComparison.Ordinal);
        Assert.Contains("last answer: Unavailable", timeout.Message, StringComparison.Ordinal); // nothing is registered
    }

    private static StartTrainingRequest Mlp(string dataset, int epochs = 2) =>
        new() { Dataset = dataset, Model = "mlp", HyperParameters = new HyperParameters { Epochs = epochs, BatchSize = 16, Seed = 1 } };

    private Task<ServiceHost> StartAsync(Modules modules, ObjectStoreGate? gate = null) =>
        ServiceHost.StartAsync(servers, output, modules, configureServices: gate is null ? null : services => services.AddSingleton<IObjectStore>(sp =>
            new GatedObjectStore(StorageRegistration.Create(sp.GetRequiredService<IConfiguration>()), gate)));
}
