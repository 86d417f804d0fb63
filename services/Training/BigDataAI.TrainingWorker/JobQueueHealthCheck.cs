using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace BigDataAI.Training.Workers;

/// <summary>Readiness of a training worker: its job queue delivers (see <see cref="JobQueueProbe"/>).</summary>
internal sealed class JobQueueHealthCheck(JobQueueProbe probe) : IHealthCheck
{
    public const string Name = "job-queue";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(probe.NotReceiving is { } reason ? HealthCheckResult.Unhealthy(reason) : HealthCheckResult.Healthy("the job queue delivers"));
}
