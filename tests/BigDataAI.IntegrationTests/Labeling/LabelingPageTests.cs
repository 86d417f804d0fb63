using System.Net;
using System.Net.Http.Headers;
using BigDataAI.IntegrationTests.EndToEnd;
using BigDataAI.IntegrationTests.Infrastructure;
using BigDataAI.IntegrationTests.Services;
using BigDataAI.Labeling.Page;
using BigDataAI.Protos.Labeling.V1;
using Google.Protobuf;
using Xunit.Abstractions;
using LabelTask = BigDataAI.Protos.Labeling.V1.Task;
using Task = System.Threading.Tasks.Task;

namespace BigDataAI.IntegrationTests.Labeling;

/// <summary>
/// The labeling page (services/Labeling/BigDataAI.Labeling/Page) served by a real host on an HTTP/1.1 port and used in
/// a real browser. Set BIGDATAAI_SCREENSHOTS to a folder (docs/images) to keep the pictures.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class LabelingPageTests(ServersFixture servers, ITestOutputHelper output)
{
    private const string User = "ana";
    private const string Password = "ana-secret-1";

    [Fact]
    public async Task A_person_labels_rows_with_the_keyboard_and_the_service_stores_who_chose_which_class_and_how_long_it_took()
    {
        PageDriver.RequireBrowser();
        var api = new StandInLabelingApi(TimeProvider.System);
        api.AddUser(User, Password, "annotator");
        // A project of 100,000 tasks: the page only ever holds a page or two of them.
        var digits = DigitsProject(api, tasks: 100_000);
        var notes = NotesProject(api);
        var scenes = ScenesProject(api);
        await using var host = await StartAsync(api);
        var screenshots = Environment.GetEnvironmentVariable("BIGDATAAI_SCREENSHOTS") is { Length: > 0 } folder ? folder : Path.GetTempPath();

        // 12 labels: the page's queue (10 a page, more asked for when 3 are left) is refilled on the way.
        var run = await PageDriver.RunAsync(output, PageUrl(host), digits.ProjectId, User, Password, labels: 12,
            screenshot: Path.Combine(screenshots, "labeling-page-image.png"));

        Assert.StartsWith("401", run.UnauthenticatedBanner, StringComparison.Ordinal);
        Assert.Contains("Log in first", run.UnauthenticatedBanner, StringComparison.Ordinal);
        Assert.StartsWith("401", run.WrongPasswordBanner, StringComparison.Ordinal);
        Assert.Contains("wrong password", run.WrongPasswordBanner, StringComparison.Ordinal);

        // Enter shows the next task from the page's queue, without waiting for the service (the bound is loose for CI's
        // two cores; here it is a few milliseconds, most of it the driver's own round trip).
        Assert.NotNull(run.NextTaskMs);
        Assert.Equal(11, run.NextTaskMs.Count);
        output.WriteLine($"Enter to next task: median {run.NextTaskMs.Order().ElementAt(5)} ms, max {run.NextTaskMs.Max()} ms");
        Assert.True(run.NextTaskMs.Max() < 1000, $"Enter to next task took {string.Join(", ", run.NextTaskMs)} ms");

        // The page showed the tasks in queue order, each once, across the page boundary.
        var queueOrder = TaskOrder(digits.ProjectId).Take(12).Select(r => r.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(queueOrder, run.ShownRows);

        // Stored: one label per row the page labeled, by the person logged in, with the class chosen by key (the last one
        // undone with Backspace and chosen again), and the time it took.
        var stored = api.Labels(digits.ProjectId);
        Assert.Equal(run.Labels.Count, stored.Count);
        foreach (var expected in run.Labels)
        {
            var label = Assert.Single(stored, l => l.Row.ToString(System.Globalization.CultureInfo.InvariantCulture) == expected.Row);
            Assert.Equal(expected.Classes, label.Classes);
            Assert.Equal(User, label.Annotator);
            Assert.Equal($"human:{User}", label.Source);
            Assert.True(label.DurationMs > 0, $"row {label.Row}: durationMs {label.DurationMs}");
            Assert.True(label.DurationMs < 60_000, $"row {label.Row}: durationMs {label.DurationMs}");
        }
        Assert.NotNull(run.Undone);
        Assert.Equal(run.Labels[^1].Row, run.Undone.Row);
        Assert.NotEqual(run.Undone.Classes, run.Labels[^1].Classes);

        // Multi-label: keys toggle, and the stored label has every class chosen.
        var tagged = await PageDriver.RunAsync(output, PageUrl(host), scenes.ProjectId, User, Password, labels: 4);
        var sceneLabels = api.Labels(scenes.ProjectId);
        Assert.Equal(4, sceneLabels.Count);
        foreach (var expected in tagged.Labels)
        {
            Assert.Equal(2, expected.Classes.Count);
            var label = Assert.Single(sceneLabels, l => l.Row.ToString(System.Globalization.CultureInfo.InvariantCulture) == expected.Row);
            Assert.Equal(expected.Classes.Order(), label.Classes.Order());
            Assert.True(label.DurationMs > 0, $"row {label.Row}: durationMs {label.DurationMs}");
        }

        // A text task, for the README's picture.
        var text = await PageDriver.RunAsync(output, PageUrl(host), notes.ProjectId, User, Password, labels: 0,
            screenshot: Path.Combine(screenshots, "labeling-page-text.png"), screenshotOnly: true);
        Assert.Single(text.ShownRows);
    }

    [Fact]
    public async Task The_page_is_served_over_HTTP_1_1_with_its_content_types_ETags_and_content_security_policy_beside_gRPC_on_HTTP_2()
    {
        await using var host = await StartAsync(new StandInLabelingApi(TimeProvider.System));
        using var http = new HttpClient { BaseAddress = new Uri(host.PageAddress!), DefaultRequestVersion = HttpVersion.Version11 };

        using var bare = await http.GetAsync(new Uri("/labeling?project=p1", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, bare.StatusCode); // HttpClient followed the redirect
        Assert.Equal("/labeling/?project=p1", bare.RequestMessage!.RequestUri!.PathAndQuery);

        foreach (var (file, type) in new[] { ("", "text/html"), ("app.js", "text/javascript"), ("app.css", "text/css") })
        {
            using var answer = await http.GetAsync(new Uri($"/labeling/{file}", UriKind.Relative));
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
            Assert.Equal(new Version(1, 1), answer.Version);
            Assert.Equal(type, answer.Content.Headers.ContentType?.MediaType);
            Assert.Equal("utf-8", answer.Content.Headers.ContentType?.CharSet);
            Assert.Equal(PageEndpoints.ContentSecurityPolicy, answer.Headers.GetValues("Content-Security-Policy").Single());
            Assert.True(answer.Headers.CacheControl?.NoCache, "Cache-Control: no-cache");
            var etag = answer.Headers.ETag;
            Assert.NotNull(etag);
            Assert.False(etag.IsWeak);

            using var again = new HttpRequestMessage(HttpMethod.Get, $"/labeling/{file}");
            again.Headers.IfNoneMatch.Add(etag);
            using var revalidated = await http.SendAsync(again);
            Assert.Equal(HttpStatusCode.NotModified, revalidated.StatusCode);
        }
        var index = await http.GetStringAsync(new Uri("/labeling/", UriKind.Relative));
        Assert.Contains("<script type=\"module\" src=\"app.js\">", index, StringComparison.Ordinal);
        Assert.DoesNotContain("http://", index, StringComparison.Ordinal);
        Assert.DoesNotContain("https://", index, StringComparison.Ordinal);

        using var missing = await http.GetAsync(new Uri("/labeling/secrets.json", UriKind.Relative));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);

        // gRPC keeps its HTTP/2 port.
        var datasets = await host.Ingestion.ListDatasetsAsync(new BigDataAI.Protos.Ingestion.V1.ListDatasetsRequest());
        Assert.Empty(datasets.Datasets);
    }

    private Task<ServiceHost> StartAsync(StandInLabelingApi api) =>
        ServiceHost.StartAsync(servers, output, Modules.Ingestion | Modules.Labeling, pageEndpoint: true, configureApp: app => api.Map(app));

    private static string PageUrl(ServiceHost host) => $"{host.PageAddress}/labeling/";

    private readonly Dictionary<string, List<long>> _orders = [];

    private IEnumerable<long> TaskOrder(string projectId) => _orders[projectId];

    /// <summary>MNIST digits as PNG cells, in a seeded random queue order, pre-labeled by a "model" that is mostly right.</summary>
    private Project DigitsProject(StandInLabelingApi api, int tasks)
    {
        var mnist = MnistSample.Load();
        var classes = Enumerable.Range(0, 10).Select(d => d.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        var project = new Project
        {
            ProjectId = "digits-" + Guid.NewGuid().ToString("N")[..8],
            Name = "MNIST digits, second opinion",
            Dataset = "mnist",
            Version = 1,
            Classes = { classes },
            Order = QueueOrder.Random,
            AnnotatorsPerRow = 1,
            Tasks = tasks,
            PreLabelModelId = "mlp-3f2a",
        };
        var random = new Random(7);
        var rows = Enumerable.Range(0, tasks).OrderBy(_ => random.Next()).ToList();
        var images = new Dictionary<int, ByteString>();
        var list = rows.Select((row, position) =>
        {
            // More tasks than digits: rows beyond the sample repeat its images.
            var sample = row % mnist.Rows;
            if (!images.TryGetValue(sample, out var png))
            {
                images[sample] = png = ByteString.CopyFrom(mnist.Png(sample));
            }
            var digit = mnist.Label(sample);
            var right = random.NextDouble() < 0.9;
            var said = right ? digit : (digit + 1 + random.Next(9)) % 10;
            var confidence = right ? 0.75 + (random.NextDouble() * 0.24) : 0.35 + (random.NextDouble() * 0.3);
            return new LabelTask
            {
                Row = row,
                Position = position + 1,
                Cells = { new Cell { Column = "image", Image = png, MediaType = "image/png" } },
                PreLabel = new PreLabel { Label = classes[said], Confidence = confidence, ModelId = "mlp-3f2a" },
                Needed = 1,
                CurrentLabel = classes[digit],
            };
        }).ToList();
        api.AddProject(project, list);
        _orders[project.ProjectId] = [.. list.Select(t => t.Row)];
        return project;
    }

    /// <summary>A multi-label project over a table of cells.</summary>
    private Project ScenesProject(StandInLabelingApi api)
    {
        var project = new Project
        {
            ProjectId = "scenes-" + Guid.NewGuid().ToString("N")[..8],
            Name = "What is in the scene",
            Dataset = "scenes",
            Version = 1,
            Classes = { "animal", "person", "vehicle", "outdoors" },
            MultiLabel = true,
            Tasks = 20,
        };
        var list = Enumerable.Range(0, 20).Select(i => new LabelTask
        {
            Row = 1000 + i,
            Position = i + 1,
            Cells =
            {
                new Cell { Column = "caption", Text = $"scene {i}" },
                new Cell { Column = "width", Text = "640" },
                new Cell { Column = "height", Text = "480" },
            },
            PreLabel = i % 2 == 0 ? new PreLabel { Label = "outdoors", Confidence = 0.6 } : null,
            Needed = 1,
        }).ToList();
        api.AddProject(project, list);
        _orders[project.ProjectId] = [.. list.Select(t => t.Row)];
        return project;
    }

    private Project NotesProject(StandInLabelingApi api)
    {
        string[] notes =
        [
            "After the storm the harbour was quiet, so we took the boat out again and the wind was very kind to our old jib.",
            "Simmer the onion with garlic and butter, then add the flour and bake it for twenty minutes.",
            "The release broke the build again: a thread in the cache library deadlocks when the server starts.",
        ];
        var project = new Project
        {
            ProjectId = "notes-" + Guid.NewGuid().ToString("N")[..8],
            Name = "Field notes by topic",
            Dataset = "notes",
            Version = 2,
            Classes = { "cooking", "sailing", "software", "weather" },
            Tasks = notes.Length,
        };
        var list = notes.Select((note, i) => new LabelTask
        {
            Row = 40 + i,
            Position = i + 1,
            Cells = { new Cell { Column = "text", Text = note } },
            PreLabel = new PreLabel { Label = i == 0 ? "sailing" : i == 1 ? "cooking" : "software", Confidence = 0.81 - (i * 0.1), ModelId = "text-minilm-1" },
            Needed = 1,
        }).ToList();
        api.AddProject(project, list);
        _orders[project.ProjectId] = [.. list.Select(t => t.Row)];
        return project;
    }
}
