namespace Aspire.Hosting;

/// <summary>How the published training workers scale on GPUs, on every publish target (the same as deploy/kubernetes).</summary>
internal static class GpuWorkers
{
    /// <summary>The control plane's queue summary, e.g. <c>{"queued":3,"queuedGpu":2,"queuedCpu":1,"running":1,"workers":2}</c>.</summary>
    public const string QueuePath = "/training/queue";

    /// <summary>Jobs a GPU worker runs at once (Training__Worker__Slots); also the scaler's target per replica.</summary>
    public const int Slots = 1;

    /// <summary>At most this many GPU replicas; at least none (KEDA scales to zero when no job waits or runs).</summary>
    public const int MaxReplicas = 4;
}
