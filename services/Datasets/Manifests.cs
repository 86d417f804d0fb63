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
public sealed record DatasetManifest(
    int FormatVersion,
    string Dataset,
    int Version,
    long Rows,
    int FeatureCount,
    int[] FeatureShape,
    string[] FeatureNames,
    string[] Classes,
    long[] ClassCounts,
    IReadOnlyList<ShardInfo> Shards,
    DatasetSource Source,
    DateTimeOffset CreatedAt);

/// <summary>One split of a labeled version: its rows per class and its shards.</summary>
public sealed record SplitInfo(long Rows, long[] ClassCounts, IReadOnlyList<ShardInfo> Shards);

/// <summary>
/// The labeled, split form of one dataset version. There is at most one per dataset version; it is derived
/// deterministically (seeded) so writing it twice gives the same content.
/// </summary>
public sealed record LabeledManifest(
    int FormatVersion,
    string Dataset,
    int Version,
    string SourceManifestPath,
    string LabelSource,
    int SplitSeed,
    int FeatureCount,
    int[] FeatureShape,
    string[] FeatureNames,
    string[] Classes,
    IReadOnlyDictionary<string, SplitInfo> Splits,
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
