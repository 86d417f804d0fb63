using BigDataAI.Datasets;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace BigDataAI.Labeling.Services;

/// <summary>
/// At start, labels every committed dataset version that has no labeled version: the safety net for a
/// DatasetIngested message that was never published (a crash between commit and publish).
/// </summary>
internal sealed class LabelingReconciler(DatasetStore datasets, DatasetLabeler labeler, IOptions<LabelingOptions> options, ILogger<LabelingReconciler> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.ReconcileOnStart)
        {
            return;
        }
        try
        {
            foreach (var manifest in await datasets.ListAsync(cancellationToken: stoppingToken).ConfigureAwait(false))
            {
                if (await datasets.GetLabeledAsync(manifest.Dataset, manifest.Version, stoppingToken).ConfigureAwait(false) is null)
                {
                    logger.LogInformation("Reconciling: {Dataset} v{Version} has no labeled version", manifest.Dataset, manifest.Version);
                    await labeler.LabelAsync(manifest.Dataset, manifest.Version, stoppingToken).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            // Not fatal: messages still drive labeling; the next start tries again.
            logger.LogError(e, "Reconciling unlabeled dataset versions failed");
        }
    }
}
