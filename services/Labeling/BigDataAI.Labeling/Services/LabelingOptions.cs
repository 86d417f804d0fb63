namespace BigDataAI.Labeling.Services;

public sealed class LabelingOptions
{
    public const string Section = "Labeling";

    public double TrainFraction { get; set; } = SplitFractions.Default.Train;
    public double ValidationFraction { get; set; } = SplitFractions.Default.Validation;
    public double TestFraction { get; set; } = SplitFractions.Default.Test;
    public int SplitSeed { get; set; } = 42;

    /// <summary>At start, label every committed version that has no labeled version yet (a lost message or a crash).</summary>
    public bool ReconcileOnStart { get; set; } = true;

    /// <summary>
    /// After start, look again this often for committed versions without a labeled version (a DatasetIngested lost in a
    /// broker outage). Zero turns the periodic pass off.
    /// </summary>
    public TimeSpan ReconcileInterval { get; set; } = TimeSpan.FromSeconds(30);

    public SplitFractions Fractions => new(TrainFraction, ValidationFraction, TestFraction);
}
