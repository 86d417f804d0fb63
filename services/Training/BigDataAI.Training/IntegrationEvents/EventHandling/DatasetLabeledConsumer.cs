using BigDataAI.Contracts.Labeling;
using BigDataAI.Training.Services;
using MassTransit;
using Microsoft.Extensions.Options;

namespace BigDataAI.Training.IntegrationEvents.EventHandling;

/// <summary>
/// Starts a job for each labeled dataset version when Training:AutoTrainModel is set. It only queues the job
/// (long work never runs inside Consume); a redelivered message finds the same job (same spec, same id).
/// </summary>
public sealed class DatasetLabeledConsumer(JobSubmitter submitter, IOptions<TrainingOptions> options) : IConsumer<DatasetLabeled>
{
    public async Task Consume(ConsumeContext<DatasetLabeled> context)
    {
        var o = options.Value;
        if (string.IsNullOrWhiteSpace(o.AutoTrainModel))
        {
            return;
        }
        var h = o.AutoTrainHyperParameters;
        await submitter.SubmitAsync(new TrainingRequest(context.Message.Dataset, context.Message.Version, o.AutoTrainModel,
            h.Epochs, h.BatchSize, h.LearningRate, h.Optimizer, h.Seed), context.CancellationToken).ConfigureAwait(false);
    }
}

/// <summary>Queuing a job is quick; retries (then the _error queue) come from the host's messaging setup.</summary>
public sealed class DatasetLabeledConsumerDefinition : ConsumerDefinition<DatasetLabeledConsumer>
{
    public DatasetLabeledConsumerDefinition() => ConcurrentMessageLimit = 4;
}
