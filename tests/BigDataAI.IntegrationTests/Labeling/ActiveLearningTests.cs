using System.Globalization;
using System.Text;
using BigDataAI.Client;
using BigDataAI.Contracts.Labeling;
using BigDataAI.IntegrationTests.Infrastructure;
using BigDataAI.IntegrationTests.Services;
using BigDataAI.Protos.Ingestion.V1;
using BigDataAI.Protos.Labeling.V1;
using BigDataAI.Protos.Training.V1;
using Xunit.Abstractions;

namespace BigDataAI.IntegrationTests.Labeling;

/// <summary>
/// Models help people: a served model pre-labels a project's tasks through inference's Predict, the queue puts the least
/// confident first, and every N labels from people retrain the model and pre-label the tasks again, by themselves.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class ActiveLearningTests(ServersFixture servers, ITestOutputHelper output)
{
    /// <summary>Two overlapping classes on two features; rows from 80 on are unlabeled.</summary>
    private static string Csv(int rows, int labeled, int seed)
    {
        var random = new Random(seed);
        var text = new StringBuilder("a,b,label\n");
        for (var i = 0; i < rows; i++)
        {
            var c = i % 2;
            var a = c * 1.5 + random.NextDouble() * 2;
            var b = c * 1.5 + random.NextDouble() * 2;
            text.Append(CultureInfo.InvariantCulture, $"{a:F3},{b:F3},{(i < labeled ? (c == 0 ? "low" : "high") : "")}\n");
        }
        return text.ToString();
    }

    [Fact]
    public async Task Pre_labels_order_the_queue_by_uncertainty_and_every_five_labels_retrain_the_model()
    {
        await using var host = await ServiceHost.StartAsync(servers, output, Modules.Ingestion | Modules.Labeling | Modules.Training | Modules.Inference, settings: LabelingLogin.Settings());
        var name = "al-" + Guid.NewGuid().ToString("N")[..8];
        await host.Ingestion.UploadRawAsync([
            new UploadRequest { Header = new UploadHeader { Dataset = name, Format = DatasetFormat.Csv, Files = { "data" }, LabelColumn = "label" } },
            TestData.Chunk("data", Csv(140, 80, seed: 9))]);
        await host.Messages.Published<DatasetLabeled>(m => m.Dataset == name && m.Version == 1);
        var job = await host.Training.StartTrainingWhenLabeledAsync(
            new StartTrainingRequest { Dataset = name, Model = "mlp", HyperParameters = new HyperParameters { Epochs = 20, Seed = 2 } }, TimeSpan.FromMinutes(1));
        job = await host.Training.WatchToEndAsync(job.JobId, timeout: TimeSpan.FromMinutes(3));
        Assert.Equal(JobState.Succeeded, job.State);
        await host.Inference.WaitUntilServedAsync(name, job.ModelId, TimeSpan.FromMinutes(1));

        var labeling = LabelingLogin.Client(host);
        var alice = LabelingLogin.Client(host, "alice");
        var project = await labeling.CreateProjectAsync(new CreateProjectRequest
        {
            Name = "active", Dataset = name, Order = QueueOrder.LeastConfidence, ModelName = name, RetrainEvery = 5,
        });
        Assert.Equal(60, project.Tasks);
        var unknown = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => labeling.PreLabelAsync(new PreLabelRequest { ProjectId = project.ProjectId, ModelName = "no-such-model" }).ResponseAsync);
        Assert.Equal(Grpc.Core.StatusCode.NotFound, unknown.StatusCode);

        var pre = await labeling.PreLabelAsync(new PreLabelRequest { ProjectId = project.ProjectId });
        output.WriteLine($"Pre-labeled {pre.Rows} tasks with {pre.ModelId} in {pre.Seconds:F2} s");
        Assert.Equal((60, job.ModelId), (pre.Rows, pre.ModelId));
        var tasks = (await alice.NextTasksAsync(new NextTasksRequest { ProjectId = project.ProjectId, Count = 60 })).Tasks;
        Assert.Equal(60, tasks.Count);
        Assert.All(tasks, t => Assert.Equal(job.ModelId, t.PreLabel.ModelId));
        var confidences = tasks.Select(t => t.PreLabel.Confidence).ToList();
        output.WriteLine($"Queue by least confidence: first {string.Join(", ", confidences.Take(5).Select(c => c.ToString("F3", CultureInfo.InvariantCulture)))} ... last {confidences[^1]:F3}");
        Assert.Equal(confidences.Order(), confidences);
        Assert.All(tasks, t => Assert.Equal(1.0, t.PreLabel.Probabilities.Sum(), 3));

        // Five labels from a person: the fifth starts a round (export, train, serve, pre-label again).
        SubmitLabelReply? last = null;
        foreach (var task in tasks.Take(5))
        {
            var truth = task.Row % 2 == 0 ? "low" : "high";
            last = await alice.SubmitLabelAsync(new SubmitLabelRequest { ProjectId = project.ProjectId, Row = task.Row, Classes = { truth }, DurationMs = 500 });
        }
        Assert.True(last!.RetrainingStarted);
        var deadline = DateTime.UtcNow.AddMinutes(4);
        Project now;
        do
        {
            await Task.Delay(500);
            now = await labeling.GetProjectAsync(new GetProjectRequest { ProjectId = project.ProjectId });
        }
        while (now.PreLabelModelId == job.ModelId && DateTime.UtcNow < deadline);
        output.WriteLine($"Retrained on v{now.LastExportedVersion}: tasks now pre-labeled by {now.PreLabelModelId}");
        Assert.NotEqual(job.ModelId, now.PreLabelModelId);
        Assert.Equal(2, now.LastExportedVersion);
        var jobs = await host.Training.ListJobsAsync(new ListJobsRequest());
        var retrained = Assert.Single(jobs.Jobs, j => j.Dataset == name && j.Version == 2);
        Assert.Equal((JobState.Succeeded, now.PreLabelModelId, name), (retrained.State, retrained.ModelId, retrained.ModelName));
        var next = await alice.NextTasksAsync(new NextTasksRequest { ProjectId = project.ProjectId, Count = 55 });
        Assert.Equal(55, next.Tasks.Count);
        Assert.All(next.Tasks, t => Assert.Equal(now.PreLabelModelId, t.PreLabel.ModelId));
    }
}
