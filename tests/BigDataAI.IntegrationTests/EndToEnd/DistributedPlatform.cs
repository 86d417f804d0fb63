using System.Diagnostics;
using BigDataAI.IntegrationTests.Infrastructure;
using BigDataAI.Protos.Inference.V1;
using BigDataAI.Protos.Ingestion.V1;
using BigDataAI.Protos.Training.V1;
using Grpc.Health.V1;
using Xunit.Abstractions;

namespace BigDataAI.IntegrationTests.EndToEnd;

/// <summary>
/// The four BigDataAI service hosts, each its own OS process, against the fixture's RabbitMQ and Azurite, with a
/// blob container of their own. Configured only through the environment, as in README "Run the services
/// separately"; the training host auto-trains an MLP for <see cref="AutoTrainEpochs"/> epochs.
/// </summary>
internal sealed class DistributedPlatform : IAsyncDisposable
{
    public const string AutoTrainModel = "mlp";
    public const int AutoTrainEpochs = 2;
    private static readonly string[] Services = ["Ingestion", "Labeling", "Training", "Inference"];

    private readonly Dictionary<string, HostProcess> _hosts;

    private DistributedPlatform(string container, Dictionary<string, HostProcess> hosts)
    {
        Container = container;
        _hosts = hosts;
    }

    /// <summary>The blob container the four services share (unique to this platform).</summary>
    public string Container { get; }

    public HostProcess Ingestion => _hosts["Ingestion"];
    public HostProcess Labeling => _hosts["Labeling"];
    public HostProcess Training => _hosts["Training"];
    public HostProcess Inference => _hosts["Inference"];
    public IReadOnlyList<HostProcess> Hosts => [.. Services.Select(s => _hosts[s])];

    public IngestionService.IngestionServiceClient IngestionClient => new(Ingestion.Channel);
    public TrainingService.TrainingServiceClient TrainingClient => new(Training.Channel);
    public InferenceService.InferenceServiceClient InferenceClient => new(Inference.Channel);

    /// <summary>
    /// Finds the four host builds (failing with the command that builds a missing one), starts them at once and waits
    /// until each reports SERVING. On failure every started process is killed and the exception carries the output.
    /// </summary>
    public static async Task<DistributedPlatform> StartAsync(ServersFixture servers, ITestOutputHelper output, TimeSpan readyTimeout, CancellationToken cancellationToken)
    {
        var dlls = HostBuilds.Dlls(Services);
        var container = $"e2e-{Guid.NewGuid():N}"[..24];
        var hosts = new Dictionary<string, HostProcess>();
        var watch = Stopwatch.StartNew();
        try
        {
            var ports = ServerTools.FreeLoopbackPorts(Services.Length);
            for (var i = 0; i < Services.Length; i++)
            {
                hosts[Services[i]] = HostProcess.Start(Services[i], dlls[Services[i]], ports[i], EnvironmentFor(Services[i], servers, container));
            }
            foreach (var service in Services)
            {
                try
                {
                    await hosts[service].WaitUntilServingAsync(readyTimeout, cancellationToken).ConfigureAwait(false);
                }
                catch (HostExitedException e) when (e.Host.Output.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
                {
                    // A free port can be taken by another program before the host binds it: once more on a new one.
                    output.WriteLine($"{service}: its port was taken before it bound it; starting it again on another port");
                    await hosts[service].DisposeAsync().ConfigureAwait(false);
                    hosts[service] = HostProcess.Start(service, dlls[service], ServerTools.FreeLoopbackPort(), EnvironmentFor(service, servers, container));
                    await hosts[service].WaitUntilServingAsync(readyTimeout, cancellationToken).ConfigureAwait(false);
                }
                output.WriteLine($"[{watch.Elapsed.TotalSeconds,6:F1}s] {service} host serving on {hosts[service].Address}");
            }
            return new DistributedPlatform(container, hosts);
        }
        catch
        {
            await Task.WhenAll(hosts.Values.Select(h => h.DisposeAsync().AsTask())).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The environment of one host, as a deployment would set it.</summary>
    private static Dictionary<string, string> EnvironmentFor(string service, ServersFixture servers, string container)
    {
        var environment = new Dictionary<string, string>
        {
            ["ConnectionStrings__messaging"] = servers.RabbitMq.ConnectionString,
            ["ConnectionStrings__blobs"] = servers.Azurite.ConnectionString,
            ["Storage__Container"] = container,
            // A message that fails is redelivered quickly rather than after the production 1 s, 5 s and 15 s.
            ["Messaging__RetryIntervals__0"] = "00:00:00.200",
            ["DOTNET_ENVIRONMENT"] = "Production",
        };
        if (service == "Training")
        {
            environment["Training__AutoTrainModel"] = AutoTrainModel;
            environment["Training__AutoTrainHyperParameters__Epochs"] = AutoTrainEpochs.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        return environment;
    }

    /// <summary>Every host answers its gRPC health service with SERVING, and none has exited.</summary>
    public async Task AssertAllServingAsync(CancellationToken cancellationToken)
    {
        foreach (var host in Hosts)
        {
            Assert.False(host.HasExited, $"The {host.Name} host has exited.");
            var status = await host.TryCheckHealthAsync(TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
            Assert.True(status == HealthCheckResponse.Types.ServingStatus.Serving, $"The {host.Name} host answers health {status?.ToString() ?? "nothing"}, not SERVING.");
        }
    }

    /// <summary>Writes each process's output to the test output (for a failing test).</summary>
    public void WriteOutputs(ITestOutputHelper output)
    {
        foreach (var host in Hosts)
        {
            output.WriteLine($"===== {host.Name} host ({host.Address}){(host.HasExited ? ", exited" : "")} =====");
            output.WriteLine(host.Output);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Task.WhenAll(_hosts.Values.Select(h => h.DisposeAsync().AsTask())).ConfigureAwait(false);
    }
}

/// <summary>Where the host builds are: the same Configuration as this test assembly.</summary>
internal static class HostBuilds
{
    /// <summary>The repository root: the nearest folder above the test binaries that holds BigDataAI.sln.</summary>
    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "BigDataAI.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException($"No BigDataAI.sln in any folder above {AppContext.BaseDirectory}.");
    }

    /// <summary>
    /// The test assembly lives in tests/BigDataAI.IntegrationTests/bin/&lt;Configuration&gt;/&lt;tfm&gt;/; a host's build
    /// output is services/&lt;Service&gt;/BigDataAI.&lt;Service&gt;.Host/bin/&lt;Configuration&gt;/&lt;tfm&gt;/.
    /// </summary>
    public static (string Configuration, string TargetFramework) OfTestAssembly()
    {
        var folder = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar));
        if (folder.Parent?.Parent is not { Name: "bin" } || folder.Parent.Parent.Parent is not { Name: "BigDataAI.IntegrationTests" })
        {
            throw new InvalidOperationException(
                $"The test assembly is in {folder.FullName}, not in tests/BigDataAI.IntegrationTests/bin/<Configuration>/<tfm>/, so the " +
                "hosts' matching build output cannot be derived from it.");
        }
        return (folder.Parent.Name, folder.Name);
    }

    /// <summary>Each service's host dll; throws naming every missing one and the command that builds it.</summary>
    public static Dictionary<string, string> Dlls(IEnumerable<string> services)
    {
        var root = RepositoryRoot();
        var (configuration, tfm) = OfTestAssembly();
        var dlls = new Dictionary<string, string>();
        var missing = new List<string>();
        foreach (var service in services)
        {
            var project = $"services/{service}/BigDataAI.{service}.Host/BigDataAI.{service}.Host.csproj";
            var dll = Path.Combine(root, "services", service, $"BigDataAI.{service}.Host", "bin", configuration, tfm, $"BigDataAI.{service}.Host.dll");
            dlls[service] = dll;
            if (!File.Exists(dll))
            {
                missing.Add($"{dll} does not exist: build it with `dotnet build {project} -c {configuration}`");
            }
        }
        if (missing.Count > 0)
        {
            throw new InvalidOperationException(
                $"The end-to-end test runs the service hosts as processes from their {configuration} build, which is missing:\n  " +
                string.Join("\n  ", missing) +
                $"\n(`dotnet test BigDataAI.sln -c {configuration}` builds every host; testing only the test project does not.)");
        }
        return dlls;
    }
}
