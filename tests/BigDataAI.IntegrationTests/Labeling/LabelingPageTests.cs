using System.Globalization;
using System.Net;
using BigDataAI.Client;
using BigDataAI.Contracts.Labeling;
using BigDataAI.IntegrationTests.EndToEnd;
using BigDataAI.IntegrationTests.Infrastructure;
using BigDataAI.IntegrationTests.Services;
using BigDataAI.Labeling.Page;
using BigDataAI.Labeling.Projects;
using BigDataAI.Protos.Ingestion.V1;
using BigDataAI.Protos.Labeling.V1;
using Grpc.Core;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;
using Task = System.Threading.Tasks.Task;

namespace BigDataAI.IntegrationTests.Labeling;

/// <summary>
/// The labeling page (services/Labeling/BigDataAI.Labeling/Page) served by a real host on an HTTP/1.1 port beside its
/// HTTP/2 gRPC port, used in a real browser against the real project store. Set BIGDATAAI_SCREENSHOTS to a folder
/// (docs/images) to keep the pictures.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class LabelingPageTests(ServersFixture servers, ITestOutputHelper output)
{
    private const string User = "ana";
    private const string Password = "ana-secret-1";
    private const string Admin = "boss";
    private const string AdminPassword = "boss-secret-1";

    [Fact]
    public async Task A_person_labels_rows_with_the_keyboard_and_the_service_stores_who_chose_which_class_and_how_long_it_took()
    {
        PageDriver.RequireBrowser();
        await using var host = await StartAsync();
        var screenshots = Environment.GetEnvironmentVariable("BIGDATAAI_SCREENSHOTS") is { Length: > 0 } folder ? folder : Path.GetTempPath();
        var digits = await DigitsProjectAsync(host, rows: 1000);

        // 12 labels: the page's queue (10 a page, more asked for when 3 are left) is refilled on the way.
        var run = await PageDriver.RunAsync(output, PageUrl(host), digits.ProjectId, User, Password, labels: 12,
            screenshot: Path.Combine(screenshots, "labeling-page-image.png"));

        Assert.StartsWith("401 Unauthorized: Log in first", run.UnauthenticatedBanner, StringComparison.Ordinal);
        Assert.StartsWith("401 Unauthorized: ", run.WrongPasswordBanner, StringComparison.Ordinal);

        // Enter shows the next task from the page's queue, without waiting for the service (the bound is loose for CI's
        // two cores; most of the time measured is the driver's own round trip).
        Assert.NotNull(run.NextTaskMs);
        Assert.Equal(11, run.NextTaskMs.Count);
        output.WriteLine($"Enter to next task: median {run.NextTaskMs.Order().ElementAt(5)} ms, max {run.NextTaskMs.Max()} ms");
        Assert.True(run.NextTaskMs.Max() < 1000, $"Enter to next task took {string.Join(", ", run.NextTaskMs)} ms");
        Assert.Equal(run.ShownRows.Count, run.ShownRows.Distinct().Count());

        // Stored: one label per row the page labeled, by the person logged in, with the class chosen by key (the last one
        // undone with Backspace and chosen again), and the time it took.
        var projects = host.Services.GetRequiredService<ProjectService>();
        var resolved = projects.ResolvedLabels(digits.ProjectId);
        var stored = StoredLabels(host, digits.ProjectId);
        Assert.Equal(run.Labels.Count, stored.Count);
        foreach (var expected in run.Labels)
        {
            var row = long.Parse(expected.Row, CultureInfo.InvariantCulture);
            var label = Assert.Single(stored, l => l.Row == row);
            Assert.Equal(expected.Classes, label.Classes);
            Assert.Equal(expected.Classes, resolved[row]);
            Assert.Equal(User, label.Annotator);
            Assert.True(label.DurationMs > 0, $"row {row}: durationMs {label.DurationMs}");
            Assert.True(label.DurationMs < 60_000, $"row {row}: durationMs {label.DurationMs}");
        }
        Assert.NotNull(run.Undone);
        Assert.Equal(run.Labels[^1].Row, run.Undone.Row);
        Assert.NotEqual(run.Undone.Classes, run.Labels[^1].Classes);
        var project = await projects.GetAsync(digits.ProjectId, CancellationToken.None);
        Assert.Equal(12, project.Labels);

        // Multi-label: keys toggle, and the stored label has every class chosen.
        var notes = await NotesProjectAsync(host, multiLabel: true);
        var tagged = await PageDriver.RunAsync(output, PageUrl(host), notes.ProjectId, User, Password, labels: 4);
        var notesLabels = StoredLabels(host, notes.ProjectId);
        Assert.Equal(4, notesLabels.Count);
        foreach (var expected in tagged.Labels)
        {
            Assert.Equal(2, expected.Classes.Count);
            var label = Assert.Single(notesLabels, l => l.Row == long.Parse(expected.Row, CultureInfo.InvariantCulture));
            Assert.Equal(expected.Classes.Order(StringComparer.Ordinal), label.Classes);
            Assert.True(label.DurationMs > 0, $"row {label.Row}: durationMs {label.DurationMs}");
        }

        // A text task, for the README's picture.
        var topics = await NotesProjectAsync(host, multiLabel: false);
        var text = await PageDriver.RunAsync(output, PageUrl(host), topics.ProjectId, User, Password, labels: 0,
            screenshot: Path.Combine(screenshots, "labeling-page-text.png"), screenshotOnly: true);
        Assert.Single(text.ShownRows);
    }

    [Fact]
    public async Task The_page_is_served_over_HTTP_1_1_with_its_content_types_ETags_and_content_security_policy_beside_gRPC_on_HTTP_2()
    {
        await using var host = await StartAsync();
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

    private Task<ServiceHost> StartAsync() =>
        ServiceHost.StartAsync(servers, output, Modules.Ingestion | Modules.Labeling, pageEndpoint: true, settings: new Dictionary<string, string?>
        {
            [$"Labeling:Users:{User}:Password"] = Password,
            [$"Labeling:Users:{User}:Roles"] = "annotator",
            [$"Labeling:Users:{Admin}:Password"] = AdminPassword,
            [$"Labeling:Users:{Admin}:Roles"] = "admin",
        });

    private static string PageUrl(ServiceHost host) => $"{host.PageAddress}/labeling/";

    /// <summary>The first <paramref name="rows"/> MNIST digits, a project over them, and pre-labels from a "model" that is mostly right.</summary>
    private static async Task<Project> DigitsProjectAsync(ServiceHost host, int rows)
    {
        var mnist = MnistSample.Load();
        var pixels = new byte[rows * MnistSample.Pixels];
        var digits = new byte[rows];
        for (var r = 0; r < rows; r++)
        {
            var features = mnist.Features(r);
            for (var i = 0; i < MnistSample.Pixels; i++)
            {
                pixels[(r * MnistSample.Pixels) + i] = (byte)Math.Round(features[i] * 255);
            }
            digits[r] = (byte)mnist.Label(r);
        }
        var name = "page-digits-" + Guid.NewGuid().ToString("N")[..8];
        using var files = new TempFolder();
        await host.Ingestion.UploadIdxAsync(files, name, (TestData.IdxImages(rows, 28, 28, pixels), TestData.IdxLabels(rows, digits)));
        await host.Messages.Published<DatasetLabeled>(m => m.Dataset == name, timeout: TimeSpan.FromSeconds(60));
        var project = await CreateProjectAsync(host, new CreateProjectRequest { Name = "MNIST digits, second opinion", Dataset = name, Rows = TaskRows.All, Order = QueueOrder.Random, Seed = 7 });

        // Pre-labels as PreLabel stores them (no model is trained here): right nine times in ten.
        var random = new Random(7);
        var service = host.Services.GetRequiredService<ProjectService>();
        var preLabels = service.TaskRowsOf(project.ProjectId, all: true).ToDictionary(t => t.Row, t =>
        {
            var digit = digits[t.Row];
            var right = random.NextDouble() < 0.9;
            var said = right ? digit : (digit + 1 + random.Next(9)) % 10;
            var confidence = right ? 0.75 + (random.NextDouble() * 0.24) : 0.35 + (random.NextDouble() * 0.3);
            var probabilities = Enumerable.Range(0, 10).Select(c => c == said ? confidence : (1 - confidence) / 9);
            return new PreLabel { Label = project.Classes[said], Confidence = confidence, Probabilities = { probabilities }, ModelId = "mlp-page-test" };
        });
        await service.SetPreLabelsAsync(project.ProjectId, "mlp-page-test", preLabels, CancellationToken.None);
        return project;
    }

    /// <summary>Short notes in four topics (a text column), as a single- or multi-label project, pre-labeled by topic.</summary>
    private static async Task<Project> NotesProjectAsync(ServiceHost host, bool multiLabel)
    {
        var name = "page-notes-" + Guid.NewGuid().ToString("N")[..8];
        using var files = new TempFolder();
        var zip = Path.Combine(files.Path, "notes.zip");
        SampleData.WriteNotesZip(zip, documents: 40, seed: 5);
        await host.Ingestion.UploadAsync(new UploadHeader { Dataset = name, Format = DatasetFormat.Archive, Files = { "archive" }, Source = "generated notes (LabelingPageTests)" }, [("archive", zip)]);
        await host.Messages.Published<DatasetLabeled>(m => m.Dataset == name, timeout: TimeSpan.FromSeconds(60));
        var project = await CreateProjectAsync(host, new CreateProjectRequest
        {
            Name = multiLabel ? "Notes: every topic they touch" : "Field notes by topic",
            Dataset = name,
            Rows = TaskRows.All,
            MultiLabel = multiLabel,
            Order = QueueOrder.Random,
            Seed = 3,
        });
        var service = host.Services.GetRequiredService<ProjectService>();
        var rows = service.TaskRowsOf(project.ProjectId, all: true);
        await service.SetPreLabelsAsync(project.ProjectId, "text-page-test", rows.ToDictionary(t => t.Row, t => new PreLabel
        {
            Label = SampleData.NoteTopics[t.Row % SampleData.NoteTopics.Length],
            Confidence = 0.81,
            Probabilities = { Enumerable.Range(0, 4).Select(c => c == t.Row % 4 ? 0.81 : 0.19 / 3) },
            ModelId = "text-page-test",
        }), CancellationToken.None);
        return project;
    }

    private static async Task<Project> CreateProjectAsync(ServiceHost host, CreateProjectRequest request)
    {
        var labeling = new LabelingService.LabelingServiceClient(host.Channel);
        var login = await labeling.LoginAsync(new LoginRequest { User = Admin, Password = AdminPassword });
        return await labeling.CreateProjectAsync(request, new Metadata { { "authorization", $"Bearer {login.Token}" } });
    }

    /// <summary>The project's labels as the service stored them (its SQLite file).</summary>
    private static List<(long Row, string Annotator, string[] Classes, long DurationMs)> StoredLabels(ServiceHost host, string projectId)
    {
        var database = host.Services.GetRequiredService<ProjectDatabase>();
        using var connection = database.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT row, annotator, classes, duration_ms FROM labels WHERE project_id = $p ORDER BY at, row";
        command.Parameters.AddWithValue("$p", projectId);
        using var reader = command.ExecuteReader();
        var labels = new List<(long, string, string[], long)>();
        while (reader.Read())
        {
            labels.Add((reader.GetInt64(0), reader.GetString(1), ClassesOf(reader.GetString(2)), reader.GetInt64(3)));
        }
        return labels;
    }

    /// <summary>The store keeps a label's classes sorted and joined by '|'.</summary>
    private static string[] ClassesOf(string stored) => stored.Length == 0 ? [] : stored.Split('|');
}
