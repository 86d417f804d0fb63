using System.Globalization;
using System.Text;
using BigDataAI.Contracts.Labeling;
using BigDataAI.Datasets;
using BigDataAI.IntegrationTests.Infrastructure;
using BigDataAI.IntegrationTests.Services;
using BigDataAI.Protos.Ingestion.V1;
using BigDataAI.Protos.Labeling.V1;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;
using LabelingClient = BigDataAI.Protos.Labeling.V1.LabelingService.LabelingServiceClient;

namespace BigDataAI.IntegrationTests.Labeling;

/// <summary>Labeling projects over gRPC: people label rows, conflicts end, agreement is measured, labels are exported and survive a restart.</summary>
[Collection(ServersCollection.Name)]
public sealed class LabelingProjectTests(ServersFixture servers, ITestOutputHelper output)
{
    private static readonly string[] Classes = ["bird", "cat", "dog"];

    /// <summary>Two numeric features, a label of three classes; every third row unlabeled.</summary>
    private static string Csv(int rows, int seed)
    {
        var random = new Random(seed);
        var text = new StringBuilder("x,y,label\n");
        for (var i = 0; i < rows; i++)
        {
            var c = i % 3;
            var label = i % 3 == 0 && i % 2 == 0 ? "" : Classes[c];
            text.Append(CultureInfo.InvariantCulture, $"{c * 2 + random.NextDouble():F3},{random.NextDouble() - c:F3},{label}\n");
        }
        return text.ToString();
    }

    private static async Task UploadAsync(ServiceHost host, string name, string csv)
    {
        await host.Ingestion.UploadRawAsync([
            new UploadRequest { Header = new UploadHeader { Dataset = name, Format = DatasetFormat.Csv, Files = { "data" }, LabelColumn = "label" } },
            TestData.Chunk("data", csv)]);
        await host.Messages.Published<DatasetLabeled>(m => m.Dataset == name && m.Version == 1);
    }

    [Fact]
    public async Task Three_annotators_label_a_project_their_agreement_is_measured_and_the_export_says_where_each_label_came_from()
    {
        var container = ServiceHost.NewContainerName("proj");
        var name = "proj-" + Guid.NewGuid().ToString("N")[..8];
        string projectId;
        var truth = new Dictionary<long, string>();
        try
        {
            await using (var host = await ServiceHost.StartAsync(servers, output, Modules.Ingestion | Modules.Labeling, container, LabelingLogin.Settings()))
            {
                await UploadAsync(host, name, Csv(90, seed: 5));
                var client = new LabelingClient(host.Channel);
                var admin = await LabelingLogin.HeadersAsync(host, LabelingLogin.Admin);
                var alice = await LabelingLogin.HeadersAsync(host, "alice");

                // Who may do what.
                var anonymous = await Assert.ThrowsAsync<RpcException>(() => client.ListProjectsAsync(new ListProjectsRequest()).ResponseAsync);
                Assert.Equal(StatusCode.Unauthenticated, anonymous.StatusCode);
                Assert.Contains("Log in", anonymous.Status.Detail, StringComparison.Ordinal);
                var badPassword = await Assert.ThrowsAsync<RpcException>(() => client.LoginAsync(new LoginRequest { User = "alice", Password = "nope" }).ResponseAsync);
                Assert.Equal(StatusCode.Unauthenticated, badPassword.StatusCode);
                var request = new CreateProjectRequest { Name = "review", Dataset = name, Rows = TaskRows.All, AnnotatorsPerRow = 3, Seed = 7 };
                var denied = await Assert.ThrowsAsync<RpcException>(() => client.CreateProjectAsync(request, alice).ResponseAsync);
                Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);
                var noK = await Assert.ThrowsAsync<RpcException>(() => client.CreateProjectAsync(new CreateProjectRequest { Dataset = name, AnnotatorsPerRow = -1 }, admin).ResponseAsync);
                Assert.Equal(StatusCode.InvalidArgument, noK.StatusCode);
                Assert.StartsWith("annotators_per_row", noK.Status.Detail, StringComparison.Ordinal);

                var project = await client.CreateProjectAsync(request, admin);
                projectId = project.ProjectId;
                Assert.Equal(90, project.Tasks);
                Assert.Equal(Classes, project.Classes);

                // Paging: two pages of 40 and the rest, in queue order, with no repeats.
                var seen = new List<LabelingTask>();
                long after = 0;
                while (true)
                {
                    var page = await client.NextTasksAsync(new NextTasksRequest { ProjectId = projectId, Count = 40, AfterPosition = after }, alice);
                    if (page.Tasks.Count == 0)
                    {
                        break;
                    }
                    Assert.Equal(90, page.Remaining);
                    seen.AddRange(page.Tasks);
                    after = page.Tasks[^1].Position;
                }
                Assert.Equal(90, seen.Select(t => t.Row).Distinct().Count());
                Assert.True(seen.Zip(seen.Skip(1)).All(p => p.First.Position < p.Second.Position));
                Assert.Equal(["x", "y"], seen[0].Cells.Select(c => c.Column));

                // Bad labels: a class outside the project, a row that is no task, a second label by the same person.
                var first = seen[0].Row;
                var wrongClass = await Assert.ThrowsAsync<RpcException>(() => client.SubmitLabelAsync(new SubmitLabelRequest { ProjectId = projectId, Row = first, Classes = { "fish" } }, alice).ResponseAsync);
                Assert.Equal(StatusCode.InvalidArgument, wrongClass.StatusCode);
                Assert.Contains("'fish'", wrongClass.Status.Detail, StringComparison.Ordinal);
                var noTask = await Assert.ThrowsAsync<RpcException>(() => client.SubmitLabelAsync(new SubmitLabelRequest { ProjectId = projectId, Row = 10_000, Classes = { "cat" } }, alice).ResponseAsync);
                Assert.Equal(StatusCode.NotFound, noTask.StatusCode);

                // Three annotators of seeded accuracy (90 %, 80 %, 70 %) against the true class of each row (row % 3).
                var accuracy = new Dictionary<string, double> { ["alice"] = 0.9, ["bob"] = 0.8, ["carol"] = 0.7 };
                var headers = new Dictionary<string, Metadata> { ["alice"] = alice, ["bob"] = await LabelingLogin.HeadersAsync(host, "bob"), ["carol"] = await LabelingLogin.HeadersAsync(host, "carol") };
                foreach (var task in seen)
                {
                    truth[task.Row] = Classes[task.Row % 3];
                }
                var random = new Random(11);
                var votes = new List<(string User, long Row, string Class)>();
                foreach (var user in LabelingLogin.Annotators)
                {
                    foreach (var task in seen)
                    {
                        var right = random.NextDouble() < accuracy[user];
                        votes.Add((user, task.Row, right ? truth[task.Row] : Classes[(task.Row + 1 + random.Next(2)) % 3]));
                    }
                }
                // All three at once, row by row: concurrent submissions on the same row all count.
                foreach (var row in votes.GroupBy(v => v.Row))
                {
                    await System.Threading.Tasks.Task.WhenAll(row.Select(v => client.SubmitLabelAsync(
                        new SubmitLabelRequest { ProjectId = projectId, Row = v.Row, Classes = { v.Class }, DurationMs = 1200 }, headers[v.User]).ResponseAsync));
                }
                var again = await Assert.ThrowsAsync<RpcException>(() => client.SubmitLabelAsync(new SubmitLabelRequest { ProjectId = projectId, Row = first, Classes = { "cat" } }, alice).ResponseAsync);
                Assert.Equal(StatusCode.AlreadyExists, again.StatusCode);
                var done = await client.GetProjectAsync(new GetProjectRequest { ProjectId = projectId }, alice);
                Assert.Equal(270, done.Labels);
                var empty = await client.NextTasksAsync(new NextTasksRequest { ProjectId = projectId }, alice);
                Assert.Empty(empty.Tasks);

                var agreement = await client.GetAgreementAsync(new GetProjectRequest { ProjectId = projectId }, alice);
                output.WriteLine($"Agreement of 3 annotators (90/80/70 % accurate, seeded) on {agreement.Overall.Rows} rows: Fleiss' kappa {agreement.Overall.FleissKappa:F3}, Krippendorff's alpha {agreement.Overall.KrippendorffAlpha:F3}");
                foreach (var c in agreement.PerClass)
                {
                    output.WriteLine($"  {c.Class}: Fleiss {c.Agreement.FleissKappa:F3}, alpha {c.Agreement.KrippendorffAlpha:F3}");
                }
                Assert.Equal(90, agreement.Overall.Rows);
                Assert.True(double.IsNaN(agreement.Overall.CohenKappa));
                Assert.InRange(agreement.Overall.FleissKappa, 0.3, 0.8);
                Assert.InRange(agreement.Overall.KrippendorffAlpha, 0.3, 0.8);
                Assert.Equal(3, agreement.PerClass.Count);

                // Undo withdraws the label; the row is open again for that annotator.
                var undone = await client.UndoLabelAsync(new UndoLabelRequest { ProjectId = projectId, Row = first }, alice);
                Assert.Equal("alice", undone.Label.Annotator);
                var reopened = await client.NextTasksAsync(new NextTasksRequest { ProjectId = projectId }, alice);
                Assert.Equal(first, Assert.Single(reopened.Tasks).Row);
                var relabel = await client.SubmitLabelAsync(new SubmitLabelRequest { ProjectId = projectId, Row = first, Classes = { truth[first] }, DurationMs = 800 }, alice);
                Assert.Equal(800, relabel.Label.DurationMs);
            }

            // A restart: the same storage and database, a new process-like host. Nothing acknowledged is lost.
            await using (var host = await ServiceHost.StartAsync(servers, output, Modules.Ingestion | Modules.Labeling, container, LabelingLogin.Settings()))
            {
                var client = new LabelingClient(host.Channel);
                var admin = await LabelingLogin.HeadersAsync(host, LabelingLogin.Admin);
                var project = await client.GetProjectAsync(new GetProjectRequest { ProjectId = projectId }, admin);
                Assert.Equal(270, project.Labels);

                var export = await client.ExportAsync(new ExportRequest { ProjectId = projectId }, admin);
                Assert.Equal((name, 2), (export.Dataset, export.Version));
                Assert.Equal(90, export.HumanRows + export.OtherRows);
                await host.Messages.Published<DatasetLabeled>(m => m.Dataset == name && m.Version == 2);
                var store = host.Services.GetRequiredService<DatasetStore>();
                var manifest = (await store.GetAsync(name, 2))!;
                Assert.Equal(("labeling", 1), (manifest.Lineage!.Step, manifest.Lineage.ParentVersion));
                Assert.Equal([$"datasets/{name}/v000001/manifest.json", $"labeling-project:{projectId}"], manifest.Lineage.SourceFiles);
                var table = await store.ReadAsync(manifest);
                var sources = (string?[])table["_label_source"].Values;
                var labels = table["label"];
                var majorityRight = 0;
                for (var r = 0; r < table.Rows; r++)
                {
                    if (sources[r] is { } source && source.StartsWith("human:", StringComparison.Ordinal))
                    {
                        Assert.Matches("^human:[a-z+]+$", source);
                        majorityRight += labels.Format(r) == truth[table.RowIds[r]] ? 1 : 0;
                    }
                }
                output.WriteLine($"Exported v2: {export.HumanRows} rows labeled by people (majority of 3), {majorityRight} of them right; {export.OtherRows} kept their own label");
                Assert.True(export.HumanRows >= 80, $"{export.HumanRows} rows resolved");
                Assert.True(majorityRight >= export.HumanRows * 0.85, $"{majorityRight} of {export.HumanRows}");
            }
        }
        finally
        {
            await servers.Azurite.CreateServiceClient().GetBlobContainerClient(container).DeleteIfExistsAsync();
            ServiceHost.DeleteDatabase(container);
        }
    }

    [Fact]
    public async Task An_adjudicator_decides_rows_whose_labels_disagree_and_the_page_api_answers_in_json()
    {
        await using var host = await ServiceHost.StartAsync(servers, output, Modules.Ingestion | Modules.Labeling, settings: LabelingLogin.Settings());
        var name = "adj-" + Guid.NewGuid().ToString("N")[..8];
        await UploadAsync(host, name, Csv(30, seed: 2));
        var client = new LabelingClient(host.Channel);
        var admin = await LabelingLogin.HeadersAsync(host, LabelingLogin.Admin);
        var alice = await LabelingLogin.HeadersAsync(host, "alice");
        var bob = await LabelingLogin.HeadersAsync(host, "bob");
        var project = await client.CreateProjectAsync(new CreateProjectRequest
        {
            Dataset = name, AnnotatorsPerRow = 2, Conflict = ConflictRule.Adjudicator, Adjudicator = "carol",
        }, admin);
        Assert.Equal(5, project.Tasks);
        var tasks = (await client.NextTasksAsync(new NextTasksRequest { ProjectId = project.ProjectId }, alice)).Tasks;
        var row = tasks[0].Row;
        await client.SubmitLabelAsync(new SubmitLabelRequest { ProjectId = project.ProjectId, Row = row, Classes = { "cat" }, DurationMs = 10 }, alice);
        var second = await client.SubmitLabelAsync(new SubmitLabelRequest { ProjectId = project.ProjectId, Row = row, Classes = { "dog" }, DurationMs = 10 }, bob);
        Assert.False(second.Resolved);
        var carol = await LabelingLogin.HeadersAsync(host, "carol");
        var conflicts = await client.NextTasksAsync(new NextTasksRequest { ProjectId = project.ProjectId }, carol);
        var conflict = Assert.Single(conflicts.Tasks);
        Assert.Equal(row, conflict.Row);
        Assert.Equal(["cat", "dog"], conflict.Conflicting.Select(l => l.Classes[0]).Order());
        var decided = await client.SubmitLabelAsync(new SubmitLabelRequest { ProjectId = project.ProjectId, Row = row, Classes = { "dog" }, DurationMs = 10 }, carol);
        Assert.True(decided.Resolved);
        Assert.Equal(["dog"], decided.ResolvedClasses);

        // The page's JSON API: the same service, proto3 JSON, errors with a message.
        using var http = new HttpClient { BaseAddress = new Uri(host.Address), DefaultRequestVersion = System.Net.HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        var unauthorized = await http.GetAsync($"/labeling/api/projects/{project.ProjectId}");
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, unauthorized.StatusCode);
        Assert.Contains("Log in first", await unauthorized.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var login = await http.PostAsync("/labeling/api/login", new StringContent($$"""{"user":"alice","password":"{{LabelingLogin.PasswordOf("alice")}}"}""", Encoding.UTF8, "application/json"));
        login.EnsureSuccessStatusCode();
        var token = Google.Protobuf.JsonParser.Default.Parse<LoginReply>(await login.Content.ReadAsStringAsync()).Token;
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        var next = await http.GetStringAsync($"/labeling/api/projects/{project.ProjectId}/tasks?count=2");
        var page = Google.Protobuf.JsonParser.Default.Parse<NextTasksReply>(next);
        Assert.Equal(2, page.Tasks.Count);
        var bad = await http.PostAsync($"/labeling/api/projects/{project.ProjectId}/labels", new StringContent($$"""{"row":"{{page.Tasks[0].Row}}","classes":["fish"]}""", Encoding.UTF8, "application/json"));
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("'fish' is not one of the project's classes", await bad.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}
