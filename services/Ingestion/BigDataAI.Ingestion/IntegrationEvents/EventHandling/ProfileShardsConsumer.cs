using BigDataAI.Contracts.Ingestion;
using BigDataAI.Ingestion.Services;
using MassTransit;

namespace BigDataAI.Ingestion.IntegrationEvents.EventHandling;

/// <summary>
/// Profiles one shard range of a version; the replica that stores the last part merges the parts into profile.json.
/// Every ingestion replica consumes from this one queue (competing consumers). Idempotent: a stored part is not computed
/// again and the merged profile is written create-only.
/// </summary>
public sealed class ProfileShardsConsumer(DatasetProfiler profiler) : IConsumer<ProfileShards>
{
    public async Task Consume(ConsumeContext<ProfileShards> context)
    {
        if (await profiler.ProfilePartAsync(context.Message, context.CancellationToken).ConfigureAwait(false) is { } profiled)
        {
            await context.Publish(profiled, context.CancellationToken).ConfigureAwait(false);
        }
    }
}

/// <summary>
/// One part at a time per replica, and (MassTransit's prefetch follows the limit) one part held: the broker hands the
/// next part to whichever replica is free, so parts spread over the replicas instead of queueing behind one.
/// </summary>
public sealed class ProfileShardsConsumerDefinition : ConsumerDefinition<ProfileShardsConsumer>
{
    public ProfileShardsConsumerDefinition()
    {
        ConcurrentMessageLimit = 1;
        Endpoint(e => e.PrefetchCount = 1);
    }
}
