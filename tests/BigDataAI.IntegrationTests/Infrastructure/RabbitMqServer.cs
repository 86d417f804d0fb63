using System.Diagnostics;
using RabbitMQ.Client;

namespace BigDataAI.IntegrationTests.Infrastructure;

/// <summary>
/// A private RabbitMQ broker for one test run: its own node name, its own AMQP, distribution and epmd ports on
/// loopback, its own data folder. Ready when an AMQP connection as guest succeeds; stopped with
/// <c>rabbitmqctl stop</c> (its process tree killed if that fails) and its private epmd killed, so nothing stays behind.
/// </summary>
public sealed class RabbitMqServer : IAsyncLifetime
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);
    private ServerProcess? _process;
    private string? _folder;
    private Dictionary<string, string> _environment = [];

    public string NodeName { get; } = $"bigdataai-test-{Guid.NewGuid():N}"[..27] + "@localhost";

    public int Port { get; private set; }

    /// <summary>An AMQP URI in Aspire's form, for <c>ConnectionStrings:messaging</c>.</summary>
    public string ConnectionString => $"amqp://guest:guest@127.0.0.1:{Port}";

    public ConnectionFactory CreateConnectionFactory() => new() { Uri = new Uri(ConnectionString), ClientProvidedName = "bigdataai-tests" };

    public async Task InitializeAsync()
    {
        var server = ServerTools.FindExecutable("rabbitmq-server")
            ?? throw new InvalidOperationException("rabbitmq-server not found: run scripts/install-test-deps.sh");
        // A free port can be taken by someone else before the broker binds it; then the broker exits and we try
        // once more on fresh ports.
        for (var attempt = 1; ; attempt++)
        {
            var exited = await TryStartAsync(server).ConfigureAwait(false);
            if (exited is null)
            {
                return;
            }
            await StopAsync().ConfigureAwait(false);
            if (attempt == 2)
            {
                throw new InvalidOperationException(exited);
            }
        }
    }

    /// <summary>Starts the broker and waits until it is ready: null, or why it exited before it got ready.</summary>
    private async Task<string?> TryStartAsync(string server)
    {
        // Under /tmp rather than $TMPDIR: the broker runs as user rabbitmq, who may not reach a private TMPDIR.
        _folder = ServerTools.CreateTempFolder("bigdataai-rabbitmq", everyone: true, parent: Directory.Exists("/tmp") ? "/tmp" : null);
        var ports = ServerTools.FreeLoopbackPorts(3);
        Port = ports[0];
        _environment = new Dictionary<string, string>
        {
            ["RABBITMQ_NODENAME"] = NodeName,
            ["RABBITMQ_NODE_IP_ADDRESS"] = "127.0.0.1",
            ["RABBITMQ_NODE_PORT"] = Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["RABBITMQ_DIST_PORT"] = ports[1].ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["RABBITMQ_MNESIA_BASE"] = Path.Combine(_folder, "mnesia"),
            ["RABBITMQ_LOG_BASE"] = Path.Combine(_folder, "log"),
            ["RABBITMQ_ENABLED_PLUGINS_FILE"] = Path.Combine(_folder, "enabled_plugins"),
            ["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"] = "-kernel inet_dist_use_interface {127,0,0,1}",
            // A private epmd, so the one this broker starts can be stopped with it.
            ["ERL_EPMD_PORT"] = ports[2].ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["ERL_EPMD_ADDRESS"] = "127.0.0.1",
        };
        _process = ServerProcess.Start(server, [], _folder, _environment);
        return await WaitUntilReadyAsync().ConfigureAwait(false);
    }

    /// <summary>Waits until the started broker accepts an AMQP login: null, or why it exited before that.</summary>
    private async Task<string?> WaitUntilReadyAsync()
    {
        var process = _process!;
        var watch = Stopwatch.StartNew();
        Exception? last = null;
        var delay = TimeSpan.FromMilliseconds(100);
        while (watch.Elapsed < StartTimeout)
        {
            if (process.HasExited)
            {
                return Describe($"rabbitmq-server exited with code {process.ExitCode} before it accepted connections");
            }
            using var attempt = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                if (await ServerTools.AcceptsConnectionsAsync(Port, attempt.Token).ConfigureAwait(false))
                {
                    // Ready means a full AMQP handshake and login as guest, not just an open port.
                    await using var connection = await CreateConnectionFactory().CreateConnectionAsync(attempt.Token).ConfigureAwait(false);
                    await using var channel = await connection.CreateChannelAsync(cancellationToken: attempt.Token).ConfigureAwait(false);
                    return null;
                }
            }
            catch (Exception e)
            {
                // Booting brokers refuse or drop connections in several ways; keep the last one for the message.
                last = e;
            }
            // Polling the port is the readiness signal; back off a little between attempts.
            await Task.Delay(delay).ConfigureAwait(false);
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 1000));
        }
        var message = Describe($"RabbitMQ did not accept an AMQP connection on 127.0.0.1:{Port} within {StartTimeout.TotalSeconds} s ({last?.Message})");
        await StopAsync().ConfigureAwait(false);
        throw new InvalidOperationException(message);
    }

    public Task DisposeAsync() => StopAsync();

    /// <summary>
    /// SIGKILLs the broker (its whole process tree), as a crashed machine would: no clean shutdown, connections drop.
    /// Its data folder stays, so <see cref="RestartAsync"/> brings back its durable queues and persisted messages.
    /// </summary>
    public async Task KillAsync()
    {
        if (_process is { } process)
        {
            await process.KillTreeAsync().ConfigureAwait(false);
            process.Dispose();
            _process = null;
        }
    }

    /// <summary>The broker's queue names (<c>rabbitmqctl list_queues</c>).</summary>
    public async Task<IReadOnlyList<string>> ListQueuesAsync()
    {
        var ctl = ServerTools.FindExecutable("rabbitmqctl") ?? throw new InvalidOperationException("rabbitmqctl not found");
        var (code, text) = await ServerTools.RunAsync(ctl, ["-n", NodeName, "-q", "list_queues", "name"], _environment, TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        if (code != 0)
        {
            throw new InvalidOperationException($"rabbitmqctl list_queues exited with {code}: {text}");
        }
        return [.. text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Where(l => l != "name")];
    }

    /// <summary>Every binding on the broker: (source exchange, destination, destination kind "queue" or "exchange"); the default exchange is "".</summary>
    public async Task<IReadOnlyList<(string Source, string Destination, string Kind)>> ListBindingsAsync()
    {
        var ctl = ServerTools.FindExecutable("rabbitmqctl") ?? throw new InvalidOperationException("rabbitmqctl not found");
        var (code, text) = await ServerTools.RunAsync(ctl, ["-n", NodeName, "-q", "list_bindings", "source_name", "destination_name", "destination_kind"], _environment, TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        if (code != 0)
        {
            throw new InvalidOperationException($"rabbitmqctl list_bindings exited with {code}: {text}");
        }
        return [.. text.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split('\t'))
            .Where(f => f.Length == 3 && f[0] != "source_name")
            .Select(f => (f[0].Trim(), f[1].Trim(), f[2].Trim()))];
    }

    /// <summary>Starts the broker again on the same ports with the same data, and waits until it accepts AMQP logins.</summary>
    public async Task RestartAsync()
    {
        if (_process is not null || _folder is null)
        {
            throw new InvalidOperationException("RestartAsync needs a broker that was started and then killed.");
        }
        var server = ServerTools.FindExecutable("rabbitmq-server")
            ?? throw new InvalidOperationException("rabbitmq-server not found: run scripts/install-test-deps.sh");
        _process = ServerProcess.Start(server, [], _folder, _environment);
        if (await WaitUntilReadyAsync().ConfigureAwait(false) is { } exited)
        {
            throw new InvalidOperationException(exited);
        }
    }

    private async Task StopAsync()
    {
        if (_process is { } process)
        {
            if (!process.HasExited)
            {
                var ctl = ServerTools.FindExecutable("rabbitmqctl");
                if (ctl is not null)
                {
                    await ServerTools.RunAsync(ctl, ["-n", NodeName, "stop"], _environment, TimeSpan.FromSeconds(30)).ConfigureAwait(false);
                }
                if (!await process.WaitForExitAsync(TimeSpan.FromSeconds(15)).ConfigureAwait(false))
                {
                    await process.KillTreeAsync().ConfigureAwait(false);
                }
            }
            process.Dispose();
            _process = null;
        }
        if (_environment.TryGetValue("ERL_EPMD_PORT", out var epmdPort) && ServerTools.FindExecutable("epmd") is { } epmd)
        {
            // The broker started this epmd as a daemon on our private port; it outlives the broker unless told to stop.
            await ServerTools.RunAsync(epmd, ["-port", epmdPort, "-kill"], _environment, TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
        if (_folder is not null)
        {
            ServerTools.DeleteFolder(_folder);
            _folder = null;
        }
    }

    private string Describe(string what) =>
        $"{what}.\nNode {NodeName}, data in {_folder}.\n--- output ---\n{_process?.Output}\n--- log ---\n" +
        ServerTools.Tail(Path.Combine(_folder ?? ".", "log", NodeName + ".log"));
}
