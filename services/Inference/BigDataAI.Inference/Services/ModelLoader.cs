using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace BigDataAI.Inference.Services;

/// <summary>At start, serves the newest registered model, if there is one; later models arrive through ModelTrained.</summary>
internal sealed class ModelLoader(ModelHost host, ILogger<ModelLoader> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            BigDataAI.Models.TorchRuntime.EnsureLoadable();
            if (!await host.LoadLatestAsync(stoppingToken).ConfigureAwait(false))
            {
                logger.LogInformation("No registered model yet; Predict answers UNAVAILABLE until one is trained");
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            logger.LogError(e, "Loading the newest registered model at start failed; waiting for ModelTrained");
        }
    }
}
