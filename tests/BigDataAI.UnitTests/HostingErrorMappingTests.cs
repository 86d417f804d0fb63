using Azure;
using BigDataAI.Hosting;
using Grpc.Core;

namespace BigDataAI.UnitTests;

public sealed class HostingErrorMappingTests
{
    [Fact]
    public void Infrastructure_failures_map_to_retryable_or_data_loss_statuses()
    {
        Assert.Equal(StatusCode.Unavailable, InfrastructureErrorInterceptor.Classify(new RequestFailedException(503, "server busy")));
        Assert.Equal(StatusCode.Unavailable, InfrastructureErrorInterceptor.Classify(new RequestFailedException("connection refused")));
        Assert.Equal(StatusCode.Unavailable, InfrastructureErrorInterceptor.Classify(new HttpRequestException("no route")));
        Assert.Equal(StatusCode.Unavailable, InfrastructureErrorInterceptor.Classify(new TimeoutException()));
        Assert.Equal(StatusCode.DataLoss, InfrastructureErrorInterceptor.Classify(new InvalidDataException("shard corrupt")));
    }

    [Fact]
    public void Other_exceptions_pass_through_unchanged()
    {
        Assert.Null(InfrastructureErrorInterceptor.Classify(new RpcException(new Status(StatusCode.NotFound, "x"))));
        Assert.Null(InfrastructureErrorInterceptor.Classify(new RequestFailedException(404, "blob not found")));
        Assert.Null(InfrastructureErrorInterceptor.Classify(new ArgumentException("bad")));
        Assert.Null(InfrastructureErrorInterceptor.Classify(new InvalidOperationException("bug")));
    }
}
