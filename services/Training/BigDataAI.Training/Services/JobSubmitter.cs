using System.Threading.Channels;
using BigDataAI.Datasets;
using BigDataAI.Training.Model;
using Microsoft.Extensions.Logging;

namespace BigDataAI.Training.Services;

/// <summary>The dataset version exists but labeling has not committed its labeled version yet.</summary>
public sealed class LabelsNotReadyException(string message) : Exception(message);

/// <summary>A request as a caller states it: zeros and empty strings mean "the default".</summary>
public sealed record TrainingRequest(string Dataset, int Version, string Model, int Epochs = 0, int BatchSize = 0, double LearningRate = 0, string? Optimizer = null, long Seed = 0);

/// <summary>Validates requests, resolves defaults and versions, and queues jobs. The one way a job starts.</summary>
public sealed class JobSubmitter(DatasetStore datasets, JobTracker tracker, JobQueue queue, ILogger<JobSubmitter> logger)
{
    public static readonly IReadOnlyList<string> Models = ["cnn", "mlp"];
    public static readonly IReadOnlyList<string> Optimizers = ["adam", "sgd"];

    /// <summary>Applies defaults and checks ranges. Throws <see cref="ArgumentException"/> naming the field.</summary>
    public static (string Model, HyperParameters HyperParameters) Resolve(TrainingRequest request)
    {
        var model = (request.Model ?? "").Trim().ToLowerInvariant();
        if (!Models.Contains(model))
        {
            throw new ArgumentException($"Field 'model': '{request.Model}' is not a known model; use one of {string.Join(", ", Models)}.");
        }
        var optimizer = string.IsNullOrWhiteSpace(request.Optimizer) ? "adam" : request.Optimizer.Trim().ToLowerInvariant();
        if (!Optimizers.Contains(optimizer))
        {
            throw new ArgumentException($"Field 'optimizer': '{request.Optimizer}' is not supported; use one of {string.Join(", ", Optimizers)}.");
        }
        var epochs = request.Epochs == 0 ? (model == "cnn" ? 12 : 10) : request.Epochs;
        if (epochs is < 1 or > 1000)
        {
            throw new ArgumentException($"Field 'epochs': {request.Epochs} is out of range; use 1 to 1000.");
        }
        var batch = request.BatchSize == 0 ? 128 : request.BatchSize;
        if (batch is < 1 or > 65536)
        {
            throw new ArgumentException($"Field 'batch_size': {request.BatchSize} is out of range; use 1 to 65536.");
        }
        var lr = request.LearningRate == 0 ? (optimizer == "adam" ? 1e-3 : 0.05) : request.LearningRate;
        if (!double.IsFinite(lr) || lr <= 0 || lr > 10)
        {
            throw new ArgumentException($"Field 'learning_rate': {request.LearningRate} is out of range; use a number in (0, 10].");
        }
        var seed = request.Seed == 0 ? 1 : request.Seed;
        if (seed is < 0 or > int.MaxValue)
        {
            throw new ArgumentException($"Field 'seed': {request.Seed} is out of range; use 0 to {int.MaxValue}.");
        }
        return (model, new HyperParameters(epochs, batch, lr, optimizer, seed));
    }

    public async Task<JobRecord> SubmitAsync(TrainingRequest request, CancellationToken cancellationToken)
    {
        var (model, hyper) = Resolve(request);
        if (!DatasetPaths.IsValidName(request.Dataset))
        {
            throw new ArgumentException($"Field 'dataset': '{request.Dataset}' is not a valid dataset name.");
        }
        var manifest = await datasets.GetRequiredAsync(request.Dataset, request.Version, cancellationToken).ConfigureAwait(false);
        var labeled = await datasets.GetLabeledAsync(manifest.Dataset, manifest.Version, cancellationToken).ConfigureAwait(false)
            ?? throw new LabelsNotReadyException($"Dataset '{manifest.Dataset}' v{manifest.Version} has no labeled version yet (labeling runs after ingestion); try again shortly.");
        if (model == "cnn" && labeled.FeatureShape.Length != 2)
        {
            throw new ArgumentException($"Field 'model': 'cnn' needs 2-D image features, but '{manifest.Dataset}' v{manifest.Version} has shape [{string.Join(", ", labeled.FeatureShape)}]; use 'mlp'.");
        }
        var spec = new JobSpec(manifest.Dataset, manifest.Version, model, hyper);
        var (job, created) = await tracker.SubmitAsync(spec, cancellationToken).ConfigureAwait(false);
        if (created)
        {
            logger.LogInformation("Queued job {JobId}: {Model} on {Dataset} v{Version}, {Epochs} epochs", job.JobId, model, spec.Dataset, spec.Version, hyper.Epochs);
            await queue.EnqueueAsync(job.JobId, cancellationToken).ConfigureAwait(false);
        }
        return job;
    }
}

/// <summary>Jobs waiting for a runner, in arrival order.</summary>
public sealed class JobQueue
{
    private readonly Channel<string> _channel = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = false });

    public ValueTask EnqueueAsync(string jobId, CancellationToken cancellationToken) => _channel.Writer.WriteAsync(jobId, cancellationToken);

    public IAsyncEnumerable<string> ReadAllAsync(CancellationToken cancellationToken) => _channel.Reader.ReadAllAsync(cancellationToken);
}
