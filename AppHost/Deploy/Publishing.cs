using System.Globalization;

namespace Aspire.Hosting;

/// <summary>Where a publish (azd up, aspire publish/deploy, dotnet run -- --operation publish) puts the application.</summary>
internal enum PublishTarget
{
    /// <summary>Azure Container Apps, with a serverless GPU workload profile for the training workers (the default).</summary>
    ContainerApps,

    /// <summary>A Helm chart for any Kubernetes cluster with the NVIDIA device plugin and KEDA.</summary>
    Kubernetes,
}

/// <summary>
/// The deployment file set's publish targets (compiled with -p:BigDataAIDeploy=true instead of Publishing.Unavailable.cs).
/// One compute environment is added per publish, chosen by <see cref="PublishTargetKey"/>: with both, every resource would
/// have to name its environment. Each target lives in a file of its own (ContainerApps.cs, Kubernetes.cs); this class only
/// chooses, and holds what both share: the GPU workers' settings and the CUDA image guard.
/// </summary>
internal static class Publishing
{
    /// <summary>Configuration key (an environment variable or <c>--BIGDATAAI_PUBLISH_TARGET k8s</c>): <c>aca</c> (default) or <c>k8s</c>.</summary>
    public const string PublishTargetKey = "BIGDATAAI_PUBLISH_TARGET";

    /// <summary>
    /// MSBuild property, read from the environment by every <c>dotnet publish</c> azd or Aspire runs, that gives the worker
    /// image the CUDA libtorch bundle (services/Training/BigDataAI.TrainingWorker.Host/Gpu.targets).
    /// </summary>
    public const string TorchBundleKey = "BigDataAITorchBundle";

    /// <summary>Reads <see cref="PublishTargetKey"/>.</summary>
    /// <exception cref="DistributedApplicationException">The value is neither target.</exception>
    public static PublishTarget ReadTarget(IDistributedApplicationBuilder builder)
    {
        var value = builder.Configuration[PublishTargetKey];
        return value?.Trim().ToLowerInvariant() switch
        {
            null or "" or "aca" or "containerapps" => PublishTarget.ContainerApps,
            "k8s" or "kubernetes" => PublishTarget.Kubernetes,
            _ => throw new DistributedApplicationException(
                $"{PublishTargetKey} is '{value}'; use 'aca' (Azure Container Apps, the default) or 'k8s' (a Helm chart for Kubernetes)."),
        };
    }

    /// <summary>
    /// Adds the compute environment of the publish target and the two resources every service references: the broker
    /// (<c>messaging</c>) and the blob store (<c>blobs</c>). Called in publish mode only.
    /// </summary>
    public static Infrastructure AddPublishedInfrastructure(IDistributedApplicationBuilder builder) =>
        ReadTarget(builder) switch
        {
            PublishTarget.Kubernetes => KubernetesPublishing.AddInfrastructure(builder),
            _ => ContainerAppsPublishing.AddInfrastructure(builder),
        };

    /// <summary>What every service needs on the publish target (nothing locally).</summary>
    public static IResourceBuilder<ProjectResource> ConfigureForPublishing(this IResourceBuilder<ProjectResource> project)
    {
        if (!project.ApplicationBuilder.ExecutionContext.IsPublishMode)
        {
            return project;
        }

        return ReadTarget(project.ApplicationBuilder) switch
        {
            PublishTarget.Kubernetes => project.ConfigureForKubernetes(),
            _ => project,
        };
    }

    /// <summary>
    /// Publishes the training workers on GPUs, scaled on the control plane's queue between 0 and
    /// <see cref="GpuWorkers.MaxReplicas"/> replicas: on Container Apps in the GPU workload profile, on Kubernetes with an
    /// <c>nvidia.com/gpu</c> limit and a KEDA ScaledObject. Nothing changes locally.
    /// </summary>
    /// <param name="worker">The training worker project.</param>
    /// <param name="controlPlane">The training control plane, whose HTTP/1.1 endpoint serves <see cref="GpuWorkers.QueuePath"/>.</param>
    /// <exception cref="DistributedApplicationException"><see cref="TorchBundleKey"/> is not <c>cuda</c>.</exception>
    public static IResourceBuilder<ProjectResource> PublishOnGpus(this IResourceBuilder<ProjectResource> worker, IResourceBuilder<ProjectResource> controlPlane)
    {
        var builder = worker.ApplicationBuilder;
        if (!builder.ExecutionContext.IsPublishMode)
        {
            return worker;
        }

        var target = ReadTarget(builder);
        RequireCudaImage(builder, target);

        // A GPU replica must train on the GPU: with a CPU-only image the worker then fails at start instead of training
        // slowly on an expensive GPU node.
        worker
            .WithEnvironment("Training__Worker__Device", "cuda")
            .WithEnvironment("Training__Worker__Slots", GpuWorkers.Slots.ToString(CultureInfo.InvariantCulture));

        return target switch
        {
            PublishTarget.Kubernetes => worker.PublishOnKubernetesGpus(controlPlane),
            _ => worker.PublishOnContainerAppsGpus(controlPlane),
        };
    }

    /// <summary>
    /// The GPU image guard, on every publish path. azd and Aspire build the worker image with a plain
    /// <c>dotnet publish /t:PublishContainer</c> (no publish profile), and a chart's images are built the same way or by
    /// hand, so the CUDA bundle can only come from the environment both inherit from the shell. A CPU-only image would
    /// start on the GPU node and then fail (Training__Worker__Device=cuda) or, worse, be mistaken for a working GPU worker.
    /// </summary>
    private static void RequireCudaImage(IDistributedApplicationBuilder builder, PublishTarget target)
    {
        if (string.Equals(builder.Configuration[TorchBundleKey], "cuda", StringComparison.OrdinalIgnoreCase))
        {
            return;
        }

        var where = target == PublishTarget.Kubernetes
            ? "on GPU nodes (nvidia.com/gpu) of the Kubernetes chart"
            : $"in the Container Apps GPU profile '{ContainerAppsPublishing.GpuProfileType}'";
        throw new DistributedApplicationException(
            $"The training workers run {where}, but their image would carry the CPU libtorch. Set the environment variable " +
            $"{TorchBundleKey}=cuda for this publish (azd up, aspire publish/deploy, dotnet run -- --operation publish) and for " +
            "the image build; it reaches dotnet publish as an MSBuild property.");
    }
}
