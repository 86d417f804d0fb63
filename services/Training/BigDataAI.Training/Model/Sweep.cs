using BigDataAI.Training.Services;

namespace BigDataAI.Training.Model;

/// <summary>
/// One dimension of a search space: <see cref="Choices"/>, or a range [<see cref="Min"/>, <see cref="Max"/>] spaced or
/// drawn evenly (in log space with <see cref="LogScale"/>). <see cref="GridPoints"/>: values of a range in a grid.
/// </summary>
public sealed record SearchParameter(string Name, double Min = 0, double Max = 0, bool LogScale = false, IReadOnlyList<string>? Choices = null, int GridPoints = 0)
{
    public IReadOnlyList<string> Choices { get; init; } = Choices ?? [];
}

/// <summary>A sweep as stated, every default resolved: what each trial trains, the space, and the strategy.</summary>
/// <param name="Base">What every trial trains; each trial overrides the hyper-parameters its values name.</param>
/// <param name="Strategy">"grid", "random" or "asha".</param>
/// <param name="Trials">Draws for random and ASHA (grid: the number of combinations).</param>
/// <param name="Seed">Seed of the draws.</param>
/// <param name="MinEpochs">ASHA: the first rung, in epochs.</param>
/// <param name="ReductionFactor">ASHA: a trial goes on at a rung only within the top 1/factor.</param>
public sealed record SweepSpec(TrainingRequest Base, IReadOnlyList<SearchParameter> Space, string Strategy, int Trials, long Seed, int MinEpochs, int ReductionFactor);

/// <summary>One trial: its values, its job, and (ASHA) the rungs it passed, its score at each, and why it was stopped.</summary>
public sealed record TrialRecord(int Index, IReadOnlyDictionary<string, string> Parameters, string? JobId)
{
    /// <summary>ASHA: the rung epochs this trial has reached (passed or not), with its best validation score up to each.</summary>
    public IReadOnlyDictionary<int, double> RungScores { get; init; } = new Dictionary<int, double>();

    /// <summary>ASHA: the rungs it passed (went on from).</summary>
    public IReadOnlyList<int> RungsPassed { get; init; } = [];

    /// <summary>Why the sweep stopped it (ASHA), or why it could not be submitted.</summary>
    public string? StopReason { get; init; }

    /// <summary>Set when its job could not be submitted (then <see cref="JobId"/> is null).</summary>
    public string? Error { get; init; }
}

/// <summary>A sweep's state as stored in <c>sweeps/{id}/sweep.json</c>: <see cref="SweepStatus.Running"/> until every trial ended.</summary>
public sealed record SweepRecord(string SweepId, SweepSpec Spec, IReadOnlyList<TrialRecord> Trials, SweepStatus Status, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt)
{
    /// <summary>The succeeded trial chosen as best (-1: none yet).</summary>
    public int BestTrial { get; init; } = -1;

    public string? BestModelId { get; init; }

    /// <summary>A failed sweep: why.</summary>
    public string? Error { get; init; }

    public long Revision { get; init; }
}

public enum SweepStatus
{
    Running,
    Succeeded,
    Failed,
}
