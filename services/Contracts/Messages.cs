namespace BigDataAI.Contracts.Ingestion
{
    /// <summary>A dataset version was validated and committed; its manifest is at <paramref name="ManifestPath"/>.</summary>
    public sealed record DatasetIngested(
        string Dataset,
        int Version,
        string ManifestPath,
        long Rows,
        string SourceSha256,
        DateTimeOffset IngestedAt);
}

// --- profiles (begin) ---
namespace BigDataAI.Contracts.Ingestion
{
    /// <summary>
    /// Profile shards [<paramref name="FirstShard"/>, FirstShard + <paramref name="ShardCount"/>) of a version as part
    /// <paramref name="Part"/> of <paramref name="Parts"/>. Every ingestion replica consumes from one queue, so each part
    /// goes to one of them (competing consumers); the one that finds every part stored merges them into the profile.
    /// </summary>
    public sealed record ProfileShards(string Dataset, int Version, int Part, int Parts, int FirstShard, int ShardCount);

    /// <summary>A version's profile was stored at <paramref name="ProfilePath"/> (computed in <paramref name="Parts"/> parts).</summary>
    public sealed record DatasetProfiled(string Dataset, int Version, string ProfilePath, long Rows, int Parts, DateTimeOffset ProfiledAt);
}
// --- profiles (end) ---

namespace BigDataAI.Contracts.Labeling
{
    /// <summary>A labeled, split version of a dataset version was committed.</summary>
    public sealed record DatasetLabeled(
        string Dataset,
        int Version,
        string LabeledManifestPath,
        long TrainRows,
        long ValidationRows,
        long TestRows,
        DateTimeOffset LabeledAt);
}

namespace BigDataAI.Contracts.Training
{
    /// <summary>A model was trained, evaluated and registered; <paramref name="ModelPath"/> is its registry entry.</summary>
    public sealed record ModelTrained(
        string ModelId,
        string ModelPath,
        string Architecture,
        string Dataset,
        int Version,
        double TestAccuracy,
        DateTimeOffset TrainedAt);
}
