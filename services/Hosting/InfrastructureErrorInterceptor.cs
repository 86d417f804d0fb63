using Azure;
using Grpc.Core;
using Grpc.Core.Interceptors;
using MassTransit;
using Microsoft.Extensions.Logging;

namespace BigDataAI.Hosting;

/// <summary>
/// Turns failures of the platform's infrastructure into gRPC statuses a caller can act on: storage or broker
/// unreachable → UNAVAILABLE (worth retrying), stored data that fails its checks → DATA_LOSS. Every other exception
/// is left alone: a service maps its own errors (INVALID_ARGUMENT, NOT_FOUND, ...) where it knows them.
/// </summary>
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

    /// <summary>The status for an infrastructure failure, or null to let the exception through unchanged.</summary>
    public static StatusCode? Classify(Exception e) => e switch
    {
        RpcException => null,
        RequestFailedException { Status: 0 or >= 500 } => StatusCode.Unavailable,
        HttpRequestException or TimeoutException or MassTransitException => StatusCode.Unavailable,
        InvalidDataException => StatusCode.DataLoss,
        _ => null,
    };

    private RpcException? Map(Exception e, ServerCallContext context)
    {
        if (Classify(e) is not { } code)
        {
            return null;
        }
        logger.LogError(e, "{Method} failed on infrastructure: answering {Status}", context.Method, code);
        var what = code == StatusCode.DataLoss ? "Stored data failed its checks" : "Storage or messaging is unavailable";
        return new RpcException(new Status(code, $"{what}: {e.Message}"));
    }
}
