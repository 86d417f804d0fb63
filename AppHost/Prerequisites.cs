namespace Aspire.Hosting;

/// <summary>
/// The programs a local run with processes needs, found before anything starts: a missing one stops the AppHost with a
/// message that says what to install, instead of a resource that fails later with "file not found".
/// </summary>
internal sealed record Prerequisites(string RabbitMqServer, string Epmd, string Node, string AzuriteBlob)
{
    /// <summary>Overrides for machines where the programs are not on PATH (e.g. a RabbitMQ unpacked in a home folder).</summary>
    public const string RabbitMqServerKey = "BIGDATAAI_RABBITMQ_SERVER";
    public const string NodeKey = "BIGDATAAI_NODE";
    public const string AzuriteKey = "BIGDATAAI_AZURITE_BLOB";

    public static Prerequisites Find(IDistributedApplicationBuilder builder)
    {
        var missing = new List<string>();
        var configuration = builder.Configuration;

        // Debian's package puts the server script in /usr/lib/rabbitmq/bin; its /usr/sbin/rabbitmq-server wraps it in su,
        // which rabbitmq-with-epmd.sh does not need (it drops to the user rabbitmq itself when run as root).
        var rabbit = configuration[RabbitMqServerKey] is { Length: > 0 } configured ? configured
            : File.Exists("/usr/lib/rabbitmq/bin/rabbitmq-server") ? "/usr/lib/rabbitmq/bin/rabbitmq-server"
            : FindOnPath("rabbitmq-server", "/usr/sbin");
        if (rabbit is null || !File.Exists(rabbit))
        {
            missing.Add("rabbitmq-server (RabbitMQ): on Debian or Ubuntu `sudo apt-get install --no-install-recommends rabbitmq-server`, " +
                $"elsewhere https://www.rabbitmq.com/docs/download; or set {RabbitMqServerKey} to its path");
        }

        var epmd = FindOnPath("epmd", "/usr/bin", "/usr/lib/erlang/bin");
        if (epmd is null && rabbit is not null)
        {
            missing.Add("epmd (Erlang, installed with RabbitMQ): `sudo apt-get install erlang-base`");
        }

        var node = configuration[NodeKey] is { Length: > 0 } nodeConfigured ? nodeConfigured : FindOnPath("node");
        if (node is null || !File.Exists(node))
        {
            missing.Add($"node (Node.js 20 or later, to run Azurite): `sudo apt-get install nodejs npm` or https://nodejs.org; or set {NodeKey} to its path");
        }

        // Azurite is pinned in tools/package.json; scripts/install-test-deps.sh (or `npm ci --prefix tools`) installs it.
        var tools = Path.GetFullPath(Path.Combine(builder.AppHostDirectory, "..", "tools"));
        var azurite = configuration[AzuriteKey] is { Length: > 0 } azuriteConfigured ? azuriteConfigured
            : Path.Combine(tools, "node_modules", "azurite", "dist", "src", "blob", "main.js");
        if (!File.Exists(azurite))
        {
            missing.Add($"Azurite (the Azure Storage emulator, npm): `npm ci --prefix {tools}` (or scripts/install-test-deps.sh); " +
                $"or set {AzuriteKey} to azurite's dist/src/blob/main.js");
        }

        if (missing.Count > 0)
        {
            throw new MissingPrerequisitesException(
                "The AppHost runs RabbitMQ and Azurite as local processes, and this machine lacks:\n  - " + string.Join("\n  - ", missing) +
                $"\nInstall them, or run them as containers where Docker or Podman is available: {LocalInfrastructure.ModeKey}=containers.");
        }
        return new Prerequisites(rabbit!, epmd!, node!, azurite);
    }

    private static string? FindOnPath(string name, params string[] fallbacks)
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        foreach (var folder in path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries).Concat(fallbacks))
        {
            var candidate = Path.Combine(folder, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        return null;
    }
}

/// <summary>A program the local run needs is missing; the message says what to install.</summary>
internal sealed class MissingPrerequisitesException(string message) : DistributedApplicationException(message);
