using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using BigDataAI.Client;
using BigDataAI.Protos.Inference.V1;
using BigDataAI.Protos.Training.V1;
using DuckDB.NET.Data;
using Grpc.Net.Client;

namespace BigDataAI.Cli;

/// <summary>
/// <c>bigdataai bench data-scale</c>: from one run, (1) ingest throughput of a generated MNIST-like CSV through the
/// ingestion host against DuckDB's own <c>COPY (SELECT * FROM read_csv(f)) TO 'x.parquet'</c> of the same file (the faster of two runs), and
/// (2) the peak memory (VmHWM, /proc/&lt;pid&gt;/status) of each service host process (ingestion, labeling, the
/// training control plane and a training worker) for datasets of each scale times the base rows, started afresh for
/// each scale against a private RabbitMQ and Azurite, each dataset ingested, labeled and trained on (one epoch of the
/// MLP). Not a test: it takes minutes and needs the hosts built in the CLI's configuration.
/// </summary>
public static class DataScaleBenchmark
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
    private const string AzuriteKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    private static readonly string[] Hosts = ["Ingestion", "Labeling", "Training", "TrainingWorker", "Inference"];

    /// <summary>Rows of each scale's CSV classified through inference once the trained model is served.</summary>
    private const int PredictedRows = 1000;

    private const int PredictBatch = 100;

    public static async Task<int> RunAsync(string dataDirectory, string? samples, int baseRows, IReadOnlyList<int> scales, int epochs, int heapLimitMb, CancellationToken ct)
    {
        var repo = RepositoryRoot();
        var configuration = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/')).Parent!.Name;
        var dlls = Hosts.ToDictionary(h => h, h =>
        {
            var folder = h == "TrainingWorker" ? "Training" : h; // the worker host lives beside the control plane
            var dll = Path.Combine(repo, "services", folder, $"BigDataAI.{h}.Host", "bin", configuration, "net10.0", $"BigDataAI.{h}.Host.dll");
            return File.Exists(dll) ? dll : throw new InvalidOperationException($"{dll} is missing: build it with `dotnet build services/{folder}/BigDataAI.{h}.Host -c {configuration}`.");
        });
        var work = Path.Combine(Path.GetFullPath(dataDirectory), "data-scale-" + DateTime.UtcNow.ToString("yyyyMMddHHmmss", Inv));
        Directory.CreateDirectory(work);
        var digits = IdxFiles.Read(Path.Combine(Demo.SampleFolder(samples), "images.idx3-ubyte.gz"), Path.Combine(Demo.SampleFolder(samples), "labels.idx1-ubyte.gz"));
        baseRows = baseRows <= 0 ? digits.Rows : baseRows;
        Console.WriteLine($"Data-scale benchmark: base {baseRows:N0} MNIST rows (the shipped sample has {digits.Rows:N0}), scales {string.Join(", ", scales.Select(s => s + "x"))}, {epochs} epoch(s) of the MLP; {Environment.ProcessorCount} cores; work folder {work}");
        if (heapLimitMb > 0)
        {
            Console.WriteLine($"The labeling and training-worker hosts run with a managed heap limit of {heapLimitMb} MB (DOTNET_GCHeapHardLimit): a host that kept rows in proportion to the data would fail with OutOfMemoryException at the larger scales.");
        }

        await using var servers = await Servers.StartAsync(repo, work, ct);
        var results = new List<(int Scale, long Rows, long Bytes, double Ingest, double DuckDb, Dictionary<string, long> PeakKb)>();
        foreach (var scale in scales)
        {
            var rows = (long)baseRows * scale;
            var csv = Path.Combine(work, $"mnist-x{scale}.csv");
            var bytes = WriteCsv(csv, digits, rows);
            Console.WriteLine($"[{scale}x] {rows:N0} rows, {bytes / 1e6:F1} MB CSV written");
            // Twice, back to back, and the faster counts: the first run also pays DuckDB's warm-up and the file's
            // write-back to disk still under way (the ratio then errs in DuckDB's favour).
            var duckRuns = new[] { DuckDbCopy(csv, Path.Combine(work, $"duckdb-x{scale}.parquet")), DuckDbCopy(csv, Path.Combine(work, $"duckdb-x{scale}.parquet")) };
            var duck = duckRuns.Min();
            Console.WriteLine($"[{scale}x] DuckDB COPY to Parquet: {duck:F2} s (the faster of {duckRuns[0]:F2} s and {duckRuns[1]:F2} s)");

            await using var platform = await Platform.StartAsync(dlls, servers, $"scale{scale}-{Guid.NewGuid():N}"[..20], heapLimitMb, ct);
            using var ingestion = GrpcChannel.ForAddress(platform.Address("Ingestion"));
            using var training = GrpcChannel.ForAddress(platform.Address("Training"));
            using var inference = GrpcChannel.ForAddress(platform.Address("Inference"));
            var flows = new Flows(ingestion, training, inference, TextWriter.Null);
            var clock = Stopwatch.StartNew();
            var dataset = await flows.IngestAsync("digits", null, null, csv, "label", null, ct);
            var ingest = clock.Elapsed.TotalSeconds;
            Console.WriteLine($"[{scale}x] ingest through the ingestion host: {ingest:F2} s ({bytes / 1e6 / ingest:F1} MB/s), {dataset.Shards} shards; DuckDB / ingest = {duck / ingest:F2}");
            var job = await flows.StartTrainingAsync(new StartTrainingRequest { Dataset = "digits", Version = dataset.Version, Model = "mlp", HyperParameters = new HyperParameters { Epochs = epochs } }, TimeSpan.FromMinutes(30), ct);
            var last = await new TrainingService.TrainingServiceClient(training).WatchToEndAsync(job.JobId, _ => { }, cancellationToken: ct);
            Console.WriteLine($"[{scale}x] labeled and trained: job {last.State}{(last.State == JobState.Succeeded ? $", test accuracy {last.TestMetrics?.Accuracy:P2}" : $": {last.Error}")} at {clock.Elapsed.TotalSeconds:F1} s");
            if (last.State == JobState.Succeeded)
            {
                // Inference swaps the new model in on ModelTrained; then it classifies rows of the file, raw cells as text.
                await new InferenceService.InferenceServiceClient(inference).WaitUntilServedAsync("", last.ModelId, TimeSpan.FromMinutes(2), ct);
                var predicted = 0;
                for (var offset = 0; offset < PredictedRows; offset += PredictBatch)
                {
                    // Raw MNIST rows are 785 cells of text each: 100 a call keeps a request under gRPC's 4 MB default.
                    predicted += (await flows.PredictAsync(null, null, csv, "label", offset, PredictBatch, null, ct)).Predictions.Count;
                }
                Console.WriteLine($"[{scale}x] inference served the model and classified {predicted:N0} rows of the file");
            }
            var peaks = platform.PeakMemoryKb();
            Console.WriteLine($"[{scale}x] peak memory (VmHWM): {string.Join(", ", peaks.Select(p => $"{p.Key} {p.Value / 1024.0:F0} MB"))}");
            results.Add((scale, rows, bytes, ingest, duck, peaks));
            File.Delete(csv);
        }

        Console.WriteLine();
        Console.WriteLine($"{"scale",6} {"rows",11} {"CSV MB",8} {"ingest s",9} {"DuckDB s",9} {"ratio",6}  " + string.Join(" ", Hosts.Select(h => $"{h + " MB",17}")));
        foreach (var r in results)
        {
            Console.WriteLine($"{r.Scale + "x",6} {r.Rows,11:N0} {r.Bytes / 1e6,8:F1} {r.Ingest,9:F2} {r.DuckDb,9:F2} {r.DuckDb / r.Ingest,6:F2}  " + string.Join(" ", Hosts.Select(h => $"{r.PeakKb[h] / 1024.0,17:F0}")));
        }
        if (results.Count >= 2)
        {
            var (small, large) = (results[0], results[^1]);
            Console.WriteLine($"peak memory {large.Scale}x / {small.Scale}x: " + string.Join(", ", Hosts.Select(h => $"{h} {(double)large.PeakKb[h] / small.PeakKb[h]:F2}")) + " (target: at most 1.3)");
        }
        return 0;
    }

    /// <summary>An MNIST-like CSV: <c>label,p0..p783</c>, pixels as integers 0-255, the sample's digits repeated in order.</summary>
    private static long WriteCsv(string path, IdxFiles digits, long rows)
    {
        var pixels = digits.Height * digits.Width;
        var lines = new string[digits.Rows];
        var line = new StringBuilder(pixels * 4);
        using (var writer = new StreamWriter(path, false, new UTF8Encoding(false), 1 << 20))
        {
            writer.Write("label");
            for (var p = 0; p < pixels; p++)
            {
                writer.Write(",p" + p.ToString(Inv));
            }
            writer.Write('\n');
            for (long r = 0; r < rows; r++)
            {
                var i = (int)(r % digits.Rows);
                if (lines[i] is null)
                {
                    line.Clear().Append(digits.Label(i));
                    foreach (var v in digits.Pixels(i))
                    {
                        line.Append(',').Append((int)MathF.Round(v * 255f));
                    }
                    lines[i] = line.Append('\n').ToString();
                }
                writer.Write(lines[i]);
            }
        }
        using (var written = new FileStream(path, FileMode.Open, FileAccess.ReadWrite))
        {
            written.Flush(flushToDisk: true); // on disk before anything is timed, so no run competes with its write-back
        }
        return new FileInfo(path).Length;
    }

    private static double DuckDbCopy(string csv, string parquet)
    {
        using var connection = new DuckDBConnection("DataSource=:memory:");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"COPY (SELECT * FROM read_csv('{csv.Replace("'", "''", StringComparison.Ordinal)}')) TO '{parquet.Replace("'", "''", StringComparison.Ordinal)}' (FORMAT parquet)";
        var clock = Stopwatch.StartNew();
        command.ExecuteNonQuery();
        var seconds = clock.Elapsed.TotalSeconds;
        File.Delete(parquet);
        return seconds;
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
        throw new InvalidOperationException($"No BigDataAI.sln above {AppContext.BaseDirectory}: run the benchmark from the repository's build of the CLI.");
    }

    private static int FreePort() => Demo.FreePort();

    private static async Task WaitForPortAsync(int port, Process process, string name, TimeSpan timeout, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"{name} exited with code {process.ExitCode} before it listened on port {port}.");
            }
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync("127.0.0.1", port, ct);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(200, ct);
            }
        }
        throw new TimeoutException($"{name} did not listen on port {port} within {timeout.TotalSeconds} s.");
    }

    private static Process Start(string file, IEnumerable<string> arguments, string directory, IReadOnlyDictionary<string, string> environment, string log)
    {
        var info = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = directory };
        foreach (var a in arguments)
        {
            info.ArgumentList.Add(a);
        }
        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("ConnectionStrings__", StringComparison.Ordinal) || k.StartsWith("OTEL_", StringComparison.Ordinal) || k.StartsWith("ASPNETCORE_", StringComparison.Ordinal)).ToList())
        {
            info.Environment.Remove(key);
        }
        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }
        var process = Process.Start(info)!;
        var output = new StreamWriter(log) { AutoFlush = true };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (output) { output.WriteLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (output) { output.WriteLine(e.Data); } } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static async Task StopAsync(Process process)
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
        process.Dispose();
    }

    /// <summary>A private RabbitMQ and Azurite for the run (the commands tests/BigDataAI.IntegrationTests/Infrastructure runs).</summary>
    private sealed class Servers : IAsyncDisposable
    {
        private readonly List<Process> _processes = [];
        private int _epmdPort;
        private Dictionary<string, string> _brokerEnvironment = [];

        public string Messaging { get; private set; } = "";
        public string Blobs { get; private set; } = "";

        public static async Task<Servers> StartAsync(string repo, string work, CancellationToken ct)
        {
            var servers = new Servers();
            try
            {
                var rabbit = Path.Combine("/tmp", $"bigdataai-bench-rabbitmq-{Guid.NewGuid():N}"[..40]);
                Directory.CreateDirectory(rabbit);
                if (!OperatingSystem.IsWindows())
                {
                    // The broker runs as user rabbitmq: its folder must be writable by everyone.
                    File.SetUnixFileMode(rabbit, (UnixFileMode)0x1FF);
                }
                var (amqp, dist, epmd) = (FreePort(), FreePort(), FreePort());
                servers._epmdPort = epmd;
                servers._brokerEnvironment = new Dictionary<string, string>
                {
                    ["RABBITMQ_NODENAME"] = $"bench-{Guid.NewGuid():N}"[..20] + "@localhost",
                    ["RABBITMQ_NODE_IP_ADDRESS"] = "127.0.0.1",
                    ["RABBITMQ_NODE_PORT"] = amqp.ToString(Inv),
                    ["RABBITMQ_DIST_PORT"] = dist.ToString(Inv),
                    ["RABBITMQ_MNESIA_BASE"] = Path.Combine(rabbit, "mnesia"),
                    ["RABBITMQ_LOG_BASE"] = Path.Combine(rabbit, "log"),
                    ["RABBITMQ_ENABLED_PLUGINS_FILE"] = Path.Combine(rabbit, "enabled_plugins"),
                    ["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"] = "-kernel inet_dist_use_interface {127,0,0,1}",
                    ["ERL_EPMD_PORT"] = epmd.ToString(Inv),
                    ["ERL_EPMD_ADDRESS"] = "127.0.0.1",
                };
                var broker = Start("rabbitmq-server", [], rabbit, servers._brokerEnvironment, Path.Combine(work, "rabbitmq.log"));
                servers._processes.Add(broker);
                var blobPort = FreePort();
                var azuriteFolder = Path.Combine(work, "azurite");
                Directory.CreateDirectory(azuriteFolder);
                var azurite = Start(Path.Combine(repo, "tools", "node_modules", ".bin", "azurite-blob"),
                    ["--silent", "--location", azuriteFolder, "--blobHost", "127.0.0.1", "--blobPort", blobPort.ToString(Inv), "--skipApiVersionCheck"],
                    work, new Dictionary<string, string>(), Path.Combine(work, "azurite.log"));
                servers._processes.Add(azurite);
                await WaitForPortAsync(blobPort, azurite, "azurite-blob", TimeSpan.FromSeconds(60), ct);
                await WaitForPortAsync(amqp, broker, "rabbitmq-server", TimeSpan.FromSeconds(120), ct);
                servers.Messaging = $"amqp://guest:guest@127.0.0.1:{amqp}";
                servers.Blobs = $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AzuriteKey};BlobEndpoint=http://127.0.0.1:{blobPort}/devstoreaccount1;";
                return servers;
            }
            catch
            {
                await servers.DisposeAsync();
                throw;
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (_brokerEnvironment.TryGetValue("RABBITMQ_NODENAME", out var node))
            {
                // The broker runs as user rabbitmq under a shell of its own: killing the tree from here misses it.
                try
                {
                    var info = new ProcessStartInfo("rabbitmqctl", ["-n", node, "stop"]) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
                    foreach (var (key, value) in _brokerEnvironment)
                    {
                        info.Environment[key] = value;
                    }
                    using var ctl = Process.Start(info)!;
                    using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                    await ctl.WaitForExitAsync(wait.Token);
                }
                catch (Exception e) when (e is System.ComponentModel.Win32Exception or OperationCanceledException)
                {
                }
            }
            foreach (var process in _processes)
            {
                await StopAsync(process);
            }
            if (_epmdPort != 0)
            {
                // The broker's private epmd outlives it (it daemonizes): stop it by its port.
                try
                {
                    using var epmd = Process.Start(new ProcessStartInfo("epmd", ["-port", _epmdPort.ToString(Inv), "-kill"]) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true });
                    await epmd!.WaitForExitAsync();
                }
                catch (System.ComponentModel.Win32Exception)
                {
                }
            }
        }
    }

    /// <summary>The service hosts, each its own process, configured through the environment as when deployed.</summary>
    private sealed class Platform : IAsyncDisposable
    {
        private readonly Dictionary<string, (Process Process, int Port)> _hosts = [];

        public string Address(string host) => $"http://127.0.0.1:{_hosts[host].Port}";

        public static async Task<Platform> StartAsync(IReadOnlyDictionary<string, string> dlls, Servers servers, string container, int heapLimitMb, CancellationToken ct)
        {
            var platform = new Platform();
            try
            {
                foreach (var (name, dll) in dlls)
                {
                    var port = FreePort();
                    var environment = new Dictionary<string, string>
                    {
                        ["ConnectionStrings__messaging"] = servers.Messaging,
                        ["ConnectionStrings__blobs"] = servers.Blobs,
                        ["Storage__Container"] = container,
                        ["DOTNET_ENVIRONMENT"] = "Production",
                        ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}",
                    };
                    if (heapLimitMb > 0 && name is "Labeling" or "TrainingWorker")
                    {
                        environment["DOTNET_GCHeapHardLimit"] = "0x" + ((long)heapLimitMb << 20).ToString("X", Inv);
                    }
                    var process = Start("dotnet", [dll], Path.GetDirectoryName(dll)!, environment, Path.Combine(Path.GetTempPath(), $"{container}-{name}.log"));
                    platform._hosts[name] = (process, port);
                }
                foreach (var (name, (process, port)) in platform._hosts)
                {
                    await WaitForPortAsync(port, process, name, TimeSpan.FromSeconds(120), ct);
                }
                return platform;
            }
            catch
            {
                await platform.DisposeAsync();
                throw;
            }
        }

        /// <summary>Each host's peak resident memory so far: VmHWM in /proc/&lt;pid&gt;/status, in kB.</summary>
        public Dictionary<string, long> PeakMemoryKb() => _hosts.ToDictionary(h => h.Key, h =>
        {
            var line = File.ReadLines($"/proc/{h.Value.Process.Id}/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
            return long.Parse(line["VmHWM:".Length..].Trim().Split(' ')[0], Inv);
        });

        public async ValueTask DisposeAsync()
        {
            foreach (var (process, _) in _hosts.Values)
            {
                await StopAsync(process);
            }
        }
    }
}
