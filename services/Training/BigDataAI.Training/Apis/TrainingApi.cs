using System.Globalization;
using BigDataAI.Datasets;
using BigDataAI.Models.Registry;
using BigDataAI.Protos.Training.V1;
using BigDataAI.Training.Model;
using BigDataAI.Training.Services;
using Grpc.Core;
using Proto = BigDataAI.Protos.Training.V1;

namespace BigDataAI.Training.Apis;

internal sealed class TrainingApi(JobSubmitter submitter, JobTracker tracker, ModelRegistry registry, Scheduling.WorkerRegistry workers) : TrainingService.TrainingServiceBase
{
    public override async Task<Job> StartTraining(StartTrainingRequest request, ServerCallContext context)
    {
        var h = request.HyperParameters ?? new Proto.HyperParameters();
        try
        {
            var job = await submitter.SubmitAsync(new TrainingRequest(request.Dataset, request.Version, request.Model,
                h.Epochs, h.BatchSize, h.LearningRate, h.Optimizer, h.Seed, request.Resources?.Gpus ?? 0, request.Resources?.MemoryMib ?? 0, request.ModelName)
            {
                SoftTargets = h.SoftTargets,
                CrossValidation = request.CrossValidation is { } cv ? new CrossValidationSpec(cv.Folds, cv.Fold) : null,
                WeightDecay = h.WeightDecay,
                Dropout = h.Dropout,
                LrSchedule = h.LrSchedule,
                WarmupEpochs = h.WarmupEpochs,
                StepEpochs = h.StepEpochs,
                StepGamma = h.StepGamma,
                EarlyStoppingPatience = h.EarlyStoppingPatience,
                EarlyStoppingMinDelta = h.EarlyStoppingMinDelta,
                ClassWeights = h.ClassWeights,
                MaxGradNorm = h.MaxGradNorm,
            }, context.CancellationToken).ConfigureAwait(false);
            return ToProto(job);
        }
        catch (ArgumentException e)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, e.Message));
        }
        catch (DatasetNotFoundException e)
        {
            throw new RpcException(new Status(StatusCode.NotFound, e.Message));
        }
        catch (LabelsNotReadyException e)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, e.Message));
        }
    }

    public override async Task<Job> GetJob(GetJobRequest request, ServerCallContext context) =>
        ToProto(await FindAsync(request.JobId, context.CancellationToken).ConfigureAwait(false));

    public override async Task WatchJob(GetJobRequest request, IServerStreamWriter<Job> responseStream, ServerCallContext context)
    {
        await FindAsync(request.JobId, context.CancellationToken).ConfigureAwait(false);
        await foreach (var job in tracker.WatchAsync(request.JobId, context.CancellationToken).ConfigureAwait(false))
        {
            await responseStream.WriteAsync(ToProto(job), context.CancellationToken).ConfigureAwait(false);
        }
    }

    public override async Task<ListModelsReply> ListModels(ListModelsRequest request, ServerCallContext context)
    {
        var reply = new ListModelsReply();
        var name = string.IsNullOrWhiteSpace(request.Name) ? null : request.Name.Trim();
        foreach (var model in await registry.ListAsync(context.CancellationToken).ConfigureAwait(false))
        {
            if (name is not null && model.ServedName != name)
            {
                continue;
            }
            reply.Models.Add(new ModelInfo
            {
                ModelId = model.ModelId,
                Architecture = model.Spec.Architecture,
                Dataset = model.Dataset,
                Version = model.DatasetVersion,
                TestAccuracy = model.TestAccuracy,
                CreatedAt = model.CreatedAt.ToString("O", CultureInfo.InvariantCulture),
                Name = model.ServedName,
                ModelVersion = model.ModelVersion,
            });
        }
        return reply;
    }

    public override Task<ListJobsReply> ListJobs(ListJobsRequest request, ServerCallContext context)
    {
        var reply = new ListJobsReply();
        reply.Jobs.AddRange(tracker.All().Select(ToProto));
        return Task.FromResult(reply);
    }

    public override Task<ListWorkersReply> ListWorkers(ListWorkersRequest request, ServerCallContext context)
    {
        var reply = new ListWorkersReply();
        foreach (var w in workers.Live())
        {
            var worker = new Proto.Worker
            {
                WorkerId = w.WorkerId,
                Gpus = w.Gpus,
                MemoryMib = w.MemoryMiB,
                Slots = w.Slots,
                Device = w.Device,
                LastSeen = w.LastSeen.ToString("O", CultureInfo.InvariantCulture),
                NotTakingJobs = w.NotTakingJobs ?? "",
            };
            worker.RunningJobs.AddRange(w.RunningJobs);
            reply.Workers.Add(worker);
        }
        return Task.FromResult(reply);
    }

    private async Task<JobRecord> FindAsync(string jobId, CancellationToken cancellationToken) =>
        await tracker.GetOrLoadAsync(jobId, cancellationToken).ConfigureAwait(false)
        ?? throw new RpcException(new Status(StatusCode.NotFound, $"Job '{jobId}' does not exist."));

    internal static Job ToProto(JobRecord job)
    {
        var h = job.Spec.HyperParameters;
        var proto = new Job
        {
            JobId = job.JobId,
            Dataset = job.Spec.Dataset,
            Version = job.Spec.Version,
            Model = job.Spec.Model,
            HyperParameters = new Proto.HyperParameters
            {
                Epochs = h.Epochs,
                BatchSize = h.BatchSize,
                LearningRate = h.LearningRate,
                Optimizer = h.Optimizer,
                Seed = h.Seed,
                SoftTargets = h.SoftTargets,
                WeightDecay = h.WeightDecay,
                Dropout = h.Dropout,
                LrSchedule = h.LrSchedule,
                WarmupEpochs = h.WarmupEpochs,
                StepEpochs = h.StepEpochs,
                StepGamma = h.StepGamma,
                EarlyStoppingPatience = h.EarlyStoppingPatience,
                EarlyStoppingMinDelta = h.EarlyStoppingMinDelta,
                ClassWeights = h.ClassWeights,
                MaxGradNorm = h.MaxGradNorm,
            },
            State = job.Status switch
            {
                JobStatus.Queued => JobState.Queued,
                JobStatus.Running => JobState.Running,
                JobStatus.Succeeded => JobState.Succeeded,
                JobStatus.Failed => JobState.Failed,
                _ => JobState.Unspecified,
            },
            Epoch = job.Epoch,
            Epochs = h.Epochs,
            Batch = job.Batch,
            Batches = job.Batches,
            EpochsCompleted = job.EpochsCompleted,
            TrainLoss = job.TrainLoss,
            ValidationAccuracy = job.ValidationAccuracy,
            SamplesPerSecond = job.SamplesPerSecond,
            ModelId = job.ModelId ?? "",
            Error = job.Error ?? "",
            Device = job.Device ?? "",
            Resources = new Resources { Gpus = job.Spec.Resources.Gpus, MemoryMib = job.Spec.Resources.MemoryMiB },
            WorkerId = job.WorkerId ?? "",
            Attempt = job.Attempt,
            ResumedFromEpoch = job.ResumedFromEpoch,
            WaitingReason = job.Status == JobStatus.Queued ? job.WaitingReason ?? "" : "",
            ModelName = job.Spec.ModelName ?? job.Spec.Dataset,
            CrossValidation = job.Spec.CrossValidation is { } cv ? new CrossValidation { Folds = cv.Folds, Fold = cv.Fold } : null,
            BestEpoch = job.BestEpoch ?? 0,
            StoppedEarly = job.StoppedEarly,
        };
        proto.OutOfFoldPaths.AddRange(job.OutOfFoldPaths);
        proto.History.AddRange(job.History.Select(e => new Proto.EpochSummary
        {
            Epoch = e.Epoch,
            TrainLoss = e.TrainLoss,
            ValidationAccuracy = e.ValidationAccuracy,
            SamplesPerSecond = e.SamplesPerSecond,
            Seconds = e.Seconds,
            LearningRate = e.LearningRate,
        }));
        if (job.TestMetrics is { } m)
        {
            var metrics = new Metrics { Accuracy = m.Accuracy, Classes = m.Classes, Samples = m.Samples };
            metrics.Precision.AddRange(m.Precision);
            metrics.Recall.AddRange(m.Recall);
            metrics.F1.AddRange(m.F1);
            metrics.Confusion.AddRange(m.Confusion);
            if (m.R2 is { } r2)
            {
                (metrics.Regression, metrics.Mae, metrics.Rmse, metrics.R2) = (true, m.Mae ?? 0, m.Rmse ?? 0, r2);
            }
            proto.TestMetrics = metrics;
        }
        return proto;
    }
}
