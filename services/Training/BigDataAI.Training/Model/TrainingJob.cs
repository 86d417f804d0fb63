using System.Security.Cryptography;
using System.Text;

namespace BigDataAI.Training.Model;

public enum JobStatus
{
    Queued,
    Running,
    Succeeded,
    Failed,

    /// <summary>Stopped on request (StopJob, or a sweep's early stopping) before its end; <see cref="JobRecord.StopReason"/> says why.</summary>
    Stopped,
}

/// <summary>Hyper-parameters with every default resolved, so equal requests are equal records.</summary>
public sealed record HyperParameters(int Epochs, int BatchSize, double LearningRate, string Optimizer, long Seed)
{
    /// <summary>Train against the labeled version's <c>_label_probs</c> column (soft targets) instead of the hard labels.</summary>
    public bool SoftTargets { get; init; }

    // The training recipe (docs/training.md), every default resolved: 0, "constant", 0.1 and "" are "off".

    /// <summary>L2 weight decay (0: none).</summary>
    public double WeightDecay { get; init; }

    /// <summary>Dropout probability after each hidden layer (0: none).</summary>
    public double Dropout { get; init; }

    /// <summary>"constant", "step" or "cosine".</summary>
    public string LrSchedule { get; init; } = "constant";

    /// <summary>Epochs of linear warmup (0: none).</summary>
    public int WarmupEpochs { get; init; }

    /// <summary>"step" schedule: epochs between reductions (0 otherwise).</summary>
    public int StepEpochs { get; init; }

    /// <summary>"step" schedule: the factor of each reduction.</summary>
    public double StepGamma { get; init; } = 0.1;

    /// <summary>Early stopping: epochs without improvement before stopping (0: off).</summary>
    public int EarlyStoppingPatience { get; init; }

    /// <summary>Early stopping: the least rise of the validation score that counts.</summary>
    public double EarlyStoppingMinDelta { get; init; }

    /// <summary>"" (all 1), "balanced" (from the train split's class counts) or one weight per class, comma-separated ("1,2.5,1").</summary>
    public string ClassWeights { get; init; } = "";

    /// <summary>Gradient clipping: the most total L2 norm (0: no clipping).</summary>
    public double MaxGradNorm { get; init; }

    /// <summary>A checkpoint after every this many epochs (0 or 1: every epoch); not part of the job's identity (the model is the same).</summary>
    public int CheckpointEveryEpochs { get; init; }

    /// <summary>
    /// The recipe as one canonical text, empty when every field is at its default (so jobs without a recipe keep the ids
    /// they had before it existed).
    /// </summary>
    public string RecipeKey()
    {
        var parts = new List<string>();
        void Add(string name, double value, double off)
        {
            if (value != off)
            {
                parts.Add(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{name}={value:R}"));
            }
        }
        Add("wd", WeightDecay, 0);
        Add("dropout", Dropout, 0);
        if (LrSchedule != "constant")
        {
            parts.Add($"schedule={LrSchedule}");
        }
        Add("warmup", WarmupEpochs, 0);
        Add("step", StepEpochs, 0);
        Add("gamma", StepGamma, 0.1);
        Add("patience", EarlyStoppingPatience, 0);
        Add("delta", EarlyStoppingMinDelta, 0);
        if (ClassWeights.Length > 0)
        {
            parts.Add($"weights={ClassWeights}");
        }
        Add("clip", MaxGradNorm, 0);
        return string.Join(",", parts);
    }
}

/// <summary>
/// A k-fold job: it trains on every labeled row outside fold <see cref="Fold"/> (of <see cref="Folds"/>) and writes the
/// out-of-fold probabilities of the rows inside it instead of registering a model.
/// </summary>
public sealed record CrossValidationSpec(int Folds, int Fold)
{
    /// <summary>
    /// The fold of a row: SplitMix64 of <c>(uint)seed &lt;&lt; 32</c> mixed with the row's index, modulo
    /// <paramref name="folds"/>. It depends on nothing but the seed and the row, so the k jobs of one seed agree on
    /// every row's fold and their held-out sets partition the labeled rows.
    /// </summary>
    public static int FoldOf(long row, int folds, long seed)
    {
        var z = ((ulong)(uint)seed << 32 ^ (ulong)row) + 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (int)(z % (ulong)folds);
    }
}

/// <summary>What a job needs from the worker that runs it: CUDA devices (0: the CPU) and memory (0: no stated need).</summary>
public sealed record JobResources(int Gpus, int MemoryMiB)
{
    public static readonly JobResources None = new(0, 0);

    public override string ToString() => Gpus == 0
        ? (MemoryMiB == 0 ? "CPU" : $"CPU, {MemoryMiB:N0} MiB")
        : (MemoryMiB == 0 ? $"{Gpus} GPU" : $"{Gpus} GPU, {MemoryMiB:N0} MiB");
}

/// <summary>What a job trains: a dataset version, an architecture, hyper-parameters, and what it needs to run.</summary>
public sealed record JobSpec(string Dataset, int Version, string Model, HyperParameters HyperParameters, JobResources? Resources = null)
{
    public JobResources Resources { get; init; } = Resources ?? JobResources.None;

    /// <summary>The name the model is registered under; null means the dataset's name.</summary>
    public string? ModelName { get; init; }

    /// <summary>Set for a k-fold job, which writes out-of-fold probabilities and registers no model.</summary>
    public CrossValidationSpec? CrossValidation { get; init; }

    /// <summary>Columns the test metrics are broken down by (null: none).</summary>
    public IReadOnlyList<string>? SliceColumns { get; init; }

    /// <summary>Sliced columns that are sensitive (fairness differences); null: none.</summary>
    public IReadOnlyList<string>? SensitiveColumns { get; init; }

    /// <summary>The same spec always has the same id: submitting it twice finds the first job.</summary>
    public string JobId
    {
        get
        {
            var h = HyperParameters;
            var text = string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"{Dataset}|{Version}|{Model}|{h.Epochs}|{h.BatchSize}|{h.LearningRate:R}|{h.Optimizer}|{h.Seed}")
                // Jobs without stated resources keep the ids they had before resources existed.
                + (Resources == JobResources.None ? "" : $"|{Resources.Gpus}|{Resources.MemoryMiB}")
                // Jobs registering under the dataset's name keep the ids they had before model names existed.
                + (ModelName is null ? "" : $"|name:{ModelName}")
                // Jobs of hard labels and of the whole training split keep the ids they had before these existed.
                + (h.SoftTargets ? "|soft" : "")
                + (CrossValidation is { } cv ? $"|cv:{cv.Folds}/{cv.Fold}" : "")
                // Jobs without a training recipe keep the ids they had before recipes existed.
                + (h.RecipeKey() is { Length: > 0 } recipe ? $"|recipe:{recipe}" : "")
                // Jobs without slices keep the ids they had before slices existed.
                + (SliceColumns is { Count: > 0 } slices ? $"|slices:{string.Join(",", slices)}|sensitive:{string.Join(",", SensitiveColumns ?? [])}" : "");
            return $"{Dataset}-v{Version}-{Model}-{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..10]}";
        }
    }
}

/// <summary>Test-split evaluation of a trained model.</summary>
public sealed record TestMetrics(double Accuracy, double[] Precision, double[] Recall, double[] F1, long[] Confusion, int Classes, long Samples)
{
    /// <summary>Set for a regression (then Accuracy is R² and the class metrics are empty): mean absolute error.</summary>
    public double? Mae { get; init; }

    /// <summary>Regression: root mean squared error.</summary>
    public double? Rmse { get; init; }

    /// <summary>Classifiers: each class against the rest (null in records older than these figures, or above 100 classes).</summary>
    public IReadOnlyList<BigDataAI.Models.ClassCurves>? Curves { get; init; }

    /// <summary>Classifiers: calibration of the top-class probability.</summary>
    public BigDataAI.Models.Calibration? Calibration { get; init; }

    /// <summary>The slices the job asked for.</summary>
    public IReadOnlyList<BigDataAI.Models.SliceMetrics>? Slices { get; init; }

    /// <summary>Regression: coefficient of determination.</summary>
    public double? R2 { get; init; }
}

/// <summary>One completed epoch, kept in the job record for curves.</summary>
public sealed record EpochSummary(int Epoch, double TrainLoss, double ValidationAccuracy, double SamplesPerSecond, double Seconds)
{
    /// <summary>The learning rate of the epoch's first batch (0 in records older than the schedules).</summary>
    public double LearningRate { get; init; }
}

/// <summary>
/// A job's state as stored in <c>jobs/{id}/job.json</c> and reported by the API. <see cref="Revision"/> grows with every
/// change, by whoever makes it (the scheduler or the worker that holds the job's lease), so a view that receives
/// updates out of order keeps the newest.
/// </summary>
public sealed record JobRecord(
    string JobId,
    JobSpec Spec,
    JobStatus Status,
    int Epoch,
    int Batch,
    int Batches,
    int EpochsCompleted,
    double TrainLoss,
    double ValidationAccuracy,
    double SamplesPerSecond,
    string? Device,
    TestMetrics? TestMetrics,
    string? ModelId,
    string? Error,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt)
{
    public bool IsFinished => Status is JobStatus.Succeeded or JobStatus.Failed or JobStatus.Stopped;

    /// <summary>A job that may be submitted again for a fresh run (it resumes from its newest checkpoint).</summary>
    public bool MayRunAgain => Status is JobStatus.Failed or JobStatus.Stopped;

    /// <summary>A stopped job: why.</summary>
    public string? StopReason { get; init; }

    /// <summary>Grows with every change (see the type's remarks).</summary>
    public long Revision { get; init; }

    /// <summary>The worker that runs (or last ran) the job.</summary>
    public string? WorkerId { get; init; }

    /// <summary>Runs started: more than one means a worker was lost and another took over.</summary>
    public int Attempt { get; init; }

    /// <summary>The checkpoint epoch the current run continued from (0: from scratch).</summary>
    public int ResumedFromEpoch { get; init; }

    /// <summary>Completed epochs, in order.</summary>
    public IReadOnlyList<EpochSummary> History { get; init; } = [];

    /// <summary>While queued: why no worker runs it yet.</summary>
    public string? WaitingReason { get; init; }

    /// <summary>A k-fold job that succeeded: the Parquet files of its out-of-fold probabilities (<c>_row</c>, <c>probs</c>).</summary>
    public IReadOnlyList<string> OutOfFoldPaths { get; init; } = [];

    /// <summary>The run's labels (StartTrainingRequest.tags), for search; not part of its identity.</summary>
    public IReadOnlyDictionary<string, string> Tags { get; init; } = NoTags;

    internal static readonly IReadOnlyDictionary<string, string> NoTags = new Dictionary<string, string>();

    /// <summary>A job that succeeded with validation data: the epoch whose weights were registered (the best validation score).</summary>
    public int? BestEpoch { get; init; }

    /// <summary>A job that succeeded: early stopping ended it before its epochs.</summary>
    public bool StoppedEarly { get; init; }

    /// <summary>W3C traceparent of the request that created the job, so the run joins the dataset's trace.</summary>
    public string? TraceParent { get; init; }

    /// <summary>This record with the next revision and the current time.</summary>
    public JobRecord Next() => this with { Revision = Revision + 1, UpdatedAt = DateTimeOffset.UtcNow };

    public static JobRecord New(JobSpec spec, string? traceParent = null) =>
        new(spec.JobId, spec, JobStatus.Queued, 0, 0, 0, 0, 0, 0, 0, null, null, null, null, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow)
        {
            Revision = 1,
            TraceParent = traceParent,
        };
}
