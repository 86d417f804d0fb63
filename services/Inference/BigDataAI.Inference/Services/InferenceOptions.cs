namespace BigDataAI.Inference.Services;

/// <summary>The <c>Inference</c> configuration section.</summary>
public sealed class InferenceOptions
{
    public const string Section = "Inference";

    /// <summary>
    /// How often a replica compares the model it serves with the registry and loads a newer one, besides at start, on
    /// ModelTrained and when the broker connection comes back. It bounds how long a lost ModelTrained delays a swap.
    /// Zero turns the timer off (not recommended).
    /// </summary>
    public TimeSpan ReconcileInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How much model weight (MiB, as stored) a replica keeps in memory. Every name's newest version loads while it fits;
    /// beyond it the least recently used models are unloaded and load again on their next request.
    /// </summary>
    public int MemoryBudgetMiB { get; set; } = 2048;
}
