using Grpc.Net.Client.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using GrpcStatusCode = Grpc.Core.StatusCode;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// What every BigDataAI host shares: OpenTelemetry (logs, traces, metrics), health checks (HTTP and gRPC), service
/// discovery and HTTP resilience. The shape of Aspire's ServiceDefaults, without any Aspire package.
/// </summary>
/// <remarks>
/// Resilience: every <see cref="HttpClient"/> from <see cref="IHttpClientFactory"/> gets the standard resilience
/// handler (rate limiter, 30 s total timeout, 3 retries, circuit breaker, 10 s attempt timeout). gRPC clients must NOT
/// get it: its timeouts cancel client-streaming uploads and server-streaming watches that run for minutes, and its
/// retries would re-send a request stream that has already been consumed. Register gRPC clients with
/// <see cref="AddServiceGrpcClient{TClient}"/>, which removes the handler for that client and instead uses gRPC's own
/// retry policy (UNAVAILABLE only, which gRPC replays safely for streams too); callers put deadlines on unary calls.
/// </remarks>
public static class Extensions
{
    /// <summary>Readiness: every registered health check must pass.</summary>
    public const string HealthEndpointPath = "/health";

    /// <summary>Liveness: only checks tagged <see cref="LiveTag"/> must pass.</summary>
    public const string AlivenessEndpointPath = "/alive";

    /// <summary>Tag of the health checks that decide liveness.</summary>
    public const string LiveTag = "live";

    /// <summary>Wildcard for every BigDataAI ActivitySource and Meter (one of each per service, named <c>BigDataAI.&lt;Service&gt;</c>).</summary>
    public const string BigDataAITelemetryWildcard = "BigDataAI.*";

    /// <summary>Name of MassTransit's ActivitySource and Meter.</summary>
    public const string MassTransitTelemetryName = "MassTransit";

    private const string GrpcHealthServicePath = "/grpc.health.v1.Health";

    /// <summary>
    /// Adds OpenTelemetry, default health checks (a "self" check tagged <c>live</c>), gRPC health checks, service discovery
    /// and the standard resilience handler on HttpClient defaults.
    /// </summary>
    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);

        builder.ConfigureOpenTelemetry();
        builder.AddDefaultHealthChecks();

        builder.Services.AddServiceDiscovery();
        builder.Services.ConfigureHttpClientDefaults(http =>
        {
            // Plain HttpClients only in practice: AddServiceGrpcClient removes this handler again (see remarks).
            http.AddStandardResilienceHandler();

            // Resolves http://name, http://_endpoint.name and https+http://name from services:<name>:<endpoint>:<index>.
            http.AddServiceDiscovery();
        });

        return builder;
    }

    /// <summary>
    /// Logs, traces and metrics through OpenTelemetry: ASP.NET Core, gRPC client, HttpClient and runtime instrumentation,
    /// MassTransit, and every <c>BigDataAI.*</c> ActivitySource and Meter. Exported over OTLP only when
    /// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set.
    /// </summary>
    public static TBuilder ConfigureOpenTelemetry<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);

        builder.Logging.AddOpenTelemetry(logging =>
        {
            logging.IncludeFormattedMessage = true;
            logging.IncludeScopes = true;
        });

        builder.Services.AddOpenTelemetry()
            .WithMetrics(metrics => metrics
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddMeter(MassTransitTelemetryName)
                .AddMeter(BigDataAITelemetryWildcard))
            .WithTracing(tracing => tracing
                .AddSource(MassTransitTelemetryName)
                .AddSource(BigDataAITelemetryWildcard)
                .AddAspNetCoreInstrumentation(aspNetCore =>
                    // Probes (HTTP and gRPC health) would drown the real traffic.
                    aspNetCore.Filter = context => !IsHealthRequest(context.Request.Path))
                // One span per gRPC call (with rpc.* attributes) instead of a bare HTTP/2 POST span underneath it.
                .AddGrpcClientInstrumentation(grpc => grpc.SuppressDownstreamInstrumentation = true)
                .AddHttpClientInstrumentation());

        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            builder.Services.AddOpenTelemetry().UseOtlpExporter();
        }

        return builder;
    }

    /// <summary>Adds a "self" health check tagged <c>live</c>, and the gRPC health service's checks.</summary>
    public static TBuilder AddDefaultHealthChecks<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);

        builder.Services.AddHealthChecks()
            .AddCheck("self", () => HealthCheckResult.Healthy(), [LiveTag]);

        // grpc.health.v1.Health reports the same checks as /health: service "" is SERVING when all of them pass.
        builder.Services.AddGrpc();
        builder.Services.AddGrpcHealthChecks();
        // Server reflection: grpcurl, Postman and other clients discover every service and message without the protos.
        builder.Services.AddGrpcReflection();

        return builder;
    }

    /// <summary>
    /// Maps <c>/health</c> (all checks), <c>/alive</c> (checks tagged <c>live</c>), the gRPC health service
    /// (<c>grpc.health.v1.Health</c>, reachable on HTTP/2 endpoints) and gRPC server reflection
    /// (<c>grpc.reflection.v1alpha.ServerReflection</c> and <c>grpc.reflection.v1</c>), which lists the host's services.
    /// </summary>
    /// <remarks>
    /// Mapped in every environment, not only Development as in Aspire's template, so deployments can probe them. The
    /// service hosts listen on HTTP/2 only, so an HTTP/1.1 probe needs a second endpoint or a gRPC probe
    /// (docs/decisions/0003-http2-endpoints.md). The responses carry only the overall status, never check details.
    /// </remarks>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);

        app.MapHealthChecks(HealthEndpointPath);
        app.MapHealthChecks(AlivenessEndpointPath, new HealthCheckOptions
        {
            Predicate = registration => registration.Tags.Contains(LiveTag),
        });
        app.MapGrpcHealthChecksService();
        app.MapGrpcReflectionService();

        return app;
    }

    /// <summary>
    /// Registers a typed gRPC client (e.g. <c>IngestionService.IngestionServiceClient</c>) for another BigDataAI service.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="address">
    /// The service address, resolved by service discovery: <c>http://_grpc.ingestion</c> picks the endpoint named
    /// <c>grpc</c> from configuration <c>services:ingestion:grpc:0</c> (which the AppHost injects); a literal URL works too.
    /// </param>
    /// <remarks>
    /// Removes the standard resilience handler that <see cref="AddServiceDefaults{TBuilder}"/> puts on every HttpClient,
    /// so long streaming calls are neither timed out nor retried by Polly, and configures gRPC's own retry policy:
    /// up to 4 attempts on UNAVAILABLE (connection refused, server restarting), backoff 0.5 s to 5 s. gRPC buffers the
    /// request messages of a call (up to 16 MB by default) so that a retried stream is replayed whole, and stops retrying
    /// once the buffer overflows or the server has answered. Unary calls should carry a deadline.
    /// </remarks>
    /// <returns>The client's <see cref="IHttpClientBuilder"/>, for further configuration.</returns>
    public static IHttpClientBuilder AddServiceGrpcClient<TClient>(this IServiceCollection services, Uri address)
        where TClient : class
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(address);

        var client = services
            .AddGrpcClient<TClient>(options => options.Address = address)
            .ConfigureChannel(channel => channel.ServiceConfig = new ServiceConfig
            {
                MethodConfigs =
                {
                    new MethodConfig
                    {
                        Names = { MethodName.Default },
                        RetryPolicy = new RetryPolicy
                        {
                            MaxAttempts = 4,
                            InitialBackoff = TimeSpan.FromSeconds(0.5),
                            MaxBackoff = TimeSpan.FromSeconds(5),
                            BackoffMultiplier = 2,
                            RetryableStatusCodes = { GrpcStatusCode.Unavailable },
                        },
                    },
                },
            });

        // RemoveAllResilienceHandlers is the documented way to undo ConfigureHttpClientDefaults' handler for one client
        // (dotnet/extensions#4814) but is still marked experimental in Microsoft.Extensions.Http.Resilience 10.11.
        // The ServiceDefaults tests assert that gRPC clients end up without the handler, so a change would be caught.
#pragma warning disable EXTEXP0001
        return client.RemoveAllResilienceHandlers();
#pragma warning restore EXTEXP0001
    }

    private static bool IsHealthRequest(PathString path) =>
        path.StartsWithSegments(HealthEndpointPath)
        || path.StartsWithSegments(AlivenessEndpointPath)
        || path.StartsWithSegments(GrpcHealthServicePath);
}
