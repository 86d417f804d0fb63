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
