using System.Diagnostics;
using BigDataAI.Client;
using BigDataAI.IntegrationTests.EndToEnd;
using BigDataAI.IntegrationTests.Infrastructure;
using BigDataAI.IntegrationTests.Services;
using BigDataAI.Protos.Inference.V1;
using BigDataAI.Protos.Ingestion.V1;
using BigDataAI.Protos.Training.V1;
using Grpc.Core;
using Xunit.Abstractions;

namespace BigDataAI.IntegrationTests.Faults;

/// <summary>
/// Nothing the platform runs reaches an address its configuration did not name. Every service host and a training
/// worker run under strace through a whole pipeline (upload, label, train, serve) and for longer than the delay after
/// which MassTransit would post its usage telemetry (30 s as the hosts configure it, should the tracker ever be
/// enabled again), with <c>MASSTRANSIT_USAGE_TELEMETRY=true</c> in their environment: the platform must ignore it.
/// Every IP connect must go to the broker's or the blob service's configured port on loopback; a DNS query (port 53)
/// or any other address fails the test. The embedded <c>bigdataai serve</c> runs beside them, under strace too, and
/// may connect to no IP address at all.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class NetworkIsolationTests(ServersFixture servers, ITestOutputHelper output)
{
    /// <summary>MassTransit's report delay as the hosts set it (the least it allows), counted from when every host serves, plus a margin.</summary>
    private static readonly TimeSpan OutlastReportDelay = TimeSpan.FromSeconds(38);

    private readonly Stopwatch _clock = Stopwatch.StartNew();

    [Fact]
    public async Task The_trace_sees_a_connect_to_an_address_nobody_configured()
    {
        // The detector itself: a process that connects to a loopback port nobody named is caught, with the port.
        var folder = ServerTools.CreateTempFolder("bigdataai-trace");
        try
        {
            var file = Path.Combine(folder, "control.strace");
            var port = ServerTools.FreeLoopbackPort();
            var launcher = ConnectTrace.Launcher(file);
            var (code, text) = await ServerTools.RunAsync(launcher[0], [.. launcher.Skip(1), "bash", "-c", $"exec 3<>/dev/tcp/127.0.0.1/{port} || true"],
                new Dictionary<string, string>(), TimeSpan.FromSeconds(30));
            Assert.True(code == 0, $"strace exited with {code}: {text}");
            var connect = Assert.Single(ConnectTrace.Read(file));
            Assert.Equal(("127.0.0.1", port), (connect.Address, connect.Port));
        }
        finally
        {
            ServerTools.DeleteFolder(folder);
        }
    }

    [Fact]
    public async Task No_host_connects_anywhere_but_the_configured_broker_and_storage()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        var ct = timeout.Token;
        var traces = ServerTools.CreateTempFolder("bigdataai-trace");
        using var data = new TempFolder();
        try
        {
            var environment = new Dictionary<string, string> { ["MASSTRANSIT_USAGE_TELEMETRY"] = "true" };
            var root = HostBuilds.RepositoryRoot();
            var (configuration, tfm) = HostBuilds.OfTestAssembly();
            var cli = Path.Combine(root, "services", "Cli", "bin", configuration, tfm, "bigdataai.dll");
            Assert.True(File.Exists(cli), $"{cli} does not exist: build it with `dotnet build services/Cli/BigDataAI.Cli.csproj -c {configuration}`.");
            var embeddedPort = ServerTools.FreeLoopbackPort();
            await using var embedded = HostProcess.Start("embedded", cli, embeddedPort, environment, ConnectTrace.Launcher(Path.Combine(traces, "embedded.strace")),
                ["serve", "--port", embeddedPort.ToString(System.Globalization.CultureInfo.InvariantCulture), "--page-port", "0", "--data", Path.Combine(data.Path, "embedded")]);
            await using (var platform = await DistributedPlatform.StartAsync(servers, output, TimeSpan.FromSeconds(120), ct,
                environment: environment, launcher: name => ConnectTrace.Launcher(Path.Combine(traces, name + ".strace"))))
            {
                try
                {
                    await embedded.WaitUntilServingAsync(TimeSpan.FromSeconds(120), ct);
                    var serving = Stopwatch.StartNew(); // each bus started before its host reported SERVING
                    Step("five hosts and the embedded serve running under strace");
                    var upload = await platform.IngestionClient.UploadIdxAsync(data, "isolated", TestData.Idx(300, seed: 5));
                    Step($"uploaded isolated v{upload.Dataset.Version}; waiting for the auto-trained model to be served");
                    var served = await FaultToleranceTests.AutoTrainedModelServedAsync(platform.TrainingClient, platform.InferenceClient, "isolated", ct);
                    Step($"inference serves {served}");
                    await new IngestionService.IngestionServiceClient(embedded.Channel).UploadIdxAsync(data, "isolated", TestData.Idx(300, seed: 5));
                    served = await FaultToleranceTests.AutoTrainedModelServedAsync(new TrainingService.TrainingServiceClient(embedded.Channel), new InferenceService.InferenceServiceClient(embedded.Channel), "isolated", ct);
                    Step($"the embedded serve serves {served}");
                    var rest = OutlastReportDelay - serving.Elapsed;
                    if (rest > TimeSpan.Zero)
                    {
                        // No signal exists for "a report that must not be sent was not sent": outlasting its delay is the test.
                        Step($"idling {rest.TotalSeconds:0} s more, past the usage report's delay");
                        await Task.Delay(rest, ct);
                    }
                }
                catch
                {
                    platform.WriteOutputs(output);
                    throw;
                }
            }

            await embedded.DisposeAsync();
            var allowed = new HashSet<int> { servers.RabbitMq.Port, servers.Azurite.Port };
            var files = Directory.GetFiles(traces, "*.strace");
            Assert.Equal(6, files.Length);
            var violations = new List<string>();
            foreach (var file in files)
            {
                var connects = ConnectTrace.Read(file);
                var host = Path.GetFileNameWithoutExtension(file);
                Step($"{host}: {connects.Count} IP connects, to {string.Join(", ", connects.Select(c => $"{c.Address}:{c.Port}").Distinct())}");
                if (host == "embedded")
                {
                    // In-memory messaging and a local folder: nothing to connect to at all.
                    violations.AddRange(connects.Select(c => $"{host}: {c}"));
                    continue;
                }
                // The trace saw the host's real traffic: every host talks to the broker.
                Assert.Contains(connects, c => c.Port == servers.RabbitMq.Port);
                violations.AddRange(connects.Where(c => c.Address != "127.0.0.1" || !allowed.Contains(c.Port)).Select(c => $"{host}: {c}"));
            }
            Assert.True(violations.Count == 0, "Hosts connected to addresses their configuration did not name:\n" + string.Join('\n', violations));
        }
        finally
        {
            ServerTools.DeleteFolder(traces);
        }
    }

    private void Step(string what) => output.WriteLine($"[{_clock.Elapsed.TotalSeconds,6:F1}s] {what}");
}
