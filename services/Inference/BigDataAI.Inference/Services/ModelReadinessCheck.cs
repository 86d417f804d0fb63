using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace BigDataAI.Inference.Services;

/// <summary>
/// Readiness of inference: a replica that has just started is not ready until it has read the registry and loaded the
/// newest model there is, so that a load balancer does not send Predict calls to a replica that would answer "no model
/// is loaded yet" while a model exists. With an empty registry it is ready (and Predict says no model is trained yet).
/// </summary>
internal sealed class ModelReadinessCheck(ModelHost host, ModelLoader loader) : IHealthCheck
{
    public const string Name = "model";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(host.Current is { } current
            ? HealthCheckResult.Healthy($"serving {current.Record.ModelId}")
            : loader.HasLooked
                ? HealthCheckResult.Healthy("no model is registered yet")
                : HealthCheckResult.Unhealthy("the newest registered model is not loaded yet"));
}
