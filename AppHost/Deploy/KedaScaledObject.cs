using System.Globalization;
using Aspire.Hosting.Kubernetes.Resources;

namespace Aspire.Hosting;

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
