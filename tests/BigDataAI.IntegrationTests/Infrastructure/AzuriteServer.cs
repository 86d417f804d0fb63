using System.Diagnostics;
using Azure.Storage.Blobs;

namespace BigDataAI.IntegrationTests.Infrastructure;

/// <summary>
/// A private Azurite blob service for one test run (tools/node_modules from scripts/install-test-deps.sh) on a free
/// loopback port, its data in a temp folder. Ready when it answers HTTP; killed with its process tree on dispose.
/// </summary>
public sealed class AzuriteServer : IAsyncLifetime
{
    /// <summary>Azurite's well-known development account (public, documented by Microsoft).</summary>
    public const string AccountName = "devstoreaccount1";
    public const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private ServerProcess? _process;
    private string? _folder;

    public int Port { get; private set; }

    public Uri BlobEndpoint => new($"http://127.0.0.1:{Port}/{AccountName}");

    /// <summary>A storage connection string, for <c>ConnectionStrings:blobs</c>.</summary>
    public string ConnectionString =>
        $"DefaultEndpointsProtocol=http;AccountName={AccountName};AccountKey={AccountKey};BlobEndpoint={BlobEndpoint};";

    public BlobServiceClient CreateServiceClient() => new(ConnectionString);

    public async Task InitializeAsync()
    {
        var local = Path.Combine(ServerTools.RepositoryRoot(), "tools", "node_modules", ".bin", "azurite-blob");
        var azurite = ServerTools.FindExecutable("azurite-blob", local)
            ?? throw new InvalidOperationException($"azurite-blob not found (looked at {local} and on PATH): run scripts/install-test-deps.sh");
        // A free port can be taken by someone else before Azurite binds it; then it exits and we try once more.
        for (var attempt = 1; ; attempt++)
        {
            var exited = await TryStartAsync(azurite).ConfigureAwait(false);
            if (exited is null)
            {
                return;
            }
            await DisposeAsync().ConfigureAwait(false);
            if (attempt == 2)
            {
                throw new InvalidOperationException(exited);
            }
        }
    }

    /// <summary>Starts Azurite and waits until it answers: null, or why it exited before that.</summary>
    private async Task<string?> TryStartAsync(string azurite)
    {
        _folder = ServerTools.CreateTempFolder("bigdataai-azurite");
        Port = ServerTools.FreeLoopbackPort();
        _process = ServerProcess.Start(
            azurite,
            ["--silent", "--location", _folder, "--blobHost", "127.0.0.1", "--blobPort", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--skipApiVersionCheck"],
            _folder,
            new Dictionary<string, string>());

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var watch = Stopwatch.StartNew();
        Exception? last = null;
        var delay = TimeSpan.FromMilliseconds(100);
        while (watch.Elapsed < StartTimeout)
        {
            if (_process.HasExited)
            {
                return $"azurite-blob exited with code {_process.ExitCode} before it answered HTTP on port {Port}.\n{_process.Output}";
            }
            try
            {
                // Any HTTP answer (even 403 for an unsigned request) means the service is up.
                using var response = await http.GetAsync(new Uri(BlobEndpoint + "?comp=list")).ConfigureAwait(false);
                return null;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                last = e;
            }
            // Polling the port is the readiness signal; back off a little between attempts.
            await Task.Delay(delay).ConfigureAwait(false);
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 1000));
        }
        var message = $"Azurite did not answer on {BlobEndpoint} within {StartTimeout.TotalSeconds} s ({last?.Message}).\n{_process.Output}";
        await DisposeAsync().ConfigureAwait(false);
        throw new InvalidOperationException(message);
    }

    /// <summary>
    /// Freezes Azurite with SIGSTOP: connections stay open and new ones are accepted by the kernel, but nothing is
    /// answered, as with a storage account that hangs or a network partition. Requests time out; nothing stored is lost.
    /// </summary>
    public Task PauseAsync() => SignalAsync("STOP");

    /// <summary>Lets a paused Azurite run again (SIGCONT).</summary>
    public Task ResumeAsync() => SignalAsync("CONT");

    private async Task SignalAsync(string signal)
    {
        var process = _process ?? throw new InvalidOperationException("Azurite is not running.");
        var kill = ServerTools.FindExecutable("kill", "/bin/kill", "/usr/bin/kill")
            ?? throw new InvalidOperationException("No kill executable to send SIG" + signal + " with.");
        var (code, text) = await ServerTools.RunAsync(kill, ["-" + signal, process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)],
            new Dictionary<string, string>(), TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        if (code != 0)
        {
            throw new InvalidOperationException($"kill -{signal} {process.Id} exited with {code}: {text}");
        }
    }

    public async Task DisposeAsync()
    {
        if (_process is { } process)
        {
            await process.KillTreeAsync().ConfigureAwait(false);
            process.Dispose();
            _process = null;
        }
        if (_folder is not null)
        {
            ServerTools.DeleteFolder(_folder);
            _folder = null;
        }
    }
}
