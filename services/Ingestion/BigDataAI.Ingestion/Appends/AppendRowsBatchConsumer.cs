using BigDataAI.Contracts.Ingestion;
using MassTransit;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace BigDataAI.Ingestion.Appends;

/// <summary>
/// Stages an <see cref="AppendRowsBatch"/> from the bus exactly once (ingestion replicas are competing consumers of one
/// queue) and publishes <see cref="AppendRowsBatchStaged"/>. The message is acknowledged to the broker only after the
/// batch is stored. Competing consumers take a producer's batches out of order: a batch up to Appends:BusReorderWindow
/// ahead of the next expected one is staged and waits for the ones before it (commits take no sequence after a hole).
/// A batch further ahead is a gap; like any refused batch it is retried at Messaging:RetryIntervals, then goes to the
/// _error queue, and MassTransit publishes Fault&lt;AppendRowsBatch&gt; with the reason.
/// </summary>
public sealed class AppendRowsBatchConsumer(AppendStager stager, IOptions<AppendOptions> options, ILogger<AppendRowsBatchConsumer> logger) : IConsumer<AppendRowsBatch>
{
    public async Task Consume(ConsumeContext<AppendRowsBatch> context)
    {
        var batch = context.Message;
        var rows = batch.Rows ?? [];
        try
        {
            var result = await stager.StageAsync(batch.Dataset, batch.Producer, batch.Sequence, rows.Count, context.ReceiveContext.Body.Length ?? 0,
                schema => new AppendRowDecoder(batch.Dataset, schema).Decode(batch.Sequence, rows), context.CancellationToken, options.Value.BusReorderWindow).ConfigureAwait(false);
            await context.Publish(new AppendRowsBatchStaged(batch.Dataset, batch.Producer, batch.Sequence, result.Rows, result.Duplicate, DateTimeOffset.UtcNow), context.CancellationToken).ConfigureAwait(false);
        }
        catch (AppendRejectedException e)
        {
            logger.LogWarning("AppendRowsBatch {Sequence} of {Producer} for {Dataset} refused (attempt {Attempt}): {Reason}",
                batch.Sequence, batch.Producer, batch.Dataset, context.GetRetryAttempt() + 1, e.Message);
            throw;
        }
    }
}

/// <summary>Bounded concurrency and prefetch (Appends:BusConcurrency, Appends:BusPrefetch): a slow store never lets messages pile up in memory.</summary>
public sealed class AppendRowsBatchConsumerDefinition : ConsumerDefinition<AppendRowsBatchConsumer>
{
    public AppendRowsBatchConsumerDefinition(IOptions<AppendOptions> options)
    {
        ConcurrentMessageLimit = options.Value.BusConcurrency;
        Endpoint(e => e.PrefetchCount = Math.Max(options.Value.BusPrefetch, options.Value.BusConcurrency));
    }
}
