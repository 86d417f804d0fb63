using MassTransit;

namespace BigDataAI.Hosting;

/// <summary>
/// Kebab-case endpoint names that keep the consumer's namespace, one kebab-cased segment per namespace part:
/// <c>BigDataAI.Training.DatasetLabeledConsumer</c> → <c>big-data-ai.training.dataset-labeled</c>. Two modules may
/// then both have a <c>DatasetLabeledConsumer</c> without sharing (and splitting) one queue.
/// </summary>
public sealed class PlatformEndpointNameFormatter() : KebabCaseEndpointNameFormatter(includeNamespace: true)
{
    public static new PlatformEndpointNameFormatter Instance { get; } = new();

    // MassTransit's own FormatName glues the namespace to the type name without separators
    // ("BigDataAIIntegrationTests..."); keep the dots so each part is kebab-cased on its own.
    protected override string FormatName(Type type) =>
        IncludeNamespace && !type.IsGenericType && !type.IsNested && type.Namespace is { Length: > 0 } ns
            ? ns + "." + type.Name
            : base.FormatName(type);

    public override string SanitizeName(string name) =>
        string.Join('.', name.Split('.', StringSplitOptions.RemoveEmptyEntries).Select(base.SanitizeName));
}
