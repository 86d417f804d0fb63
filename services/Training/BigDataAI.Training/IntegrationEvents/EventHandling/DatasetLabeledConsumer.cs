using BigDataAI.Contracts.Labeling;
using BigDataAI.Training.Services;
using MassTransit;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace BigDataAI.Training.IntegrationEvents.EventHandling;

/// <summary>
/// Starts a job for each labeled dataset version when Training:AutoTrainModel is set. It only queues the job
/// (long work never runs inside Consume); a redelivered message finds the same job (same spec, same id).
/// </summary>
public sealed class DatasetLabeledConsumer(JobSubmitter submitter, IOptions<TrainingOptions> options, ILogger<DatasetLabeledConsumer> logger) : IConsumer<DatasetLabeled>
{
    public async Task Consume(ConsumeContext<DatasetLabeled> context)
    {
        var o = options.Value;
        if (string.IsNullOrWhiteSpace(o.AutoTrainModel))
        {
            return;
        }
        var h = o.AutoTrainHyperParameters;
        try
        {
            await submitter.SubmitAsync(new TrainingRequest(context.Message.Dataset, context.Message.Version, o.AutoTrainModel,
                h.Epochs, h.BatchSize, h.LearningRate, h.Optimizer, h.Seed), context.CancellationToken).ConfigureAwait(false);
        }
        catch (ArgumentException e)
        {
            // The configured auto-train does not fit this dataset (e.g. "cnn" for tabular data). Retrying cannot help,
            // so say why and let the message go instead of sending it to the error queue.
            logger.LogWarning("Not auto-training {Dataset} v{Version} with {Model}: {Reason}", context.Message.Dataset, context.Message.Version, o.AutoTrainModel, e.Message);
        }
    }
}

/// <summary>Queuing a job is quick; retries (then the _error queue) come from the host's messaging setup.</summary>
public sealed class DatasetLabeledConsumerDefinition : ConsumerDefinition<DatasetLabeledConsumer>
{
    public DatasetLabeledConsumerDefinition() => ConcurrentMessageLimit = 4;
}
