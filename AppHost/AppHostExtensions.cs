using System.Globalization;
using Aspire.Hosting.Azure;
using Aspire.Hosting.Kubernetes;
using Aspire.Hosting.Kubernetes.Resources;
using Azure.Provisioning;
using Azure.Provisioning.AppContainers;

namespace Aspire.Hosting;

/// <summary>Where a publish (azd up, aspire publish/deploy) puts the application.</summary>
internal enum PublishTarget
{
    /// <summary>Azure Container Apps, with a serverless GPU workload profile for the training workers (the default).</summary>
    ContainerApps,

    /// <summary>A Helm chart for any Kubernetes cluster with the NVIDIA device plugin and KEDA.</summary>
    Kubernetes,
}

internal static class AppHostExtensions
{
    /// <summary>Configuration key (an environment variable or <c>--BIGDATAAI_PUBLISH_TARGET k8s</c>): <c>aca</c> (default) or <c>k8s</c>.</summary>
    public const string PublishTargetKey = "BIGDATAAI_PUBLISH_TARGET";

    /// <summary>
    /// MSBuild property, read from the environment by every <c>dotnet publish</c> azd or Aspire runs, that gives the worker
    /// image the CUDA libtorch bundle (services/Training/BigDataAI.TrainingWorker.Host/Gpu.targets).
    /// </summary>
    public const string TorchBundleKey = "BigDataAITorchBundle";

    public const string GrpcEndpointName = "grpc";
    public const string HttpEndpointName = "http";

    /// <summary>Container ports when published; locally Aspire picks free ports.</summary>
    public const int HttpContainerPort = 8080;
    public const int GrpcContainerPort = 8081;

    /// <summary>The control plane's queue summary, e.g. <c>{"queued":3,"queuedGpu":2,"queuedCpu":1,"running":1,"workers":2}</c>.</summary>
    public const string TrainingQueuePath = "/training/queue";

    /// <summary>Jobs a GPU worker runs at once (Training__Worker__Slots); also the scaler's target per replica.</summary>
    public const int GpuWorkerSlots = 1;
    public const int GpuWorkerMaxReplicas = 4;

    /// <summary>
    /// Azure Container Apps serverless GPU profile: NVIDIA T4, whose replicas take 8 vCPU and 56 GiB (the sizes the
    /// Container Apps serverless GPU tutorial gives for this profile). The A100 profile is "Consumption-GPU-NC24-A100".
    /// </summary>
    public const string AcaGpuProfileName = "gpu";
    public const string AcaGpuProfileType = "Consumption-GPU-NC8as-T4";
    public const double AcaGpuReplicaCpu = 8;
    public const string AcaGpuReplicaMemory = "56Gi";

    /// <summary>Kubernetes scheduling: the NVIDIA device plugin's resource, the GPU Operator's node label, the usual taint.</summary>
    public const string GpuResourceName = "nvidia.com/gpu";
    public const string GpuNodeLabel = "nvidia.com/gpu.present";

    /// <summary>
    /// Reads <see cref="PublishTargetKey"/> and, when publishing, adds that compute environment: Azure Container Apps with a
    /// GPU workload profile beside the default Consumption one, or Kubernetes. Only one is ever added: with both, every
    /// resource would have to name its environment.
    /// </summary>
    public static PublishTarget AddComputeEnvironment(this IDistributedApplicationBuilder builder)
    {
        var value = builder.Configuration[PublishTargetKey];
        var target = value?.Trim().ToLowerInvariant() switch
        {
            null or "" or "aca" or "containerapps" => PublishTarget.ContainerApps,
            "k8s" or "kubernetes" => PublishTarget.Kubernetes,
            _ => throw new DistributedApplicationException(
                $"{PublishTargetKey} is '{value}'; use 'aca' (Azure Container Apps, the default) or 'k8s' (a Helm chart for Kubernetes)."),
        };

        if (!builder.ExecutionContext.IsPublishMode)
        {
            return target;
        }

        if (target == PublishTarget.ContainerApps)
        {
            builder.AddAzureContainerAppEnvironment("aca")
                .ConfigureInfrastructure(infra =>
                {
                    var environment = infra.GetProvisionableResources().OfType<ContainerAppManagedEnvironment>().Single();
                    environment.WorkloadProfiles.Add(new BicepValue<ContainerAppWorkloadProfile>(new ContainerAppWorkloadProfile
                    {
                        Name = AcaGpuProfileName,
                        WorkloadProfileType = AcaGpuProfileType,
                    }));
                });
        }
        else
        {
            builder.AddKubernetesEnvironment("k8s");
        }

        return target;
    }

    /// <summary>
    /// The blob store every service gets as <c>ConnectionStrings__blobs</c>: Azure Storage (Azurite locally, a storage
    /// account reached through the app's identity on Container Apps), or, for a Kubernetes chart, a connection string
    /// supplied at install time (a Helm secret value): the Kubernetes publisher cannot create an Azure storage account.
    /// </summary>
    public static IResourceBuilder<IResourceWithConnectionString> AddBlobStore(this IDistributedApplicationBuilder builder, PublishTarget target) =>
        builder.ExecutionContext.IsPublishMode && target == PublishTarget.Kubernetes
            ? builder.AddConnectionString("blobs")
            : builder.AddAzureStorage("storage").RunAsEmulator().AddBlobs("blobs");

    /// <summary>The host's gRPC endpoint, named "grpc", HTTP/2 only: clients find it as <c>http://_grpc.&lt;resource name&gt;</c>.</summary>
    public static IResourceBuilder<ProjectResource> WithGrpcEndpoint(this IResourceBuilder<ProjectResource> project) =>
        project.WithKestrelEndpoint(GrpcEndpointName, http2: true, GrpcContainerPort);

    /// <summary>
    /// The host's HTTP/1.1 endpoint, named "http", serving /alive and /health to Kubernetes and Container Apps probes
    /// (which speak HTTP/1.1 only), with a liveness probe on /alive and a readiness probe on /health. Locally the same
    /// probes become the dashboard's health checks.
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithProbeEndpoint(this IResourceBuilder<ProjectResource> project)
    {
#pragma warning disable ASPIREPROBES001 // Probes are marked experimental in Aspire 13.
        return project
            .WithKestrelEndpoint(HttpEndpointName, http2: false, HttpContainerPort)
            .WithHttpProbe(ProbeType.Liveness, "/alive", initialDelaySeconds: 10, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 6, endpointName: HttpEndpointName)
            .WithHttpProbe(ProbeType.Readiness, "/health", initialDelaySeconds: 5, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3, endpointName: HttpEndpointName);
#pragma warning restore ASPIREPROBES001
    }

    /// <summary>
    /// Makes sure the host has a cleartext Kestrel endpoint with this name that speaks only HTTP/2 or only HTTP/1.1:
    /// Kestrel cannot offer both on one cleartext port (no TLS, so no ALPN), and gRPC needs HTTP/2 while probes need HTTP/1.1.
    /// </summary>
    /// <remarks>
    /// Two ways a host can be set up, both handled:
    /// <list type="bullet">
    /// <item>The host does not declare the endpoint (the ingestion, labeling and inference hosts today). It is added here,
    /// on a port Aspire picks locally and on <paramref name="containerPort"/> when published, and described to Kestrel
    /// endpoint by endpoint (<c>Kestrel__Endpoints__{name}__Url</c> and <c>__Protocols</c>), which overrides the
    /// appsettings.json default <c>Kestrel:EndpointDefaults:Protocols=Http2</c> for that endpoint. Aspire's own
    /// ASPNETCORE_URLS / HTTP_PORTS, which cannot carry a protocol, are dropped.</item>
    /// <item>The host declares it in appsettings.json, e.g. <c>"Kestrel": { "Endpoints": { "grpc": { "Url": "http://localhost:5103",
    /// "Protocols": "Http2" }, "http": { "Url": "http://localhost:5113", "Protocols": "Http1" } } }</c>. Aspire has
    /// already turned it into an endpoint (transport http2 when its Protocols, or EndpointDefaults, say Http2), uses the
    /// port of its Url as the container port when published and overrides its Url; it is only checked here.</item>
    /// </list>
    /// </remarks>
    /// <exception cref="DistributedApplicationException">The host declares the endpoint with the other protocol.</exception>
    private static IResourceBuilder<ProjectResource> WithKestrelEndpoint(this IResourceBuilder<ProjectResource> project, string name, bool http2, int containerPort)
    {
        var protocols = http2 ? "Http2" : "Http1";
        var declared = project.GetEndpoint(name);
        if (declared.Exists)
        {
            if ((declared.EndpointAnnotation.Transport == "http2") != http2)
            {
                throw new DistributedApplicationException(
                    $"Project '{project.Resource.Name}': its endpoint '{name}' (from its appsettings.json or launchSettings.json) must speak " +
                    $"{protocols} only; set Kestrel:Endpoints:{name}:Protocols to \"{protocols}\".");
            }
            return project;
        }

        var publishing = project.ApplicationBuilder.ExecutionContext.IsPublishMode;
        project.WithHttpEndpoint(targetPort: publishing ? containerPort : null, name: name);
        if (http2)
        {
            project.WithEndpoint(name, e => e.Transport = "http2", createIfNotExists: false);
        }

        var endpoint = project.GetEndpoint(name);
        var host = publishing ? "*" : "localhost";
        return project.WithEnvironment(context =>
        {
            context.EnvironmentVariables[$"Kestrel__Endpoints__{name}__Url"] =
                ReferenceExpression.Create($"http://{host}:{endpoint.Property(EndpointProperty.TargetPort)}");
            context.EnvironmentVariables[$"Kestrel__Endpoints__{name}__Protocols"] = protocols;
            context.EnvironmentVariables.Remove("ASPNETCORE_URLS");
            context.EnvironmentVariables.Remove("HTTP_PORTS");
        });
    }

    /// <summary>
    /// Publishes the training workers on GPUs, scaled on the control plane's queue: on Container Apps in the GPU workload
    /// profile; on Kubernetes with an <c>nvidia.com/gpu</c> limit, a GPU node selector and toleration, and a KEDA
    /// ScaledObject. Nothing changes locally.
    /// </summary>
    /// <param name="worker">The training worker project.</param>
    /// <param name="target">The publish target.</param>
    /// <param name="controlPlane">The training control plane, whose HTTP/1.1 endpoint serves <see cref="TrainingQueuePath"/>.</param>
    public static IResourceBuilder<ProjectResource> PublishOnGpus(
        this IResourceBuilder<ProjectResource> worker, PublishTarget target, IResourceBuilder<ProjectResource> controlPlane)
    {
        var builder = worker.ApplicationBuilder;
        if (!builder.ExecutionContext.IsPublishMode)
        {
            return worker;
        }

        // A GPU replica must train on the GPU: with a CPU-only image the worker then fails at start instead of training
        // slowly on an expensive GPU node.
        worker
            .WithEnvironment("Training__Worker__Device", "cuda")
            .WithEnvironment("Training__Worker__Slots", GpuWorkerSlots.ToString(CultureInfo.InvariantCulture));

        var queueEndpoint = controlPlane.GetEndpoint(HttpEndpointName);

        if (target == PublishTarget.ContainerApps)
        {
            // azd and Aspire build the worker image with a plain `dotnet publish /t:PublishContainer` (no publish profile),
            // so the CUDA bundle can only come from the environment both inherit from the shell.
            if (!string.Equals(builder.Configuration[TorchBundleKey], "cuda", StringComparison.OrdinalIgnoreCase))
            {
                throw new DistributedApplicationException(
                    $"The training workers run in the GPU profile '{AcaGpuProfileType}', but their image would carry the CPU libtorch. " +
                    $"Set the environment variable {TorchBundleKey}=cuda for azd up / aspire deploy (it reaches the image build as an MSBuild property).");
            }

            return worker.PublishAsAzureContainerApp((infra, app) =>
            {
                app.WorkloadProfileName = AcaGpuProfileName;
                app.Template.Containers[0].Value!.Resources = new AppContainerResources
                {
                    Cpu = AcaGpuReplicaCpu,
                    Memory = AcaGpuReplicaMemory,
                };

                // KEDA through Container Apps: each rule alone decides a replica count and the largest wins. The running
                // rule keeps a replica for every job being trained, so scaling in never stops a busy worker; the queued
                // rule adds replicas for GPU jobs nobody has taken yet.
                var queueUrl = ContainerAppsQueueUrl(controlPlane.Resource, queueEndpoint);
                app.Template.Scale.MinReplicas = 0;
                app.Template.Scale.MaxReplicas = GpuWorkerMaxReplicas;
                app.Template.Scale.Rules =
                [
                    QueueScaleRule("gpu-jobs-queued", queueUrl, "queuedGpu"),
                    QueueScaleRule("jobs-running", queueUrl, "running"),
                ];
            });
        }

        return worker.PublishAsKubernetesService(service =>
        {
            var pod = service.Workload!.PodTemplate.Spec;
            foreach (var container in pod.Containers)
            {
                container.Resources ??= new ResourceRequirementsV1();
                container.Resources.Limits[GpuResourceName] = "1";
            }
            pod.NodeSelector[GpuNodeLabel] = "true";
            pod.Tolerations.Add(new TolerationV1 { Key = GpuResourceName, Operator = "Exists", Effect = "NoSchedule" });

            // Aspire names the control plane's Service "<resource>-service" (HelmExtensions.ToServiceName). KEDA's operator
            // polls from its own namespace, so the URL carries the release's namespace (a Helm expression: Aspire writes
            // the chart's templates, which Helm renders as text).
            var port = queueEndpoint.EndpointAnnotation.TargetPort ?? HttpContainerPort;
            var serviceName = $"{controlPlane.Resource.Name.ToLowerInvariant()}-service";
            var queueUrl = $"http://{serviceName}.{{{{ .Release.Namespace }}}}.svc.cluster.local:{port}{TrainingQueuePath}";
            service.AdditionalResources.Add(KedaScaledObject.ForWorkers(
                $"{worker.Resource.Name.ToLowerInvariant()}-scaler", service.Workload.Metadata.Name, queueUrl, "queuedGpu", GpuWorkerSlots, GpuWorkerMaxReplicas));
        });
    }

    /// <summary>
    /// The control plane's queue URL inside the Container Apps environment. Aspire makes the project's first HTTP endpoint
    /// (grpc) the app's ingress and every other one an internal additional port, reached as http://&lt;app&gt;:&lt;port&gt;.
    /// </summary>
    private static string ContainerAppsQueueUrl(ProjectResource controlPlane, EndpointReference queueEndpoint)
    {
        var first = controlPlane.Annotations.OfType<EndpointAnnotation>().First(e => e.Transport is "http" or "http2");
        if (first.Name == queueEndpoint.EndpointName)
        {
            throw new DistributedApplicationException(
                $"Project '{controlPlane.Name}': its '{HttpEndpointName}' endpoint would become the Container Apps ingress; declare " +
                $"'{GrpcEndpointName}' first (in Kestrel:Endpoints, or call WithGrpcEndpoint before WithProbeEndpoint).");
        }

        var port = queueEndpoint.EndpointAnnotation.TargetPort ?? HttpContainerPort;
        return $"http://{controlPlane.Name.ToLowerInvariant()}:{port}{TrainingQueuePath}";
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
                { "targetValue", GpuWorkerSlots.ToString(CultureInfo.InvariantCulture) },
            },
        },
    };
}

/// <summary>
/// A KEDA ScaledObject (keda.sh/v1alpha1) added to the Helm chart the Kubernetes publisher writes; its YAML serializer
/// names properties in camelCase. The same shape as deploy/kubernetes/training-worker-gpu-scaledobject.yaml.
/// </summary>
internal sealed class KedaScaledObject() : BaseKubernetesResource("keda.sh/v1alpha1", "ScaledObject")
{
    public ScaledObjectSpec Spec { get; set; } = new();

    /// <summary>
    /// Replicas = ceil((jobs queued for this pool + jobs running) / slots per replica), between 0 and
    /// <paramref name="maxReplicas"/>: the running term keeps a replica for every job in training, so scaling in never
    /// stops a busy worker.
    /// </summary>
    public static KedaScaledObject ForWorkers(string name, string deployment, string queueUrl, string queuedField, int slots, int maxReplicas)
    {
        var target = slots.ToString(CultureInfo.InvariantCulture);
        var scaledObject = new KedaScaledObject
        {
            Spec =
            {
                ScaleTargetRef = { Name = deployment },
                MinReplicaCount = 0,
                MaxReplicaCount = maxReplicas,
                CooldownPeriod = 600,
                Advanced = new ScaledObjectAdvanced
                {
                    ScalingModifiers = new ScalingModifiers { Formula = $"{queuedField} + running", Target = target, MetricType = "AverageValue" },
                },
            },
        };
        scaledObject.Metadata.Name = name;
        foreach (var field in new[] { queuedField, "running" })
        {
            scaledObject.Spec.Triggers.Add(new ScaledObjectTrigger
            {
                Type = "metrics-api",
                Name = field,
                Metadata = { ["url"] = queueUrl, ["valueLocation"] = field, ["targetValue"] = target },
            });
        }
        return scaledObject;
    }

    internal sealed class ScaledObjectSpec
    {
        public ScaleTargetRef ScaleTargetRef { get; set; } = new();
        public int MinReplicaCount { get; set; }
        public int MaxReplicaCount { get; set; }
        public int CooldownPeriod { get; set; }
        public ScaledObjectAdvanced? Advanced { get; set; }
        public List<ScaledObjectTrigger> Triggers { get; } = [];
    }

    internal sealed class ScaleTargetRef
    {
        public string ApiVersion { get; set; } = "apps/v1";
        public string Kind { get; set; } = "Deployment";
        public string Name { get; set; } = "";
    }

    internal sealed class ScaledObjectAdvanced
    {
        public ScalingModifiers? ScalingModifiers { get; set; }
    }

    internal sealed class ScalingModifiers
    {
        public string Formula { get; set; } = "";
        public string Target { get; set; } = "";
        public string MetricType { get; set; } = "";
    }

    internal sealed class ScaledObjectTrigger
    {
        public string Type { get; set; } = "";
        public string Name { get; set; } = "";
        public Dictionary<string, string> Metadata { get; } = [];
    }
}
