using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace BigDataAI.Inference.Services;

/// <summary>
/// Readiness of inference: a replica that has just started is not ready until it has read the registry and loaded the
/// newest version of every model name, so that a load balancer does not send Predict calls to a replica that would answer "no model
/// is loaded yet" while a model exists. With an empty registry it is ready (and Predict says no model is trained yet).
/// </summary>
internal sealed class ModelReadinessCheck(ModelHost host) : IHealthCheck
{
    public const string Name = "model";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (!host.HasScanned)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy("the model registry has not been read yet"));
        }
        var missing = host.NotLoaded();
        return Task.FromResult(missing.Count > 0
            ? HealthCheckResult.Unhealthy($"not loaded yet: {string.Join(", ", missing)}")
            : host.Newest().Count == 0
                ? HealthCheckResult.Healthy("no model is registered yet")
                : HealthCheckResult.Healthy($"serving {string.Join(", ", host.Newest().Select(r => r.Reference))}"));
    }
}
