using System.Text.Json;

namespace BigDataAI.IntegrationTests.EndToEnd;

/// <summary>
/// Which hosts carry TorchSharp, read from each host's build output (its deps.json: what the runtime may load). The
/// control plane, ingestion and labeling never load libtorch, and now nothing in their dependency graph could: only the
/// training worker and inference run models.
/// </summary>
public sealed class HostDependencyTests
{
    [Theory]
    [InlineData("Training", false)]
    [InlineData("Ingestion", false)]
    [InlineData("Labeling", false)]
    [InlineData("TrainingWorker", true)]
    [InlineData("Inference", true)]
    public void Only_the_worker_and_inference_hosts_carry_TorchSharp(string service, bool runsModels)
    {
        var dll = HostBuilds.Dlls([service])[service];
        var depsFile = Path.ChangeExtension(dll, ".deps.json");
        using var deps = JsonDocument.Parse(File.ReadAllText(depsFile));
        var libraries = deps.RootElement.GetProperty("libraries").EnumerateObject().Select(l => l.Name.Split('/')[0]).ToList();
        var torch = libraries.Where(l => l.StartsWith("TorchSharp", StringComparison.OrdinalIgnoreCase) || l.StartsWith("libtorch", StringComparison.OrdinalIgnoreCase) || l == "BigDataAI.Models").ToList();
        if (runsModels)
        {
            Assert.Contains("TorchSharp", torch);
            Assert.Contains("BigDataAI.Models", torch);
        }
        else
        {
            Assert.True(torch.Count == 0, $"{depsFile} carries {string.Join(", ", torch)}");
            if (service == "Training")
            {
                Assert.Contains("BigDataAI.ModelCatalog", libraries); // what it reads of models instead
            }
            Assert.False(File.Exists(Path.Combine(Path.GetDirectoryName(dll)!, "TorchSharp.dll")), $"TorchSharp.dll is in {Path.GetDirectoryName(dll)}");
        }
    }
}
