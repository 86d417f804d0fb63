using BigDataAI.Contracts.Ingestion;
using BigDataAI.Ingestion.Services;
using MassTransit;

namespace BigDataAI.Ingestion.IntegrationEvents.EventHandling;

/// <summary>
/// Profiles every ingested version: in one piece when it is small, else by sending its shard ranges to the ingestion
/// replicas (<see cref="ProfileShards"/>). Redelivery is harmless: a profiled version is skipped, parts are create-only.
/// </summary>
public sealed class DatasetIngestedConsumer(DatasetProfiler profiler) : IConsumer<DatasetIngested>
{
    public async Task Consume(ConsumeContext<DatasetIngested> context)
    {
        var plan = await profiler.ProfileVersionAsync(context.Message.Dataset, context.Message.Version, context.CancellationToken).ConfigureAwait(false);
        if (plan.Profiled is { } profiled)
        {
            await context.Publish(profiled, context.CancellationToken).ConfigureAwait(false);
        }
        if (plan.Parts.Count > 0)
        {
            await context.PublishBatch(plan.Parts, context.CancellationToken).ConfigureAwait(false);
        }
    }
}

/// <summary>One version profiled at a time per replica: profiling is CPU-bound and the machine's cores are shared.</summary>
public sealed class DatasetIngestedConsumerDefinition : ConsumerDefinition<DatasetIngestedConsumer>
{
    public DatasetIngestedConsumerDefinition() => ConcurrentMessageLimit = 1;
}
