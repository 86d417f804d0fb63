using BigDataAI.Contracts.Ingestion;
using BigDataAI.Labeling.Services;
using MassTransit;

namespace BigDataAI.Labeling.IntegrationEvents.EventHandling;

/// <summary>Labels each ingested dataset version. Redelivery is harmless: labeling is idempotent.</summary>
public sealed class DatasetIngestedConsumer(DatasetLabeler labeler) : IConsumer<DatasetIngested>
{
    public Task Consume(ConsumeContext<DatasetIngested> context) =>
        labeler.LabelAsync(context.Message.Dataset, context.Message.Version, context.CancellationToken);
}

/// <summary>At most two versions labeled at once. Retries (then the _error queue) come from the host's messaging setup.</summary>
public sealed class DatasetIngestedConsumerDefinition : ConsumerDefinition<DatasetIngestedConsumer>
{
    public DatasetIngestedConsumerDefinition() => ConcurrentMessageLimit = 2;
}
