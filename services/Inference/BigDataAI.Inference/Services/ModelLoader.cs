using MassTransit;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace BigDataAI.Inference.Services;

/// <summary>
/// Keeps the served model in step with the registry. ModelTrained swaps a new model in at once, but each replica hears
/// it on a temporary queue, so a message published while the broker was away, or while this replica was reconnecting,
/// is gone for good. So the loader also reconciles: at start, every <c>Inference:ReconcileInterval</c>, and as soon
/// as a receive endpoint is (re)connected, it loads any registered model newer than the one served. A lost message
/// then delays a swap by seconds, never forever.
/// </summary>
internal sealed class ModelLoader(ModelHost host, IOptions<InferenceOptions> options, ILogger<ModelLoader> logger) : BackgroundService, IReceiveEndpointObserver
{
    private readonly SemaphoreSlim _wake = new(0, 1);
    private int _failures;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            BigDataAI.Models.TorchRuntime.EnsureLoadable();
        }
        catch (Exception e)
        {
            logger.LogCritical(e, "TorchSharp cannot load; this replica cannot serve any model");
            return;
        }
        var first = true;
        var interval = options.Value.ReconcileInterval;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var loaded = await host.ReconcileAsync(stoppingToken).ConfigureAwait(false);
                if (first && host.Newest().Count == 0)
                {
                    logger.LogInformation("No registered model yet; Predict answers UNAVAILABLE until one is trained");
                }
                else if (loaded > 0 && !first)
                {
                    logger.LogInformation("Reconciled with the registry: loaded {Count} model(s) whose ModelTrained did not arrive", loaded);
                }
                if (_failures > 0)
                {
                    logger.LogInformation("The model registry is reachable again after {Failures} failed look(s)", _failures);
                }
                _failures = 0;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // Storage away for a moment: the served model stays, and the next look tries again.
                if (_failures++ == 0)
                {
                    logger.LogWarning(e, "Looking for newer models in the registry failed; serving {Models} meanwhile and trying again",
                        string.Join(", ", host.Newest().Where(r => host.Loaded(r.ModelId) is not null).Select(r => r.Reference).DefaultIfEmpty("nothing")));
                }
            }
            first = false;
            try
            {
                if (interval > TimeSpan.Zero)
                {
                    await _wake.WaitAsync(interval, stoppingToken).ConfigureAwait(false);
                }
                else
                {
                    await _wake.WaitAsync(stoppingToken).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
        }
    }

    private void Wake()
    {
        try
        {
            if (_wake.CurrentCount == 0)
            {
                _wake.Release();
            }
        }
        catch (SemaphoreFullException)
        {
        }
    }

    // A receive endpoint that is ready again means the broker connection is back: whatever was announced meanwhile
    // was lost, so look at the registry now rather than at the next tick.
    public Task Ready(ReceiveEndpointReady ready)
    {
        Wake();
        return Task.CompletedTask;
    }

    public Task Stopping(ReceiveEndpointStopping stopping) => Task.CompletedTask;

    public Task Completed(ReceiveEndpointCompleted completed) => Task.CompletedTask;

    public Task Faulted(ReceiveEndpointFaulted faulted) => Task.CompletedTask;

    public override void Dispose()
    {
        _wake.Dispose();
        base.Dispose();
    }
}
