using BigDataAI.Contracts.Training;
using BigDataAI.Inference.Services;
using BigDataAI.Models.Registry;
using MassTransit;

namespace BigDataAI.Inference.IntegrationEvents.EventHandling;

/// <summary>Swaps in a newly trained model (per name). Idempotent: a model already loaded, or an older version, is not loaded again.</summary>
public sealed class ModelTrainedConsumer(ModelRegistry registry, ModelHost host) : IConsumer<ModelTrained>
{
    public async Task Consume(ConsumeContext<ModelTrained> context)
    {
        var record = await registry.GetAsync(context.Message.ModelId, context.CancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"ModelTrained names model '{context.Message.ModelId}', which is not in the registry.");
        await host.OfferAsync(record, context.CancellationToken).ConfigureAwait(false);
    }
}

public sealed class ModelTrainedConsumerDefinition : ConsumerDefinition<ModelTrainedConsumer>
{
    public ModelTrainedConsumerDefinition() => ConcurrentMessageLimit = 1;
}
