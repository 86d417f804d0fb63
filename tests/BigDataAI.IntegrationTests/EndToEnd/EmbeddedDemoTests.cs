using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Parquet;
using Xunit.Abstractions;

namespace BigDataAI.IntegrationTests.EndToEnd;

/// <summary>
/// The README's main command in embedded mode: the CLI process runs all four modules in one process (in-memory
/// messaging, a local folder), ingests the shipped sample, trains, evaluates and answers Predict. Run with the MLP
/// and two epochs to keep it short; the demo's CNN default is the same code path.
/// </summary>
public sealed partial class EmbeddedDemoTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Demo_ingests_trains_evaluates_and_predicts_in_one_process()
    {
        var root = HostBuilds.RepositoryRoot();
        var (configuration, tfm) = HostBuilds.OfTestAssembly();
        var cli = Path.Combine(root, "services", "Cli", "bin", configuration, tfm, "bigdataai.dll");
        Assert.True(File.Exists(cli), $"{cli} does not exist: build it with `dotnet build services/Cli/BigDataAI.Cli.csproj -c {configuration}`.");
        var data = Path.Combine(Path.GetTempPath(), "bigdataai-demo-" + Guid.NewGuid().ToString("N"));
        try
        {
            var start = new ProcessStartInfo("dotnet")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = root,
            };
            foreach (var arg in new[] { cli, "demo", "--data", data, "--model", "mlp", "--epochs", "2" })
            {
                start.ArgumentList.Add(arg);
            }
            var text = new StringBuilder();
            using var process = new Process { StartInfo = start };
            process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (text) { text.AppendLine(e.Data); } } };
            process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (text) { text.AppendLine("stderr: " + e.Data); } } };
            process.Start();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException("bigdataai demo did not finish within 4 minutes:\n" + text);
            }
            process.WaitForExit();
            var log = text.ToString();
            output.WriteLine(log);

            Assert.Equal(0, process.ExitCode);
            Assert.Contains("Stored mnist v1: 10,000 rows, 10 classes", log);
            Assert.Contains("Columns: pixels (tensor[28x28]), label (int64, label)", log);
            var accuracy = double.Parse(Accuracy().Match(log).Groups[1].Value, CultureInfo.InvariantCulture);
            Assert.InRange(accuracy, 85.0, 100.0);
            Assert.Matches(@"Predict: 10 rows answered by model mnist@1 \(mnist-v1-mlp-[0-9a-f]{10}\)", log);
            Assert.True(File.Exists(Path.Combine(data, "store", "datasets", "mnist", "v000001", "manifest.json")));
            Assert.True(File.Exists(Path.Combine(data, "store", "datasets", "mnist", "v000001", "labeled", "manifest.json")));
            // The ten predicted rows are the first ten of the held-out test split, by their row in the sample file.
            Assert.Contains("Predicting 10 rows of the held-out test split", log);
            var predicted = PredictedRow().Matches(log).Select(m => long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).ToList();
            var testRows = await TestSplitRowsAsync(Path.Combine(data, "store", "datasets", "mnist", "v000001", "labeled"));
            Assert.Equal(testRows.Take(10), predicted);
            Assert.Single(Directory.GetFiles(Path.Combine(data, "store", "models"), "model.json", SearchOption.AllDirectories));
            Assert.Equal(2, Directory.GetFiles(Path.Combine(data, "store", "jobs"), "epoch-*.ckpt", SearchOption.AllDirectories).Length);
            // Curves, confusion matrix, ROC/PR and calibration.
            Assert.Equal(["calibration", "confusion", "curves", "roc-pr"],
                Directory.GetFiles(Path.Combine(data, "charts"), "*.png").Select(f => System.Text.RegularExpressions.Regex.Replace(Path.GetFileNameWithoutExtension(f), "^mnist-v1-mlp-[0-9a-f]{10}-", "")).Order(StringComparer.Ordinal));
        }
        finally
        {
            if (Directory.Exists(data))
            {
                Directory.Delete(data, recursive: true);
            }
        }
    }

    [GeneratedRegex(@"Held-out test accuracy: ([0-9.]+) %")]
    private static partial Regex Accuracy();

    [GeneratedRegex(@"^row ([0-9]+): predicted ", RegexOptions.Multiline)]
    private static partial Regex PredictedRow();

    /// <summary>The <c>_row</c> column (index in the uploaded file) of the labeled version's test shards, in order.</summary>
    private static async Task<List<long>> TestSplitRowsAsync(string labeledFolder)
    {
        var rows = new List<long>();
        foreach (var path in Directory.GetFiles(labeledFolder, "test-*.parquet").Order(StringComparer.Ordinal))
        {
            await using var file = File.OpenRead(path);
            await using var reader = await ParquetReader.CreateAsync(file);
            var field = reader.Schema.GetDataFields().Single(f => f.Name == "_row");
            for (var g = 0; g < reader.RowGroupCount; g++)
            {
                using var group = reader.OpenRowGroupReader(g);
                var ids = new long[group.RowCount];
                await group.ReadAsync<long>(field, ids, null);
                rows.AddRange(ids);
            }
        }
        return rows;
    }
}
