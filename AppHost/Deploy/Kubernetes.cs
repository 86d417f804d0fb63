using Aspire.Hosting.Kubernetes;
using Aspire.Hosting.Kubernetes.Resources;

namespace Aspire.Hosting;

/// <summary>
/// Kubernetes (a Helm chart written by Aspire's Kubernetes publisher), with what the publisher's own output lacks for a
/// chart that Kubernetes accepts and that leaves scaling to KEDA (docs/decisions/0012):
/// <list type="bullet">
/// <item>probe schemes in upper case (<c>HTTP</c>): the publisher copies the endpoint's URI scheme (<c>http</c>), which the
/// Kubernetes API rejects (microsoft/aspire#18271);</item>
/// <item>the broker's and the blob store's connection strings as two keys of one Secret the operator creates
/// (<see cref="ConnectionSecretName"/>, the same Secret deploy/kubernetes uses), read through <c>secretKeyRef</c>: nothing is
/// asked for at publish time and nothing lands in values.yaml;</item>
/// <item>no fixed replica count on a Deployment KEDA scales, so an upgrade does not bring a GPU replica back.</item>
/// </list>
/// </summary>
/// <remarks>Needs Aspire.Hosting.Kubernetes, which is not served on the project's machines (see AppHost/README.md).</remarks>
internal static class KubernetesPublishing
{
    /// <summary>The Secret, created before or after <c>helm install</c>, whose keys are the connection strings' names.</summary>
    public const string ConnectionSecretName = "bigdataai-connections";

    /// <summary>The connection strings every service reads, each a key of <see cref="ConnectionSecretName"/>.</summary>
    public static readonly IReadOnlyList<string> ConnectionNames = ["messaging", "blobs"];

    /// <summary>Kubernetes scheduling: the NVIDIA device plugin's resource, the GPU Operator's node label, the usual taint.</summary>
    public const string GpuResourceName = "nvidia.com/gpu";
    public const string GpuNodeLabel = "nvidia.com/gpu.present";

    public static Infrastructure AddInfrastructure(IDistributedApplicationBuilder builder)
    {
        builder.AddKubernetesEnvironment("k8s");

        // Not parameters: a parameter without a value makes the publish ask for it (and wait forever without the aspire
        // CLI), and the publisher writes a secret value per service that references it. The resources only name the keys;
        // ConfigureForKubernetes replaces each service's reference with a secretKeyRef.
        var messaging = builder.AddResource(new ClusterSecretConnectionString("messaging", ConnectionSecretName));
        var blobs = builder.AddResource(new ClusterSecretConnectionString("blobs", ConnectionSecretName));
        return new Infrastructure(messaging, blobs);
    }

    /// <summary>What every service needs in the chart: the connection strings from the Secret, probes Kubernetes accepts.</summary>
    public static IResourceBuilder<ProjectResource> ConfigureForKubernetes(this IResourceBuilder<ProjectResource> project) =>
        project
            // Runs after WithReference's own callbacks (Services.AddService calls this last), so the references' values,
            // which would otherwise land in the service's ConfigMap, never reach the publisher.
            .WithEnvironment(context =>
            {
                foreach (var name in ConnectionNames)
                {
                    context.EnvironmentVariables.Remove(ConnectionStringVariable(name));
                }
            })
            .PublishAsKubernetesService(service =>
            {
                foreach (var container in service.Workload!.PodTemplate.Spec.Containers)
                {
                    foreach (var name in ConnectionNames)
                    {
                        container.Env.Add(new EnvVarV1
                        {
                            Name = ConnectionStringVariable(name),
                            ValueFrom = new EnvVarSourceV1 { SecretKeyRef = new SecretKeySelectorV1 { Name = ConnectionSecretName, Key = name } },
                        });
                    }

                    foreach (var probe in new[] { container.LivenessProbe, container.ReadinessProbe, container.StartupProbe })
                    {
                        if (probe?.HttpGet is { } httpGet)
                        {
                            httpGet.Scheme = KubernetesProbeScheme(httpGet.Scheme);
                        }
                    }
                }
            });

    /// <summary>The Kubernetes API's names for an HTTP probe's scheme: <c>HTTP</c> or <c>HTTPS</c>, upper case only.</summary>
    public static string KubernetesProbeScheme(string? scheme) =>
        string.IsNullOrEmpty(scheme) ? "HTTP" : scheme.ToUpperInvariant();

    public static IResourceBuilder<ProjectResource> PublishOnKubernetesGpus(this IResourceBuilder<ProjectResource> worker, IResourceBuilder<ProjectResource> controlPlane)
    {
        var queueEndpoint = controlPlane.GetEndpoint(Endpoints.HttpEndpointName);
        return worker.PublishAsKubernetesService(service =>
        {
            var workload = service.Workload as Deployment
                ?? throw new DistributedApplicationException(
                    $"Project '{worker.Resource.Name}': the Kubernetes publisher made it a {service.Workload?.Kind ?? "nothing"}, not a Deployment, which the KEDA ScaledObject scales.");

            // KEDA owns the replica count (0 when no job waits). A fixed spec.replicas would be reapplied by every
            // helm upgrade and start a GPU replica until KEDA scales it away again.
            workload.Spec.Replicas = null;

            var pod = workload.PodTemplate.Spec;
            foreach (var container in pod.Containers)
            {
                container.Resources ??= new ResourceRequirementsV1();
                container.Resources.Limits[GpuResourceName] = "1";
            }
            pod.NodeSelector[GpuNodeLabel] = "true";
            pod.Tolerations.Add(new TolerationV1 { Key = GpuResourceName, Operator = "Exists", Effect = "NoSchedule" });

            // Aspire names the control plane's Service "<resource>-service" (HelmExtensions.ToServiceName). KEDA's operator
            // polls from its own namespace, so the URL carries the release's namespace (a Helm expression: Aspire writes the
            // chart's templates, which Helm renders as text).
            var port = queueEndpoint.EndpointAnnotation.TargetPort ?? Endpoints.HttpContainerPort;
            var serviceName = $"{controlPlane.Resource.Name.ToLowerInvariant()}-service";
            var queueUrl = $"http://{serviceName}.{{{{ .Release.Namespace }}}}.svc.cluster.local:{port}{GpuWorkers.QueuePath}";
            service.AdditionalResources.Add(KedaScaledObject.ForWorkers(
                $"{worker.Resource.Name.ToLowerInvariant()}-scaler", workload.Metadata.Name, queueUrl, "queuedGpu",
                GpuWorkers.Slots, GpuWorkers.MaxReplicas));
        });
    }

    private static string ConnectionStringVariable(string name) => $"ConnectionStrings__{name}";
}

/// <summary>
/// A connection string the cluster holds: key <see cref="Resource.Name"/> of the Secret <paramref name="secretName"/>. Its
/// expression is a description, never a value; the services read the key through a <c>secretKeyRef</c>.
/// </summary>
internal sealed class ClusterSecretConnectionString(string name, string secretName) : Resource(name), IResourceWithConnectionString
{
    public string SecretName { get; } = secretName;

    public ReferenceExpression ConnectionStringExpression => ReferenceExpression.Create($"secret {SecretName}, key {Name}");
}
