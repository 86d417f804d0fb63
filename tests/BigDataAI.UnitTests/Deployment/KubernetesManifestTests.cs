using System.Globalization;
using YamlDotNet.RepresentationModel;

namespace BigDataAI.UnitTests.Deployment;

/// <summary>
/// The manifests under deploy/kubernetes, read as YAML: what a cluster needs to run BigDataAI with GPU workers. No cluster
/// is involved; these catch the mistakes a reviewer would otherwise have to find by applying them.
/// </summary>
public sealed class KubernetesManifestTests
{
    private const string GpuResource = "nvidia.com/gpu";

    private static readonly IReadOnlyList<(string File, YamlMappingNode Document)> Documents = DeploymentFiles.ManifestDocuments();

    [Fact]
    public void Every_document_parses_and_names_its_api_version_kind_and_name()
    {
        Assert.NotEmpty(Documents);
        foreach (var (file, document) in Documents)
        {
            Assert.False(string.IsNullOrWhiteSpace(document.Scalar("apiVersion")), $"{file}: a document without apiVersion");
            Assert.False(string.IsNullOrWhiteSpace(document.Scalar("kind")), $"{file}: a document without kind");
            Assert.False(string.IsNullOrWhiteSpace(document.Scalar("metadata.name")), $"{file}: a {document.Scalar("kind")} without metadata.name");
        }

        var duplicates = Documents.GroupBy(d => (Kind: d.Document.Scalar("kind"), Name: d.Document.Name())).Where(g => g.Count() > 1).Select(g => g.Key);
        Assert.Empty(duplicates);
    }

    [Fact]
    public void Kustomization_lists_exactly_the_manifest_files_of_the_folder()
    {
        var kustomization = (YamlMappingNode)DeploymentFiles.Load(DeploymentFiles.KustomizationPath).Single().RootNode;
        Assert.Equal("Kustomization", kustomization.Scalar("kind"));
        Assert.Equal(Assert.Single(Documents.OfKind("Namespace")).Name(), kustomization.Scalar("namespace"));

        var listed = kustomization.Node("resources") is YamlSequenceNode resources
            ? resources.Children.OfType<YamlScalarNode>().Select(r => r.Value!).ToList()
            : [];
        Assert.Equal(listed.Distinct().Count(), listed.Count);

        var onDisk = DeploymentFiles.ManifestFiles().Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(onDisk, listed.Order(StringComparer.Ordinal).ToList());
    }

    [Fact]
    public void Gpu_workers_take_a_gpu_on_gpu_nodes_and_train_on_cuda()
    {
        var gpuDeployments = Deployments().Where(d => d.Containers().Any(c => GpuLimit(c) is not null)).ToList();
        var worker = Assert.Single(gpuDeployments);
        Assert.Equal("training-worker-gpu", worker.Name());

        var container = Assert.Single(worker.Containers());
        Assert.True(GpuLimit(container) >= 1, $"{worker.Name()}: resources.limits.{GpuResource} must be a whole number of at least 1");

        var nodeSelector = worker.Mapping("spec.template.spec.nodeSelector");
        Assert.True(nodeSelector is { Children.Count: > 0 }, $"{worker.Name()}: no nodeSelector, so GPU pods may wait on nodes without GPUs");

        Assert.Contains(worker.Sequence("spec.template.spec.tolerations"), t =>
            t.Scalar("key") == GpuResource
            && (t.Scalar("effect") is null or "NoSchedule")
            && (t.Scalar("operator") == "Exists" || t.Scalar("value") is not null));

        Assert.Equal("cuda", container.EnvVar("Training__Worker__Device")?.Scalar("value"));
    }

    [Fact]
    public void Keda_scales_the_gpu_workers_on_the_training_queue_from_zero()
    {
        var scaledObject = Assert.Single(
            ScaledObjects(),
            s => s.Scalar("spec.scaleTargetRef.name") == "training-worker-gpu");
        Assert.Equal("Deployment", scaledObject.Scalar("spec.scaleTargetRef.kind") ?? "Deployment");

        Assert.Equal(0, Int(scaledObject, "spec.minReplicaCount"));
        Assert.True(Int(scaledObject, "spec.maxReplicaCount") >= 1);

        var triggers = scaledObject.Sequence("spec.triggers");
        var queued = Assert.Single(triggers, t => t.Scalar("metadata.valueLocation") == "queuedGpu");
        Assert.Equal("metrics-api", queued.Scalar("type"));
        AssertPointsAtTrainingQueue(queued);
    }

    [Fact]
    public void Every_scaled_object_targets_a_deployment_here_and_polls_the_training_queue()
    {
        var deployments = Deployments().Select(d => (string?)d.Name()).ToHashSet();
        Assert.NotEmpty(ScaledObjects());
        foreach (var scaledObject in ScaledObjects())
        {
            Assert.Contains(scaledObject.Scalar("spec.scaleTargetRef.name"), deployments);

            var triggers = scaledObject.Sequence("spec.triggers");
            Assert.NotEmpty(triggers);
            foreach (var trigger in triggers)
            {
                Assert.Equal("metrics-api", trigger.Scalar("type"));
                Assert.False(string.IsNullOrEmpty(trigger.Scalar("metadata.valueLocation")));
                AssertPointsAtTrainingQueue(trigger);
            }

            // A formula may only use the names of this object's triggers.
            if (scaledObject.Scalar("spec.advanced.scalingModifiers.formula") is { } formula)
            {
                var names = triggers.Select(t => t.Scalar("name")).ToHashSet();
                var identifiers = formula.Split([' ', '+', '-', '*', '/', '(', ')'], StringSplitOptions.RemoveEmptyEntries)
                    .Where(token => !double.TryParse(token, NumberStyles.Float, CultureInfo.InvariantCulture, out _));
                Assert.All(identifiers, identifier => Assert.Contains(identifier, names));
            }
        }
    }

    [Fact]
    public void Every_deployment_is_probed_over_http1_and_reads_its_connection_strings_from_a_secret()
    {
        var deployments = Deployments();
        Assert.Contains(deployments, d => d.Name() == "training");
        foreach (var deployment in deployments)
        {
            foreach (var container in deployment.Containers())
            {
                var where = $"{deployment.Name()}/{container.Scalar("name")}";
                var httpPort = container.Sequence("ports").SingleOrDefault(p => p.Scalar("name") == "http");
                Assert.True(httpPort is not null, $"{where}: no container port named http");
                Assert.Equal("8080", httpPort!.Scalar("containerPort"));

                Assert.Equal("/alive", container.Scalar("livenessProbe.httpGet.path"));
                Assert.Equal("/health", container.Scalar("readinessProbe.httpGet.path"));
                Assert.Contains(container.Scalar("livenessProbe.httpGet.port"), new[] { "http", "8080" });
                Assert.Contains(container.Scalar("readinessProbe.httpGet.port"), new[] { "http", "8080" });

                foreach (var name in new[] { "ConnectionStrings__messaging", "ConnectionStrings__blobs" })
                {
                    var variable = container.EnvVar(name);
                    Assert.True(variable is not null, $"{where}: no {name}");
                    Assert.Null(variable!.Scalar("value"));
                    Assert.False(string.IsNullOrEmpty(variable.Scalar("valueFrom.secretKeyRef.name")), $"{where}: {name} is not from a Secret");
                    Assert.False(string.IsNullOrEmpty(variable.Scalar("valueFrom.secretKeyRef.key")), $"{where}: {name} names no Secret key");
                }
            }
        }

        // No Secret is committed: the connection strings are created in the cluster (README.md, "Deployment").
        Assert.Empty(Documents.OfKind("Secret"));
    }

    [Fact]
    public void Every_http_probe_names_its_scheme_as_the_kubernetes_api_spells_it()
    {
        // The API accepts HTTP or HTTPS (upper case) or no scheme (HTTP); Aspire's publisher once wrote "http"
        // (microsoft/aspire#18271), which the API rejects.
        foreach (var deployment in Deployments())
        {
            foreach (var container in deployment.Containers())
            {
                foreach (var probe in new[] { "livenessProbe", "readinessProbe", "startupProbe" })
                {
                    var scheme = container.Scalar($"{probe}.httpGet.scheme");
                    Assert.True(scheme is null or "HTTP" or "HTTPS", $"{deployment.Name()}/{container.Scalar("name")}: {probe} scheme '{scheme}'");
                }
            }
        }
    }

    [Fact]
    public void A_deployment_keda_scales_sets_no_replica_count()
    {
        // A fixed spec.replicas is reapplied by every kubectl apply (or helm upgrade) and starts a replica KEDA must scale
        // away again: on a GPU pool, a GPU node for nothing.
        var scaled = Documents.OfKind("ScaledObject").Select(s => s.Scalar("spec.scaleTargetRef.name")).ToHashSet();
        Assert.NotEmpty(scaled);
        foreach (var deployment in Deployments().Where(d => scaled.Contains(d.Name())))
        {
            Assert.True(deployment.Node("spec.replicas") is null, $"{deployment.Name()}: KEDA scales it, yet it sets spec.replicas");
        }
    }

    [Fact]
    public void Kestrel_speaks_http1_on_8080_everywhere_and_http2_on_8081_where_a_host_serves_grpc()
    {
        var config = Assert.Single(Documents.OfKind("ConfigMap"), c => c.Name() == "bigdataai-config");
        Assert.Equal("http://*:8080", config.Scalar("data.Kestrel__Endpoints__http__Url"));
        Assert.Equal("Http1", config.Scalar("data.Kestrel__Endpoints__http__Protocols"));

        foreach (var deployment in Deployments())
        {
            foreach (var container in deployment.Containers())
            {
                Assert.Contains(container.Sequence("envFrom"), e => e.Scalar("configMapRef.name") == "bigdataai-config");

                var grpcPort = container.Sequence("ports").SingleOrDefault(p => p.Scalar("name") == "grpc");
                var grpcUrl = container.EnvVar("Kestrel__Endpoints__grpc__Url")?.Scalar("value");
                if (grpcPort is null)
                {
                    Assert.Null(grpcUrl);
                    continue;
                }
                Assert.Equal("8081", grpcPort.Scalar("containerPort"));
                Assert.Equal("http://*:8081", grpcUrl);
                Assert.Equal("Http2", container.EnvVar("Kestrel__Endpoints__grpc__Protocols")?.Scalar("value"));
            }
        }
    }

    [Fact]
    public void Services_select_pods_that_declare_the_ports_they_route_to()
    {
        var services = Documents.OfKind("Service").ToList();
        Assert.Contains(services, s => s.Name() == "training");
        foreach (var service in services)
        {
            var selector = service.Mapping("spec.selector")!.Children
                .ToDictionary(p => ((YamlScalarNode)p.Key).Value!, p => ((YamlScalarNode)p.Value).Value);
            var pods = Deployments().Where(d =>
            {
                var labels = d.Mapping("spec.template.metadata.labels");
                return labels is not null && selector.All(s =>
                    labels.Children.TryGetValue(new YamlScalarNode(s.Key), out var value) && ((YamlScalarNode)value).Value == s.Value);
            }).ToList();
            Assert.True(pods.Count > 0, $"Service {service.Name()} selects no Deployment's pods");

            foreach (var port in service.Sequence("spec.ports"))
            {
                var target = port.Scalar("targetPort") ?? port.Scalar("port");
                Assert.All(pods, pod => Assert.Contains(pod.Containers().SelectMany(c => c.Sequence("ports")),
                    p => p.Scalar("name") == target || p.Scalar("containerPort") == target));
            }
        }
    }

    private static List<YamlMappingNode> Deployments() => Documents.OfKind("Deployment").ToList();

    private static List<YamlMappingNode> ScaledObjects() => Documents.OfKind("ScaledObject").ToList();

    private static int? GpuLimit(YamlMappingNode container)
    {
        var limits = container.Mapping("resources.limits");
        if (limits is null || !limits.Children.TryGetValue(new YamlScalarNode(GpuResource), out var value))
        {
            return null;
        }
        return int.TryParse(((YamlScalarNode)value).Value, NumberStyles.None, CultureInfo.InvariantCulture, out var count) ? count : -1;
    }

    private static int Int(YamlNode node, string path) =>
        int.Parse(node.Scalar(path) ?? throw new InvalidDataException($"no {path}"), NumberStyles.None, CultureInfo.InvariantCulture);

    /// <summary>
    /// KEDA's operator polls from its own namespace, so the URL must name the training Service with its namespace, on
    /// the Service's HTTP/1.1 port, at /training/queue.
    /// </summary>
    private static void AssertPointsAtTrainingQueue(YamlMappingNode trigger)
    {
        var url = new Uri(trigger.Scalar("metadata.url") ?? throw new InvalidDataException("a trigger without metadata.url"));
        var namespaceName = Assert.Single(Documents.OfKind("Namespace")).Name();
        var training = Assert.Single(Documents.OfKind("Service"), s => s.Name() == "training");
        var httpPort = Assert.Single(training.Sequence("spec.ports"), p => p.Scalar("name") == "http");

        Assert.Equal("http", url.Scheme);
        Assert.StartsWith($"training.{namespaceName}.", url.Host, StringComparison.Ordinal);
        Assert.Equal(httpPort.Scalar("port"), url.Port.ToString(CultureInfo.InvariantCulture));
        Assert.Equal("/training/queue", url.AbsolutePath);
    }
}
