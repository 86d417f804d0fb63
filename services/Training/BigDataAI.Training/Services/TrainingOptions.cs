namespace BigDataAI.Training.Services;

public sealed class TrainingOptions
{
    public const string Section = "Training";

    /// <summary>When set ("cnn" or "mlp"), every DatasetLabeled starts a job with this model and <see cref="AutoTrainHyperParameters"/>.</summary>
    public string? AutoTrainModel { get; set; }

    public AutoTrainSettings AutoTrainHyperParameters { get; set; } = new();

    /// <summary>"auto" (CUDA when TorchSharp finds it, else CPU), "cpu" or "cuda".</summary>
    public string Device { get; set; } = "auto";

    /// <summary>Jobs trained at once by this process.</summary>
    public int MaxConcurrentJobs { get; set; } = 1;

    public sealed class AutoTrainSettings
    {
        public int Epochs { get; set; }
        public int BatchSize { get; set; }
        public double LearningRate { get; set; }
        public string? Optimizer { get; set; }
        public long Seed { get; set; }
    }
}
