using System.Xml.Linq;

namespace BigDataAI.UnitTests.Deployment;

/// <summary>
/// The GPU image's MSBuild pieces (services/Training/BigDataAI.TrainingWorker.Host): the publish profile turns on the
/// CUDA bundle, Gpu.targets swaps the packages only then, and the CUDA bundle matches the TorchSharp version the rest
/// of the solution uses. The restore behaviour itself (a profile given to dotnet publish reaches restore) was verified
/// by hand; AppHost/README.md says how.
/// </summary>
public sealed class GpuPublishProfileTests
{
    private static readonly string WorkerFolder = Path.Combine(DeploymentFiles.RepositoryRoot, "services", "Training", "BigDataAI.TrainingWorker.Host");

    [Fact]
    public void The_gpu_profile_builds_a_container_with_the_cuda_bundle()
    {
        var profile = XDocument.Load(Path.Combine(WorkerFolder, "Properties", "PublishProfiles", "gpu.pubxml"));
        string? Property(string name) => profile.Descendants(name).SingleOrDefault()?.Value;

        Assert.Equal("cuda", Property("BigDataAITorchBundle"));
        Assert.Equal("Container", Property("WebPublishMethod"));
        Assert.Equal("linux-x64", Property("RuntimeIdentifier"));
        Assert.False(string.IsNullOrEmpty(Property("ContainerRepository")));
    }

    [Fact]
    public void Gpu_targets_swaps_cpu_libtorch_for_the_cuda_bundle_of_the_same_torchsharp_only_for_cuda()
    {
        var targets = XDocument.Load(Path.Combine(WorkerFolder, "Gpu.targets"));
        var cudaGroups = targets.Root!.Elements("ItemGroup")
            .Where(g => (string?)g.Attribute("Condition") == "'$(BigDataAITorchBundle)' == 'cuda'")
            .ToList();

        var items = cudaGroups.SelectMany(g => g.Elements()).ToList();
        Assert.Contains(items, i => i.Name == "PackageReference" && (string?)i.Attribute("Remove") == "libtorch-cpu-linux-x64");
        Assert.Contains(items, i => i.Name == "PackageReference" && (string?)i.Attribute("Include") == "TorchSharp-cuda-linux");
        var cudaVersion = items.Single(i => i.Name == "PackageVersion" && (string?)i.Attribute("Include") == "TorchSharp-cuda-linux").Attribute("Version")!.Value;

        // No package reference outside the cuda condition: a CPU build and restore never see a GPU package.
        Assert.DoesNotContain(targets.Root.Elements("ItemGroup").Except(cudaGroups).SelectMany(g => g.Elements()),
            i => i.Name == "PackageReference" || i.Name == "PackageVersion");

        // TorchSharp-cuda-linux X depends on TorchSharp X: it must be the version Directory.Packages.props pins.
        var central = XDocument.Load(Path.Combine(DeploymentFiles.RepositoryRoot, "Directory.Packages.props"));
        var torchSharp = central.Descendants("PackageVersion").Single(p => (string?)p.Attribute("Include") == "TorchSharp").Attribute("Version")!.Value;
        Assert.Equal(torchSharp, cudaVersion);
    }

    [Fact]
    public void The_worker_project_imports_gpu_targets_last_once_it_exists()
    {
        var project = Path.Combine(WorkerFolder, "BigDataAI.TrainingWorker.Host.csproj");
        Assert.True(File.Exists(Path.Combine(WorkerFolder, "Gpu.targets")));
        if (!File.Exists(project))
        {
            // The worker host is being written on another branch; the AppHost already references it.
            Assert.Contains("BigDataAI.TrainingWorker.Host.csproj", File.ReadAllText(Path.Combine(DeploymentFiles.RepositoryRoot, "AppHost", "BigDataAI.AppHost.csproj")), StringComparison.Ordinal);
            return;
        }

        // The Remove of libtorch-cpu-linux-x64 in Gpu.targets only works after the project's own PackageReference.
        var last = XDocument.Load(project).Root!.Elements().Last();
        Assert.Equal("Import", last.Name.LocalName);
        Assert.Equal("Gpu.targets", (string?)last.Attribute("Project"));
    }
}
