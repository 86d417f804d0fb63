using BigDataAI.Datasets;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace BigDataAI.Labeling.Services;

/// <summary>
/// Labels every committed dataset version that has no labeled version: at start, then every
/// <c>Labeling:ReconcileInterval</c>. The safety net for a DatasetIngested message that was never published or never
/// arrived (a crash between commit and publish, a broker outage, an upload stored while the broker was away), so a
/// lost message delays labeling by at most one interval, never forever. Versions seen labeled are remembered, so a
/// pass reads only the manifests' list and the versions that are new.
/// </summary>
internal sealed class LabelingReconciler(DatasetStore datasets, DatasetLabeler labeler, IOptions<LabelingOptions> options, ILogger<LabelingReconciler> logger) : BackgroundService
{
    private readonly HashSet<(string Dataset, int Version)> _labeled = [];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var o = options.Value;
        if (!o.ReconcileOnStart && o.ReconcileInterval <= TimeSpan.Zero)
        {
            return;
        }
        if (o.ReconcileOnStart)
        {
            await PassAsync(stoppingToken).ConfigureAwait(false);
        }
        if (o.ReconcileInterval <= TimeSpan.Zero)
        {
            return;
        }
        using var timer = new PeriodicTimer(o.ReconcileInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                await PassAsync(stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task PassAsync(CancellationToken stoppingToken)
    {
        try
        {
            foreach (var manifest in await datasets.ListAsync(cancellationToken: stoppingToken).ConfigureAwait(false))
            {
                var key = (manifest.Dataset, manifest.Version);
                if (_labeled.Contains(key))
                {
                    continue;
                }
                if (await datasets.GetLabeledAsync(manifest.Dataset, manifest.Version, stoppingToken).ConfigureAwait(false) is null)
                {
                    logger.LogInformation("Reconciling: {Dataset} v{Version} has no labeled version (its DatasetIngested never arrived); labeling it now",
                        manifest.Dataset, manifest.Version);
                    await labeler.LabelAsync(manifest.Dataset, manifest.Version, stoppingToken).ConfigureAwait(false);
                }
                _labeled.Add(key);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            // Not fatal: messages still drive labeling, and the next pass tries again.
            logger.LogWarning(e, "Reconciling unlabeled dataset versions failed; trying again in {Interval}", options.Value.ReconcileInterval);
        }
    }
}
