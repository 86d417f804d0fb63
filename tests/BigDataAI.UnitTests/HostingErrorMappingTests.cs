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
        Assert.Null(InfrastructureErrorInterceptor.Classify(new ArgumentException("bad")));
        Assert.Null(InfrastructureErrorInterceptor.Classify(new InvalidOperationException("bug")));
    }
}

public sealed class HostingErrorMappingOutageShapesTests
{
    [Fact]
    public void A_storage_client_that_spent_its_retries_answers_unavailable_not_unknown()
    {
        // Azure.Core throws this shape once every try failed without a response (storage stopped, unreachable).
        var retriesSpent = new AggregateException("Retry failed after 4 tries.",
            new RequestFailedException("Connection refused (127.0.0.1:10000)", new HttpRequestException("Connection refused")),
            new TaskCanceledException("The operation was cancelled because it exceeded the configured timeout of 0:00:20."));
        Assert.Equal(StatusCode.Unavailable, InfrastructureErrorInterceptor.Classify(retriesSpent));
        Assert.Equal(StatusCode.Unavailable, InfrastructureErrorInterceptor.Classify(new AggregateException(new AggregateException(new System.Net.Sockets.SocketException(111)))));
    }

    [Fact]
    public void Broker_failures_answer_unavailable()
    {
        Assert.Equal(StatusCode.Unavailable, InfrastructureErrorInterceptor.Classify(new MessagingUnavailableException("the message broker is not connected")));
        Assert.Equal(StatusCode.Unavailable, InfrastructureErrorInterceptor.Classify(new MassTransit.RabbitMqConnectionException("Connect failed: guest@127.0.0.1:5672/")));
        Assert.Equal(StatusCode.Unavailable, InfrastructureErrorInterceptor.Classify(new RabbitMQ.Client.Exceptions.BrokerUnreachableException(new System.Net.Sockets.SocketException(111))));
        Assert.Equal(StatusCode.Unavailable, InfrastructureErrorInterceptor.Classify(new IOException("Unable to read data from the transport connection", new System.Net.Sockets.SocketException(104))));
    }

    [Fact]
    public void A_timeout_inside_the_service_is_unavailable_but_the_callers_own_cancellation_is_left_to_grpc()
    {
        Assert.Equal(StatusCode.Unavailable, InfrastructureErrorInterceptor.Classify(new TaskCanceledException("exceeded the configured timeout"), callerCancelled: false));
        Assert.Null(InfrastructureErrorInterceptor.Classify(new OperationCanceledException(), callerCancelled: true));
    }

    [Fact]
    public void Corrupt_data_among_outages_is_data_loss_and_plain_bugs_stay_unmapped()
    {
        Assert.Equal(StatusCode.DataLoss, InfrastructureErrorInterceptor.Classify(new AggregateException(new InvalidDataException("bad shard"), new TimeoutException())));
        Assert.Null(InfrastructureErrorInterceptor.Classify(new AggregateException(new InvalidOperationException("bug"))));
        Assert.Null(InfrastructureErrorInterceptor.Classify(new IOException("disk quota exceeded")));
    }

    [Fact]
    public void A_refusal_of_the_blob_store_that_the_service_did_not_handle_is_internal()
    {
        // Seen under the AppHost when the account was read from the wrong part of the URL: every blob request missed.
        Assert.Equal(StatusCode.Internal, InfrastructureErrorInterceptor.Classify(new RequestFailedException(404, "The specified container does not exist.", "ContainerNotFound", null)));
        Assert.Equal(StatusCode.Internal, InfrastructureErrorInterceptor.Classify(new RequestFailedException(409, "conflict")));
        Assert.Equal(StatusCode.Internal, InfrastructureErrorInterceptor.Classify(new AggregateException(new RequestFailedException(403, "forbidden"))));
    }
}
