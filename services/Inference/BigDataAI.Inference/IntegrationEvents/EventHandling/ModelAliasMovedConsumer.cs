using BigDataAI.Contracts.Training;
using BigDataAI.Inference.Services;
using BigDataAI.Models.Registry;
using MassTransit;

namespace BigDataAI.Inference.IntegrationEvents.EventHandling;

/// <summary>Points name@alias at its new version on this replica and loads it. Idempotent: an older or repeated move changes nothing.</summary>
public sealed class ModelAliasMovedConsumer(ModelHost host) : IConsumer<ModelAliasMoved>
{
    public Task Consume(ConsumeContext<ModelAliasMoved> context)
    {
        var m = context.Message;
        return host.OfferAliasAsync(new AliasMove(m.Name, m.Alias, m.Sequence, m.ModelVersion, m.ModelId, 0, "", null, null, 0, m.MovedAt), context.CancellationToken);
    }
}

public sealed class ModelAliasMovedConsumerDefinition : ConsumerDefinition<ModelAliasMovedConsumer>
{
    public ModelAliasMovedConsumerDefinition() => ConcurrentMessageLimit = 1;
}
