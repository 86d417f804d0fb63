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

    /// <summary>
    /// The SQLite file that holds labeling projects, their tasks and labels, and the annotators. Relative paths are
    /// relative to the working directory. It must be on a disk that outlives the process (a persistent volume when
    /// deployed).
    /// </summary>
    public string Database { get; set; } = Path.Combine(".labeling", "labeling.db");

    /// <summary>Addresses of the inference and training services ("self": this host). See <see cref="PlatformClients"/>.</summary>
    public string? InferenceAddress { get; set; }

    public string? TrainingAddress { get; set; }

    /// <summary>How callers prove who they are.</summary>
    public LabelingAuthenticationOptions Authentication { get; set; } = new();

    /// <summary>
    /// Users created (or updated) at start: <c>Labeling:Users:{name}:Password</c> and <c>Labeling:Users:{name}:Roles</c>
    /// (comma-separated: annotator, admin; default annotator).
    /// </summary>
    public Dictionary<string, LabelingUser> Users { get; set; } = new(StringComparer.Ordinal);

    public SplitFractions Fractions => new(TrainFraction, ValidationFraction, TestFraction);
}

public sealed class LabelingUser
{
    public string? Password { get; set; }
    public string Roles { get; set; } = "annotator";
}

public sealed class LabelingAuthenticationOptions
{
    /// <summary>
    /// A user that loopback callers without a token act as, holding every role (the embedded mode: one person on this
    /// machine). Empty (the default, and the distributed mode) means every call needs a token.
    /// </summary>
    public string? LocalUser { get; set; }

    /// <summary>The HMAC-SHA256 key tokens are signed with (base64, at least 32 bytes). Empty: one generated once and kept in the database.</summary>
    public string? SigningKey { get; set; }

    public TimeSpan TokenLifetime { get; set; } = TimeSpan.FromHours(12);
}
