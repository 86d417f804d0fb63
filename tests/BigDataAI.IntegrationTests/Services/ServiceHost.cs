using Azure.Storage.Blobs;
using BigDataAI.Hosting;
using BigDataAI.Inference;
using BigDataAI.Ingestion;
using BigDataAI.IntegrationTests.Infrastructure;
using BigDataAI.Labeling;
using BigDataAI.Training;
using Grpc.Net.Client;
using MassTransit;
using Microsoft.AspNetCore.Builder;
using System.Net;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;
using IngestionClient = BigDataAI.Protos.Ingestion.V1.IngestionService.IngestionServiceClient;
using InferenceClient = BigDataAI.Protos.Inference.V1.InferenceService.InferenceServiceClient;
using TrainingClient = BigDataAI.Protos.Training.V1.TrainingService.TrainingServiceClient;

namespace BigDataAI.IntegrationTests.Services;

/// <summary>The modules a <see cref="ServiceHost"/> composes.</summary>
[Flags]
public enum Modules
{
    Ingestion = 1,
    Labeling = 2,
    Training = 4,
    Inference = 8,
}

/// <summary>
/// One or several modules running in-process as a real WebApplication (Kestrel, HTTP/2 without TLS on a free loopback
/// port) against the shared real RabbitMQ and Azurite, wired exactly as the service hosts wire them:
/// <c>AddModules(modules)</c>, <c>MapModules()</c>. Each host gets its own blob container, so tests never
/// see each other's data. The test's <see cref="MessageRecorder"/> listens on a temporary queue and a
/// <see cref="ConsumeRecorder"/> reports what the modules' consumers consumed, both into <see cref="Messages"/>.
/// </summary>
public sealed class ServiceHost : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private readonly WebApplication _app;
    private readonly bool _ownsContainer;
    private readonly ServersFixture _servers;
    private readonly Modules _modules;

    private ServiceHost(WebApplication app, ServersFixture servers, Modules modules, string container, bool ownsContainer, MessageLog messages, BlobContainerClient blobs, string address, string? pageAddress)
    {
        _app = app;
        _servers = servers;
        _modules = modules;
        _ownsContainer = ownsContainer;
        Container = container;
        Messages = messages;
        Blobs = blobs;
        Address = address;
        PageAddress = pageAddress;
        Channel = GrpcChannel.ForAddress(Address);
        Ingestion = new IngestionClient(Channel);
        Training = new TrainingClient(Channel);
        Inference = new InferenceClient(Channel);
    }

    public string Container { get; }

    public string Address { get; }

    /// <summary>
    /// The host's HTTP/1.1 endpoint, for browsers (null unless started with <c>pageEndpoint</c>). Kestrel cannot offer
    /// HTTP/1.1 and HTTP/2 on one cleartext port: with Http1AndHttp2 and no TLS it speaks HTTP/1.1 only and an h2c
    /// prior-knowledge client (gRPC) gets its connection closed, so the browser gets a port of its own.
    /// </summary>
    public string? PageAddress { get; }

    public MessageLog Messages { get; }

    /// <summary>The host's blob container, read directly (not through the platform's store).</summary>
    public BlobContainerClient Blobs { get; }

    public GrpcChannel Channel { get; }

    public IngestionClient Ingestion { get; }

    public TrainingClient Training { get; }

    public InferenceClient Inference { get; }

    public IServiceProvider Services => _app.Services;

    /// <summary>The host's bus, to publish as another service would.</summary>
    public IBus Bus => _app.Services.GetRequiredService<IBus>();

    /// <summary>A fresh container name: lower-case letters, digits and '-', 3-63 characters.</summary>
    public static string NewContainerName(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..Math.Min(63, prefix.Length + 33)];

    /// <summary>
    /// Starts <paramref name="modules"/> in one host. <paramref name="container"/> lets two hosts share storage (then the
    /// caller deletes it). <paramref name="pageEndpoint"/> adds an HTTP/1.1 port for browsers (<see cref="PageAddress"/>).
    /// </summary>
    public static async Task<ServiceHost> StartAsync(
        ServersFixture servers,
        ITestOutputHelper output,
        Modules modules,
        string? container = null,
        IReadOnlyDictionary<string, string?>? settings = null,
        Action<IServiceCollection>? configureServices = null,
        bool pageEndpoint = false)
    {
        var ownsContainer = container is null;
        container ??= NewContainerName("svc");
        var messages = new MessageLog();
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            ApplicationName = "BigDataAI.IntegrationTests",
            ContentRootPath = AppContext.BaseDirectory,
            EnvironmentName = "Development",
        });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:messaging"] = servers.RabbitMq.ConnectionString,
            ["ConnectionStrings:blobs"] = servers.Azurite.ConnectionString,
            ["Storage:Container"] = container,
            ["Kestrel:EndpointDefaults:Protocols"] = "Http2",
            ["Messaging:RetryIntervals:0"] = "00:00:00.1",
            ["Messaging:RetryIntervals:1"] = "00:00:00.1",
            ["Messaging:StartTimeout"] = "00:00:30",
            ["Training:Worker:Device"] = "cpu",
            ["Labeling:InferenceAddress"] = "self",
            ["Labeling:TrainingAddress"] = "self",
            // Per container: a host started again on the same container finds its projects and labels.
            ["Labeling:Database"] = DatabasePath(container),
            ["Logging:LogLevel:Default"] = "Information",
            ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning",
            ["Logging:LogLevel:Microsoft.Hosting"] = "Warning",
            ["Logging:LogLevel:MassTransit"] = "Warning",
        });
        if (settings is not null)
        {
            builder.Configuration.AddInMemoryCollection(settings);
        }
        // Port 0: Kestrel binds a free loopback port itself (no race with other programs); app.Urls gives it after start.
        ListenOptions? grpcListen = null;
        ListenOptions? pageListen = null;
        if (pageEndpoint)
        {
            // Two ports: HTTP/2 for gRPC, HTTP/1.1 for the browser (as the AppHost gives every host "grpc" and "http").
            builder.WebHost.ConfigureKestrel(kestrel =>
            {
                kestrel.Listen(IPAddress.Loopback, 0, l => { l.Protocols = HttpProtocols.Http2; grpcListen = l; });
                kestrel.Listen(IPAddress.Loopback, 0, l => { l.Protocols = HttpProtocols.Http1; pageListen = l; });
            });
        }
        else
        {
            builder.WebHost.UseUrls("http://127.0.0.1:0");
        }
        builder.Logging.ClearProviders();
        builder.Logging.AddTestOutput(output);

        builder.Services.AddSingleton(messages);
        builder.Services.AddConsumeObserver<ConsumeRecorder>();
        builder.AddModules(ComposedModules(modules), bus => bus.AddConsumer<MessageRecorder>().Endpoint(e =>
        {
            e.Name = messages.RecorderEndpoint;
            e.Temporary = true;
        }));
        configureServices?.Invoke(builder.Services);

        var app = builder.Build();
        app.MapModules();
        // The modules' queues are durable and shared by name across the test run: start from empty ones, not from
        // messages other tests left for datasets and models in their own containers. A second host on the same
        // container is a replica of the first (competing consumers on the same queues): deleting them now would cut
        // the first host's consumers off.
        if (QueuesResetFor.TryAdd(container, 0))
        {
            await DeleteModuleQueuesAsync(servers, modules).ConfigureAwait(false);
        }
        try
        {
            using var timeout = new CancellationTokenSource(StartTimeout);
            await app.StartAsync(timeout.Token).ConfigureAwait(false);
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        var blobs = servers.Azurite.CreateServiceClient().GetBlobContainerClient(container);
        // Kestrel writes the bound port back into each ListenOptions.
        var address = grpcListen is null ? app.Urls.Single() : $"http://{grpcListen.IPEndPoint}";
        var pageAddress = pageListen is null ? null : $"http://{pageListen.IPEndPoint}";
        return new ServiceHost(app, servers, modules, container, ownsContainer, messages, blobs, address, pageAddress);
    }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte> QueuesResetFor = new(StringComparer.Ordinal);

    /// <summary>The platform modules that <paramref name="modules"/> names, as the service hosts compose them (training: control plane and a worker).</summary>
    public static IReadOnlyList<ServiceModule> ComposedModules(Modules modules)
    {
        var composed = new List<ServiceModule>();
        if (modules.HasFlag(Modules.Ingestion))
        {
            composed.Add(new IngestionModule());
        }
        if (modules.HasFlag(Modules.Labeling))
        {
            composed.Add(new LabelingModule());
        }
        if (modules.HasFlag(Modules.Training))
        {
            composed.Add(new TrainingControlPlaneModule());
            composed.Add(new TrainingWorkerModule());
        }
        if (modules.HasFlag(Modules.Inference))
        {
            composed.Add(new InferenceModule());
        }
        return composed;
    }

    /// <summary>The queues (and their exchanges, error and skipped queues) of the module consumers in <paramref name="modules"/>.</summary>
    public static IReadOnlyList<string> ModuleQueues(Modules modules)
    {
        var names = new List<string>();
        var formatter = PlatformEndpointNameFormatter.Instance;
        if (modules.HasFlag(Modules.Ingestion))
        {
            names.Add(formatter.Consumer<global::BigDataAI.Ingestion.Appends.AppendRowsBatchConsumer>());
        }
        if (modules.HasFlag(Modules.Labeling))
        {
            names.Add(formatter.Consumer<global::BigDataAI.Labeling.IntegrationEvents.EventHandling.DatasetIngestedConsumer>());
        }
        if (modules.HasFlag(Modules.Training))
        {
            names.Add(formatter.Consumer<global::BigDataAI.Training.IntegrationEvents.EventHandling.DatasetLabeledConsumer>());
        }
        if (modules.HasFlag(Modules.Inference))
        {
            names.Add(formatter.Consumer<global::BigDataAI.Inference.IntegrationEvents.EventHandling.ModelTrainedConsumer>());
        }
        return [.. names.SelectMany(n => new[] { n, n + "_error", n + "_skipped" })];
    }

    private static async Task DeleteModuleQueuesAsync(ServersFixture servers, Modules modules)
    {
        var names = ModuleQueues(modules);
        if (names.Count == 0)
        {
            return;
        }
        await using var connection = await servers.RabbitMq.CreateConnectionFactory().CreateConnectionAsync().ConfigureAwait(false);
        await using var channel = await connection.CreateChannelAsync().ConfigureAwait(false);
        foreach (var name in names)
        {
            // Both deletes succeed when the queue or exchange does not exist.
            await channel.QueueDeleteAsync(name, ifUnused: false, ifEmpty: false).ConfigureAwait(false);
            await channel.ExchangeDeleteAsync(name, ifUnused: false).ConfigureAwait(false);
        }
    }

    /// <summary>Every blob path in the container under <paramref name="prefix"/>, in order.</summary>
    public async Task<IReadOnlyList<string>> ListBlobsAsync(string prefix = "")
    {
        var paths = new List<string>();
        if (!await Blobs.ExistsAsync().ConfigureAwait(false))
        {
            return paths;
        }
        await foreach (var blob in Blobs.GetBlobsAsync(new Azure.Storage.Blobs.Models.GetBlobsOptions { Prefix = prefix }).ConfigureAwait(false))
        {
            paths.Add(blob.Name);
        }
        return paths;
    }

    public async Task<bool> BlobExistsAsync(string path) =>
        await Blobs.ExistsAsync().ConfigureAwait(false) && (await Blobs.GetBlobClient(path).ExistsAsync().ConfigureAwait(false)).Value;

    public async Task<byte[]> ReadBlobAsync(string path) =>
        (await Blobs.GetBlobClient(path).DownloadContentAsync().ConfigureAwait(false)).Value.Content.ToArray();

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            await _app.StopAsync(timeout.Token).ConfigureAwait(false);
        }
        await _app.DisposeAsync().ConfigureAwait(false);
        // Leave no queue behind that would collect messages for a later test's service (which would then retry them).
        await DeleteModuleQueuesAsync(_servers, _modules).ConfigureAwait(false);
        if (_ownsContainer)
        {
            await Blobs.DeleteIfExistsAsync().ConfigureAwait(false);
            DeleteDatabase(Container);
        }
    }

    /// <summary>The labeling database of a container's hosts (WAL files too); a caller that shares a container calls it when done.</summary>
    public static void DeleteDatabase(string container)
    {
        var path = DatabasePath(container);
        if (!Directory.Exists(Path.GetDirectoryName(path)))
        {
            return; // no labeling module ever ran on this machine: there is nothing to delete (File.Delete would throw)
        }
        foreach (var file in new[] { path, path + "-wal", path + "-shm" })
        {
            File.Delete(file);
        }
    }

    public static string DatabasePath(string container) => Path.Combine(Path.GetTempPath(), "bigdataai-tests", container + ".db");
}
