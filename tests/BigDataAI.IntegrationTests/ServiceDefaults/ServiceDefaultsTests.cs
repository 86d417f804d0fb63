using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using BigDataAI.IntegrationTests.Infrastructure;
using Grpc.Core;
using Grpc.Health.V1;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Trace;
using Xunit.Abstractions;

namespace BigDataAI.IntegrationTests.ServiceDefaults;

/// <summary>
/// A real WebApplication on loopback ports, configured only through AddServiceDefaults/MapDefaultEndpoints: an
/// HTTP/1.1 endpoint for /health and /alive, and an HTTP/2 endpoint for gRPC, declared in Kestrel configuration as the
/// AppHost accepts them from a host (Kestrel:Endpoints:grpc with Protocols Http2, see AppHost/README.md).
/// </summary>
public sealed class ServiceDefaultsTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string ServiceName = "defaults-under-test";
    private readonly ToggleableHealthCheck _readiness = new();
    private readonly SpanCollector _spans = new();
    private WebApplication _app = null!;
    private HttpClient _http = null!;
    private string _grpcClientName = null!;

    public async Task InitializeAsync()
    {
        var httpPort = FreeLoopbackPort();
        var grpcPort = FreeLoopbackPort();

        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = Environments.Production });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Kestrel:Endpoints:http:Url"] = $"http://127.0.0.1:{httpPort}",
            ["Kestrel:Endpoints:http:Protocols"] = "Http1",
            ["Kestrel:Endpoints:grpc:Url"] = $"http://127.0.0.1:{grpcPort}",
            ["Kestrel:Endpoints:grpc:Protocols"] = "Http2",
            // What the AppHost injects for WithReference(...GetEndpoint("grpc")): services:<name>:<endpoint>:<index>.
            [$"services:{ServiceName}:grpc:0"] = $"http://127.0.0.1:{grpcPort}",
        });
        builder.Logging.ClearProviders();
        builder.Logging.AddTestOutput(output, LogLevel.Warning);

        builder.AddServiceDefaults();
        builder.Services.AddHealthChecks().AddCheck("readiness", _readiness); // not tagged "live"
        // Make the standard resilience handler's timeouts short: a gRPC stream that outlives them shows it is not applied.
        builder.Services.ConfigureAll<HttpStandardResilienceOptions>(o =>
        {
            o.AttemptTimeout.Timeout = TimeSpan.FromSeconds(1);
            o.TotalRequestTimeout.Timeout = TimeSpan.FromSeconds(2);
            o.CircuitBreaker.SamplingDuration = TimeSpan.FromSeconds(2);
        });
        builder.Services.ConfigureOpenTelemetryTracerProvider(tracing => tracing.AddProcessor(_spans));
        _grpcClientName = builder.Services.AddServiceGrpcClient<Health.HealthClient>(new Uri($"http://_grpc.{ServiceName}")).Name;
        builder.Services.AddServiceGrpcClient<SlowUpload.Client>(new Uri($"http://_grpc.{ServiceName}"));
        builder.Services.AddHttpClient("plain");

        _app = builder.Build();
        _app.MapDefaultEndpoints();
        _app.MapGet("/work", () => "done");
        _app.MapGrpcService<SlowUpload>();
        await _app.StartAsync();

        _http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}"), Timeout = TimeSpan.FromSeconds(10) };
    }

    public async Task DisposeAsync()
    {
        _http?.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }

    [Fact]
    public async Task Health_reports_all_checks_and_alive_only_live_ones()
    {
        Assert.Equal((HttpStatusCode.OK, "Healthy"), await GetAsync("/health"));
        Assert.Equal((HttpStatusCode.OK, "Healthy"), await GetAsync("/alive"));

        _readiness.Healthy = false;

        Assert.Equal((HttpStatusCode.ServiceUnavailable, "Unhealthy"), await GetAsync("/health"));
        Assert.Equal((HttpStatusCode.OK, "Healthy"), await GetAsync("/alive"));
    }

    [Fact]
    public async Task Grpc_health_check_through_service_discovery_reports_serving_then_not_serving()
    {
        var client = _app.Services.GetRequiredService<Health.HealthClient>();

        var serving = await client.CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(10));
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, serving.Status);

        _readiness.Healthy = false;

        var notServing = await client.CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(10));
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.NotServing, notServing.Status);
    }

    [Fact]
    public async Task Grpc_client_streaming_upload_outlives_the_standard_resilience_timeouts()
    {
        var client = _app.Services.GetRequiredService<SlowUpload.Client>();
        using var call = client.Upload(deadline: DateTime.UtcNow.AddSeconds(30));

        // 4 chunks over about 3 s: past the 1 s attempt and 2 s total timeouts configured above for the standard
        // handler, which would cancel the call (SendAsync only returns once the server answers, after the last chunk).
        for (var chunk = 1; chunk <= 4; chunk++)
        {
            await call.RequestStream.WriteAsync(new byte[chunk * 1000]);
            await Task.Delay(TimeSpan.FromMilliseconds(750));
        }
        await call.RequestStream.CompleteAsync();

        Assert.Equal(10_000, BitConverter.ToInt32(await call.ResponseAsync));
    }

    [Fact]
    public void Grpc_clients_skip_the_standard_resilience_handler_and_plain_clients_keep_it()
    {
        var factory = _app.Services.GetRequiredService<IHttpMessageHandlerFactory>();

        var grpcChain = HandlerChain(factory.CreateHandler(_grpcClientName));
        var plainChain = HandlerChain(factory.CreateHandler("plain"));

        Assert.DoesNotContain(grpcChain, h => h is ResilienceHandler);
        Assert.Contains(grpcChain, IsServiceDiscoveryHandler);
        Assert.Contains(plainChain, h => h is ResilienceHandler);
        Assert.Contains(plainChain, IsServiceDiscoveryHandler);
    }

    [Fact]
    public async Task Traces_include_BigDataAI_sources_and_requests_but_not_health_probes()
    {
        using var source = new ActivitySource("BigDataAI.Test");
        var operation = $"test-operation-{Guid.NewGuid():N}";
        using (source.StartActivity(operation))
        {
        }

        Assert.Equal((HttpStatusCode.OK, "done"), await GetAsync("/work"));
        Assert.Equal((HttpStatusCode.OK, "Healthy"), await GetAsync("/health"));
        Assert.Equal((HttpStatusCode.OK, "Healthy"), await GetAsync("/alive"));

        Assert.Contains(_spans.Ended, a => a.Source.Name == "BigDataAI.Test" && a.DisplayName == operation);
        // The server span ends just after the response is sent: wait for it briefly.
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (!HasServerSpanFor("/work") && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }
        Assert.True(HasServerSpanFor("/work"), "no server span for GET /work");
        Assert.False(HasServerSpanFor("/health"), "GET /health was traced");
        Assert.False(HasServerSpanFor("/alive"), "GET /alive was traced");
    }

    private bool HasServerSpanFor(string path) =>
        _spans.Ended.Any(a => a.Kind == ActivityKind.Server && (a.GetTagItem("url.path") as string) == path);

    // Microsoft.Extensions.ServiceDiscovery's handler type is internal.
    private static bool IsServiceDiscoveryHandler(HttpMessageHandler handler) =>
        handler.GetType().FullName == "Microsoft.Extensions.ServiceDiscovery.Http.ResolvingHttpDelegatingHandler";

    private async Task<(HttpStatusCode, string)> GetAsync(string path)
    {
        using var response = await _http.GetAsync(path);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private static List<HttpMessageHandler> HandlerChain(HttpMessageHandler handler)
    {
        var chain = new List<HttpMessageHandler> { handler };
        while (handler is DelegatingHandler { InnerHandler: { } inner })
        {
            chain.Add(inner);
            handler = inner;
        }
        return chain;
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private sealed class ToggleableHealthCheck : IHealthCheck
    {
        private volatile bool _healthy = true;

        public bool Healthy
        {
            get => _healthy;
            set => _healthy = value;
        }

        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
            Task.FromResult(_healthy ? HealthCheckResult.Healthy() : HealthCheckResult.Unhealthy("switched off by the test"));
    }

    private sealed class SpanCollector : BaseProcessor<Activity>
    {
        private readonly ConcurrentQueue<Activity> _ended = new();

        public IReadOnlyCollection<Activity> Ended => _ended.ToArray();

        public override void OnEnd(Activity data) => _ended.Enqueue(data);
    }

    /// <summary>
    /// A client-streaming gRPC method written by hand (no .proto): the server adds up the bytes it receives and answers
    /// once the client completes its stream, as IngestionService.Upload does.
    /// </summary>
    [BindServiceMethod(typeof(SlowUpload), nameof(BindService))]
    public class SlowUpload
    {
        private static readonly Marshaller<byte[]> Bytes = Marshallers.Create(bytes => bytes, bytes => bytes);

        private static readonly Method<byte[], byte[]> UploadMethod =
            new(MethodType.ClientStreaming, "bigdataai.test.SlowUpload", "Upload", Bytes, Bytes);

        // As generated code does: ASP.NET Core binds with a null service and looks up a public virtual method named like
        // the RPC, declared on the type named in [BindServiceMethod].
        public static void BindService(ServiceBinderBase binder, SlowUpload? service) =>
            binder.AddMethod(UploadMethod, service is null ? null : service.Upload);

        public virtual async Task<byte[]> Upload(IAsyncStreamReader<byte[]> chunks, ServerCallContext context)
        {
            var total = 0;
            await foreach (var chunk in chunks.ReadAllAsync(context.CancellationToken))
            {
                total += chunk.Length;
            }
            return BitConverter.GetBytes(total);
        }

        public sealed class Client : ClientBase<Client>
        {
            public Client(CallInvoker callInvoker) : base(callInvoker)
            {
            }

            private Client(ClientBaseConfiguration configuration) : base(configuration)
            {
            }

            public AsyncClientStreamingCall<byte[], byte[]> Upload(DateTime deadline) =>
                CallInvoker.AsyncClientStreamingCall(UploadMethod, null, new CallOptions(deadline: deadline));

            protected override Client NewInstance(ClientBaseConfiguration configuration) => new(configuration);
        }
    }
}
