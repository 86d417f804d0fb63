namespace BigDataAI.Training.Services;

/// <summary>The <c>Training</c> configuration section, shared by the control plane and the workers.</summary>
public sealed class TrainingOptions
{
    public const string Section = "Training";

    /// <summary>When set (a catalog model: "mlp", "logreg", "cnn", "fasttext", "minilm"), every DatasetLabeled starts a job with this model and <see cref="AutoTrainHyperParameters"/>.</summary>
    public string? AutoTrainModel { get; set; }

    public AutoTrainSettings AutoTrainHyperParameters { get; set; } = new();

    /// <summary>
    /// How long a worker's claim on a job lasts without renewal (Azure: 15 to 60 s). A killed worker's job is taken
    /// over by another about this long after it died.
    /// </summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Runs a job may start in all: each lost worker and each run stopped by a storage or broker outage uses one. A job
    /// that has had this many fails with the reason instead of being handed out again for ever.
    /// </summary>
    public int MaxAttempts { get; set; } = 10;

    public SchedulerSettings Scheduler { get; set; } = new();

    public WorkerSettings Worker { get; set; } = new();

    /// <summary>Throws naming the first invalid setting.</summary>
    public void Validate()
    {
        if (LeaseDuration <= TimeSpan.Zero)
        {
            throw new ArgumentException($"Training:LeaseDuration must be positive, not {LeaseDuration}.");
        }
        if (MaxAttempts < 1)
        {
            throw new ArgumentException($"Training:MaxAttempts must be at least 1, not {MaxAttempts}.");
        }
        if (Scheduler.MaxGpusPerWorker < 0 || Scheduler.MaxMemoryMiB < 1)
        {
            throw new ArgumentException("Training:Scheduler:MaxGpusPerWorker must be 0 or more and Training:Scheduler:MaxMemoryMiB at least 1.");
        }
        if (Worker.Slots < 1)
        {
            throw new ArgumentException($"Training:Worker:Slots must be at least 1, not {Worker.Slots}.");
        }
        if (Worker.Gpus is < 0 || Worker.MemoryMiB is < 1)
        {
            throw new ArgumentException("Training:Worker:Gpus must be 0 or more and Training:Worker:MemoryMiB at least 1.");
        }
        if (Worker.CacheMiB < 0)
        {
            throw new ArgumentException($"Training:Worker:CacheMiB must be 0 or more, not {Worker.CacheMiB}.");
        }
        if (Worker.Device is not ("auto" or "cuda" or "cpu"))
        {
            throw new ArgumentException($"Training:Worker:Device must be auto, cuda or cpu, not '{Worker.Device}'.");
        }
        if (Worker.ProbeInterval <= TimeSpan.Zero || Worker.ProbeTimeout <= Worker.ProbeInterval || Worker.ExitWhenDeafFor < TimeSpan.Zero)
        {
            throw new ArgumentException($"Training:Worker:ProbeInterval ({Worker.ProbeInterval}) must be positive, Training:Worker:ProbeTimeout ({Worker.ProbeTimeout}) longer, and Training:Worker:ExitWhenDeafFor ({Worker.ExitWhenDeafFor}) not negative.");
        }
        if (Scheduler.AssignTimeout <= TimeSpan.Zero || Scheduler.SilentWorkerPause < TimeSpan.Zero)
        {
            throw new ArgumentException($"Training:Scheduler:AssignTimeout ({Scheduler.AssignTimeout}) must be positive and Training:Scheduler:SilentWorkerPause ({Scheduler.SilentWorkerPause}) not negative.");
        }
        if (Worker.AnnounceInterval <= TimeSpan.Zero || Scheduler.WorkerTimeout <= Worker.AnnounceInterval)
        {
            throw new ArgumentException($"Training:Scheduler:WorkerTimeout ({Scheduler.WorkerTimeout}) must be longer than Training:Worker:AnnounceInterval ({Worker.AnnounceInterval}).");
        }
    }

    public sealed class AutoTrainSettings
    {
        public int Epochs { get; set; }
        public int BatchSize { get; set; }
        public double LearningRate { get; set; }
        public string? Optimizer { get; set; }
        public long Seed { get; set; }
    }

    /// <summary>The <c>Training:Scheduler</c> section (control plane).</summary>
    public sealed class SchedulerSettings
    {
        /// <summary>The most GPUs any worker will ever have: a job asking for more is refused at submission.</summary>
        public int MaxGpusPerWorker { get; set; } = 8;

        /// <summary>The most memory any worker will ever have (MiB): a job asking for more is refused at submission.</summary>
        public int MaxMemoryMiB { get; set; } = 1024 * 1024;

        /// <summary>A worker not heard from for this long is considered gone; its jobs are taken back once their leases lapse.</summary>
        public TimeSpan WorkerTimeout { get; set; } = TimeSpan.FromSeconds(10);

        /// <summary>
        /// A job handed to a worker that has not started it after this long is handed to another worker, and the silent
        /// worker gets no job for <see cref="SilentWorkerPause"/>.
        /// </summary>
        public TimeSpan AssignTimeout { get; set; } = TimeSpan.FromSeconds(20);

        /// <summary>
        /// How long a worker that did not start a job handed to it gets no other: this long the first time (shorter if
        /// its own probe shows it receives), twice as long each further time in a row, at most 10 minutes.
        /// </summary>
        public TimeSpan SilentWorkerPause { get; set; } = TimeSpan.FromSeconds(30);

        /// <summary>How often the scheduler looks again without being woken (lapsed workers, lapsed assignments).</summary>
        public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(1);
    }

    /// <summary>The <c>Training:Worker</c> section (training workers).</summary>
    public sealed class WorkerSettings
    {
        /// <summary>This worker's name; default: the host name and a random suffix.</summary>
        public string? Id { get; set; }

        /// <summary>CUDA devices this worker offers; default: those TorchSharp finds at start. More than it finds is refused at start.</summary>
        public int? Gpus { get; set; }

        /// <summary>Memory this worker offers (MiB); default: what the runtime may use (the container limit, else the machine's).</summary>
        public int? MemoryMiB { get; set; }

        /// <summary>Jobs this worker runs at once.</summary>
        public int Slots { get; set; } = 1;

        /// <summary>How often it announces itself to the scheduler.</summary>
        public TimeSpan AnnounceInterval { get; set; } = TimeSpan.FromSeconds(2);

        /// <summary>How often it sends itself a probe through the broker to check that its job queue still delivers.</summary>
        public TimeSpan ProbeInterval { get; set; } = TimeSpan.FromSeconds(5);

        /// <summary>A probe the broker accepted that has not come back after this long means the job queue is gone.</summary>
        public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(20);

        /// <summary>
        /// A worker whose job queue has delivered nothing for this long stops (exit code 75) so its supervisor starts a
        /// fresh one with a fresh queue; its jobs are handed back first. Zero: it only reports itself unhealthy.
        /// </summary>
        public TimeSpan ExitWhenDeafFor { get; set; } = TimeSpan.FromSeconds(60);

        /// <summary>
        /// A job's train split (then its validation split, with what is left) whose model inputs take at most this many
        /// MiB is read once and kept on the training device, instead of read, checked and decoded again every epoch
        /// (docs/training.md); the batches are the same either way. 0: never, so memory stays at the shuffle buffer.
        /// </summary>
        public int CacheMiB { get; set; } = 128;

        /// <summary>CPU threads libtorch uses for one job's math (torch.set_num_threads); 0 keeps libtorch's default (one per core).</summary>
        public int Threads { get; set; }

        /// <summary>
        /// "auto" (offer the CUDA devices TorchSharp finds), "cuda" (the same, but refuse to start without one: for GPU
        /// pools, so a CPU-only image fails loudly), or "cpu" (never use CUDA).
        /// </summary>
        public string Device { get; set; } = "auto";
    }
}
