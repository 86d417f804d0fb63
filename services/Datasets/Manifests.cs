using System.Text.Json;
using System.Text.Json.Serialization;

namespace BigDataAI.Datasets;

/// <summary>Where the data came from: the upload's format, its files and the SHA-256 of their bytes as uploaded.</summary>
public sealed record DatasetSource(string Format, IReadOnlyList<string> Files, string Sha256, string? Description);

/// <summary>One Parquet file of a dataset: its path in the store, row count, byte size and SHA-256.</summary>
public sealed record ShardInfo(string Path, long Rows, long Bytes, string Sha256);

/// <summary>
/// An immutable dataset version. It becomes visible only when this manifest is written, and it is written
/// last, create-only: readers never see a version whose shards are incomplete.
/// </summary>
/// <remarks>
/// Format 2 (written now) holds <see cref="Schema"/>: the source's own typed columns and their roles. Format 1 (written
/// before typed columns) had one <c>features</c> list column and a class-index <c>label</c>, described by
/// <see cref="FeatureCount"/>, <see cref="FeatureShape"/> and <see cref="FeatureNames"/>; such versions are still read,
/// as a tensor column <c>features</c> and a string label column (docs/decisions/0010-typed-datasets.md).
/// </remarks>
public sealed record DatasetManifest(
    int FormatVersion,
    string Dataset,
    int Version,
    long Rows,
    string[] Classes,
    long[] ClassCounts,
    IReadOnlyList<ShardInfo> Shards,
    DatasetSource Source,
    DateTimeOffset CreatedAt)
{
    /// <summary>The columns (format 2). For a format-1 version use <see cref="EffectiveSchema"/>.</summary>
    public DatasetSchema? Schema { get; init; }

    /// <summary>Rows whose label is null: unlabeled, waiting to be labeled.</summary>
    public long UnlabeledRows { get; init; }

    /// <summary>How the version was made (format 2).</summary>
    public DatasetLineage? Lineage { get; init; }

    // --- appends (begin) ---
    /// <summary>
    /// Versions made by streaming appends: per producer, the last sequence number committed into this version or an
    /// earlier one (docs/streaming-appends.md). Null on other versions.
    /// </summary>
    public IReadOnlyDictionary<string, long>? AppendSequences { get; init; }
    // --- appends (end) ---

    /// <summary>Format 1 only: floats per row.</summary>
    public int? FeatureCount { get; init; }

    /// <summary>Format 1 only: the shape of one row's features.</summary>
    public int[]? FeatureShape { get; init; }

    /// <summary>Format 1 only: CSV header names of the features.</summary>
    public string[]? FeatureNames { get; init; }

    /// <summary>The schema of the stored rows, whatever the format.</summary>
    [JsonIgnore]
    public DatasetSchema EffectiveSchema => Schema ?? LegacySchema.Of(FeatureShape ?? [FeatureCount ?? 1]);

    // --- validation (ingest) ---
    /// <summary>The rows an upload in quarantine mode could not store (null when none): read with DatasetStore.ReadQuarantineAsync.</summary>
    public QuarantineInfo? Quarantine { get; init; }
    // --- validation (ingest) end ---
}

/// <summary>The schema a format-1 version is read with: one tensor column <c>features</c> and the label's class names.</summary>
internal static class LegacySchema
{
    public static DatasetSchema Of(int[] shape) => new([
        new ColumnSchema("features", ColumnType.Tensor, ColumnRole.Feature, Nullable: false, Shape: shape),
        new ColumnSchema("label", ColumnType.String, ColumnRole.Label, Nullable: false),
    ]);
}

/// <summary>One split of a labeled version: its rows per class and its shards.</summary>
public sealed record SplitInfo(long Rows, long[] ClassCounts, IReadOnlyList<ShardInfo> Shards);

/// <summary>
/// The labeled, split form of one dataset version. There is at most one per dataset version; it is derived
/// deterministically (seeded) so writing it twice gives the same content.
/// </summary>
/// <remarks>Its shards have the source version's columns (<see cref="Schema"/>); unlabeled rows are in no split.</remarks>
public sealed record LabeledManifest(
    int FormatVersion,
    string Dataset,
    int Version,
    string SourceManifestPath,
    string LabelSource,
    int SplitSeed,
    string[] Classes,
    IReadOnlyDictionary<string, SplitInfo> Splits,
    DateTimeOffset CreatedAt)
{
    /// <summary>The columns (format 2). For a format-1 version use <see cref="EffectiveSchema"/>.</summary>
    public DatasetSchema? Schema { get; init; }

    /// <summary>Rows of the source version left out of every split because their label is null.</summary>
    public long UnlabeledRows { get; init; }

    /// <summary>Format 1 only.</summary>
    public int? FeatureCount { get; init; }

    /// <summary>Format 1 only.</summary>
    public int[]? FeatureShape { get; init; }

    /// <summary>Format 1 only.</summary>
    public string[]? FeatureNames { get; init; }

    /// <summary>The schema of the stored rows, whatever the format.</summary>
    [JsonIgnore]
    public DatasetSchema EffectiveSchema => Schema ?? LegacySchema.Of(FeatureShape ?? [FeatureCount ?? 1]);
}

/// <summary>
/// Columns derived from a labeled version by a named step (e.g. MiniLM embeddings of a text column), stored per split
/// with the split's row ids, so later jobs read them instead of computing them again. Written create-only, shards first.
/// </summary>
public sealed record DerivedManifest(
    int FormatVersion,
    string Dataset,
    int Version,
    string Name,
    DatasetSchema Schema,
    IReadOnlyDictionary<string, SplitInfo> Splits,
    DatasetLineage Lineage,
    DateTimeOffset CreatedAt);

public static class Splits
{
    public const string Train = "train";
    public const string Validation = "validation";
    public const string Test = "test";
    public static readonly IReadOnlyList<string> All = [Train, Validation, Test];
}

internal static class ManifestJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };
}
