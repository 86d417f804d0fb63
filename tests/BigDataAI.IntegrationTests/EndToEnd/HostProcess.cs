using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;

namespace BigDataAI.IntegrationTests.EndToEnd;

/// <summary>
/// One service host run as its own OS process (<c>dotnet BigDataAI.X.Host.dll</c>), the way it is deployed. Its
/// stdout and stderr are kept (with the time each line arrived) for the test output; it is ready when the gRPC
/// health service answers SERVING; disposing it kills its whole process tree.
/// </summary>
internal sealed class HostProcess : IAsyncDisposable
{
    private const int KeptLines = 5000;
    private readonly Process _process;
    private readonly Queue<string> _lines = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private int _dropped;
    private int _disposed;

    private HostProcess(string name, Uri address, Process process)
    {
        Name = name;
        Address = address;
        _process = process;
        Channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions { MaxReceiveMessageSize = 64 << 20, MaxSendMessageSize = 64 << 20 });
    }

    /// <summary>The service's name, e.g. "Training".</summary>
    public string Name { get; }

    /// <summary>Where it listens: <c>http://127.0.0.1:port</c>, gRPC over HTTP/2 without TLS.</summary>
    public Uri Address { get; }

    public GrpcChannel Channel { get; }

    public bool HasExited => _process.HasExited;

    public int? ExitCode => _process.HasExited ? _process.ExitCode : null;

    /// <summary>Waits for the process to end by itself; false when <paramref name="timeout"/> passed first.</summary>
    public async Task<bool> WaitForExitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        wait.CancelAfter(timeout);
        try
        {
            await _process.WaitForExitAsync(wait.Token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>
    /// Starts <c>dotnet <paramref name="dll"/></c> in the dll's folder (its content root, where its appsettings.json
    /// is) with the inherited environment, minus settings that would change what the test runs, plus
    /// <paramref name="environment"/>.
    /// </summary>
    /// <param name="launcher">Runs the host under another program (e.g. <c>strace -o FILE --</c>): that program and its arguments, before <c>dotnet</c>.</param>
    /// <param name="arguments">Command-line arguments after the dll (e.g. the CLI's <c>serve --port P</c>).</param>
    public static HostProcess Start(string name, string dll, int port, IReadOnlyDictionary<string, string> environment, IReadOnlyList<string>? launcher = null, IReadOnlyList<string>? arguments = null)
    {
        var address = new Uri($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}");
        var info = new ProcessStartInfo(launcher is { Count: > 0 } ? launcher[0] : "dotnet")
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetDirectoryName(dll)!,
        };
        if (launcher is { Count: > 0 })
        {
            foreach (var argument in launcher.Skip(1))
            {
                info.ArgumentList.Add(argument);
            }
            info.ArgumentList.Add("dotnet");
        }
        info.ArgumentList.Add(dll);
        foreach (var argument in arguments ?? [])
        {
            info.ArgumentList.Add(argument);
        }
        // The test runner's own environment must not decide the host's: ASPNETCORE_ENVIRONMENT wins over
        // DOTNET_ENVIRONMENT, and an OTLP endpoint would make four processes export to whatever it names.
        foreach (var key in info.Environment.Keys.ToList())
        {
            if (key is "ASPNETCORE_ENVIRONMENT" or "ASPNETCORE_URLS" or "ASPNETCORE_HTTP_PORTS" or "ASPNETCORE_HTTPS_PORTS"
                || key.StartsWith("OTEL_", StringComparison.Ordinal)
                || key.StartsWith("ConnectionStrings__", StringComparison.Ordinal)
                || key.StartsWith("Messaging__", StringComparison.Ordinal)
                || key.StartsWith("Storage__", StringComparison.Ordinal)
                || key.StartsWith("Training__", StringComparison.Ordinal)
                || key.StartsWith("Labeling__", StringComparison.Ordinal)
                || key.StartsWith("Ingestion__", StringComparison.Ordinal)
                || key.StartsWith("Inference__", StringComparison.Ordinal))
            {
                info.Environment.Remove(key);
            }
        }
        info.Environment["ASPNETCORE_URLS"] = address.ToString().TrimEnd('/');
        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var host = new HostProcess(name, address, process);
        process.OutputDataReceived += (_, e) => host.Keep(e.Data);
        process.ErrorDataReceived += (_, e) => host.Keep(e.Data);
        process.Start();
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return host;
    }

    /// <summary>What the process wrote so far, each line prefixed with the seconds since it started.</summary>
    public string Output
    {
        get
        {
            lock (_lines)
            {
                var dropped = _dropped > 0 ? $"({_dropped} earlier lines dropped)\n" : string.Empty;
                return dropped + string.Join('\n', _lines);
            }
        }
    }

    /// <summary>
    /// Waits until the gRPC health service reports SERVING (every health check passes, the message bus included).
    /// Throws with the process's output when it exits first or the time runs out.
    /// </summary>
    public async Task WaitUntilServingAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        var delay = TimeSpan.FromMilliseconds(100);
        string last = "no answer yet";
        while (true)
        {
            if (_process.HasExited)
            {
                throw new HostExitedException(this, $"The {Name} host exited with code {_process.ExitCode} before it served gRPC health on {Address}.\n--- {Name} output ---\n{Output}");
            }
            var status = await TryCheckHealthAsync(TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
            if (status == HealthCheckResponse.Types.ServingStatus.Serving)
            {
                return;
            }
            last = status?.ToString() ?? "not listening yet";
            if (watch.Elapsed > timeout)
            {
                throw new TimeoutException($"The {Name} host did not report SERVING on {Address} within {timeout.TotalSeconds} s (last: {last}).\n--- {Name} output ---\n{Output}");
            }
            // Polled: before the process listens there is nothing to subscribe to, and the health service's Watch
            // reports only results its publisher has cached (first published seconds after start), while Check runs
            // the checks now.
            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 1000));
        }
    }

    /// <summary>The health service's answer for the whole host, or null when the host does not answer.</summary>
    public async Task<HealthCheckResponse.Types.ServingStatus?> TryCheckHealthAsync(TimeSpan deadline, CancellationToken cancellationToken)
    {
        try
        {
            var reply = await new Health.HealthClient(Channel)
                .CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow + deadline, cancellationToken: cancellationToken)
                .ConfigureAwait(false);
            return reply.Status;
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.Internal)
        {
            return null;
        }
    }

    /// <summary>SIGKILLs the process (and its children), as a lost machine or a spot eviction would, and waits until it is gone.</summary>
    public async Task KillAsync()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        await _process.WaitForExitAsync(wait.Token).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        Channel.Dispose();
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // It exited between the check and the kill.
        }
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        try
        {
            // Also waits for the output streams to be read to their end.
            await _process.WaitForExitAsync(wait.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        _process.Dispose();
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }
        var stamped = $"[{_clock.Elapsed.TotalSeconds,7:F2}s] {line}";
        lock (_lines)
        {
            _lines.Enqueue(stamped);
            if (_lines.Count > KeptLines)
            {
                _lines.Dequeue();
                _dropped++;
            }
        }
    }
}

/// <summary>A host process ended before it was ready.</summary>
internal sealed class HostExitedException(HostProcess host, string message) : Exception(message)
{
    public HostProcess Host { get; } = host;
}
