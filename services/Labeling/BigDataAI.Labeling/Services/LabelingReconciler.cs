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
internal sealed class LabelingReconciler(DatasetStore datasets, DatasetLabeler labeler, IOptions<LabelingOptions> options, TimeProvider time, ILogger<LabelingReconciler> logger) : BackgroundService
{
    private readonly HashSet<(string Dataset, int Version)> _labeled = [];
    private readonly HashSet<(string Dataset, int Version)> _failed = [];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var o = options.Value;
        if (!o.ReconcileOnStart && o.ReconcileInterval <= TimeSpan.Zero)
        {
            return;
        }
        if (o.ReconcileOnStart)
        {
            await PassAsync(stoppingToken, fresh: true).ConfigureAwait(false);
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

    private async Task PassAsync(CancellationToken stoppingToken, bool fresh = false)
    {
        IReadOnlyList<DatasetManifest> manifests;
        try
        {
            manifests = await datasets.ListAsync(cancellationToken: stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            return;
        }
        catch (Exception e)
        {
            // Not fatal: messages still drive labeling, and the next pass tries again.
            logger.LogWarning(e, "Reconciling unlabeled dataset versions failed; trying again in {Interval}", options.Value.ReconcileInterval);
            return;
        }
        var youngest = time.GetUtcNow() - options.Value.ReconcileInterval;
        foreach (var manifest in manifests)
        {
            var key = (manifest.Dataset, manifest.Version);
            // A version committed moments ago is being labeled through its DatasetIngested right now; the next pass
            // looks at it if that message was lost.
            if (_labeled.Contains(key) || (!fresh && manifest.CreatedAt > youngest))
            {
                continue;
            }
            try
            {
                // A version whose labeling (or its announcement) failed in an earlier pass is labeled again even when
                // its labeled version exists: LabelAsync then announces it again, so a lost DatasetLabeled is made up.
                if (_failed.Contains(key) || await datasets.GetLabeledAsync(manifest.Dataset, manifest.Version, stoppingToken).ConfigureAwait(false) is null)
                {
                    logger.LogInformation("Reconciling: {Dataset} v{Version} has no labeled version or its announcement failed; labeling it now",
                        manifest.Dataset, manifest.Version);
                    await labeler.LabelAsync(manifest.Dataset, manifest.Version, stoppingToken).ConfigureAwait(false);
                }
                _failed.Remove(key);
                _labeled.Add(key);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // One version that cannot be labeled must not keep the others from being looked at.
                if (_failed.Add(key))
                {
                    logger.LogWarning(e, "Reconciling {Dataset} v{Version} failed; trying it again in {Interval}", manifest.Dataset, manifest.Version, options.Value.ReconcileInterval);
                }
            }
        }
    }
}
