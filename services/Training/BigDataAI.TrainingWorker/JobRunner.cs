using System.Diagnostics;
using System.Text.Json;
using BigDataAI.Contracts.Training;
using BigDataAI.Datasets;
using BigDataAI.Hosting;
using BigDataAI.Models;
using BigDataAI.Models.Features;
using BigDataAI.Models.Registry;
using BigDataAI.Storage;
using BigDataAI.Training.Messages;
using BigDataAI.Training.Model;
using BigDataAI.Training.Services;
using TrainingOptions = BigDataAI.Training.Services.TrainingOptions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace BigDataAI.Training.Workers;

/// <summary>
/// Runs one job on this worker, while holding the job's lease: takes the lease (or leaves the job to whoever holds it),
/// resumes from the newest readable checkpoint, trains on a dedicated thread with a full checkpoint per epoch, evaluates
/// on the test split, registers the model and announces it. The record in <c>jobs/{id}/job.json</c> is written under
/// the lease at each state change and epoch, and every change is published for the control planes' progress streams.
/// If the lease is lost (this worker was thought dead and the job went elsewhere), the run stops and writes nothing.
/// </summary>
public sealed class JobRunner(
    DatasetStore datasets,
    IObjectStore store,
    ModelRegistry registry,
    WorkerIdentity me,
    WorkerJobs jobs,
    BoundedPublisher bus,
    IOptions<TrainingOptions> options,
    ILogger<JobRunner> logger)
{
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromMilliseconds(250);


    private DatasetStore Datasets => datasets;
    private IObjectStore Store => store;
    private ModelRegistry Registry => registry;
    private WorkerIdentity Me => me;
    private BoundedPublisher Bus => bus;
    private TrainingOptions Options => options.Value;
    private ILogger Log => logger;

    public async Task RunAsync(string jobId, CancellationToken cancellationToken)
    {
        var path = JobTracker.JobPath(jobId);
        ObjectLease? lease;
        try
        {
            lease = await store.TryAcquireLeaseAsync(path, options.Value.LeaseDuration, cancellationToken).ConfigureAwait(false);
        }
        catch (FileNotFoundException)
        {
            logger.LogError("Job {JobId} was handed to worker {WorkerId} but has no record at {Path}; ignoring it", jobId, me.Id, path);
            return;
        }
        if (lease is null)
        {
            logger.LogInformation("Job {JobId} is held by another worker; worker {WorkerId} leaves it", jobId, me.Id);
            return;
        }
        await using var keeper = new LeaseKeeper(store, lease, logger, cancellationToken);
        var stored = await JobTracker.ReadAsync(store, path, cancellationToken).ConfigureAwait(false);
        if (stored is null || stored.IsFinished)
        {
            logger.LogInformation("Job {JobId} is {Status}: nothing to run", jobId, stored?.Status);
            if (stored is not null)
            {
                // The scheduler handed out a finished job, so its view missed the end (a JobUpdated lost): say it again.
                try
                {
                    await bus.PublishAsync(new JobUpdated(store.Location, stored), cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    logger.LogWarning(e, "Could not publish the state of job {JobId}", jobId);
                }
            }
            return;
        }
        // A stop asked for (StopJob, a sweep's early stopping) cancels the run through this source.
        using var stopping = jobs.Starting(jobId, keeper.Token);
        var run = new JobRun(this, stored, lease, stopping.Token);
        try
        {
            await run.ExecuteAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (keeper.Lost || e is LeaseLostException)
        {
            logger.LogWarning("Worker {WorkerId} lost the lease on job {JobId} ({Reason}); it stops without writing, the job's new owner continues it",
                me.Id, jobId, e.Message);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Shutting down: the record stays Running; the lease is given up below so another worker resumes at once.
            logger.LogWarning("Job {JobId} interrupted by shutdown of worker {WorkerId}; another worker resumes it from its last checkpoint", jobId, me.Id);
        }
        catch (OperationCanceledException) when (jobs.StopReason(jobId) is { } reason)
        {
            // Asked to stop: the record says so (under the lease, which is released below), and the slot is free. A stop
            // that comes after the run ended (succeeded or failed) changes nothing.
            if (await run.StoppedAsync(reason).ConfigureAwait(false))
            {
                logger.LogInformation("Job {JobId} stopped on worker {WorkerId} after {Epochs} epochs: {Reason}", jobId, me.Id, run.EpochsCompleted, reason);
            }
        }
        finally
        {
            jobs.Ended(jobId);
        }
    }

    /// <summary>
    /// What a job trains on: the splits' typed rows turned into model inputs by a feature pipeline fitted on the training
    /// split alone (so validation and test statistics never leak into it), and the architecture the job's catalog model
    /// stands for, sized to that input.
    /// </summary>
    public sealed record PreparedData(FeaturePipeline Features, ModelSpec Spec, TrainingData Train, TrainingData Validation, TrainingData Test);

    /// <summary>
    /// Fits the features on <paramref name="train"/> and prepares the three splits for <paramref name="model"/>. With
    /// <paramref name="softTargets"/>, the training split also carries its <c>_label_probs</c> column as soft targets.
    /// </summary>
    public static PreparedData Prepare(string model, string[] classes, Table train, Table validation, Table test, bool softTargets = false)
    {
        var catalog = ModelCatalog.Find(model) ?? throw new ArgumentException($"Unknown model '{model}'; the catalog has {string.Join(", ", ModelCatalog.Names)}.");
        var regression = train.Schema.IsRegression;
        if (!regression && classes.Length < 2)
        {
            throw new ArgumentException($"The dataset's label has {classes.Length} class(es); a classifier needs at least 2.");
        }
        var features = FeaturePipeline.Fit(train, catalog.Text);
        TrainingData Data(Table t) => regression
            ? new(features.Transform(t), t.Targets(), features.Width)
            : new(features.Transform(t), t.ClassIndices(classes), features.Width);
        var spec = regression ? catalog.SpecFor(features, 1) with { Regression = true } : catalog.SpecFor(features, classes.Length);
        var trainData = Data(train);
        if (softTargets)
        {
            JobSubmitter.CheckSoftTargets(train.Schema, classes, "the training rows");
            var probabilities = (float[])train[JobSubmitter.LabelProbabilitiesColumn].Values;
            for (var i = 0; i < probabilities.Length; i++)
            {
                if (!float.IsFinite(probabilities[i]) || probabilities[i] < 0)
                {
                    throw new ArgumentException($"Column '{JobSubmitter.LabelProbabilitiesColumn}' holds {probabilities[i]} at row {train.RowIds[i / classes.Length]}; soft targets must be probabilities (finite, not negative).");
                }
            }
            trainData = new TrainingData(trainData.Features, trainData.Labels, trainData.FeatureCount) { SoftTargets = probabilities };
        }
        return new PreparedData(features, spec, trainData, Data(validation), Data(test));
    }

    /// <summary>
    /// A k-fold job's rows: every labeled row of the three splits, cut by <see cref="CrossValidationSpec.FoldOf"/> into
    /// those it trains on (every other fold) and those it holds out and predicts (fold <c>cv.Fold</c>).
    /// </summary>
    public static (Table Train, Table HeldOut) SplitFolds(IReadOnlyList<Table> splits, CrossValidationSpec cv, long seed)
    {
        var all = DatasetStore.Concat(splits[0].Schema, splits);
        var train = new List<int>(all.Rows);
        var heldOut = new List<int>(all.Rows / cv.Folds + 1);
        for (var r = 0; r < all.Rows; r++)
        {
            (CrossValidationSpec.FoldOf(all.RowIds[r], cv.Folds, seed) == cv.Fold ? heldOut : train).Add(r);
        }
        return (all.Select(train), all.Select(heldOut));
    }

    /// <summary>Where a k-fold job writes its out-of-fold probabilities: <c>jobs/{id}/out-of-fold/part-NNNNN.parquet</c>.</summary>
    public static string OutOfFoldPath(string jobId, int part) => $"jobs/{jobId}/out-of-fold/part-{part:D5}.parquet";

    /// <summary>One run of one job under one lease.</summary>
    private sealed class JobRun(JobRunner owner, JobRecord start, ObjectLease lease, CancellationToken token)
    {
        private readonly object _gate = new();
        private readonly JobRecord _start = start;
        private JobRecord _record = start;
        private long _lastProgress;
        private Task? _checkpointWrite;
        private int _checkpointBytes;

        /// <summary>A k-fold job's best epoch and early stop, for its record (other jobs take them from the registered model).</summary>
        private (int? Best, bool StoppedEarly) _foldOutcome;

        private string JobId => _start.JobId;
        private JobSpec Spec => _start.Spec;

        /// <summary>Epochs completed so far in this run's record.</summary>
        public int EpochsCompleted => _record.EpochsCompleted;
        private ILogger Logger => owner.Log;

        public async Task ExecuteAsync()
        {
            ActivityContext.TryParse(_start.TraceParent, null, out var parent);
            using var activity = TrainingTelemetry.Source.StartActivity("train", ActivityKind.Internal, parent);
            activity?.SetTag("bigdataai.job_id", JobId);
            activity?.SetTag("bigdataai.dataset", Spec.Dataset);
            activity?.SetTag("bigdataai.dataset_version", Spec.Version);
            activity?.SetTag("bigdataai.model", Spec.Model);
            activity?.SetTag("bigdataai.worker_id", owner.Me.Id);
            TrainingTelemetry.Running.Add(1);
            try
            {
                if (await owner.Registry.GetAsync(JobId, token).ConfigureAwait(false) is { } earlier)
                {
                    // A previous run registered the model and stopped before recording success (or before announcing it):
                    // finish from the registry instead of training again under the same model id.
                    Logger.LogInformation("Job {JobId} already registered model {ModelId}; announcing it instead of training again", JobId, earlier.ModelId);
                    await CompleteAsync(earlier).ConfigureAwait(false);
                    return;
                }
                if (_start.Attempt >= owner.Options.MaxAttempts)
                {
                    throw new JobGaveUpException(
                        $"Job {JobId} gave up after {_start.Attempt} runs, each stopped before the end (lost workers or storage and broker outages; Training:MaxAttempts is {owner.Options.MaxAttempts}); the workers' logs say why. Its checkpoints stay under {JobTracker.CheckpointFolder(JobId)}.");
                }
                var device = DeviceFor(Spec.Resources);
                activity?.SetTag("bigdataai.device", device);
                var clock = Stopwatch.StartNew();
                var labeled = await owner.Datasets.GetLabeledAsync(Spec.Dataset, Spec.Version, token).ConfigureAwait(false)
                    ?? throw new DatasetNotFoundException($"Dataset '{Spec.Dataset}' v{Spec.Version} has no labeled version any more (was it deleted?); checkpoints stay under {JobTracker.CheckpointFolder(JobId)}.");
                var resume = await LoadNewestCheckpointAsync().ConfigureAwait(false);
                await UpdateAsync(j => j with
                {
                    Status = JobStatus.Running,
                    WorkerId = owner.Me.Id,
                    Attempt = j.Attempt + 1,
                    ResumedFromEpoch = resume?.Epoch ?? 0,
                    EpochsCompleted = resume?.Epoch ?? 0,
                    Epoch = resume?.Epoch ?? 0,
                    Batch = 0,
                    History = resume is null ? [] : [.. resume.History.Select(Summary)],
                    Device = device,
                    Error = null,
                    WaitingReason = null,
                }, persist: true).ConfigureAwait(false);
                if (resume is not null)
                {
                    activity?.SetTag("bigdataai.resumed_from_epoch", resume.Epoch);
                    Logger.LogInformation("Job {JobId} resumes on worker {WorkerId} from its epoch {Epoch} checkpoint (attempt {Attempt})", JobId, owner.Me.Id, resume.Epoch, _record.Attempt);
                }

                var softTargets = Spec.HyperParameters.SoftTargets;
                if (Spec.CrossValidation is null && !softTargets && ModelCatalog.Find(Spec.Model)?.Text != TextEncoding.MiniLm)
                {
                    await RunStreamingAsync(labeled, device, resume, clock, activity).ConfigureAwait(false);
                    return;
                }
                // In memory, the paths that need every row at once: a k-fold job regroups the rows of all three splits by
                // fold, soft targets are one [rows, classes] tensor, and MiniLM embeddings are derived per split.
                // The three splits are independent reads and decodes: do them at once.
                var splits = await Task.WhenAll(
                    Task.Run(() => owner.Datasets.ReadSplitAsync(labeled, Splits.Train, token), token),
                    Task.Run(() => owner.Datasets.ReadSplitAsync(labeled, Splits.Validation, token), token),
                    Task.Run(() => owner.Datasets.ReadSplitAsync(labeled, Splits.Test, token), token)).ConfigureAwait(false);
                if (ModelCatalog.Find(Spec.Model)?.Text == TextEncoding.MiniLm)
                {
                    splits = await WithStoredEmbeddingsAsync(labeled, splits).ConfigureAwait(false);
                }
                if (Spec.CrossValidation is { } cv)
                {
                    await RunFoldAsync(cv, labeled, splits, device, resume, softTargets, clock).ConfigureAwait(false);
                    return;
                }
                var prepared = Prepare(Spec.Model, labeled.Classes, splits[0], splits[1], splits[2], softTargets);
                var (train, validation, test, modelSpec) = (prepared.Train, prepared.Validation, prepared.Test, WithDropout(prepared.Spec));
                Logger.LogInformation("Job {JobId} read {Train} train, {Validation} validation and {Test} test rows from their shards in {ElapsedMs} ms",
                    JobId, train.Rows, validation.Rows, test.Rows, clock.ElapsedMilliseconds);

                // TorchSharp work is synchronous and its dispose scopes are thread-bound: one dedicated thread, no awaits inside.
                var (record, weights) = await Task.Factory.StartNew(
                    () => WithCheckpoints(() => Train(modelSpec, prepared.Features, labeled, device, train, validation.Rows > 0 ? validation : null, test, resume)),
                    token, TaskCreationOptions.LongRunning, TaskScheduler.Default).ConfigureAwait(false);

                await RegisterAsync(record, weights, labeled, clock, activity).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                throw;
            }
            catch (LeaseLostException)
            {
                throw;
            }
            catch (Exception e) when (InfrastructureErrorInterceptor.Classify(e) == Grpc.Core.StatusCode.Unavailable)
            {
                // Storage or the broker is away: that is no fault of the job's. The run stops without recording a failure
                // (the record stays Running), this worker stops holding the job, and the scheduler queues it again once
                // the lease is free: the next run resumes from the last checkpoint.
                Logger.LogWarning(e, "Job {JobId} stopped on worker {WorkerId} because storage or the broker is unavailable ({Reason}); it resumes from its epoch {Epoch} checkpoint when the scheduler hands it out again",
                    JobId, owner.Me.Id, e.Message, _record.EpochsCompleted);
                activity?.SetStatus(ActivityStatusCode.Error, e.Message);
                TrainingTelemetry.Jobs.Add(1, new KeyValuePair<string, object?>("outcome", "interrupted"));
            }
            catch (Exception e)
            {
                Logger.LogError(e, "Job {JobId} failed on worker {WorkerId}", JobId, owner.Me.Id);
                activity?.SetStatus(ActivityStatusCode.Error, e.Message);
                TrainingTelemetry.Jobs.Add(1, new KeyValuePair<string, object?>("outcome", "failed"));
                await UpdateAsync(j => j with { Status = JobStatus.Failed, Error = e.Message }, persist: true).ConfigureAwait(false);
            }
            finally
            {
                TrainingTelemetry.Running.Add(-1);
            }
        }

        /// <summary>
        /// A job trained from its shards as they stream (docs/memory.md): the features are fitted on the train split read
        /// shard by shard (<see cref="StreamingFit"/>), training reads the train split through a <see cref="ShuffleLoader"/>
        /// (a per-epoch shard order drawn from the seed, a shuffle buffer, the next shard read in the background), and
        /// validation and test are read one shard at a time, so the worker's memory does not grow with the dataset.
        /// </summary>
        private async Task RunStreamingAsync(LabeledManifest labeled, string device, TrainingResume? resume, Stopwatch clock, Activity? activity)
        {
            var catalog = ModelCatalog.Find(Spec.Model) ?? throw new ArgumentException($"Unknown model '{Spec.Model}'; the catalog has {string.Join(", ", ModelCatalog.Names)}.");
            var regression = labeled.EffectiveSchema.IsRegression;
            if (!regression && labeled.Classes.Length < 2)
            {
                throw new ArgumentException($"The dataset's label has {labeled.Classes.Length} class(es); a classifier needs at least 2.");
            }
            var features = await StreamingFit.FitAsync(owner.Datasets.StreamSplitAsync(labeled, Splits.Train, token), catalog.Text, token).ConfigureAwait(false);
            var modelSpec = WithDropout(regression ? catalog.SpecFor(features, 1) with { Regression = true } : catalog.SpecFor(features, labeled.Classes.Length));
            var train = new SplitTrainingShards(owner.Datasets, labeled, Splits.Train, features);
            var validation = new SplitTrainingShards(owner.Datasets, labeled, Splits.Validation, features);
            var test = new SplitTrainingShards(owner.Datasets, labeled, Splits.Test, features);
            var options = OptionsFor(device, labeled.Splits.TryGetValue(Splits.Train, out var trainSplit) ? trainSplit.ClassCounts : []);
            var loader = new ShuffleLoader(train, options.BatchSize, options.Seed);
            activity?.SetTag("bigdataai.train_shards", train.Count);
            Logger.LogInformation("Job {JobId} streams {Train} train rows in {Shards} shards (shuffle buffer {Buffer} rows), {Validation} validation and {Test} test rows; features fitted in {ElapsedMs} ms",
                JobId, train.Rows, train.Count, loader.ShuffleBuffer, validation.Rows, test.Rows, clock.ElapsedMilliseconds);

            var (record, weights) = await Task.Factory.StartNew(() => WithCheckpoints(() =>
            {
                using var result = Trainer.Train(modelSpec, loader, validation.Rows > 0 ? validation : null, options, Callbacks(), resume, token);
                return Register(modelSpec, features, labeled, result, test);
            }), token, TaskCreationOptions.LongRunning, TaskScheduler.Default).ConfigureAwait(false);

            await RegisterAsync(record, weights, labeled, clock, activity).ConfigureAwait(false);
        }

        /// <summary>A trained model's record with its comparisons, registered, and the job recorded as succeeded.</summary>
        private async Task RegisterAsync(ModelRecord record, byte[] weights, LabeledManifest labeled, Stopwatch clock, Activity? activity)
        {
            Logger.LogInformation("Job {JobId} trained and evaluated at {ElapsedMs} ms", JobId, clock.ElapsedMilliseconds);
            record = await WithComparisonsAsync(record, labeled).ConfigureAwait(false) with { TraceParent = activity?.Id };
            var registered = await owner.Registry.RegisterAsync(record, weights, token).ConfigureAwait(false);
            activity?.SetTag("bigdataai.model_id", registered.ModelId);
            await CompleteAsync(registered).ConfigureAwait(false);
            TrainingTelemetry.Jobs.Add(1, new KeyValuePair<string, object?>("outcome", "succeeded"));
            Logger.LogInformation("Job {JobId} succeeded on worker {WorkerId}: model {ModelId}, test accuracy {Accuracy:P2}", JobId, owner.Me.Id, registered.ModelId, registered.TestAccuracy);
        }

        /// <summary>
        /// Scores the versions of the model's name that a promotion of it would be compared with (the holder of every
        /// alias of the name now, and its newest version) on this model's test split, so the promotion gate compares
        /// both on the same rows (docs/registry.md). A version trained on the same dataset version was scored on this
        /// very split: its recorded test score is taken. One that cannot read this split gets the reason instead.
        /// </summary>
        private async Task<ModelRecord> WithComparisonsAsync(ModelRecord record, LabeledManifest labeled)
        {
            var name = record.Name ?? record.Dataset;
            var versions = (await owner.Registry.CurrentAliasesAsync(name, token).ConfigureAwait(false)).Select(a => a.ModelVersion).ToHashSet();
            if (await owner.Registry.NewestVersionAsync(name, token).ConfigureAwait(false) is > 0 and var newest)
            {
                versions.Add(newest);
            }
            var comparisons = new List<ModelComparison>();
            foreach (var version in versions.Order())
            {
                var holder = await owner.Registry.FindAsync(name, version, token).ConfigureAwait(false);
                if (holder is null || holder.ModelId == record.ModelId)
                {
                    continue;
                }
                if (holder.Dataset == labeled.Dataset && holder.DatasetVersion == labeled.Version)
                {
                    comparisons.Add(new ModelComparison(holder.ModelId, holder.ModelVersion, holder.TestAccuracy));
                    continue;
                }
                try
                {
                    var weights = await owner.Registry.ReadWeightsAsync(holder, token).ConfigureAwait(false);
                    var score = await Task.Factory.StartNew(() => ScoreOnTestSplit(holder, weights, labeled), token, TaskCreationOptions.LongRunning, TaskScheduler.Default).ConfigureAwait(false);
                    comparisons.Add(new ModelComparison(holder.ModelId, holder.ModelVersion, score));
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    comparisons.Add(new ModelComparison(holder.ModelId, holder.ModelVersion, null, e.Message));
                }
                Logger.LogInformation("Job {JobId}: {Holder} scored {Score} on the test split of {Dataset} v{Version}{Error}",
                    JobId, holder.Reference, comparisons[^1].Score, labeled.Dataset, labeled.Version, comparisons[^1].Error is { } error ? $" (not measured: {error})" : "");
            }
            return record with { Comparisons = comparisons };
        }

        /// <summary>Another version's test score on this job's test split, read through that version's own feature pipeline.</summary>
        private double ScoreOnTestSplit(ModelRecord holder, byte[] weights, LabeledManifest labeled)
        {
            if (holder.Features is null)
            {
                throw new InvalidOperationException($"{holder.Reference} was registered before typed datasets and has no feature pipeline to read the split with.");
            }
            if (!labeled.EffectiveSchema.IsRegression && !labeled.Classes.All(holder.Classes.Contains))
            {
                throw new InvalidOperationException($"{holder.Reference} predicts the classes [{string.Join(", ", holder.Classes.Take(10))}], which do not include all of this split's [{string.Join(", ", labeled.Classes.Take(10))}].");
            }
            using var stream = new MemoryStream(weights, writable: false);
            using var model = ModelWeights.Load(holder.Spec, stream, "cpu");
            // The split's labels are numbered in the holder's class order, which its outputs follow.
            var test = new SplitTrainingShards(owner.Datasets, labeled.EffectiveSchema.IsRegression ? labeled : labeled with { Classes = holder.Classes }, Splits.Test, holder.Features);
            return holder.Spec.Regression
                ? Evaluator.EvaluateRegression(model, holder.Spec, test, token).R2
                : Evaluator.Evaluate(model, holder.Spec, test, token).Accuracy;
        }

        /// <summary>The trained model's test metrics (test read shard by shard), its record and its weights.</summary>
        private (ModelRecord Record, byte[] Weights) Register(ModelSpec modelSpec, FeaturePipeline features, LabeledManifest labeled, TrainingResult result, ITrainingShards test)
        {
            TestMetrics metrics;
            if (modelSpec.Regression)
            {
                var r = Evaluator.EvaluateRegression(result.Model, modelSpec, test, token);
                metrics = new TestMetrics(r.R2, [], [], [], [], 0, r.Samples) { Mae = r.Mae, Rmse = r.Rmse, R2 = r.R2 };
            }
            else
            {
                var (e, probabilities, actual, predicted) = Evaluator.EvaluateWithProbabilities(result.Model, modelSpec, test, token);
                metrics = new TestMetrics(e.Accuracy, e.Precision, e.Recall, e.F1, e.ConfusionMatrix, e.Classes, e.Samples)
                {
                    Curves = e.Classes <= MaxCurveClasses ? Evaluation.Curves(probabilities, actual, e.Classes) : null,
                    Calibration = Evaluation.Calibrate(probabilities, actual, e.Classes),
                    Slices = Spec.SliceColumns is { Count: > 0 } columns ? Slices(labeled, columns, actual, predicted, e.Classes) : null,
                };
            }
            return Record(modelSpec, features, labeled, result, metrics);
        }

        /// <summary>The most classes whose curves a job records (each is a few hundred numbers in the job's record).</summary>
        private const int MaxCurveClasses = 100;

        /// <summary>The test metrics per value of each slice column, read from the test split's rows in shard order.</summary>
        private IReadOnlyList<SliceMetrics> Slices(LabeledManifest labeled, IReadOnlyList<string> columns, long[] actual, long[] predicted, int classes)
        {
            var table = owner.Datasets.ReadSplitAsync(labeled, Splits.Test, token).GetAwaiter().GetResult();
            if (table.Rows != actual.Length)
            {
                throw new InvalidOperationException($"The test split read {table.Rows} rows for slicing but {actual.Length} for evaluation.");
            }
            var sensitive = Spec.SensitiveColumns ?? [];
            return [.. columns.Select(name =>
            {
                var column = table[name];
                var numeric = column.Schema.Type is ColumnType.Int64 or ColumnType.Double;
                var values = Enumerable.Range(0, table.Rows).Select(r => numeric
                    ? column.Values switch { long?[] v => (object?)v[r], double?[] v => v[r], _ => null }
                    : column.Format(r)).ToList();
                return Evaluation.Slice(name, sensitive.Contains(name), Evaluation.Groups(values, numeric), actual, predicted, classes);
            })];
        }

        /// <summary>
        /// A k-fold job: trains on the rows outside its fold (validating on those inside), predicts the held-out rows'
        /// class probabilities and writes them as Parquet files (<c>_row</c>, <c>probs</c>), then records success with
        /// their paths and the held-out metrics. Nothing is registered and no ModelTrained is published: the model only
        /// exists to predict rows it never saw. A resumed run continues from the checkpoint like any job; the files are
        /// the same whichever run writes them.
        /// </summary>
        private async Task RunFoldAsync(CrossValidationSpec cv, LabeledManifest labeled, Table[] splits, string device, TrainingResume? resume, bool softTargets, Stopwatch clock)
        {
            var (trainRows, heldOutRows) = SplitFolds(splits, cv, Spec.HyperParameters.Seed);
            var prepared = Prepare(Spec.Model, labeled.Classes, trainRows, heldOutRows, heldOutRows, softTargets);
            Logger.LogInformation("Job {JobId} (fold {Fold} of {Folds}) trains on {Train} rows and holds out {HeldOut}; read in {ElapsedMs} ms",
                JobId, cv.Fold, cv.Folds, prepared.Train.Rows, prepared.Test.Rows, clock.ElapsedMilliseconds);
            var (metrics, probabilities) = await Task.Factory.StartNew(
                () => WithCheckpoints(() => TrainFold(WithDropout(prepared.Spec), device, prepared.Train, prepared.Test, resume)),
                token, TaskCreationOptions.LongRunning, TaskScheduler.Default).ConfigureAwait(false);

            var classes = labeled.Classes.Length;
            var probsColumn = new ColumnSchema("probs", ColumnType.Tensor, ColumnRole.Ignored, Nullable: false, Shape: [classes]);
            var table = new Table(new DatasetSchema([probsColumn]), [new Column(probsColumn, probabilities)], heldOutRows.RowIds);
            var paths = new List<string>();
            for (var start = 0; start < table.Rows; start += DatasetStore.DefaultRowsPerShard)
            {
                var bytes = await ParquetShards.EncodeAsync(table, start, Math.Min(DatasetStore.DefaultRowsPerShard, table.Rows - start), token).ConfigureAwait(false);
                var path = OutOfFoldPath(JobId, paths.Count);
                using var content = new MemoryStream(bytes, writable: false);
                await owner.Store.PutAsync(path, content, token).ConfigureAwait(false);
                paths.Add(path);
            }
            await UpdateAsync(j => j with { Status = JobStatus.Succeeded, TestMetrics = metrics, OutOfFoldPaths = paths, BestEpoch = _foldOutcome.Best, StoppedEarly = _foldOutcome.StoppedEarly }, persist: true).ConfigureAwait(false);
            TrainingTelemetry.Jobs.Add(1, new KeyValuePair<string, object?>("outcome", "succeeded"));
            Logger.LogInformation("Job {JobId} (fold {Fold} of {Folds}) succeeded on worker {WorkerId}: held-out accuracy {Accuracy:P2}, {Rows} out-of-fold rows in {Files} files",
                JobId, cv.Fold, cv.Folds, owner.Me.Id, metrics.Accuracy, table.Rows, paths.Count);
        }

        /// <summary>
        /// The splits with each text column's MiniLM embeddings beside it (a tensor column <c>{text}.minilm</c>, role
        /// ignored): read from the labeled version's derived columns when an earlier job stored them, else computed
        /// once and stored (create-only, lineage "embed: all-MiniLM-L6-v2"), so the next job on this version reads them.
        /// </summary>
        private async Task<Table[]> WithStoredEmbeddingsAsync(LabeledManifest labeled, Table[] splits)
        {
            var names = new[] { Splits.Train, Splits.Validation, Splits.Test };
            var schema = labeled.EffectiveSchema;
            for (var c = 0; c < schema.Columns.Count; c++)
            {
                var text = schema.Columns[c];
                if (text.Role != ColumnRole.Text)
                {
                    continue;
                }
                var step = $"minilm-{c}";
                var derivedSchema = new ColumnSchema(MiniLmFeature.DerivedColumn(text.Name), ColumnType.Tensor, ColumnRole.Ignored, Nullable: false, Shape: [BigDataAI.Models.Text.TextEncoders.MiniLmDimensions]);
                var derived = new Table[3];
                var stored = true;
                for (var i = 0; i < 3; i++)
                {
                    var found = await owner.Datasets.ReadDerivedAsync(labeled, step, names[i], token).ConfigureAwait(false);
                    if (found is null || !found.RowIds.AsSpan().SequenceEqual(splits[i].RowIds) || found.Find(derivedSchema.Name) is null)
                    {
                        stored = false;
                        break;
                    }
                    derived[i] = found;
                }
                if (!stored)
                {
                    var clock = Stopwatch.StartNew();
                    for (var i = 0; i < 3; i++)
                    {
                        var texts = (string?[])splits[i][text.Name].Values;
                        var values = new float[texts.Length * derivedSchema.Width];
                        var rows = Enumerable.Range(0, texts.Length).Where(r => texts[r] is not null).ToArray();
                        for (var start = 0; start < rows.Length; start += MiniLmFeature.Batch)
                        {
                            var batch = rows.AsSpan(start, Math.Min(MiniLmFeature.Batch, rows.Length - start)).ToArray();
                            var embeddings = BigDataAI.Models.Text.TextEncoders.Embed([.. batch.Select(r => texts[r]!)], token);
                            for (var k = 0; k < batch.Length; k++)
                            {
                                embeddings[k].CopyTo(values.AsSpan(batch[k] * derivedSchema.Width, derivedSchema.Width));
                            }
                        }
                        derived[i] = new Table(new DatasetSchema([derivedSchema]), [new Column(derivedSchema, values)], splits[i].RowIds);
                    }
                    await owner.Datasets.CommitDerivedAsync(labeled, step, new Dictionary<string, Table> { [names[0]] = derived[0], [names[1]] = derived[1], [names[2]] = derived[2] },
                        new DatasetLineage("embed: all-MiniLM-L6-v2", [DatasetPaths.LabeledManifest(labeled.Dataset, labeled.Version)], labeled.Version), token).ConfigureAwait(false);
                    Logger.LogInformation("Job {JobId} embedded column {Column} of {Dataset} v{Version} with MiniLM ({Rows} texts in {ElapsedMs} ms) and stored them as derived columns {Step}",
                        JobId, text.Name, labeled.Dataset, labeled.Version, splits.Sum(t => t.Rows), clock.ElapsedMilliseconds, step);
                }
                else
                {
                    Logger.LogInformation("Job {JobId} reads the stored MiniLM embeddings {Step} of {Dataset} v{Version}", JobId, step, labeled.Dataset, labeled.Version);
                }
                for (var i = 0; i < 3; i++)
                {
                    var column = derived[i][derivedSchema.Name];
                    splits[i] = new Table(new DatasetSchema([.. splits[i].Schema.Columns, derivedSchema]), [.. splits[i].Columns, column], splits[i].RowIds);
                }
            }
            return splits;
        }

        private string DeviceFor(JobResources need)
        {
            if (need.Gpus == 0)
            {
                return "cpu";
            }
            if (owner.Me.Gpus < need.Gpus)
            {
                throw new InvalidOperationException($"Job {JobId} needs {need.Gpus} GPU(s) but worker {owner.Me.Id} offers {owner.Me.Gpus}.");
            }
            // The trainer uses one device: a job that reserves several GPUs trains on the first (no data parallelism yet).
            return "cuda:0";
        }

        /// <summary>The newest checkpoint that reads back whole; older ones are tried when a newer one is damaged.</summary>
        private async Task<TrainingResume?> LoadNewestCheckpointAsync()
        {
            var paths = new List<string>();
            await foreach (var p in owner.Store.ListAsync(JobTracker.CheckpointFolder(JobId), token).ConfigureAwait(false))
            {
                if (p.EndsWith(".ckpt", StringComparison.Ordinal))
                {
                    paths.Add(p);
                }
            }
            foreach (var p in paths.OrderDescending(StringComparer.Ordinal))
            {
                await using var stream = await owner.Store.OpenReadAsync(p, token).ConfigureAwait(false);
                if (stream is null)
                {
                    continue;
                }
                try
                {
                    return TrainingResume.Read(stream);
                }
                catch (InvalidDataException e)
                {
                    Logger.LogError("Checkpoint {Path} of job {JobId} cannot be read ({Reason}); trying an older one", p, JobId, e.Message);
                }
            }
            return null;
        }

        private async Task CompleteAsync(ModelRecord registered)
        {
            try
            {
                await owner.Bus.PublishAsync(new ModelTrained(registered.ModelId, ModelRegistry.RecordPath(registered.ModelId), registered.Spec.Architecture,
                    registered.Dataset, registered.DatasetVersion, registered.TestAccuracy, registered.CreatedAt), token).ConfigureAwait(false);
            }
            catch (MessagingUnavailableException e)
            {
                // The model is registered, which is what counts: inference finds it by reconciling with the registry.
                Logger.LogWarning("Job {JobId}: model {ModelId} is registered but ModelTrained could not be published ({Reason}); inference finds it in the registry",
                    JobId, registered.ModelId, e.Message);
            }
            var metrics = registered.MetricsJson.Deserialize<TestMetrics>(JobTracker.Json);
            await UpdateAsync(j => j with { Status = JobStatus.Succeeded, ModelId = registered.ModelId, TestMetrics = metrics, BestEpoch = registered.BestEpoch, StoppedEarly = registered.StoppedEarly }, persist: true).ConfigureAwait(false);
        }

        /// <summary>
        /// The run was asked to stop: the record says STOPPED with <paramref name="reason"/>, stored and published. False
        /// (nothing written) when the run had already ended.
        /// </summary>
        public async Task<bool> StoppedAsync(string reason)
        {
            JobRecord updated;
            lock (_gate)
            {
                if (_record.IsFinished)
                {
                    return false;
                }
                updated = _record = (_record with { Status = JobStatus.Stopped, StopReason = reason, Batch = 0 }).Next();
            }
            await JobTracker.SaveAsync(owner.Store, updated, lease, CancellationToken.None).ConfigureAwait(false);
            TrainingTelemetry.Jobs.Add(1, new KeyValuePair<string, object?>("outcome", "stopped"));
            try
            {
                await owner.Bus.PublishAsync(new JobUpdated(owner.Store.Location, updated), CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The stored record is the truth; the control plane reads it when it hands the job out or takes it back.
                Logger.LogWarning(e, "Could not publish that job {JobId} stopped", JobId);
            }
            return true;
        }

        /// <summary>Changes the record (next revision), stores it under the lease when <paramref name="persist"/>, and publishes it.</summary>
        private async Task UpdateAsync(Func<JobRecord, JobRecord> change, bool persist)
        {
            JobRecord updated;
            lock (_gate)
            {
                updated = _record = change(_record).Next();
            }
            if (persist)
            {
                await JobTracker.SaveAsync(owner.Store, updated, lease, CancellationToken.None).ConfigureAwait(false);
            }
            try
            {
                // Bounded: progress is published from the training thread, which must never wait on a broker that crashed.
                await owner.Bus.PublishAsync(new JobUpdated(owner.Store.Location, updated), token).ConfigureAwait(false);
            }
            catch (MessagingUnavailableException e)
            {
                // Progress for watchers is best effort; the stored record is the truth and is already written.
                Logger.LogDebug("Could not publish the progress of job {JobId}: {Reason}", JobId, e.Message);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                Logger.LogWarning(e, "Could not publish the progress of job {JobId}", JobId);
            }
        }

        /// <summary>Trains a fold's model and returns its metrics on the held-out rows and their softmax probabilities, [rows, classes].</summary>
        private (TestMetrics Metrics, float[] Probabilities) TrainFold(ModelSpec modelSpec, string device, TrainingData train, TrainingData heldOut, TrainingResume? resume)
        {
            using var result = Trainer.Train(modelSpec, train, heldOut.Rows > 0 ? heldOut : null, OptionsFor(device, CountsOf(train, modelSpec)), Callbacks(), resume, token);
            _foldOutcome = (result.Best, result.StoppedEarly);
            if (heldOut.Rows == 0)
            {
                return (new TestMetrics(0, [], [], [], [], modelSpec.Classes, 0), []);
            }
            var e = Evaluator.Evaluate(result.Model, modelSpec, heldOut);
            var metrics = new TestMetrics(e.Accuracy, e.Precision, e.Recall, e.F1, e.ConfusionMatrix, e.Classes, e.Samples);
            var probabilities = Evaluator.Probabilities(result.Model, modelSpec, heldOut);
            return (metrics, probabilities);
        }

        /// <summary>
        /// The trainer's options from the job's hyper-parameters; "balanced" class weights come from
        /// <paramref name="trainClassCounts"/>, the training rows per class.
        /// </summary>
        private Models.TrainingOptions OptionsFor(string device, IReadOnlyList<long> trainClassCounts)
        {
            var h = Spec.HyperParameters;
            return new Models.TrainingOptions
            {
                Epochs = h.Epochs,
                BatchSize = h.BatchSize,
                LearningRate = h.LearningRate,
                Optimizer = h.Optimizer,
                Seed = checked((int)h.Seed),
                Device = owner.Options.Worker.Device == "cpu" ? "cpu" : device,
                WeightDecay = h.WeightDecay,
                Schedule = h.LrSchedule,
                WarmupEpochs = h.WarmupEpochs,
                StepEpochs = h.StepEpochs,
                StepGamma = h.StepGamma,
                Patience = h.EarlyStoppingPatience,
                MinDelta = h.EarlyStoppingMinDelta,
                ClassWeights = h.ClassWeights switch
                {
                    "" => null,
                    "balanced" => Models.TrainingOptions.BalancedClassWeights(trainClassCounts),
                    var weights => JobSubmitter.ParseClassWeights(weights),
                },
                MaxGradientNorm = h.MaxGradNorm,
                CacheBytes = (long)owner.Options.Worker.CacheMiB << 20,
            };
        }

        /// <summary>The model of the catalog with the job's dropout.</summary>
        private ModelSpec WithDropout(ModelSpec spec) => spec with { Dropout = Spec.HyperParameters.Dropout };

        /// <summary>Training rows per class (for "balanced" class weights).</summary>
        private static long[] CountsOf(TrainingData train, ModelSpec spec)
        {
            var counts = new long[spec.Regression ? 0 : spec.Classes];
            if (!spec.Regression)
            {
                foreach (var label in train.Labels)
                {
                    counts[label]++;
                }
            }
            return counts;
        }

        private TrainingCallbacks Callbacks()
        {
            var h = Spec.HyperParameters;
            return new TrainingCallbacks
            {
                Batch = new SyncProgress<BatchProgress>(p =>
                {
                    // Progress watchers need a few updates a second, not one per batch: each update is a message to
                    // every control plane, and that work would compete with training for the same cores.
                    var now = Stopwatch.GetTimestamp();
                    if (p.Batch != p.Batches && Stopwatch.GetElapsedTime(_lastProgress, now) < ProgressInterval)
                    {
                        return;
                    }
                    _lastProgress = now;
                    UpdateAsync(j => j with { Epoch = p.Epoch, Batch = p.Batch, Batches = p.Batches, TrainLoss = p.Loss }, persist: false).GetAwaiter().GetResult();
                }),
                Epoch = new SyncProgress<EpochResult>(e =>
                {
                    TrainingTelemetry.Throughput.Record(e.SamplesPerSecond);
                    TrainingTelemetry.EpochLoss.Record(e.TrainLoss);
                    if (e.ValidationAccuracy is { } accuracy)
                    {
                        TrainingTelemetry.EpochAccuracy.Record(accuracy);
                    }
                    Logger.LogInformation("Job {JobId} epoch {Epoch}/{Epochs}: loss {Loss:F4}, validation accuracy {Accuracy:P2}, {SamplesPerSecond:N0} samples/s, {EpochMs} ms with validation",
                        JobId, e.Epoch, h.Epochs, e.TrainLoss, e.ValidationAccuracy ?? double.NaN, e.SamplesPerSecond, (long)e.Duration.TotalMilliseconds);
                }),
                Checkpoint = checkpoint =>
                {
                    var e = checkpoint.Epoch;
                    JobRecord Done(JobRecord j) => j with
                    {
                        EpochsCompleted = e.Epoch,
                        TrainLoss = e.TrainLoss,
                        ValidationAccuracy = e.ValidationAccuracy ?? 0,
                        SamplesPerSecond = e.SamplesPerSecond,
                        History = [.. j.History.Where(x => x.Epoch < e.Epoch), Summary(e)],
                    };
                    if (e.Epoch % Math.Max(1, h.CheckpointEveryEpochs) != 0)
                    {
                        // No checkpoint this epoch (checkpoint_every_epochs): watchers hear of the epoch, and the stored
                        // record keeps counting only epochs whose checkpoint is stored. After the write in flight, whose
                        // record update must not land after this one.
                        AwaitCheckpoint();
                        UpdateAsync(Done, persist: false).GetAwaiter().GetResult();
                        return;
                    }
                    // The weights and optimizer state are serialized here, on the training thread, as they are now; storing
                    // them and then the record that counts the epoch as done (never the record first: a record never claims
                    // an epoch whose checkpoint is missing) runs in the background while the next epoch trains. One write
                    // at a time, in epoch order: the previous one is waited for first, and its failure stops the job.
                    var watch = Stopwatch.StartNew();
                    var buffer = new MemoryStream(_checkpointBytes);
                    checkpoint.Write(buffer);
                    _checkpointBytes = (int)Math.Min(Array.MaxLength, buffer.Length + (buffer.Length >> 4));
                    var serialized = watch.Elapsed.TotalMilliseconds;
                    AwaitCheckpoint();
                    buffer.Position = 0;
                    var path = JobTracker.CheckpointPath(JobId, e.Epoch);
                    _checkpointWrite = Task.Run(async () =>
                    {
                        var bytes = buffer.Length;
                        using (buffer)
                        {
                            await owner.Store.PutAsync(path, buffer, token).ConfigureAwait(false);
                        }
                        await UpdateAsync(Done, persist: true).ConfigureAwait(false);
                        TrainingTelemetry.CheckpointDuration.Record(watch.Elapsed.TotalSeconds);
                        Logger.LogDebug("Job {JobId} stored its epoch {Epoch} checkpoint ({Bytes} bytes) in {ElapsedMs:F1} ms, {SerializeMs:F1} ms of it serializing on the training thread",
                            JobId, e.Epoch, bytes, watch.Elapsed.TotalMilliseconds, serialized);
                    }, CancellationToken.None);
                },
            };
        }

        /// <summary>
        /// Runs <paramref name="train"/> (the training thread's work) with the checkpoints it stores in the background:
        /// when it returns, every checkpoint is stored and counted (a failure to store one is thrown); when it throws,
        /// the write in flight is waited for, so that nothing of this run writes after it ends.
        /// </summary>
        private T WithCheckpoints<T>(Func<T> train)
        {
            try
            {
                var result = train();
                AwaitCheckpoint();
                return result;
            }
            catch
            {
                try
                {
                    AwaitCheckpoint();
                }
                catch (Exception e)
                {
                    Logger.LogDebug("Job {JobId}'s last checkpoint was not stored after the run ended: {Reason}", JobId, e.Message);
                }
                throw;
            }
        }

        /// <summary>Waits for the checkpoint being stored in the background, if any; throws its failure.</summary>
        private void AwaitCheckpoint() => Interlocked.Exchange(ref _checkpointWrite, null)?.GetAwaiter().GetResult();

        private (ModelRecord Record, byte[] Weights) Train(ModelSpec modelSpec, FeaturePipeline features, LabeledManifest labeled, string device, TrainingData train, TrainingData? validation, TrainingData test, TrainingResume? resume)
        {
            using var result = Trainer.Train(modelSpec, train, validation, OptionsFor(device, CountsOf(train, modelSpec)), Callbacks(), resume, token);
            // The same evaluation as a streamed job's (curves, calibration, slices), over the test rows in memory.
            return Register(modelSpec, features, labeled, result, new InMemoryTrainingShards(test, Math.Max(1, test.Rows)));
        }

        private (ModelRecord Record, byte[] Weights) Record(ModelSpec modelSpec, FeaturePipeline features, LabeledManifest labeled, TrainingResult result, TestMetrics metrics)
        {
            using var weights = new MemoryStream();
            ModelWeights.Save(result.Model, weights);
            var record = new ModelRecord(JobId, modelSpec, WeightsPath: "", labeled.Dataset, labeled.Version, labeled.Classes,
                features.InputShape, metrics.Accuracy, JsonSerializer.SerializeToElement(metrics, JobTracker.Json), JobId, DateTimeOffset.UtcNow)
            {
                Name = Spec.ModelName ?? labeled.Dataset,
                Features = features,
                BestEpoch = result.Best,
                StoppedEarly = result.StoppedEarly,
            };
            return (record, weights.ToArray());
        }

        private static EpochSummary Summary(EpochResult e) =>
            new(e.Epoch, e.TrainLoss, e.ValidationAccuracy ?? 0, e.SamplesPerSecond, e.Duration.TotalSeconds) { LearningRate = e.LearningRate ?? 0 };

    }

    /// <summary>A job that used up <c>Training:MaxAttempts</c>: it fails with this message.</summary>
    private sealed class JobGaveUpException(string message) : Exception(message);

    /// <summary>An IProgress that reports on the calling thread (Progress&lt;T&gt; would post to the thread pool, out of order).</summary>
    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
