using BigDataAI.Storage;
using MassTransit;
using MassTransit.UsageTracking;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace BigDataAI.Hosting;

/// <summary>
/// The one place a host wires the platform: the object store and the message bus. Modules register their consumers
/// through the callback and never call <c>AddMassTransit</c> or pick a transport themselves.
/// </summary>
public static class PlatformHostingExtensions
{
    /// <summary>The name MassTransit's own bus health check is given, so that it can be replaced by <see cref="MessagingHealthCheck"/>.</summary>
    internal const string MassTransitHealthCheckName = "masstransit-bus";

    /// <summary><see cref="StorageRegistration.AddObjectStore"/> plus <see cref="AddPlatformMessaging"/>: the single host helper.</summary>
    public static IHostApplicationBuilder AddPlatform(this IHostApplicationBuilder builder, Action<IBusRegistrationConfigurator> configureConsumers)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.AddObjectStore();
        // Storage and broker failures reach gRPC callers as UNAVAILABLE with a message, not as UNKNOWN.
        builder.Services.AddGrpc(options => options.Interceptors.Add<InfrastructureErrorInterceptor>());
        return builder.AddPlatformMessaging(configureConsumers);
    }

    /// <summary>
    /// Adds MassTransit with the transport named by configuration (see <see cref="MessagingSettings"/>):
    /// RabbitMQ from <c>ConnectionStrings:messaging</c>, else the in-memory transport when <c>Messaging:Transport</c> is
    /// <c>InMemory</c>, else an <see cref="InvalidOperationException"/> naming the settings to set.
    /// Endpoint names include the consumer's namespace (kebab case), a failing message is retried at
    /// <c>Messaging:RetryIntervals</c> and then moved to the endpoint's <c>&lt;queue&gt;_error</c> queue, and the host
    /// waits at most <c>Messaging:StartTimeout</c> for the bus to start, then fails with a clear log.
    /// </summary>
    public static IHostApplicationBuilder AddPlatformMessaging(this IHostApplicationBuilder builder, Action<IBusRegistrationConfigurator> configureConsumers)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configureConsumers);
        var settings = MessagingSettings.FromConfiguration(builder.Configuration);
        var connectionName = builder.Environment.ApplicationName;

        builder.Services.AddSingleton(settings);
        builder.Services.AddOptions<MassTransitHostOptions>().Configure(options =>
        {
            options.WaitUntilStarted = true;
            options.StartTimeout = settings.StartTimeout;
            options.StopTimeout = TimeSpan.FromSeconds(30);
        });
        builder.Services.AddBusObserver<BusStartLogger>();
        builder.Services.AddSingleton<BoundedPublisher>();
        // Readiness follows the broker connection; the MassTransit check it replaces is removed below.
        builder.Services.AddHealthChecks().AddCheck<MessagingHealthCheck>(MessagingHealthCheck.Name);
        builder.Services.PostConfigure<HealthCheckServiceOptions>(options =>
        {
            foreach (var registration in options.Registrations.Where(r => r.Name == MassTransitHealthCheckName).ToList())
            {
                options.Registrations.Remove(registration);
            }
        });

        builder.Services.AddMassTransit(x =>
        {
            // No usage telemetry: MassTransit would post a report to the internet 5 minutes after the bus starts. The
            // options say so, and the tracker itself is replaced below so no environment variable can turn it back on.
            // Should the tracker ever come back, the 30 s delay (the least MassTransit allows) makes the network test
            // (tests/BigDataAI.IntegrationTests/Faults/NetworkIsolationTests.cs) see its report instead of missing it.
            x.ConfigureUsageTelemetryOptions(o =>
            {
                o.Enabled = false;
                o.ReportOnShutdown = false;
                o.ReportDelay = TimeSpan.FromSeconds(30);
            });
            x.ConfigureHealthCheckOptions(o => o.Name = MassTransitHealthCheckName);
            x.SetEndpointNameFormatter(PlatformEndpointNameFormatter.Instance);
            x.AddConfigureEndpointsCallback((_, _, endpoint) =>
            {
                if (settings.RetryIntervals.Count > 0)
                {
                    endpoint.UseMessageRetry(r => r.Intervals([.. settings.RetryIntervals]));
                }
            });

            configureConsumers(x);

            switch (settings.Transport)
            {
                case MessagingTransport.RabbitMq:
                    var broker = settings.Broker!;
                    x.UsingRabbitMq((context, cfg) =>
                    {
                        cfg.Host(broker.Host, broker.Port, broker.VirtualHost, connectionName, h =>
                        {
                            h.Username(broker.Username);
                            h.Password(broker.Password);
                            if (broker.UseSsl)
                            {
                                h.UseSsl(_ => { });
                            }
                        });
                        cfg.ConfigureEndpoints(context);
                        // Bus health is the health of the receive endpoints, and a host without consumers (ingestion)
                        // has none, so it would look connected with the broker gone. This one takes nothing: it is an
                        // auto-deleted queue that exists only while the connection does, so readiness and
                        // BoundedPublisher see the connection in every host.
                        cfg.ReceiveEndpoint($"bigdataai-connection-{Guid.NewGuid():N}", e =>
                        {
                            e.ConfigureConsumeTopology = false;
                            e.AutoDelete = true;
                            e.Durable = false;
                        });
                    });
                    break;
                case MessagingTransport.InMemory:
                    x.UsingInMemory((context, cfg) => cfg.ConfigureEndpoints(context));
                    break;
                default:
                    throw new InvalidOperationException($"Unknown message transport {settings.Transport}.");
            }
        });
        builder.Services.RemoveAll<IUsageTracker>();
        builder.Services.AddSingleton<IUsageTracker, NoUsageTracker>();
        return builder;
    }
}
