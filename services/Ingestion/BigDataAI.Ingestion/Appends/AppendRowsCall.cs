using BigDataAI.Hosting;
using BigDataAI.Ingestion.Apis;
using BigDataAI.Protos.Ingestion.V1;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace BigDataAI.Ingestion.Appends;

/// <summary>
/// One AppendRows call (protos/ingestion.proto): a start message, then batches, each answered in order once staged.
/// The call reads the next batch only after the previous one is stored, so a slow store slows the producer's writes
/// (HTTP/2 flow control) instead of filling memory.
/// </summary>
public sealed class AppendRowsCall(AppendStager stager, ILogger<AppendRowsCall> logger)
{
    internal async Task RunAsync(IAsyncStreamReader<AppendRowsRequest> requests, IServerStreamWriter<AppendRowsReply> replies, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        string? dataset = null;
        string? producer = null;
        long last = 0;
        try
        {
            if (!await requests.MoveNext(ct).ConfigureAwait(false))
            {
                throw Invalid("The call is empty: send an AppendStart first (dataset and producer), then batches.");
            }
            if (requests.Current.KindCase != AppendRowsRequest.KindOneofCase.Start)
            {
                throw Invalid("The first message of AppendRows must be an AppendStart (dataset and producer).");
            }
            dataset = requests.Current.Start.Dataset;
            producer = requests.Current.Start.Producer;
            var (newest, next) = await stager.StartAsync(dataset, producer, ct).ConfigureAwait(false);
            var started = new AppendStarted { Version = newest.Version, NextSequence = next };
            started.Columns.AddRange(IngestionApi.ToInfo(newest).Columns);
            await replies.WriteAsync(new AppendRowsReply { Started = started }, ct).ConfigureAwait(false);
            logger.LogInformation("AppendRows to {Dataset} v{Version} from {Producer} started; next sequence {Next}", dataset, newest.Version, producer, next);

            var decoder = new AppendRowDecoder(dataset, newest.EffectiveSchema);
            while (await requests.MoveNext(ct).ConfigureAwait(false))
            {
                var message = requests.Current;
                if (message.KindCase != AppendRowsRequest.KindOneofCase.Batch)
                {
                    throw Invalid("Only the first message of AppendRows may be an AppendStart; every later one must be a batch.");
                }
                var batch = message.Batch;
                // Typed by the version the call started on, whatever is newest now.
                var result = await stager.StageAsync(dataset, producer, batch.Sequence, batch.Rows.Count, batch.CalculateSize(),
                    _ => decoder.Decode(batch.Sequence, batch.Rows), ct).ConfigureAwait(false);
                last = batch.Sequence;
                await replies.WriteAsync(new AppendRowsReply { Ack = new AppendAck { Sequence = batch.Sequence, Duplicate = result.Duplicate, Rows = result.Rows } }, ct).ConfigureAwait(false);
            }
        }
        catch (AppendRejectedException e)
        {
            logger.LogWarning("AppendRows to {Dataset} from {Producer} refused after batch {Last}: {Reason}", dataset, producer, last, e.Message);
            throw new RpcException(new Status(e.Kind switch
            {
                AppendRejection.NotFound => StatusCode.NotFound,
                AppendRejection.Precondition => StatusCode.FailedPrecondition,
                _ => StatusCode.InvalidArgument,
            }, e.Message));
        }
        catch (Exception e) when (InfrastructureErrorInterceptor.Classify(e, ct.IsCancellationRequested) is { } code)
        {
            logger.LogWarning("AppendRows to {Dataset} from {Producer} failed after batch {Last}: {Reason}", dataset, producer, last, e.Message);
            throw new RpcException(new Status(code, code == StatusCode.Unavailable
                ? $"Storage did not answer within its bounded retries ({e.Message}); send the unacknowledged batches again on a new call (batch {last} was the last acknowledged on this one)."
                : e.Message));
        }
    }

    private static RpcException Invalid(string message) => new(new Status(StatusCode.InvalidArgument, message));
}
