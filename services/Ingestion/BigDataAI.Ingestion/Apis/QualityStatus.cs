using BigDataAI.Datasets;
using BigDataAI.Ingestion.Quality;
using Grpc.Core;

namespace BigDataAI.Ingestion.Apis;

/// <summary>
/// The one mapping of what the data-quality services refuse to gRPC statuses (protos/quality.proto names them per
/// RPC): a bad request INVALID_ARGUMENT, versions it cannot run on FAILED_PRECONDITION, a missing dataset or version
/// NOT_FOUND. Infrastructure failures pass through to the InfrastructureErrorInterceptor.
/// </summary>
internal static class QualityStatus
{
    public static async Task<T> GuardAsync<T>(Func<Task<T>> action)
    {
        try
        {
            return await action().ConfigureAwait(false);
        }
        catch (QualityRequestException e)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, e.Message));
        }
        catch (QualityPreconditionException e)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, e.Message));
        }
        catch (DatasetNotFoundException e)
        {
            throw new RpcException(new Status(StatusCode.NotFound, e.Message));
        }
    }
}
