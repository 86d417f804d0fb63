using System.Globalization;
using System.Text;
using BigDataAI.Client;
using BigDataAI.Contracts.Labeling;
using BigDataAI.Datasets;
using BigDataAI.IntegrationTests.Infrastructure;
using BigDataAI.IntegrationTests.Services;
using BigDataAI.Protos.Ingestion.V1;
using BigDataAI.Protos.Labeling.V1;
using BigDataAI.Protos.Training.V1;
using Microsoft.Extensions.DependencyInjection;
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

    /// <summary>
    /// Uploads the generated table (140 rows, 80 labeled) as a new dataset named from <paramref name="prefix"/>, trains
    /// the MLP on it once labeled, and waits until inference serves that model; returns the dataset (and model) name and
    /// the served model's id.
    /// </summary>
    private static async Task<(string Name, string ModelId)> ServeTrainedTableAsync(ServiceHost host, string prefix)
    {
        var name = prefix + Guid.NewGuid().ToString("N")[..8];
        await host.Ingestion.UploadRawAsync([
            new UploadRequest { Header = new UploadHeader { Dataset = name, Format = DatasetFormat.Csv, Files = { "data" }, LabelColumn = "label" } },
            TestData.Chunk("data", Csv(140, 80, seed: 9))]);
        await host.Messages.Published<DatasetLabeled>(m => m.Dataset == name && m.Version == 1);
        var job = await host.Training.StartTrainingWhenLabeledAsync(
            new StartTrainingRequest { Dataset = name, Model = "mlp", HyperParameters = new HyperParameters { Epochs = 20, Seed = 2 } }, TimeSpan.FromMinutes(1));
        job = await host.Training.WatchToEndAsync(job.JobId, timeout: TimeSpan.FromMinutes(3));
        Assert.Equal(JobState.Succeeded, job.State);
        await host.Inference.WaitUntilServedAsync(name, job.ModelId, TimeSpan.FromMinutes(1));
        return (name, job.ModelId);
    }

    [Fact]
    public async Task Pre_labels_order_the_queue_by_uncertainty_and_every_five_labels_retrain_the_model()
    {
        await using var host = await ServiceHost.StartAsync(servers, output, Modules.Ingestion | Modules.Labeling | Modules.Training | Modules.Inference, settings: LabelingLogin.Settings());
        var (name, modelId) = await ServeTrainedTableAsync(host, "al-");

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
        Assert.Equal((60, modelId), (pre.Rows, pre.ModelId));
        var tasks = (await alice.NextTasksAsync(new NextTasksRequest { ProjectId = project.ProjectId, Count = 60 })).Tasks;
        Assert.Equal(60, tasks.Count);
        Assert.All(tasks, t => Assert.Equal(modelId, t.PreLabel.ModelId));
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
        while (now.PreLabelModelId == modelId && DateTime.UtcNow < deadline);
        output.WriteLine($"Retrained on v{now.LastExportedVersion}: tasks now pre-labeled by {now.PreLabelModelId}");
        Assert.NotEqual(modelId, now.PreLabelModelId);
        Assert.Equal(2, now.LastExportedVersion);
        var jobs = await host.Training.ListJobsAsync(new ListJobsRequest());
        var retrained = Assert.Single(jobs.Jobs, j => j.Dataset == name && j.Version == 2);
        Assert.Equal((JobState.Succeeded, now.PreLabelModelId, name), (retrained.State, retrained.ModelId, retrained.ModelName));
        var next = await alice.NextTasksAsync(new NextTasksRequest { ProjectId = project.ProjectId, Count = 55 });
        Assert.Equal(55, next.Tasks.Count);
        Assert.All(next.Tasks, t => Assert.Equal(now.PreLabelModelId, t.PreLabel.ModelId));
    }

    /// <summary>
    /// Export with accept_pre_labels_min_confidence: rows people decided keep their label (even over a confident
    /// pre-label), rows with a label of their own keep it, and of the rest those whose pre-label reaches the threshold
    /// take it, marked model:&lt;model id&gt;; the others stay unlabeled.
    /// </summary>
    [Fact]
    public async Task Export_takes_confident_pre_labels_for_rows_nobody_labeled_and_people_win_over_them()
    {
        await using var host = await ServiceHost.StartAsync(servers, output, Modules.Ingestion | Modules.Labeling | Modules.Training | Modules.Inference, settings: LabelingLogin.Settings());
        var (name, _) = await ServeTrainedTableAsync(host, "alx-");

        var labeling = LabelingLogin.Client(host);
        var alice = LabelingLogin.Client(host, "alice");
        var project = await labeling.CreateProjectAsync(new CreateProjectRequest { Name = "accept", Dataset = name, ModelName = name, Seed = 4 });
        var pre = await labeling.PreLabelAsync(new PreLabelRequest { ProjectId = project.ProjectId });
        Assert.Equal(60, pre.Rows);
        var tasks = (await alice.NextTasksAsync(new NextTasksRequest { ProjectId = project.ProjectId, Count = 60 })).Tasks.ToList();
        Assert.Equal(60, tasks.Count);

        // People label the five most confident rows against the model (their label must win) and five others.
        var byConfidence = tasks.OrderByDescending(t => t.PreLabel.Confidence).ThenBy(t => t.Row).ToList();
        var human = new Dictionary<long, string>();
        foreach (var task in byConfidence.Take(5))
        {
            human[task.Row] = task.PreLabel.Label == "low" ? "high" : "low";
        }
        foreach (var task in byConfidence.Skip(20).Take(5))
        {
            human[task.Row] = task.Row % 2 == 0 ? "low" : "high";
        }
        foreach (var (row, label) in human)
        {
            await alice.SubmitLabelAsync(new SubmitLabelRequest { ProjectId = project.ProjectId, Row = row, Classes = { label }, DurationMs = 300 });
        }
        // The threshold: the median confidence of the undecided rows, so some reach it and some do not.
        var undecided = tasks.Where(t => !human.ContainsKey(t.Row)).ToDictionary(t => t.Row, t => t.PreLabel);
        var threshold = undecided.Values.Select(p => p.Confidence).Order().ElementAt(undecided.Count / 2);
        var accepted = undecided.Where(p => p.Value.Confidence >= threshold).ToDictionary(p => p.Key, p => p.Value);
        output.WriteLine($"Pre-labels by {pre.ModelId}: confidences {undecided.Values.Min(p => p.Confidence):F3}-{undecided.Values.Max(p => p.Confidence):F3}; threshold {threshold:F3} accepts {accepted.Count} of {undecided.Count} undecided rows");
        Assert.InRange(accepted.Count, 1, undecided.Count - 1);

        foreach (var bad in new[] { 1.5, -0.1, double.NaN })
        {
            var refused = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() =>
                labeling.ExportAsync(new ExportRequest { ProjectId = project.ProjectId, AcceptPreLabelsMinConfidence = bad }).ResponseAsync);
            Assert.Equal(Grpc.Core.StatusCode.InvalidArgument, refused.StatusCode);
            Assert.StartsWith("accept_pre_labels_min_confidence:", refused.Status.Detail, StringComparison.Ordinal);
        }

        var export = await labeling.ExportAsync(new ExportRequest { ProjectId = project.ProjectId, AcceptPreLabelsMinConfidence = threshold });
        output.WriteLine($"Exported v{export.Version}: {export.HumanRows} rows by people, {export.ModelRows} by pre-labels, {export.OtherRows} others");
        Assert.Equal((2, 10L, (long)accepted.Count, 140L - 10 - accepted.Count), (export.Version, export.HumanRows, export.ModelRows, export.OtherRows));
        var store = host.Services.GetRequiredService<DatasetStore>();
        var table = await store.ReadAsync(await store.GetRequiredAsync(name, export.Version));
        var labels = table["label"];
        var sources = table["_label_source"];
        for (var r = 0; r < table.Rows; r++)
        {
            var row = table.RowIds[r];
            var (label, source) = (labels.Format(r), sources.Format(r));
            (string? Label, string? Source) expected = row < 80 ? (row % 2 == 0 ? "low" : "high", "source")
                : human.TryGetValue(row, out var given) ? (given, "human:alice")
                : accepted.TryGetValue(row, out var p) ? (p.Label, $"model:{pre.ModelId}")
                : ((string?)null, (string?)null);
            Assert.True(expected == (label, source), $"row {row}: label '{label}' from '{source}', expected '{expected.Label}' from '{expected.Source}'");
        }

        // Without the threshold the same project exports people's labels only, as before.
        var plain = await labeling.ExportAsync(new ExportRequest { ProjectId = project.ProjectId });
        Assert.Equal((10L, 0L, 130L), (plain.HumanRows, plain.ModelRows, plain.OtherRows));
    }
}
