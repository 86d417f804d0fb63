using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using BigDataAI.Client;
using BigDataAI.Protos.Inference.V1;
using BigDataAI.Protos.Ingestion.V1;
using BigDataAI.Protos.Training.V1;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace BigDataAI.AppHost.Tests;

/// <summary>
/// The real AppHost, booted by Aspire.Hosting.Testing: DCP starts RabbitMQ (with its epmd) and Azurite as processes, the
/// four service hosts and a training worker as projects, and the dashboard, which receives the services' telemetry over
/// OTLP. Nothing here is a stand-in: the client talks to the endpoints the app model hands out.
/// </summary>
[Collection(AppHostCollection.Name)]
public sealed class AppHostTests(ITestOutputHelper output)
{
    /// <summary>Every resource the AppHost declares (the dashboard aside).</summary>
    private static readonly string[] Resources = ["messaging", "blobs", "ingestion", "labeling", "training", "training-worker", "inference"];

    private static readonly string[] Services = ["ingestion", "labeling", "training", "training-worker", "inference"];

    /// <summary>As in the integration tests' distributed flow: the 2-epoch MLP (seed 1) scores about 89 % on these 500 digits.</summary>
    private const int PredictedDigits = 500;
    private const double MinimumAccuracy = 0.85;

    private readonly Stopwatch _clock = Stopwatch.StartNew();

    [Fact]
    public async Task The_apphost_brings_up_every_resource_trains_mnist_and_the_dashboard_receives_the_telemetry()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(8));
        var ct = timeout.Token;
        using var data = new TempFolder();
        var dashboard = new DashboardSettings();

        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.BigDataAI_AppHost>(
            [.. dashboard.Arguments, $"BIGDATAAI_DATA={data.Path}", "BIGDATAAI_AUTOTRAIN_MODEL=mlp"],
            (options, _) => options.DisableDashboard = false, ct);
        // Two epochs keep the test short; the AppHost's own default is the catalog's.
        builder.CreateResourceBuilder<ProjectResource>("training")
            .WithEnvironment("Training__AutoTrainHyperParameters__Epochs", "2")
            .WithEnvironment("Training__AutoTrainHyperParameters__Seed", "1");

        var app = await builder.BuildAsync(ct);
        string? messaging = null;
        try
        {
            var started = Stopwatch.StartNew();
            await app.StartAsync(ct);
            foreach (var name in Resources)
            {
                await app.ResourceNotifications.WaitForResourceHealthyAsync(name, ct).WaitAsync(TimeSpan.FromMinutes(3), ct);
                Step($"{name} healthy");
            }
            Step($"every resource healthy {started.Elapsed.TotalSeconds:F1} s after StartAsync");
            messaging = await app.GetConnectionStringAsync("messaging", ct);

            await RunMnistFlowAsync(app, ct);
            // The testing builder gives the dashboard a random port, like every other endpoint.
            await CheckTelemetryAsync(app.GetEndpoint("aspire-dashboard", "http"), dashboard.ApiKey, ct);
        }
        catch
        {
            await WriteLogsAsync(app, Services);
            throw;
        }
        finally
        {
            await app.StopAsync(CancellationToken.None);
            await app.DisposeAsync();
        }

        // Every process the AppHost started has stopped: the broker, its epmd, Azurite, the services.
        var left = await ProcessesUsingAsync([data.Path, .. messaging is null ? Array.Empty<string>() : [messaging]], TimeSpan.FromSeconds(60));
        Assert.True(left.Count == 0, "still running after the AppHost stopped:\n" + string.Join("\n", left));
        Step("after StopAsync no process of the run is left");
    }

    [Fact]
    public async Task A_service_that_fails_to_start_shows_as_failed_with_its_log_and_the_others_keep_running()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        var ct = timeout.Token;
        using var data = new TempFolder();

        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.BigDataAI_AppHost>([$"BIGDATAAI_DATA={data.Path}"], ct);
        // Only what this test needs: fewer processes on a 2-core machine. (Labeling goes too: it references training and
        // inference, and a reference to a removed resource would never resolve.) The worker references only the broker
        // and the blob store.
        foreach (var name in new[] { "labeling", "training", "inference" })
        {
            builder.Resources.Remove(builder.Resources.Single(r => r.Name == name));
        }
        // A Kestrel endpoint whose URL is not one: the worker host throws at start and exits.
        builder.CreateResourceBuilder<ProjectResource>("training-worker").WithEnvironment("Kestrel__Endpoints__broken__Url", "not a url");

        await using var app = await builder.BuildAsync(ct);
        await app.StartAsync(ct);

        var failed = await app.ResourceNotifications.WaitForResourceAsync("training-worker",
            e => e.Snapshot.State?.Text is "Exited" or "FailedToStart" or "Finished", ct).WaitAsync(TimeSpan.FromMinutes(2), ct);
        Step($"training-worker: {failed.Snapshot.State?.Text}, exit code {failed.Snapshot.ExitCode}");
        Assert.NotEqual(0, failed.Snapshot.ExitCode ?? -1);

        var log = await ReadLogAsync(app, failed.ResourceId, text => text.Contains("not a url", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
        Assert.Contains("not a url", log, StringComparison.Ordinal);
        Step("its log names the bad URL");

        await app.ResourceNotifications.WaitForResourceHealthyAsync("ingestion", ct).WaitAsync(TimeSpan.FromMinutes(2), ct);
        using var channel = GrpcChannel.ForAddress(app.GetEndpoint("ingestion", "grpc"));
        var datasets = await new IngestionService.IngestionServiceClient(channel).ListDatasetsAsync(new ListDatasetsRequest(), deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: ct);
        Assert.Empty(datasets.Datasets);
        Step("ingestion is healthy and answers");
        await app.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task A_missing_rabbitmq_server_stops_the_apphost_with_what_to_install()
    {
        var appHost = Path.Combine(AppContext.BaseDirectory, "BigDataAI.AppHost.dll");
        Assert.True(File.Exists(appHost), $"{appHost} is not in the test's output");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        start.ArgumentList.Add(appHost);
        start.Environment["BIGDATAAI_RABBITMQ_SERVER"] = "/nonexistent/rabbitmq-server";
        start.Environment["ASPIRE_ALLOW_UNSECURED_TRANSPORT"] = "true";
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        finally
        {
            // An AppHost that did not stop by itself started something: stop all of it.
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        var message = await stderr;
        output.WriteLine(message);
        Assert.Equal(2, process.ExitCode);
        Assert.Contains("rabbitmq-server", message, StringComparison.Ordinal);
        Assert.Contains("apt-get install", message, StringComparison.Ordinal);
        Assert.DoesNotContain("Distributed application started", await stdout, StringComparison.Ordinal);
    }

    /// <summary>Upload the shipped MNIST sample; the auto-trained model is served and classifies digits.</summary>
    private async Task RunMnistFlowAsync(DistributedApplication app, CancellationToken ct)
    {
        using var ingestionChannel = GrpcChannel.ForAddress(app.GetEndpoint("ingestion", "grpc"));
        using var trainingChannel = GrpcChannel.ForAddress(app.GetEndpoint("training", "grpc"));
        using var inferenceChannel = GrpcChannel.ForAddress(app.GetEndpoint("inference", "grpc"));
        var ingestion = new IngestionService.IngestionServiceClient(ingestionChannel);
        var training = new TrainingService.TrainingServiceClient(trainingChannel);
        var inference = new InferenceService.InferenceServiceClient(inferenceChannel);

        var root = RepositoryRoot();
        var images = Path.Combine(root, "samples", "mnist", "images.idx3-ubyte.gz");
        var labels = Path.Combine(root, "samples", "mnist", "labels.idx1-ubyte.gz");
        var upload = await ingestion.UploadIdxAsync("mnist", images, labels, "samples/mnist (CC BY-SA 3.0)", ct);
        Step($"uploaded mnist v{upload.Dataset.Version}: {upload.Dataset.Rows} rows");
        Assert.Equal(10_000, upload.Dataset.Rows);

        // Nobody asks for training: the AppHost's BIGDATAAI_AUTOTRAIN_MODEL has the training service start a job when
        // labeling announces the version, in the trace of the upload. Its job appears in ListJobs.
        Job? job = null;
        var waited = Stopwatch.StartNew();
        while (job is null)
        {
            var jobs = await training.ListJobsAsync(new ListJobsRequest(), deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: ct);
            job = jobs.Jobs.SingleOrDefault(j => j.Dataset == "mnist" && j.Version == upload.Dataset.Version);
            if (job is null)
            {
                Assert.True(waited.Elapsed < TimeSpan.FromMinutes(2), "no job was started for the upload within 2 minutes: is auto-training on?");
                // ListJobs is the only signal a client has; poll it gently.
                await Task.Delay(TimeSpan.FromMilliseconds(500), ct);
            }
        }
        Step($"auto-trained job {job.JobId}: {job.Model}, {job.Epochs} epochs, {job.State}");
        Assert.Equal("mlp", job.Model);
        Assert.Equal(2, job.Epochs);
        var final = await training.WatchToEndAsync(job.JobId, timeout: TimeSpan.FromMinutes(4), cancellationToken: ct);
        Assert.True(final.State == JobState.Succeeded, $"job {final.JobId} ended {final.State}: {final.Error}");
        Step($"trained {final.ModelId}: held-out accuracy {final.TestMetrics.Accuracy:P2}");

        var served = await inference.WaitUntilServedAsync("", final.ModelId, TimeSpan.FromMinutes(1), ct);
        Step($"inference serves {served.ModelId}");

        var digits = IdxFiles.Read(images, labels);
        var rows = Enumerable.Range(0, PredictedDigits).Select(i => i * (digits.Rows / PredictedDigits)).ToArray();
        var request = new PredictRequest();
        foreach (var row in rows)
        {
            var input = new Input();
            input.Features.AddRange(digits.Pixels(row));
            request.Inputs.Add(input);
        }
        var reply = await inference.PredictAsync(request, deadline: DateTime.UtcNow.AddSeconds(60), cancellationToken: ct);
        var correct = rows.Select((row, i) => reply.Predictions[i].ClassName == digits.Label(row) ? 1 : 0).Sum();
        var accuracy = (double)correct / rows.Length;
        Step($"Predict: {accuracy:P1} of {rows.Length} digits right, answered by {reply.ModelId}");
        Assert.Equal(final.ModelId, reply.ModelId);
        Assert.True(accuracy >= MinimumAccuracy, $"Predict accuracy {accuracy:P1} is below {MinimumAccuracy:P0}");
    }

    /// <summary>
    /// The dashboard's telemetry API (what its Traces page shows): every service reported, and the model swap's trace
    /// goes back to the upload through labeling and the worker's training.
    /// </summary>
    private async Task CheckTelemetryAsync(Uri dashboard, string apiKey, CancellationToken ct)
    {
        using var http = new HttpClient { BaseAddress = dashboard };
        http.DefaultRequestHeaders.Add("x-api-key", apiKey);

        var waited = Stopwatch.StartNew();
        string[] reported = [];
        string? traceId = null;
        string[] traceServices = [];
        string[] expectedInTrace = ["ingestion", "labeling", "training-worker", "inference"];
        while (waited.Elapsed < TimeSpan.FromSeconds(60))
        {
            using var resources = JsonDocument.Parse(await http.GetStringAsync("/api/telemetry/resources", ct));
            reported = [.. resources.RootElement.EnumerateArray().Select(r => r.GetProperty("name").GetString() ?? "")];
            var swaps = Spans(await http.GetStringAsync("/api/telemetry/spans?resource=inference&limit=1000", ct)).Where(s => s.Name == "load-model").ToList();
            if (swaps.Count > 0)
            {
                traceId = swaps[^1].TraceId;
                var trace = Spans(await http.GetStringAsync($"/api/telemetry/spans?traceId={traceId}&limit=1000", ct));
                traceServices = [.. trace.Select(s => s.Service).Distinct().Order()];
            }
            if (Services.All(reported.Contains) && expectedInTrace.All(traceServices.Contains))
            {
                break;
            }
            // Services export every second (OTEL_BSP_SCHEDULE_DELAY); poll at that pace.
            await Task.Delay(TimeSpan.FromSeconds(1), ct);
        }
        Step($"dashboard has telemetry from: {string.Join(", ", reported)}");
        Step($"trace {traceId} of the model swap spans: {string.Join(", ", traceServices)}");
        Assert.All(Services, s => Assert.Contains(s, reported));
        Assert.NotNull(traceId);
        Assert.All(expectedInTrace, s => Assert.Contains(s, traceServices));
    }

    private sealed record Span(string Service, string Name, string TraceId);

    /// <summary>The spans of an OTLP JSON answer (resourceSpans / scopeSpans / spans), with the service.name of each.</summary>
    private static List<Span> Spans(string json)
    {
        using var document = JsonDocument.Parse(json);
        var spans = new List<Span>();
        if (!document.RootElement.TryGetProperty("data", out var data) || !data.TryGetProperty("resourceSpans", out var resourceSpans))
        {
            return spans;
        }
        foreach (var resource in resourceSpans.EnumerateArray())
        {
            var service = resource.GetProperty("resource").GetProperty("attributes").EnumerateArray()
                .Where(a => a.GetProperty("key").GetString() == "service.name")
                .Select(a => a.GetProperty("value").GetProperty("stringValue").GetString()).FirstOrDefault() ?? "";
            foreach (var scope in resource.GetProperty("scopeSpans").EnumerateArray())
            {
                foreach (var span in scope.GetProperty("spans").EnumerateArray())
                {
                    spans.Add(new Span(service, span.GetProperty("name").GetString() ?? "", span.GetProperty("traceId").GetString() ?? ""));
                }
            }
        }
        return spans;
    }

    private static async Task<string> ReadLogAsync(DistributedApplication app, string resource, Func<string, bool> enough, TimeSpan timeout)
    {
        var logs = app.Services.GetRequiredService<ResourceLoggerService>();
        var text = new System.Text.StringBuilder();
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await foreach (var batch in logs.WatchAsync(resource).WithCancellation(cancel.Token))
            {
                foreach (var line in batch)
                {
                    text.AppendLine(line.Content);
                }
                if (enough(text.ToString()))
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException)
        {
            // What was read is the answer.
        }
        return text.ToString();
    }

    private async Task WriteLogsAsync(DistributedApplication app, IEnumerable<string> resources)
    {
        foreach (var resource in resources)
        {
            var log = await ReadLogAsync(app, resource, _ => false, TimeSpan.FromSeconds(2));
            output.WriteLine($"--- {resource} ---\n{(log.Length > 8000 ? log[^8000..] : log)}");
        }
    }

    /// <summary>Processes whose command line or environment mentions any marker, waiting up to <paramref name="grace"/> for them to go.</summary>
    private static async Task<List<string>> ProcessesUsingAsync(string[] markers, TimeSpan grace)
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            var found = new List<string>();
            foreach (var folder in Directory.EnumerateDirectories("/proc"))
            {
                if (!int.TryParse(Path.GetFileName(folder), out var pid) || pid == Environment.ProcessId)
                {
                    continue;
                }
                try
                {
                    var cmdline = File.ReadAllText(Path.Combine(folder, "cmdline")).Replace('\0', ' ');
                    var environ = File.ReadAllText(Path.Combine(folder, "environ"));
                    if (cmdline.Length > 0 && markers.Any(m => cmdline.Contains(m, StringComparison.Ordinal) || environ.Contains(m, StringComparison.Ordinal)))
                    {
                        found.Add($"{pid}: {cmdline}");
                    }
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // Gone meanwhile, or not ours to read.
                }
            }
            if (found.Count == 0 || waited.Elapsed > grace)
            {
                return found;
            }
            await Task.Delay(TimeSpan.FromMilliseconds(500));
        }
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "BigDataAI.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException($"BigDataAI.sln not found above {AppContext.BaseDirectory}");
    }

    private void Step(string what) => output.WriteLine($"[{_clock.Elapsed.TotalSeconds,6:F1}s] {what}");

    /// <summary>The dashboard's settings for a run: plain HTTP on loopback, its telemetry API behind a key of this run.</summary>
    private sealed class DashboardSettings
    {
        public string ApiKey { get; } = Guid.NewGuid().ToString("N");

        public string[] Arguments => ["ASPIRE_ALLOW_UNSECURED_TRANSPORT=true", $"AppHost:DashboardApiKey={ApiKey}"];
    }

    /// <summary>A data folder for one run, under /tmp so that the broker's user (rabbitmq) can reach it.</summary>
    private sealed class TempFolder : IDisposable
    {
        public string Path { get; } = Directory.CreateDirectory($"/tmp/bigdataai-apphost-{Guid.NewGuid():N}").FullName;

        public void Dispose()
        {
            try
            {
                Directory.Delete(Path, recursive: true);
            }
            catch (IOException)
            {
                // Left for the machine's tmp cleaner; the test has its answer.
            }
        }
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AppHostCollection
{
    public const string Name = "AppHost";
}
