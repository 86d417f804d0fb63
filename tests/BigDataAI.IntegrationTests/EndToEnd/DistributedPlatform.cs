using System.Diagnostics;
using BigDataAI.IntegrationTests.Infrastructure;
using BigDataAI.Protos.Inference.V1;
using BigDataAI.Protos.Ingestion.V1;
using BigDataAI.Protos.Training.V1;
using Grpc.Health.V1;
using Xunit.Abstractions;

namespace BigDataAI.IntegrationTests.EndToEnd;

/// <summary>
/// The BigDataAI service hosts, each its own OS process, against the fixture's RabbitMQ and Azurite, with a blob
/// container of their own: ingestion, labeling, the training control plane, inference, and training workers (one by
/// default). Configured only through the environment, as in README "Run the services separately"; by default the
/// training control plane auto-trains an MLP for <see cref="AutoTrainEpochs"/> epochs.
/// </summary>
internal sealed class DistributedPlatform : IAsyncDisposable
{
    public const string AutoTrainModel = "mlp";
    public const int AutoTrainEpochs = 2;

    /// <summary>The service hosts (by project name) every platform runs; workers come on top.</summary>
    public static readonly string[] DefaultServices = ["Ingestion", "Labeling", "Training", "Inference"];

    private readonly Dictionary<string, HostProcess> _hosts;
    private readonly List<string> _order;
    private readonly ServersFixture _servers;
    private readonly TimeSpan _readyTimeout;
    private readonly IReadOnlyDictionary<string, string> _workerEnvironment;
    private readonly Dictionary<string, IReadOnlyDictionary<string, string>> _environments = new();
    private Func<string, IReadOnlyList<string>?>? _launcher;

    private DistributedPlatform(string container, Dictionary<string, HostProcess> hosts, List<string> order, ServersFixture servers, TimeSpan readyTimeout, IReadOnlyDictionary<string, string> workerEnvironment)
    {
        Container = container;
        _hosts = hosts;
        _order = order;
        _servers = servers;
        _readyTimeout = readyTimeout;
        _workerEnvironment = workerEnvironment;
    }

    /// <summary>The blob container the services share (unique to this platform).</summary>
    public string Container { get; }

    public HostProcess Ingestion => _hosts["Ingestion"];
    public HostProcess Labeling => _hosts["Labeling"];
    public HostProcess Training => _hosts["Training"];
    public HostProcess Inference => _hosts["Inference"];
    public HostProcess Host(string name) => _hosts[name];
    public IReadOnlyList<HostProcess> Hosts => [.. _order.Select(s => _hosts[s])];

    public IngestionService.IngestionServiceClient IngestionClient => new(Ingestion.Channel);
    public TrainingService.TrainingServiceClient TrainingClient => new(Training.Channel);
    public InferenceService.InferenceServiceClient InferenceClient => new(Inference.Channel);

    /// <summary>
    /// Finds the host builds (failing with the command that builds a missing one), starts them at once and waits until
    /// each reports SERVING. <paramref name="workers"/> names the training worker processes and each one's own settings
    /// (default: one worker, "worker"); <paramref name="environment"/> adds settings for every process.
    /// On failure every started process is killed and the exception carries the output.
    /// </summary>
    public static async Task<DistributedPlatform> StartAsync(
        ServersFixture servers,
        ITestOutputHelper output,
        TimeSpan readyTimeout,
        CancellationToken cancellationToken,
        IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>>? workers = null,
        IReadOnlyDictionary<string, string>? environment = null,
        bool autoTrain = true,
        Func<string, IReadOnlyList<string>?>? launcher = null)
    {
        workers ??= new Dictionary<string, IReadOnlyDictionary<string, string>> { ["worker"] = new Dictionary<string, string>() };
        environment ??= new Dictionary<string, string>();
        var dlls = HostBuilds.Dlls([.. DefaultServices, "TrainingWorker"]);
        var container = $"e2e-{Guid.NewGuid():N}"[..24];
        var hosts = new Dictionary<string, HostProcess>();
        var order = new List<string>();
        var watch = Stopwatch.StartNew();
        var workerEnvironment = Merge(EnvironmentFor("TrainingWorker", servers, container, autoTrain), environment);
        var starts = DefaultServices.Select(s => (Name: s, Project: s, Env: Merge(EnvironmentFor(s, servers, container, autoTrain), environment)))
            .Concat(workers.Select(w => (Name: w.Key, Project: "TrainingWorker", Env: Merge(workerEnvironment, w.Value))))
            .ToList();
        try
        {
            var ports = ServerTools.FreeLoopbackPorts(starts.Count);
            for (var i = 0; i < starts.Count; i++)
            {
                hosts[starts[i].Name] = HostProcess.Start(starts[i].Name, dlls[starts[i].Project], ports[i], starts[i].Env, launcher?.Invoke(starts[i].Name));
                order.Add(starts[i].Name);
            }
            foreach (var (name, project, env) in starts)
            {
                try
                {
                    await hosts[name].WaitUntilServingAsync(readyTimeout, cancellationToken).ConfigureAwait(false);
                }
                catch (HostExitedException e) when (e.Host.Output.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
                {
                    // A free port can be taken by another program before the host binds it: once more on a new one.
                    output.WriteLine($"{name}: its port was taken before it bound it; starting it again on another port");
                    await hosts[name].DisposeAsync().ConfigureAwait(false);
                    hosts[name] = HostProcess.Start(name, dlls[project], ServerTools.FreeLoopbackPort(), env, launcher?.Invoke(name));
                    await hosts[name].WaitUntilServingAsync(readyTimeout, cancellationToken).ConfigureAwait(false);
                }
                output.WriteLine($"[{watch.Elapsed.TotalSeconds,6:F1}s] {name} host serving on {hosts[name].Address}");
            }
            var platform = new DistributedPlatform(container, hosts, order, servers, readyTimeout, workerEnvironment) { _launcher = launcher };
            foreach (var (name, _, env) in starts)
            {
                platform._environments[name] = env;
            }
            return platform;
        }
        catch
        {
            await Task.WhenAll(hosts.Values.Select(h => h.DisposeAsync().AsTask())).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Starts one more training worker process, named <paramref name="name"/>, and waits until it serves.</summary>
    public async Task<HostProcess> StartWorkerAsync(string name, IReadOnlyDictionary<string, string> settings, CancellationToken cancellationToken)
    {
        var dll = HostBuilds.Dlls(["TrainingWorker"])["TrainingWorker"];
        var host = HostProcess.Start(name, dll, ServerTools.FreeLoopbackPort(), Merge(_workerEnvironment, settings));
        _hosts[name] = host;
        _order.Add(name);
        await host.WaitUntilServingAsync(_readyTimeout, cancellationToken).ConfigureAwait(false);
        return host;
    }

    /// <summary>
    /// SIGKILLs one of the default service hosts and starts it again (same settings; a new port, or the same one with
    /// <paramref name="samePort"/>, as behind a stable service address); waits until it serves. The old process's
    /// output stays readable through <see cref="Killed"/>.
    /// </summary>
    public async Task<HostProcess> KillAndRestartAsync(string service, CancellationToken cancellationToken, bool samePort = false, Func<Task>? whileDown = null)
    {
        var old = _hosts[service];
        await old.KillAsync().ConfigureAwait(false);
        Killed.Add(old);
        if (whileDown is not null)
        {
            await whileDown().ConfigureAwait(false);
        }
        var dll = HostBuilds.Dlls([service])[service];
        var host = HostProcess.Start(service, dll, samePort ? old.Address.Port : ServerTools.FreeLoopbackPort(), _environments[service], _launcher?.Invoke(service));
        _hosts[service] = host;
        await host.WaitUntilServingAsync(_readyTimeout, cancellationToken).ConfigureAwait(false);
        return host;
    }

    /// <summary>Hosts replaced by <see cref="KillAndRestartAsync"/>, disposed with the platform.</summary>
    public List<HostProcess> Killed { get; } = [];

    private static Dictionary<string, string> Merge(IReadOnlyDictionary<string, string> a, IReadOnlyDictionary<string, string> b)
    {
        var merged = new Dictionary<string, string>(a);
        foreach (var (key, value) in b)
        {
            merged[key] = value;
        }
        return merged;
    }

    /// <summary>The environment of one host, as a deployment would set it.</summary>
    private static Dictionary<string, string> EnvironmentFor(string service, ServersFixture servers, string container, bool autoTrain)
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
        if (service == "Training" && autoTrain)
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
        await Task.WhenAll(_hosts.Values.Concat(Killed).Select(h => h.DisposeAsync().AsTask())).ConfigureAwait(false);
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
            // Training workers are part of the training service: services/Training/BigDataAI.TrainingWorker.Host.
            var folder = service == "TrainingWorker" ? "Training" : service;
            var project = $"services/{folder}/BigDataAI.{service}.Host/BigDataAI.{service}.Host.csproj";
            var dll = Path.Combine(root, "services", folder, $"BigDataAI.{service}.Host", "bin", configuration, tfm, $"BigDataAI.{service}.Host.dll");
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
