using System.Xml.Linq;

namespace BigDataAI.UnitTests.Deployment;

/// <summary>
/// The AppHost's deployment file set (AppHost/Deploy/, built with -p:BigDataAIDeploy=true) needs packages the project's
/// feed does not serve, so nothing compiles it where these tests run. Its switch, its pins and the fixes that make the
/// Kubernetes chart one a cluster accepts are therefore checked as text: a deleted or renamed fix fails here.
/// docs/decisions/0012-apphost-deployment-file-set.md says what was compiled and published by hand, and how.
/// </summary>
public sealed class DeployFileSetTests
{
    private static readonly string AppHostFolder = Path.Combine(DeploymentFiles.RepositoryRoot, "AppHost");
    private static readonly string DeployFolder = Path.Combine(AppHostFolder, "Deploy");

    private static string Deploy(string file) => File.ReadAllText(Path.Combine(DeployFolder, file));

    [Fact]
    public void The_switch_compiles_either_the_unavailable_stub_or_the_deploy_folder_with_its_three_packages()
    {
        var project = XDocument.Load(Path.Combine(AppHostFolder, "BigDataAI.AppHost.csproj"));
        var groups = project.Descendants("ItemGroup").ToList();

        var off = Assert.Single(groups, g => g.Attribute("Condition")?.Value.Replace(" ", "") == "'$(BigDataAIDeploy)'!='true'");
        Assert.Contains(off.Elements("Compile"), c => c.Attribute("Remove")?.Value == "Deploy/**");

        var on = Assert.Single(groups, g => g.Attribute("Condition")?.Value.Replace(" ", "") == "'$(BigDataAIDeploy)'=='true'");
        Assert.Contains(on.Elements("Compile"), c => c.Attribute("Remove")?.Value == "Publishing.Unavailable.cs");
        Assert.Equal(
            ["Aspire.Hosting.Azure.AppContainers", "Aspire.Hosting.Azure.Storage", "Aspire.Hosting.Kubernetes"],
            on.Elements("PackageReference").Select(p => p.Attribute("Include")!.Value).Order(StringComparer.Ordinal));

        // Both files define the same class with the same three members AppHost.cs and Services.cs call.
        var unavailable = File.ReadAllText(Path.Combine(AppHostFolder, "Publishing.Unavailable.cs"));
        var publishing = Deploy("Publishing.cs");
        foreach (var member in new[]
                 {
                     "internal static class Publishing",
                     "public static Infrastructure AddPublishedInfrastructure(IDistributedApplicationBuilder builder)",
                     "public static IResourceBuilder<ProjectResource> ConfigureForPublishing(this IResourceBuilder<ProjectResource> project)",
                     "public static IResourceBuilder<ProjectResource> PublishOnGpus(this IResourceBuilder<ProjectResource> worker, IResourceBuilder<ProjectResource> controlPlane)",
                 })
        {
            Assert.Contains(member, unavailable, StringComparison.Ordinal);
            Assert.Contains(member, publishing, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void The_deploy_packages_are_pinned_exactly_to_the_served_aspire_release()
    {
        var props = XDocument.Load(Path.Combine(DeploymentFiles.RepositoryRoot, "Directory.Packages.props"));
        var versions = props.Descendants("PackageVersion").ToDictionary(p => p.Attribute("Include")!.Value, p => p.Attribute("Version")!.Value);

        var release = versions["Aspire.Hosting.AppHost"];
        // Exact ranges ([x]): a bare "x" means "x or higher", and a higher build would restore silently (NU1603 is a
        // warning here) instead of failing.
        Assert.Equal($"[{release}]", versions["Aspire.Hosting.Azure.Storage"]);
        Assert.Equal($"[{release}]", versions["Aspire.Hosting.Azure.AppContainers"]);
        // The Kubernetes publisher ships as a prerelease of the same release only: an exact one, never a floating "-*".
        Assert.Matches($@"^\[{System.Text.RegularExpressions.Regex.Escape(release)}-preview\.1\.\d{{5}}\.\d+\]$", versions["Aspire.Hosting.Kubernetes"]);
        Assert.DoesNotContain(versions.Values, v => v.Contains('*', StringComparison.Ordinal));
    }

    [Fact]
    public void Every_publish_path_refuses_a_cpu_worker_image()
    {
        var publishing = Deploy("Publishing.cs");
        var onGpus = publishing[publishing.IndexOf("PublishOnGpus(this", StringComparison.Ordinal)..];
        var guard = onGpus.IndexOf("RequireCudaImage(builder, target);", StringComparison.Ordinal);
        Assert.True(guard > 0, "PublishOnGpus does not call RequireCudaImage");
        // Before either target is configured, not inside one of them.
        Assert.True(guard < onGpus.IndexOf("PublishOnKubernetesGpus", StringComparison.Ordinal));
        Assert.True(guard < onGpus.IndexOf("PublishOnContainerAppsGpus", StringComparison.Ordinal));
        Assert.Contains("builder.Configuration[TorchBundleKey], \"cuda\"", publishing, StringComparison.Ordinal);
        Assert.Contains("TorchBundleKey = \"BigDataAITorchBundle\"", publishing, StringComparison.Ordinal);
    }

    [Fact]
    public void The_kubernetes_chart_gets_upper_case_probe_schemes_keda_owned_replicas_and_secret_connection_strings()
    {
        var kubernetes = Deploy("Kubernetes.cs");

        // microsoft/aspire#18271: the publisher writes the endpoint's scheme ("http"); the API accepts HTTP or HTTPS only.
        Assert.Contains("httpGet.Scheme = KubernetesProbeScheme(httpGet.Scheme);", kubernetes, StringComparison.Ordinal);
        Assert.Contains("scheme.ToUpperInvariant()", kubernetes, StringComparison.Ordinal);
        foreach (var probe in new[] { "container.LivenessProbe", "container.ReadinessProbe", "container.StartupProbe" })
        {
            Assert.Contains(probe, kubernetes, StringComparison.Ordinal);
        }

        // The publisher sets spec.replicas = 1 on every Deployment; KEDA must own the GPU workers' count.
        Assert.Contains("workload.Spec.Replicas = null;", kubernetes, StringComparison.Ordinal);
        Assert.Contains("KedaScaledObject.ForWorkers(", kubernetes, StringComparison.Ordinal);
        Assert.Contains("MinReplicaCount = 0", Deploy("KedaScaledObject.cs"), StringComparison.Ordinal);

        // One Secret, one key per connection string, the same Secret deploy/kubernetes reads; no parameter to ask for.
        Assert.Contains("ConnectionSecretName = \"bigdataai-connections\"", kubernetes, StringComparison.Ordinal);
        Assert.Contains("SecretKeyRef = new SecretKeySelectorV1", kubernetes, StringComparison.Ordinal);
        Assert.Contains("context.EnvironmentVariables.Remove(ConnectionStringVariable(name))", kubernetes, StringComparison.Ordinal);
        Assert.DoesNotContain("AddConnectionString(", kubernetes, StringComparison.Ordinal);
        Assert.DoesNotContain("AddParameter(", kubernetes, StringComparison.Ordinal);
        Assert.Contains("bigdataai-connections", File.ReadAllText(Path.Combine(DeploymentFiles.KubernetesFolder, "config.yaml")), StringComparison.Ordinal);

        // GPU scheduling, as in deploy/kubernetes/training-worker-gpu.yaml.
        Assert.Contains("GpuResourceName = \"nvidia.com/gpu\"", kubernetes, StringComparison.Ordinal);
        Assert.Contains("Limits[GpuResourceName] = \"1\"", kubernetes, StringComparison.Ordinal);
        Assert.Contains("NodeSelector[GpuNodeLabel]", kubernetes, StringComparison.Ordinal);
        Assert.Contains("Tolerations.Add(", kubernetes, StringComparison.Ordinal);
        Assert.Contains("QueuePath = \"/training/queue\"", Deploy("GpuWorkers.cs"), StringComparison.Ordinal);
    }

    [Fact]
    public void Container_apps_put_the_workers_in_a_serverless_gpu_profile_scaled_on_the_queue()
    {
        var aca = Deploy("ContainerApps.cs");
        Assert.Contains("AddAzureContainerAppEnvironment(", aca, StringComparison.Ordinal);
        Assert.Contains("\"Consumption-GPU-NC8as-T4\"", aca, StringComparison.Ordinal);
        Assert.Contains("WorkloadProfiles.Add(", aca, StringComparison.Ordinal);
        Assert.Contains("app.WorkloadProfileName = GpuProfileName", aca, StringComparison.Ordinal);
        Assert.Contains("app.Template.Scale.MinReplicas = 0", aca, StringComparison.Ordinal);
        Assert.Contains("\"metrics-api\"", aca, StringComparison.Ordinal);
        Assert.Contains(".AddBlobs(\"blobs\")", aca, StringComparison.Ordinal);
        Assert.Contains("AddRabbitMQ(\"messaging\")", aca, StringComparison.Ordinal);
    }
}
