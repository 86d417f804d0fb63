using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace BigDataAI.UnitTests.Deployment;

/// <summary>
/// The AppHost cannot be built where these tests run (no Aspire package is served there; it is kept out of
/// BigDataAI.sln), so its GPU publish settings are checked as text: a deleted or renamed setting fails here even though
/// nothing compiles the AppHost. AppHost/README.md says how the code itself was type-checked.
/// </summary>
public sealed partial class AppHostSourceTests
{
    private static readonly string AppHostFolder = Path.Combine(DeploymentFiles.RepositoryRoot, "AppHost");
    private static readonly string Program = File.ReadAllText(Path.Combine(AppHostFolder, "AppHost.cs"));
    private static readonly string Extensions = File.ReadAllText(Path.Combine(AppHostFolder, "AppHostExtensions.cs"));

    [Fact]
    public void The_apphost_registers_the_training_workers_and_publishes_them_on_gpus()
    {
        var worker = WorkerRegistration().Match(Program);
        Assert.True(worker.Success, "AppHost.cs does not add Projects.BigDataAI_TrainingWorker_Host as \"training-worker\"");

        // The worker's builder chain, up to the statement's end, references both platform resources and publishes on GPUs.
        var chain = Program[worker.Index..Program.IndexOf(';', worker.Index)];
        Assert.Contains(".WithReference(messaging)", chain, StringComparison.Ordinal);
        Assert.Contains(".WithReference(blobs)", chain, StringComparison.Ordinal);
        Assert.Contains(".PublishOnGpus(", chain, StringComparison.Ordinal);

        Assert.Contains("AddComputeEnvironment()", Program, StringComparison.Ordinal);
    }

    [Fact]
    public void Gpu_publish_settings_cover_container_apps_and_kubernetes()
    {
        // Azure Container Apps: a serverless GPU workload profile on the environment, the worker app placed on it.
        Assert.Contains("AddAzureContainerAppEnvironment(", Extensions, StringComparison.Ordinal);
        Assert.Contains("\"Consumption-GPU-NC8as-T4\"", Extensions, StringComparison.Ordinal);
        Assert.Contains("WorkloadProfiles.Add(", Extensions, StringComparison.Ordinal);
        Assert.Contains("app.WorkloadProfileName = AcaGpuProfileName", Extensions, StringComparison.Ordinal);
        Assert.Contains("PublishAsAzureContainerApp(", Extensions, StringComparison.Ordinal);
        Assert.Contains("\"metrics-api\"", Extensions, StringComparison.Ordinal);

        // Kubernetes: the GPU limit, node selector and toleration, and a KEDA ScaledObject.
        Assert.Contains("AddKubernetesEnvironment(", Extensions, StringComparison.Ordinal);
        Assert.Contains("PublishAsKubernetesService(", Extensions, StringComparison.Ordinal);
        Assert.Contains("\"nvidia.com/gpu\"", Extensions, StringComparison.Ordinal);
        Assert.Contains("Limits[GpuResourceName] = \"1\"", Extensions, StringComparison.Ordinal);
        Assert.Contains("NodeSelector[GpuNodeLabel]", Extensions, StringComparison.Ordinal);
        Assert.Contains("Tolerations.Add(", Extensions, StringComparison.Ordinal);
        Assert.Contains("\"keda.sh/v1alpha1\", \"ScaledObject\"", Extensions, StringComparison.Ordinal);

        // Both read the same queue as deploy/kubernetes.
        Assert.Contains("\"/training/queue\"", Extensions, StringComparison.Ordinal);
    }

    [Fact]
    public void The_apphost_project_references_the_worker_and_both_publishers()
    {
        var project = XDocument.Load(Path.Combine(AppHostFolder, "BigDataAI.AppHost.csproj"));
        var sdkVersion = project.Root!.Attribute("Sdk")!.Value.Split('/')[1];

        var references = project.Descendants("ProjectReference").Select(r => r.Attribute("Include")!.Value.Replace('\\', '/')).ToList();
        Assert.Contains("../services/Training/BigDataAI.TrainingWorker.Host/BigDataAI.TrainingWorker.Host.csproj", references);
        foreach (var reference in references.Where(r => !r.Contains("TrainingWorker", StringComparison.Ordinal)))
        {
            Assert.True(File.Exists(Path.Combine(AppHostFolder, reference)), $"the AppHost references {reference}, which does not exist");
        }

        var packages = project.Descendants("PackageReference").ToDictionary(p => p.Attribute("Include")!.Value, p => p.Attribute("Version")!.Value);
        Assert.Equal(sdkVersion, packages["Aspire.Hosting.Azure.AppContainers"]);
        // The Kubernetes publisher ships as a prerelease of the same version.
        Assert.StartsWith(sdkVersion + "-", packages["Aspire.Hosting.Kubernetes"], StringComparison.Ordinal);
    }

    [GeneratedRegex("""AddProject<Projects\.BigDataAI_TrainingWorker_Host>\("training-worker"\)""")]
    private static partial Regex WorkerRegistration();
}
