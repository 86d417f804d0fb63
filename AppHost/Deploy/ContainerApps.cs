using System.Globalization;
using Aspire.Hosting.Azure;
using Azure.Provisioning;
using Azure.Provisioning.AppContainers;

namespace Aspire.Hosting;

/// <summary>
/// Azure Container Apps (azd up, aspire deploy): a Container Apps environment with a serverless GPU workload profile beside
/// Aspire's Consumption one, RabbitMQ as a container app, and an Azure Storage account whose blob service the apps reach
/// with their managed identity.
/// </summary>
/// <remarks>
/// Needs Aspire.Hosting.Azure.AppContainers and Aspire.Hosting.Azure.Storage, which depend on Azure.Provisioning*; none of
/// them is served on the project's machines, so this file has never been compiled there (docs/decisions/0012).
/// </remarks>
internal static class ContainerAppsPublishing
{
    /// <summary>
    /// Azure Container Apps serverless GPU profile: NVIDIA T4, whose replicas take 8 vCPU and 56 GiB (the sizes the
    /// Container Apps serverless GPU tutorial gives for this profile). The A100 profile is "Consumption-GPU-NC24-A100".
    /// </summary>
    public const string GpuProfileName = "gpu";
    public const string GpuProfileType = "Consumption-GPU-NC8as-T4";
    public const double GpuReplicaCpu = 8;
    public const string GpuReplicaMemory = "56Gi";

    public static Infrastructure AddInfrastructure(IDistributedApplicationBuilder builder)
    {
        builder.AddAzureContainerAppEnvironment("aca")
            .ConfigureInfrastructure(infra =>
            {
                var environment = infra.GetProvisionableResources().OfType<ContainerAppManagedEnvironment>().Single();
                environment.WorkloadProfiles.Add(new BicepValue<ContainerAppWorkloadProfile>(new ContainerAppWorkloadProfile
                {
                    Name = GpuProfileName,
                    WorkloadProfileType = GpuProfileType,
                }));
            });

        var messaging = builder.AddRabbitMQ("messaging");
        var blobs = builder.AddAzureStorage("storage").AddBlobs("blobs");
        return new Infrastructure(messaging, blobs);
    }

    public static IResourceBuilder<ProjectResource> PublishOnContainerAppsGpus(this IResourceBuilder<ProjectResource> worker, IResourceBuilder<ProjectResource> controlPlane)
    {
        var queueUrl = QueueUrl(controlPlane);
        return worker.PublishAsAzureContainerApp((infra, app) =>
        {
            app.WorkloadProfileName = GpuProfileName;
            app.Template.Containers[0].Value!.Resources = new AppContainerResources
            {
                Cpu = GpuReplicaCpu,
                Memory = GpuReplicaMemory,
            };

            // KEDA through Container Apps: each rule alone decides a replica count and the largest wins. The running rule
            // keeps a replica for every job being trained, so scaling in never stops a busy worker; the queued rule adds
            // replicas for GPU jobs nobody has taken yet.
            app.Template.Scale.MinReplicas = 0;
            app.Template.Scale.MaxReplicas = GpuWorkers.MaxReplicas;
            app.Template.Scale.Rules =
            [
                QueueScaleRule("gpu-jobs-queued", queueUrl, "queuedGpu"),
                QueueScaleRule("jobs-running", queueUrl, "running"),
            ];
        });
    }

    /// <summary>
    /// The control plane's queue URL inside the Container Apps environment. Aspire makes the project's first HTTP endpoint
    /// (grpc) the app's ingress and every other one an internal additional port, reached as http://&lt;app&gt;:&lt;port&gt;.
    /// </summary>
    private static string QueueUrl(IResourceBuilder<ProjectResource> controlPlane)
    {
        var queueEndpoint = controlPlane.GetEndpoint(Endpoints.HttpEndpointName);
        var first = controlPlane.Resource.Annotations.OfType<EndpointAnnotation>().First(e => e.Transport is "http" or "http2");
        if (first.Name == queueEndpoint.EndpointName)
        {
            throw new DistributedApplicationException(
                $"Project '{controlPlane.Resource.Name}': its '{Endpoints.HttpEndpointName}' endpoint would become the Container Apps ingress; declare " +
                $"'{Endpoints.GrpcEndpointName}' first (in Kestrel:Endpoints, or call WithGrpcEndpoint before WithProbeEndpoint).");
        }

        var port = queueEndpoint.EndpointAnnotation.TargetPort ?? Endpoints.HttpContainerPort;
        return $"http://{controlPlane.Resource.Name.ToLowerInvariant()}:{port}{GpuWorkers.QueuePath}";
    }

    private static ContainerAppScaleRule QueueScaleRule(string name, string url, string valueLocation) => new()
    {
        Name = name,
        Custom = new ContainerAppCustomScaleRule
        {
            CustomScaleRuleType = "metrics-api",
            Metadata =
            {
                { "url", url },
                { "valueLocation", valueLocation },
                { "targetValue", GpuWorkers.Slots.ToString(CultureInfo.InvariantCulture) },
            },
        },
    };
}
