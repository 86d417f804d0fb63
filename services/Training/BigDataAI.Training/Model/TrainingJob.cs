using System.Security.Cryptography;
using System.Text;

namespace BigDataAI.Training.Model;

public enum JobStatus
{
    Queued,
    Running,
    Succeeded,
    Failed,
}

/// <summary>Hyper-parameters with every default resolved, so equal requests are equal records.</summary>
public sealed record HyperParameters(int Epochs, int BatchSize, double LearningRate, string Optimizer, long Seed);

/// <summary>What a job trains: a dataset version, an architecture, hyper-parameters.</summary>
public sealed record JobSpec(string Dataset, int Version, string Model, HyperParameters HyperParameters)
{
    /// <summary>The same spec always has the same id: submitting it twice finds the first job.</summary>
    public string JobId
    {
        get
        {
            var h = HyperParameters;
            var text = string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"{Dataset}|{Version}|{Model}|{h.Epochs}|{h.BatchSize}|{h.LearningRate:R}|{h.Optimizer}|{h.Seed}");
            return $"{Dataset}-v{Version}-{Model}-{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..10]}";
        }
    }
}

/// <summary>Test-split evaluation of a trained model.</summary>
public sealed record TestMetrics(double Accuracy, double[] Precision, double[] Recall, double[] F1, long[] Confusion, int Classes, long Samples);

/// <summary>A job's state as stored in <c>jobs/{id}/job.json</c> and reported by the API.</summary>
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
    public bool IsFinished => Status is JobStatus.Succeeded or JobStatus.Failed;

    public static JobRecord New(JobSpec spec) =>
        new(spec.JobId, spec, JobStatus.Queued, 0, 0, 0, 0, 0, 0, 0, null, null, null, null, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow);
}
