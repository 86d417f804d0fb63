using MassTransit;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace BigDataAI.Hosting;

/// <summary>
/// Readiness: the bus is connected to the broker and every receive endpoint is consuming. MassTransit's own check
/// reports a bus whose endpoints are reconnecting as Degraded, which ASP.NET Core and the gRPC health service count as
/// ready; a host that cannot receive or publish is not ready, so this one reports Unhealthy then, naming the
/// endpoints that are down.
/// </summary>
internal sealed class MessagingHealthCheck(IBusControl bus, MessagingSettings settings) : IHealthCheck
{
    public const string Name = "messaging";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var target = settings.Broker?.ToString() ?? "in-memory";
        var health = bus.CheckHealth();
        if (health.Status == BusHealthStatus.Healthy)
        {
            return Task.FromResult(HealthCheckResult.Healthy($"connected to {target}"));
        }
        var down = health.Endpoints
            .Where(e => e.Value.Status != BusHealthStatus.Healthy)
            .Select(e => $"{e.Key}: {e.Value.Description}")
            .Take(5);
        return Task.FromResult(HealthCheckResult.Unhealthy(
            $"not connected to {target}: {health.Description}{(down.Any() ? " (" + string.Join("; ", down) + ")" : "")}", health.Exception));
    }
}
