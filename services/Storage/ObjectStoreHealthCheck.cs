using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace BigDataAI.Storage;

/// <summary>
/// Readiness: the object store answers a metadata request (a HEAD of one small path) within
/// <see cref="Timeout"/>. An answer of any kind, even "no such object", is healthy; no answer is not.
/// </summary>
public sealed class ObjectStoreHealthCheck(IObjectStore store) : IHealthCheck
{
    public const string Name = "storage";

    /// <summary>A probe that takes longer than this counts as an outage.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    private const string ProbePath = "health/probe";

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Timeout);
        try
        {
            await store.ExistsAsync(ProbePath, timeout.Token).ConfigureAwait(false);
            return HealthCheckResult.Healthy($"{store.Location} answers");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return HealthCheckResult.Unhealthy($"{store.Location} did not answer within {Timeout.TotalSeconds:0} s");
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            return HealthCheckResult.Unhealthy($"{store.Location} is unreachable: {e.Message}", e);
        }
    }
}
