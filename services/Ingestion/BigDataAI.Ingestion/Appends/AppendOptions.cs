namespace BigDataAI.Ingestion.Appends;

/// <summary>Streaming appends (section <c>Appends</c>; docs/streaming-appends.md).</summary>
public sealed class AppendOptions
{
    public const string Section = "Appends";

    /// <summary>A new version is committed once this many rows are staged for a dataset (default 100,000).</summary>
    public int MaxRows { get; set; } = 100_000;

    /// <summary>... or once the oldest staged batch has waited this long (default 5 s).</summary>
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The most rows one batch may hold (default 10,000).</summary>
    public int MaxBatchRows { get; set; } = 10_000;

    /// <summary>Batches of one dataset being staged at once; more wait (back-pressure; default 8).</summary>
    public int MaxPendingBatches { get; set; } = 8;

    /// <summary>Bytes (as received) of one dataset's batches being staged at once; more wait (default 64 MiB).</summary>
    public long MaxPendingBytes { get; set; } = 64L << 20;

    /// <summary>How often the gatherer looks for staged batches other processes left (a crashed or other replica; default 30 s).</summary>
    public TimeSpan RescanInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The lease one replica holds on a dataset while it commits its appends (default 15 s, renewed every third).</summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>AppendRowsBatch messages one ingestion process consumes at once (default 4).</summary>
    public int BusConcurrency { get; set; } = 4;

    /// <summary>AppendRowsBatch messages the broker sends one ingestion process ahead of its acknowledgements (default 8).</summary>
    public int BusPrefetch { get; set; } = 8;

    /// <summary>
    /// How far ahead of a producer's next expected sequence a bus batch may arrive and still be staged (default 256):
    /// competing consumers take batches out of order. Further ahead is a gap.
    /// </summary>
    public long BusReorderWindow { get; set; } = 256;

    /// <summary>The checks that make the host fail at start, naming the setting.</summary>
    public IEnumerable<string> Problems()
    {
        if (MaxRows < 1) yield return "Appends:MaxRows must be at least 1.";
        if (MaxDelay <= TimeSpan.Zero) yield return "Appends:MaxDelay must be positive.";
        if (MaxBatchRows < 1) yield return "Appends:MaxBatchRows must be at least 1.";
        if (MaxPendingBatches < 1) yield return "Appends:MaxPendingBatches must be at least 1.";
        if (MaxPendingBytes < 1) yield return "Appends:MaxPendingBytes must be at least 1.";
        if (RescanInterval <= TimeSpan.Zero) yield return "Appends:RescanInterval must be positive.";
        if (LeaseDuration < TimeSpan.FromSeconds(15) || LeaseDuration > TimeSpan.FromSeconds(60)) yield return "Appends:LeaseDuration must be 15 to 60 s (Azure blob leases).";
        if (BusConcurrency < 1) yield return "Appends:BusConcurrency must be at least 1.";
        if (BusPrefetch < 1) yield return "Appends:BusPrefetch must be at least 1.";
        if (BusReorderWindow < 0) yield return "Appends:BusReorderWindow must be 0 or more.";
    }
}
