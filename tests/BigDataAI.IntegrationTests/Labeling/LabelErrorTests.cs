using System.Diagnostics;
using System.IO.Compression;
using BigDataAI.Contracts.Labeling;
using BigDataAI.IntegrationTests.EndToEnd;
using BigDataAI.IntegrationTests.Infrastructure;
using BigDataAI.IntegrationTests.Services;
using BigDataAI.Protos.Labeling.V1;
using Task = System.Threading.Tasks.Task;
using Grpc.Core;
using Xunit.Abstractions;

namespace BigDataAI.IntegrationTests.Labeling;

/// <summary>
/// Confident learning end to end: k-fold jobs on the real training module give out-of-fold probabilities, and the
/// labeling module's FindLabelErrors finds label flips planted in the MNIST sample.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class LabelErrorTests(ServersFixture servers, ITestOutputHelper output)
{
    private const int Rows = 3000;
    private const int Flips = Rows * 3 / 100;

    /// <summary>The one place the test calls the labeling service (so adding credentials later is a one-line change).</summary>
    private static async Task<FindLabelErrorsReply> FindLabelErrorsAsync(ServiceHost host, FindLabelErrorsRequest request) =>
        await new LabelingService.LabelingServiceClient(host.Channel).FindLabelErrorsAsync(request, await LabelingLogin.HeadersAsync(host, LabelingLogin.Admin), deadline: DateTime.UtcNow.AddMinutes(10));

    /// <summary>The first <paramref name="rows"/> digits of the shipped sample as IDX bytes, with a seeded 3 % of labels changed to another digit.</summary>
    private static (byte[] Images, byte[] Labels, HashSet<long> Flipped) PlantedSample(int rows, int flips, int seed)
    {
        var sample = MnistSample.Load();
        var pixels = Gunzip(sample.ImagesPath)[16..(16 + rows * MnistSample.Pixels)];
        var labels = Enumerable.Range(0, rows).Select(r => (byte)sample.Label(r)).ToArray();
        var random = new Random(seed);
        var flipped = new HashSet<long>();
        while (flipped.Count < flips)
        {
            var row = random.Next(rows);
            if (flipped.Add(row))
            {
                labels[row] = (byte)((labels[row] + 1 + random.Next(9)) % 10);
            }
        }
        return (TestData.IdxImages(rows, 28, 28, pixels), TestData.IdxLabels(rows, labels), flipped);
    }

    private static byte[] Gunzip(string path)
    {
        using var file = File.OpenRead(path);
        using var gzip = new GZipStream(file, CompressionMode.Decompress);
        using var buffer = new MemoryStream();
        gzip.CopyTo(buffer);
        return buffer.ToArray();
    }

    [Fact]
    public async Task Confident_learning_over_four_fold_jobs_finds_labels_flipped_in_the_MNIST_sample()
    {
        await using var host = await ServiceHost.StartAsync(servers, output, Modules.Ingestion | Modules.Labeling | Modules.Training | Modules.Inference, settings: LabelingLogin.Settings());
        using var files = new TempFolder();
        var name = "flips-" + Guid.NewGuid().ToString("N")[..8];
        var (images, labels, flipped) = PlantedSample(Rows, Flips, seed: 11);
        await host.Ingestion.UploadIdxAsync(files, name, (images, labels));
        await host.Messages.Published<DatasetLabeled>(m => m.Dataset == name && m.Version == 1, timeout: TimeSpan.FromSeconds(60));

        var clock = Stopwatch.StartNew();
        var request = new FindLabelErrorsRequest { Dataset = name, Folds = 4, Model = "mlp", Epochs = 8, Seed = 3, MaxRows = Rows };
        var reply = await FindLabelErrorsAsync(host, request);
        var seconds = clock.Elapsed.TotalSeconds;

        Assert.Equal(Rows, reply.Rows);
        Assert.Equal(4, reply.JobIds.Count);
        Assert.Equal(4, reply.JobIds.Distinct().Count());
        Assert.Equal(10, reply.Classes.Count);
        Assert.Equal(10, reply.Thresholds.Count);
        Assert.Equal(100, reply.ConfidentJoint.Count);
        Assert.Equal(0, reply.Queued);
        Assert.Equal(reply.Flagged, reply.Issues.Count);
        Assert.Equal(reply.Issues.OrderBy(i => i.SelfConfidence).ThenBy(i => i.Row).Select(i => i.Row), reply.Issues.Select(i => i.Row));
        var hits = reply.Issues.Count(i => flipped.Contains(i.Row));
        var precision = (double)hits / Math.Max(1, reply.Issues.Count);
        var recall = (double)hits / flipped.Count;
        output.WriteLine($"planted {flipped.Count}, flagged {reply.Flagged}, precision {precision:F2}, recall {recall:F2}; 4 folds of {request.Model} x {request.Epochs} epochs on {Rows} digits in {seconds:F1} s");
        foreach (var issue in reply.Issues.Take(5))
        {
            output.WriteLine($"  row {issue.Row}: given {issue.Given}, suggested {issue.Suggested} ({issue.SuggestedProbability:F2}), self-confidence {issue.SelfConfidence:F3}{(flipped.Contains(issue.Row) ? " (planted)" : "")}");
        }
        // The MLP keeps CI fast: measured on this 2-core CPU (training is deterministic there) precision 0.49, recall 0.86 in
        // 16 s. With Model = "cnn" (8 epochs) the same search gives 123 flagged, precision 0.63, recall 0.87, in 95-142 s.
        // Unplanted flags are mostly digits the folds' models get wrong (about 90 % held-out accuracy) and a few real
        // oddities of the sample. (The MLP x 30 epochs: precision 0.45, recall 0.90; on 6,000 digits x 15 epochs, 34 s
        // for 0.54 and 0.83.)
        Assert.True(precision >= 0.4, $"precision {precision:F2}");
        Assert.True(recall >= 0.75, $"recall {recall:F2}");
        // A flagged planted row's suggestion is mostly its true digit.
        var truth = MnistSample.Load();
        var restored = reply.Issues.Where(i => flipped.Contains(i.Row)).Count(i => i.Suggested == truth.Label((int)i.Row).ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(restored >= hits * 0.8, $"{restored} of {hits} suggestions are the true digit");

        // The same search again finds the same jobs (their ids come from the spec) and the same flags; with a review
        // project, the flagged rows head its queue, most suspect first.
        var labeling = LabelingLogin.Client(host);
        var review = await labeling.CreateProjectAsync(new CreateProjectRequest { Name = "review flips", Dataset = name, Rows = TaskRows.All });
        var again = await FindLabelErrorsAsync(host, new FindLabelErrorsRequest(request) { ProjectId = review.ProjectId });
        Assert.Equal(reply.JobIds, again.JobIds);
        Assert.Equal(reply.Issues.Select(i => i.Row), again.Issues.Select(i => i.Row));
        Assert.Equal(again.Issues.Count, again.Queued);
        var queue = await LabelingLogin.Client(host, "alice").NextTasksAsync(new NextTasksRequest { ProjectId = review.ProjectId, Count = 20 });
        Assert.Equal(again.Issues.Take(20).Select(i => i.Row), queue.Tasks.Select(t => t.Row));
        var missing = await Assert.ThrowsAsync<RpcException>(() => FindLabelErrorsAsync(host, new FindLabelErrorsRequest(request) { ProjectId = "p-none" }));
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);

        // Bad input, each naming its field.
        var folds = await Assert.ThrowsAsync<RpcException>(() => FindLabelErrorsAsync(host, new FindLabelErrorsRequest { Dataset = name, Folds = 1 }));
        Assert.Equal(StatusCode.InvalidArgument, folds.StatusCode);
        Assert.Contains("'folds'", folds.Status.Detail, StringComparison.Ordinal);
        var unknown = await Assert.ThrowsAsync<RpcException>(() => FindLabelErrorsAsync(host, new FindLabelErrorsRequest { Dataset = name, Version = 9 }));
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
    }
}
