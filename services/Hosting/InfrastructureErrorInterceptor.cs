using System.Net.Sockets;
using Azure;
using Grpc.Core;
using Grpc.Core.Interceptors;
using MassTransit;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client.Exceptions;

namespace BigDataAI.Hosting;

/// <summary>
/// Turns failures of the platform's infrastructure into gRPC statuses a caller can act on: storage or broker
/// unreachable → UNAVAILABLE (worth retrying), stored data that fails its checks → DATA_LOSS, a request the blob store
/// refused that the service did not handle → INTERNAL naming the store's error code. Every other exception
/// is left alone: a service maps its own errors (INVALID_ARGUMENT, NOT_FOUND, ...) where it knows them.
/// </summary>
/// <remarks>
/// The storage client reports an outage in several shapes: a <see cref="RequestFailedException"/> with no response
/// (status 0) or a 5xx, a socket or HTTP exception, a timeout seen as <see cref="OperationCanceledException"/>, and,
/// once its own retries are spent, an <see cref="AggregateException"/> of those. All of them, at any depth, are
/// UNAVAILABLE. A cancellation is the caller's own (left to gRPC, which answers CANCELLED) only when the call's token
/// was cancelled.
/// </remarks>
public sealed class InfrastructureErrorInterceptor(ILogger<InfrastructureErrorInterceptor> logger) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context).ConfigureAwait(false);
        }
        catch (Exception e) when (Map(e, context) is { } mapped)
        {
            throw mapped;
        }
    }

    public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(requestStream, context).ConfigureAwait(false);
        }
        catch (Exception e) when (Map(e, context) is { } mapped)
        {
            throw mapped;
        }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(request, responseStream, context).ConfigureAwait(false);
        }
        catch (Exception e) when (Map(e, context) is { } mapped)
        {
            throw mapped;
        }
    }

    /// <summary>
    /// The status for an infrastructure failure, or null to let the exception through unchanged.
    /// <paramref name="callerCancelled"/>: the call's own token was cancelled, so a cancellation is the caller's.
    /// </summary>
    public static StatusCode? Classify(Exception e, bool callerCancelled = false) => e switch
    {
        RpcException => null,
        AggregateException aggregate => ClassifyInner(aggregate.Flatten().InnerExceptions, callerCancelled),
        RequestFailedException { Status: 0 or 408 or 429 or >= 500 } => StatusCode.Unavailable,
        // A refusal the service did not handle itself (it catches the 404s and 409s it expects): the service's own
        // configuration or a bug, not the caller's; INTERNAL with the store's error code beats UNKNOWN with none.
        RequestFailedException => StatusCode.Internal,
        MessagingUnavailableException or TimeoutException or HttpRequestException or HttpIOException or SocketException => StatusCode.Unavailable,
        MassTransitException or RabbitMQClientException or BrokerUnreachableException => StatusCode.Unavailable,
        IOException { InnerException: SocketException or HttpIOException } => StatusCode.Unavailable,
        OperationCanceledException => callerCancelled ? null : StatusCode.Unavailable,
        InvalidDataException => StatusCode.DataLoss,
        _ => null,
    };

    private static StatusCode? ClassifyInner(IReadOnlyCollection<Exception> inner, bool callerCancelled)
    {
        var codes = inner.Select(e => Classify(e, callerCancelled)).ToList();
        // Data that fails its checks is not fixed by retrying; otherwise any outage among them makes the whole retryable.
        return codes.Contains(StatusCode.DataLoss) ? StatusCode.DataLoss
            : codes.Contains(StatusCode.Unavailable) ? StatusCode.Unavailable
            : codes.Contains(StatusCode.Internal) ? StatusCode.Internal
            : null;
    }

    private RpcException? Map(Exception e, ServerCallContext context)
    {
        if (Classify(e, context.CancellationToken.IsCancellationRequested) is not { } code)
        {
            return null;
        }
        logger.LogError(e, "{Method} failed on infrastructure: answering {Status}", context.Method, code);
        var what = code switch
        {
            StatusCode.DataLoss => "Stored data failed its checks",
            StatusCode.Internal => "The blob store refused a request of the service",
            _ => "Storage or messaging is unavailable",
        };
        return new RpcException(new Status(code, $"{what}: {Describe(e)}"));
    }

    /// <summary>The innermost messages, so "Retry failed after 4 tries" also says what failed.</summary>
    private static string Describe(Exception e)
    {
        if (e is AggregateException aggregate)
        {
            var inner = aggregate.Flatten().InnerExceptions.Select(i => i.Message).Distinct().Take(3);
            return $"{aggregate.Message.Split(" (", 2)[0]}: {string.Join("; ", inner)}";
        }
        return e switch
        {
            OperationCanceledException => $"the operation timed out ({e.Message})",
            RequestFailedException { ErrorCode: { Length: > 0 } errorCode } failed => $"{errorCode} (HTTP {failed.Status}): {failed.Message.Split('\n', 2)[0]}",
            _ => e.Message,
        };
    }
}
