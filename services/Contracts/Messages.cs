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

    // --- appends (begin) ---
    /// <summary>
    /// Rows to append to <paramref name="Dataset"/> (docs/streaming-appends.md), staged exactly once per
    /// <paramref name="Producer"/> and <paramref name="Sequence"/> (1, 2, 3, ...): a redelivered or resent batch is not
    /// appended twice. Each row maps column names to JSON values typed by the dataset's newest version: numbers (int64,
    /// double), true/false, strings (string; ISO 8601 for a timestamp; base64 for binary), arrays of numbers (tensor),
    /// null or a missing key (a null). The one message that carries rows rather than a reference: the rows are the data
    /// being delivered, and a batch is bounded by Appends:MaxBatchRows.
    /// </summary>
    public sealed record AppendRowsBatch(
        string Dataset,
        string Producer,
        long Sequence,
        IReadOnlyList<IReadOnlyDictionary<string, System.Text.Json.JsonElement>> Rows);

    /// <summary>A batch of <see cref="AppendRowsBatch"/> was durably staged (or had been: <paramref name="Duplicate"/>).</summary>
    public sealed record AppendRowsBatchStaged(
        string Dataset,
        string Producer,
        long Sequence,
        int Rows,
        bool Duplicate,
        DateTimeOffset StagedAt);
    // --- appends (end) ---
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

namespace BigDataAI.Contracts.Training
{
    /// <summary>
    /// An alias of a model name moved (promotion, rollback or deletion): <c>name@alias</c> means <paramref name="ModelVersion"/>
    /// from now on (0: the alias was deleted). Inference replicas switch at once; they also read aliases from the registry on
    /// their reconcile timer, so a lost message only delays the switch.
    /// </summary>
    public sealed record ModelAliasMoved(string Name, string Alias, int ModelVersion, string ModelId, int Sequence, DateTimeOffset MovedAt);
}
