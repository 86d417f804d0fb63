using System.Globalization;
using Azure.Storage.Blobs;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using RabbitMQ.Client;

namespace Aspire.Hosting;

/// <summary>How the AppHost runs RabbitMQ and the blob store on a developer machine or a CI runner.</summary>
internal enum InfrastructureMode
{
    /// <summary>As processes: Debian's <c>rabbitmq-server</c> and npm's Azurite (no container runtime needed). The default.</summary>
    Processes,

    /// <summary>As containers (Aspire's RabbitMQ container and the Azurite image), where Docker or Podman runs.</summary>
    Containers,
}

/// <summary>
/// The two things every BigDataAI service needs besides the others: the broker (<c>messaging</c>) and the blob store
/// (<c>blobs</c>). Locally they are processes or containers (one switch, <see cref="ModeKey"/>); published they come from
/// the deployment file set (<see cref="Publishing"/>). Whatever runs them, a service receives the same two connection
/// strings, <c>ConnectionStrings__messaging</c> (an AMQP URI) and <c>ConnectionStrings__blobs</c>.
/// </summary>
internal static class LocalInfrastructure
{
    /// <summary>Configuration key (environment variable or <c>--BIGDATAAI_INFRASTRUCTURE containers</c>): <c>processes</c> (default) or <c>containers</c>.</summary>
    public const string ModeKey = "BIGDATAAI_INFRASTRUCTURE";

    /// <summary>Configuration key of the folder that holds the broker's and the blob store's data (default <c>AppHost/.data</c>).</summary>
    public const string DataFolderKey = "BIGDATAAI_DATA";

    /// <summary>Azurite's well-known development account (public, documented by Microsoft; not a secret).</summary>
    public const string AzuriteAccount = "devstoreaccount1";
    public const string AzuriteKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    /// <summary>The Azurite version tools/package.json pins, also the container image's tag.</summary>
    public const string AzuriteVersion = "3.37.0";

    public static InfrastructureMode ReadMode(IConfiguration configuration)
    {
        var value = configuration[ModeKey];
        return value?.Trim().ToLowerInvariant() switch
        {
            null or "" or "processes" or "process" => InfrastructureMode.Processes,
            "containers" or "container" => InfrastructureMode.Containers,
            _ => throw new DistributedApplicationException(
                $"{ModeKey} is '{value}'; use 'processes' (RabbitMQ and Azurite as local processes, the default) or 'containers' (a container runtime is needed)."),
        };
    }

    /// <summary>Adds <c>messaging</c> and <c>blobs</c> for a local run, as processes or containers.</summary>
    public static Infrastructure AddLocalInfrastructure(this IDistributedApplicationBuilder builder)
    {
        var mode = ReadMode(builder.Configuration);
        if (mode == InfrastructureMode.Containers)
        {
            var rabbit = builder.AddRabbitMQ("messaging");
            var azurite = new AzuriteResource("blobs");
            var blobs = builder.AddResource(azurite)
                .WithImage("azure-storage/azurite", AzuriteVersion)
                .WithImageRegistry("mcr.microsoft.com")
                .WithArgs("azurite-blob", "--blobHost", "0.0.0.0", "--blobPort", "10000", "--skipApiVersionCheck", "--location", "/data")
                .WithEndpoint(targetPort: 10000, scheme: "http", name: AzuriteResource.EndpointName)
                .WithVolume("bigdataai-azurite", "/data");
            return new Infrastructure(rabbit, blobs.AsBlobStore());
        }

        var prerequisites = Prerequisites.Find(builder);
        var data = DataFolder(builder);

        // The broker and its private epmd (Erlang's name server, on a port of its own) run under one script that stops
        // them in order: see rabbitmq-with-epmd.sh.
        var epmdPort = FreeLoopbackPort();
        var script = Path.Combine(builder.AppHostDirectory, "rabbitmq-with-epmd.sh");
        var broker = new RabbitMqProcessResource("messaging", "/bin/bash", data);
        // As root, rabbitmq-with-epmd.sh hands this folder to the user rabbitmq, which the broker then runs as.
        var brokerFolder = Path.Combine(data, "rabbitmq");
        var nodeName = "bigdataai@localhost";
        var messaging = builder.AddResource(broker)
            .WithEndpoint(scheme: "tcp", name: RabbitMqProcessResource.EndpointName, env: "RABBITMQ_NODE_PORT")
            .WithEnvironment("RABBITMQ_NODENAME", nodeName)
            .WithEnvironment("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .WithEnvironment("RABBITMQ_DIST_PORT", Invariant(FreeLoopbackPort()))
            .WithEnvironment("RABBITMQ_MNESIA_BASE", Path.Combine(brokerFolder, "mnesia"))
            .WithEnvironment("RABBITMQ_LOG_BASE", Path.Combine(brokerFolder, "log"))
            .WithEnvironment("RABBITMQ_ENABLED_PLUGINS_FILE", Path.Combine(brokerFolder, "enabled_plugins"))
            // Logs to standard output, so the dashboard shows them.
            .WithEnvironment("RABBITMQ_LOGS", "-")
            .WithEnvironment("RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS", "-kernel inet_dist_use_interface {127,0,0,1}")
            .WithEnvironment("ERL_EPMD_PORT", Invariant(epmdPort))
            .WithEnvironment("ERL_EPMD_ADDRESS", "127.0.0.1")
            // Through bash, so the script needs no execute bit (a zip download or a Windows checkout loses it).
            .WithArgs(script, prerequisites.Epmd, prerequisites.RabbitMqServer)
            .WithIconName("MailMultiple");
        messaging.WithHealthCheck(AddBrokerCheck(builder, broker));

        var blobFolder = Path.Combine(data, "azurite");
        var emulator = new AzuriteProcessResource("blobs", prerequisites.Node, data);
        var blobStore = builder.AddResource(emulator)
            .WithEndpoint(scheme: "http", name: AzuriteResource.EndpointName)
            .WithArgs(context =>
            {
                context.Args.Add(prerequisites.AzuriteBlob);
                context.Args.Add("--blobHost");
                context.Args.Add("127.0.0.1");
                context.Args.Add("--blobPort");
                context.Args.Add(emulator.Endpoint.Property(EndpointProperty.TargetPort));
                context.Args.Add("--location");
                context.Args.Add(blobFolder);
                context.Args.Add("--skipApiVersionCheck");
                // Azurite writes one access-log line per request unless silent; its start and errors still show.
                context.Args.Add("--silent");
            });
        return new Infrastructure(messaging, blobStore.AsBlobStore());
    }

    /// <summary>
    /// Makes the emulator the <c>blobs</c> resource every service references: healthy when a real List Containers request
    /// with the account's key succeeds, so no service starts against a blob store that is not up.
    /// </summary>
    private static IResourceBuilder<IResourceWithConnectionString> AsBlobStore<T>(this IResourceBuilder<T> emulator)
        where T : IResourceWithConnectionString
    {
        emulator.WithHealthCheck(AddBlobCheck(emulator.ApplicationBuilder, emulator.Resource)).WithIconName("Storage");
        return emulator.ApplicationBuilder.CreateResourceBuilder<IResourceWithConnectionString>(emulator.Resource);
    }

    /// <summary>
    /// Azurite's connection string for an endpoint: the well-known development account, at the endpoint's IPv4 address.
    /// Not "localhost": the Azure SDK reads the account from the path (path-style URLs) only when the host is an IP address,
    /// and otherwise drops it, so every request would miss (ContainerNotFound).
    /// </summary>
    public static ReferenceExpression AzuriteConnectionString(EndpointReference endpoint) => ReferenceExpression.Create(
        $"DefaultEndpointsProtocol=http;AccountName={AzuriteAccount};AccountKey={AzuriteKey};BlobEndpoint=http://{endpoint.Property(EndpointProperty.IPV4Host)}:{endpoint.Property(EndpointProperty.Port)}/{AzuriteAccount};");

    /// <summary>The data folder: <see cref="DataFolderKey"/>, else <c>.data</c> beside the AppHost project (kept between runs, like a container volume).</summary>
    internal static string DataFolder(IDistributedApplicationBuilder builder)
    {
        var folder = builder.Configuration[DataFolderKey] is { Length: > 0 } configured
            ? Path.GetFullPath(configured)
            : Path.Combine(builder.AppHostDirectory, ".data");
        try
        {
            Directory.CreateDirectory(Path.Combine(folder, "azurite"));
            if (!OperatingSystem.IsWindows())
            {
                // The broker's user (rabbitmq, when the AppHost runs as root) must reach its folder inside this one.
                File.SetUnixFileMode(folder, File.GetUnixFileMode(folder) | UnixFileMode.OtherExecute | UnixFileMode.GroupExecute);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DistributedApplicationException($"The data folder {folder} cannot be made ({e.Message}); set {DataFolderKey} to a folder you can write.");
        }
        return folder;
    }

    private static string AddBrokerCheck(IDistributedApplicationBuilder builder, IResourceWithConnectionString broker)
    {
        var key = $"{broker.Name}_amqp";
        // One instance for every run (the registration's factory is called per run), so its connection is kept. Not
        // disposable on purpose: the health check service disposes what its factory returns after each run.
        var check = new AmqpHealthCheck(broker);
        builder.Services.AddHealthChecks().Add(new HealthCheckRegistration(key, _ => check, failureStatus: null, tags: null));
        return key;
    }

    private static string AddBlobCheck(IDistributedApplicationBuilder builder, IResourceWithConnectionString store)
    {
        var key = $"{store.Name}_list";
        builder.Services.AddHealthChecks().Add(new HealthCheckRegistration(key, _ => new BlobStoreHealthCheck(store), failureStatus: null, tags: null));
        return key;
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// Healthy when an AMQP login succeeds and a channel opens: a broker that only listens is not ready. The connection is
    /// kept for the next checks (a new one every few seconds would fill the broker's log); a closed one is replaced.
    /// </summary>
    private sealed class AmqpHealthCheck(IResourceWithConnectionString broker) : IHealthCheck
    {
        private readonly SemaphoreSlim _gate = new(1, 1);
        private IConnection? _connection;

        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            var connectionString = await broker.GetConnectionStringAsync(cancellationToken).ConfigureAwait(false);
            if (connectionString is null)
            {
                return HealthCheckResult.Unhealthy("no connection string yet");
            }
            await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (_connection is not { IsOpen: true })
                {
                    if (_connection is not null)
                    {
                        await _connection.DisposeAsync().ConfigureAwait(false);
                        _connection = null;
                    }
                    var factory = new ConnectionFactory { Uri = new Uri(connectionString), ClientProvidedName = "bigdataai-apphost-health", AutomaticRecoveryEnabled = false };
                    _connection = await factory.CreateConnectionAsync(cancellationToken).ConfigureAwait(false);
                }
                await using var channel = await _connection.CreateChannelAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
                return HealthCheckResult.Healthy();
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                return HealthCheckResult.Unhealthy(e.Message);
            }
            finally
            {
                _gate.Release();
            }
        }
    }

    /// <summary>Healthy when the blob service answers a List Containers request with the account's key.</summary>
    private sealed class BlobStoreHealthCheck(IResourceWithConnectionString store) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            var connectionString = await store.GetConnectionStringAsync(cancellationToken).ConfigureAwait(false);
            if (connectionString is null)
            {
                return HealthCheckResult.Unhealthy("no connection string yet");
            }
            try
            {
                var options = new BlobClientOptions { Retry = { MaxRetries = 0, NetworkTimeout = TimeSpan.FromSeconds(5) } };
                await foreach (var _ in new BlobServiceClient(connectionString, options).GetBlobContainersAsync(cancellationToken: cancellationToken).ConfigureAwait(false))
                {
                    break;
                }
                return HealthCheckResult.Healthy();
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                return HealthCheckResult.Unhealthy(e.Message);
            }
        }
    }
}

/// <summary>The broker and the blob store, whatever runs them.</summary>
internal sealed record Infrastructure(IResourceBuilder<IResourceWithConnectionString> Messaging, IResourceBuilder<IResourceWithConnectionString> Blobs);

/// <summary>Debian's RabbitMQ server as a process; its connection string is an AMQP URI as Aspire's RabbitMQ resource gives.</summary>
internal sealed class RabbitMqProcessResource(string name, string command, string workingDirectory)
    : ExecutableResource(name, command, workingDirectory), IResourceWithConnectionString
{
    public const string EndpointName = "amqp";

    public EndpointReference Endpoint => new(this, EndpointName);

    /// <summary>guest/guest: RabbitMQ lets the guest user log in from loopback only, where this broker listens.</summary>
    public ReferenceExpression ConnectionStringExpression => ReferenceExpression.Create(
        $"amqp://guest:guest@{Endpoint.Property(EndpointProperty.Host)}:{Endpoint.Property(EndpointProperty.Port)}");
}

/// <summary>Azurite's blob service run by Node.js; its connection string is the development account's.</summary>
internal sealed class AzuriteProcessResource(string name, string command, string workingDirectory)
    : ExecutableResource(name, command, workingDirectory), IResourceWithConnectionString
{
    public EndpointReference Endpoint => new(this, AzuriteResource.EndpointName);

    public ReferenceExpression ConnectionStringExpression => LocalInfrastructure.AzuriteConnectionString(Endpoint);
}

/// <summary>Azurite's container image, where a container runtime exists.</summary>
internal sealed class AzuriteResource(string name) : ContainerResource(name), IResourceWithConnectionString
{
    public const string EndpointName = "blob";

    public ReferenceExpression ConnectionStringExpression => LocalInfrastructure.AzuriteConnectionString(new EndpointReference(this, EndpointName));
}
