using System.Globalization;
using BigDataAI.Datasets;
using BigDataAI.Models.Registry;
using BigDataAI.Protos.Training.V1;
using BigDataAI.Training.Model;
using BigDataAI.Training.Services;
using Grpc.Core;
using Proto = BigDataAI.Protos.Training.V1;

namespace BigDataAI.Training.Apis;

internal sealed class TrainingApi(JobSubmitter submitter, JobTracker tracker, ModelRegistry registry, Scheduling.WorkerRegistry workers, ModelAliases aliases, ModelIndex index, JobStopper stopper, SweepController sweeps) : TrainingService.TrainingServiceBase
{
    public override async Task<Job> StopJob(StopJobRequest request, ServerCallContext context)
    {
        var job = await stopper.StopAsync(request.JobId.Trim(), request.Reason, context.CancellationToken).ConfigureAwait(false)
            ?? throw new RpcException(new Status(StatusCode.NotFound, $"Job '{request.JobId}' does not exist."));
        return ToProto(job);
    }

    public override async Task<Proto.Sweep> StartSweep(StartSweepRequest request, ServerCallContext context)
    {
        if (request.Base is null)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "Field 'base': a sweep needs the training request its trials vary (dataset, model, epochs, ...)."));
        }
        var spec = new SweepSpec(FromProto(request.Base), [.. request.Space.Select(p => new Model.SearchParameter(p.Name.Trim(), p.Min, p.Max, p.LogScale, [.. p.Choices.Select(c => c.Trim())], p.GridPoints))],
            request.Strategy, request.Trials, request.Seed, request.MinEpochs, request.ReductionFactor);
        var sweep = await Submission(() => sweeps.SubmitAsync(spec, context.CancellationToken)).ConfigureAwait(false);
        return ToProto(sweep);
    }

    public override async Task<Proto.Sweep> GetSweep(GetSweepRequest request, ServerCallContext context) =>
        ToProto(await FindSweepAsync(request.SweepId, context.CancellationToken).ConfigureAwait(false));

    public override async Task WatchSweep(GetSweepRequest request, IServerStreamWriter<Proto.Sweep> responseStream, ServerCallContext context)
    {
        await FindSweepAsync(request.SweepId, context.CancellationToken).ConfigureAwait(false);
        Proto.Sweep? last = null;
        await foreach (var sweep in sweeps.WatchAsync(request.SweepId.Trim(), context.CancellationToken).ConfigureAwait(false))
        {
            var proto = ToProto(sweep);
            if (!proto.Equals(last))
            {
                await responseStream.WriteAsync(proto, context.CancellationToken).ConfigureAwait(false);
                last = proto;
            }
        }
    }

    private async Task<SweepRecord> FindSweepAsync(string sweepId, CancellationToken cancellationToken) =>
        await sweeps.GetOrLoadAsync(sweepId.Trim(), cancellationToken).ConfigureAwait(false)
        ?? throw new RpcException(new Status(StatusCode.NotFound, $"Sweep '{sweepId}' does not exist."));

    private Proto.Sweep ToProto(SweepRecord sweep)
    {
        var proto = new Proto.Sweep
        {
            SweepId = sweep.SweepId,
            Strategy = sweep.Spec.Strategy,
            State = sweep.Status switch { SweepStatus.Running => JobState.Running, SweepStatus.Succeeded => JobState.Succeeded, _ => JobState.Failed },
            BestTrial = sweep.BestTrial,
            BestModelId = sweep.BestModelId ?? "",
            Error = sweep.Error ?? "",
            CreatedAt = sweep.CreatedAt.ToString("O", CultureInfo.InvariantCulture),
            MinEpochs = sweep.Spec.MinEpochs,
            ReductionFactor = sweep.Spec.ReductionFactor,
        };
        foreach (var trial in sweep.Trials)
        {
            var job = trial.JobId is null ? null : tracker.Get(trial.JobId);
            var t = new Trial
            {
                Index = trial.Index,
                JobId = trial.JobId ?? "",
                State = job is null ? (trial.Error is null ? JobState.Queued : JobState.Failed) : ToProto(job).State,
                ValidationScore = job is null || job.History.Count == 0 ? 0 : job.History.Max(e => e.ValidationAccuracy),
                EpochsCompleted = job?.EpochsCompleted ?? 0,
                TestScore = job?.TestMetrics?.Accuracy ?? 0,
                StopReason = trial.StopReason ?? job?.StopReason ?? trial.Error ?? (job?.Status == JobStatus.Failed ? job.Error ?? "" : ""),
                ModelId = job?.ModelId ?? "",
            };
            foreach (var (key, value) in trial.Parameters)
            {
                t.Parameters[key] = value;
            }
            t.RungsPassed.AddRange(trial.RungsPassed);
            proto.Trials.Add(t);
        }
        return proto;
    }

    /// <summary>Runs a submission, answering its errors with the status codes StartTraining uses.</summary>
    private static async Task<T> Submission<T>(Func<Task<T>> submit)
    {
        try
        {
            return await submit().ConfigureAwait(false);
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

    /// <summary>A StartTrainingRequest as the submitter takes it.</summary>
    internal static TrainingRequest FromProto(StartTrainingRequest request)
    {
        var h = request.HyperParameters ?? new Proto.HyperParameters();
        return new TrainingRequest(request.Dataset, request.Version, request.Model,
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
            CheckpointEveryEpochs = h.CheckpointEveryEpochs,
            Tags = request.Tags.Count == 0 ? null : request.Tags,
            SliceColumns = request.Evaluation is { } e ? [.. e.SliceColumns] : null,
            SensitiveColumns = request.Evaluation is { } s ? [.. s.SensitiveColumns] : null,
        };
    }

    /// <summary>The most results a search returns.</summary>
    private const int MaxLimit = 10_000;

    public override async Task<Proto.AliasMove> PromoteModel(PromoteModelRequest request, ServerCallContext context) =>
        await Registry(async () =>
        {
            var move = await aliases.PromoteAsync(Name(request.Name), request.Version, request.Alias.Trim(), request.MinImprovement, request.Force, Caller(context), request.Reason, context.CancellationToken).ConfigureAwait(false);
            await index.AliasMovedAsync(move, context.CancellationToken).ConfigureAwait(false);
            return ToProto(move);
        }).ConfigureAwait(false);

    public override async Task<Proto.AliasMove> RollbackAlias(RollbackAliasRequest request, ServerCallContext context) =>
        await Registry(async () =>
        {
            var move = await aliases.RollbackAsync(Name(request.Name), request.Alias.Trim(), Caller(context), request.Reason, context.CancellationToken).ConfigureAwait(false);
            await index.AliasMovedAsync(move, context.CancellationToken).ConfigureAwait(false);
            return ToProto(move);
        }).ConfigureAwait(false);

    public override async Task<GetAliasReply> GetAlias(GetAliasRequest request, ServerCallContext context) =>
        await Registry(async () =>
        {
            var reply = new GetAliasReply();
            reply.Moves.AddRange((await aliases.HistoryAsync(Name(request.Name), request.Alias.Trim(), context.CancellationToken).ConfigureAwait(false)).Select(ToProto));
            return reply;
        }).ConfigureAwait(false);

    public override async Task<ModelInfo> SetModelTags(SetModelTagsRequest request, ServerCallContext context) =>
        await Registry(async () =>
        {
            var record = await aliases.RequireAsync(Name(request.Name), request.Version, context.CancellationToken).ConfigureAwait(false);
            var tags = new Dictionary<string, string>(await registry.GetTagsAsync(record.ModelId, context.CancellationToken).ConfigureAwait(false), StringComparer.Ordinal);
            foreach (var key in request.Remove)
            {
                tags.Remove(key);
            }
            foreach (var (key, value) in request.Set)
            {
                tags[key] = value;
            }
            var checkedTags = JobSubmitter.CheckTags(tags, "set");
            await index.SetTagsAsync(record, checkedTags, context.CancellationToken).ConfigureAwait(false);
            return ToInfo(record, checkedTags, index.AliasesOf(record));
        }).ConfigureAwait(false);

    public override async Task<ListModelsReply> SearchModels(SearchModelsRequest request, ServerCallContext context) =>
        await Registry(async () =>
        {
            var limit = Limit(request.Limit);
            var (name, dataset, architecture, alias) = (request.Name.Trim(), request.Dataset.Trim(), request.Architecture.Trim(), request.Alias.Trim());
            var tags = request.Tags.ToArray();
            var found = await index.SearchAsync((entry, held) =>
            {
                var r = entry.Record;
                return (name.Length == 0 || r.ServedName == name)
                    && (dataset.Length == 0 || r.Dataset == dataset)
                    && (request.DatasetVersion == 0 || r.DatasetVersion == request.DatasetVersion)
                    && (architecture.Length == 0 || r.Spec.Architecture == architecture)
                    && r.TestAccuracy >= request.MinTestAccuracy
                    && (request.MaxTestAccuracy == 0 || r.TestAccuracy <= request.MaxTestAccuracy)
                    && (alias.Length == 0 || (alias == "*" ? held.Count > 0 : held.Contains(alias)))
                    && tags.All(t => entry.Tags.TryGetValue(t.Key, out var v) && v == t.Value);
            }, limit, context.CancellationToken).ConfigureAwait(false);
            var reply = new ListModelsReply();
            reply.Models.AddRange(found.Select(f => ToInfo(f.Model.Record, f.Model.Tags, f.Aliases)));
            return reply;
        }).ConfigureAwait(false);

    public override Task<ListJobsReply> SearchJobs(SearchJobsRequest request, ServerCallContext context)
    {
        var limit = Limit(request.Limit);
        var (dataset, model, modelName) = (request.Dataset.Trim(), request.Model.Trim(), request.ModelName.Trim());
        var state = request.State switch
        {
            JobState.Queued => JobStatus.Queued,
            JobState.Running => JobStatus.Running,
            JobState.Succeeded => JobStatus.Succeeded,
            JobState.Failed => JobStatus.Failed,
            JobState.Stopped => JobStatus.Stopped,
            _ => (JobStatus?)null,
        };
        var scored = request.MinTestAccuracy != 0 || request.MaxTestAccuracy != 0;
        var tags = request.Tags.ToArray();
        var found = tracker.Search(j =>
            (dataset.Length == 0 || j.Spec.Dataset == dataset)
            && (request.DatasetVersion == 0 || j.Spec.Version == request.DatasetVersion)
            && (model.Length == 0 || j.Spec.Model == model)
            && (modelName.Length == 0 || (j.Spec.ModelName ?? j.Spec.Dataset) == modelName)
            && (state is null || j.Status == state)
            && (!scored || (j.TestMetrics is { } m && m.Accuracy >= request.MinTestAccuracy && (request.MaxTestAccuracy == 0 || m.Accuracy <= request.MaxTestAccuracy)))
            && tags.All(t => j.Tags.TryGetValue(t.Key, out var v) && v == t.Value), limit);
        var reply = new ListJobsReply();
        reply.Jobs.AddRange(found.Select(ToProto));
        return Task.FromResult(reply);
    }

    private static int Limit(int limit) => limit switch
    {
        0 => 100,
        < 0 or > MaxLimit => throw new RpcException(new Status(StatusCode.InvalidArgument, $"Field 'limit': {limit} is out of range; use 1 to {MaxLimit} (0 means 100).")),
        _ => limit,
    };

    private static string Name(string name)
    {
        var trimmed = name.Trim();
        return DatasetPaths.IsValidName(trimmed) ? trimmed
            : throw new RpcException(new Status(StatusCode.InvalidArgument, $"Field 'name': '{name}' is not a valid model name (1-64 characters of [a-z0-9-], starting with a letter)."));
    }

    /// <summary>Who called, for the alias history: the authenticated user when there is one, else the peer.</summary>
    private static string Caller(ServerCallContext context) =>
        context.GetHttpContext().User.Identity?.Name is { Length: > 0 } user ? user : context.Peer ?? "";

    /// <summary>Maps the registry's exceptions to status codes.</summary>
    private static async Task<T> Registry<T>(Func<Task<T>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (ArgumentException e)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, e.Message));
        }
        catch (RegistryNotFoundException e)
        {
            throw new RpcException(new Status(StatusCode.NotFound, e.Message));
        }
        catch (PromotionRefusedException e)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, e.Message));
        }
    }

    internal static Proto.AliasMove ToProto(Models.Registry.AliasMove move) => new()
    {
        Name = move.Name,
        Alias = move.Alias,
        Sequence = move.Sequence,
        ModelVersion = move.ModelVersion,
        ModelId = move.ModelId,
        PreviousVersion = move.PreviousVersion,
        Action = move.Action,
        CandidateScore = move.CandidateScore ?? 0,
        HolderScore = move.HolderScore ?? 0,
        MinImprovement = move.Margin,
        MovedAt = move.At.ToString("O", CultureInfo.InvariantCulture),
        Reason = move.Reason,
    };

    internal static ModelInfo ToInfo(ModelRecord model, IReadOnlyDictionary<string, string> tags, IReadOnlyList<string> aliases)
    {
        var info = new ModelInfo
        {
            ModelId = model.ModelId,
            Architecture = model.Spec.Architecture,
            Dataset = model.Dataset,
            Version = model.DatasetVersion,
            TestAccuracy = model.TestAccuracy,
            CreatedAt = model.CreatedAt.ToString("O", CultureInfo.InvariantCulture),
            Name = model.ServedName,
            ModelVersion = model.ModelVersion,
            JobId = model.JobId,
            BestEpoch = model.BestEpoch ?? 0,
            StoppedEarly = model.StoppedEarly,
        };
        foreach (var (key, value) in tags)
        {
            info.Tags[key] = value;
        }
        info.Aliases.AddRange(aliases);
        return info;
    }
    public override async Task<Job> StartTraining(StartTrainingRequest request, ServerCallContext context) =>
        ToProto(await Submission(() => submitter.SubmitAsync(FromProto(request), context.CancellationToken)).ConfigureAwait(false));

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
            reply.Models.Add(ToInfo(model, JobRecord.NoTags, []));
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

    /// <summary>The figures beyond accuracy: curves, calibration, slices.</summary>
    private static void AddEvaluation(Metrics metrics, TestMetrics m)
    {
        foreach (var c in m.Curves ?? [])
        {
            metrics.Curves.Add(new Proto.ClassCurves
            {
                ClassIndex = c.Class, RocAuc = c.RocAuc, AveragePrecision = c.AveragePrecision,
                RocFpr = { c.RocFpr }, RocTpr = { c.RocTpr }, PrRecall = { c.PrRecall }, PrPrecision = { c.PrPrecision },
            });
        }
        if (m.Curves is { Count: > 0 } curves)
        {
            metrics.MacroRocAuc = curves.Average(c => c.RocAuc);
            metrics.MacroAveragePrecision = curves.Average(c => c.AveragePrecision);
        }
        if (m.Calibration is { } cal)
        {
            metrics.Calibration = new Proto.Calibration { ExpectedCalibrationError = cal.ExpectedCalibrationError, Rows = { cal.Rows }, Confidence = { cal.Confidence }, Accuracy = { cal.Accuracy } };
        }
        foreach (var s in m.Slices ?? [])
        {
            var slice = new Proto.Slice
            {
                Column = s.Column, Sensitive = s.Sensitive, AccuracyGap = s.AccuracyGap, F1Gap = s.F1Gap, PositiveClass = s.PositiveClass,
                DemographicParityDifference = s.DemographicParityDifference, EqualizedOddsDifference = s.EqualizedOddsDifference,
            };
            slice.Groups.AddRange(s.Groups.Select(g => new Proto.SliceGroup
            {
                Value = g.Value, Rows = g.Rows, Accuracy = g.Accuracy, MacroRecall = g.MacroRecall, MacroF1 = g.MacroF1,
                PositiveRate = g.PositiveRate, TruePositiveRate = g.TruePositiveRate, FalsePositiveRate = g.FalsePositiveRate,
            }));
            metrics.Slices.Add(slice);
        }
    }

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
                CheckpointEveryEpochs = h.CheckpointEveryEpochs,
            },
            State = job.Status switch
            {
                JobStatus.Queued => JobState.Queued,
                JobStatus.Running => JobState.Running,
                JobStatus.Succeeded => JobState.Succeeded,
                JobStatus.Failed => JobState.Failed,
                JobStatus.Stopped => JobState.Stopped,
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
            StopReason = job.StopReason ?? "",
            Evaluation = job.Spec.SliceColumns is { Count: > 0 } sliced
                ? new Proto.Evaluation { SliceColumns = { sliced }, SensitiveColumns = { job.Spec.SensitiveColumns ?? [] } }
                : null,
        };
        foreach (var (key, value) in job.Tags)
        {
            proto.Tags[key] = value;
        }
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
            AddEvaluation(metrics, m);
            proto.TestMetrics = metrics;
        }
        return proto;
    }
}
