namespace BigDataAI.Ingestion.Services;

/// <summary>Settings of the profile computed for every new version (section <c>Profiling</c>).</summary>
public sealed class ProfilingOptions
{
    public const string Section = "Profiling";

    /// <summary>
    /// A version of more shards than this is profiled in parts of this many shards, one ProfileShards message each, taken
    /// by whichever ingestion replica is free; a version of at most this many is profiled in one piece (default 16).
    /// </summary>
    public int ShardsPerTask { get; set; } = 16;
}
