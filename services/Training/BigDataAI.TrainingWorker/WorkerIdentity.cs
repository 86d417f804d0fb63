using BigDataAI.Models;
using BigDataAI.Training.Services;
using TrainingOptions = BigDataAI.Training.Services.TrainingOptions;
using Microsoft.Extensions.Options;

namespace BigDataAI.Training.Workers;

/// <summary>This worker: its id, and what it has (found when it starts).</summary>
public sealed class WorkerIdentity(IOptions<TrainingOptions> options)
{
    private readonly Lazy<(int Gpus, int MemoryMiB, string Device)> _capacity = new(() => Detect(options.Value.Worker));

    public string Id { get; } = string.IsNullOrWhiteSpace(options.Value.Worker.Id)
        ? $"{Environment.MachineName.ToLowerInvariant()}-{Guid.NewGuid().ToString("N")[..6]}"
        : options.Value.Worker.Id.Trim();

    public int Slots => options.Value.Worker.Slots;

    /// <summary>CUDA devices offered (loads TorchSharp on first use).</summary>
    public int Gpus => _capacity.Value.Gpus;

    public int MemoryMiB => _capacity.Value.MemoryMiB;

    /// <summary>"cuda" when it offers GPUs, else "cpu".</summary>
    public string Device => _capacity.Value.Device;

    private static (int, int, string) Detect(TrainingOptions.WorkerSettings settings)
    {
        TorchRuntime.EnsureLoadable();
        if (settings.Threads > 0)
        {
            TorchSharp.torch.set_num_threads(settings.Threads);
        }
        var found = settings.Device == "cpu" || !TorchSharp.torch.cuda.is_available() ? 0 : TorchSharp.torch.cuda.device_count();
        if (settings.Device == "cuda" && found == 0)
        {
            throw new InvalidOperationException(
                "Training:Worker:Device is 'cuda' but TorchSharp finds no CUDA device: is this the GPU image (the CUDA libtorch bundle) on a node with the NVIDIA driver and device plugin?");
        }
        var gpus = settings.Gpus ?? found;
        if (gpus > found)
        {
            throw new InvalidOperationException(
                $"Training:Worker:Gpus is {gpus} but TorchSharp finds {found} CUDA device(s) on this machine (Training:Worker:Device is '{settings.Device}'); " +
                "a worker may offer only GPUs it has.");
        }
        var memory = settings.MemoryMiB ?? (int)Math.Min(int.MaxValue, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1024 * 1024));
        return (gpus, memory, gpus > 0 ? "cuda" : "cpu");
    }
}
