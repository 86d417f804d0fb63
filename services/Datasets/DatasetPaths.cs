using System.Text.RegularExpressions;

namespace BigDataAI.Datasets;

/// <summary>
/// The layout of datasets in the object store:
/// <code>
/// datasets/{name}/v{version:000000}/manifest.json          raw version (written last, create-only)
/// datasets/{name}/data/{sha256[..16]}/part-00000-{shard sha256[..16]}.parquet    its shards
/// datasets/{name}/v{version:000000}/labeled/manifest.json  labeled, split version (written last, create-only)
/// datasets/{name}/v{version:000000}/labeled/train-00000-{shard sha256[..16]}.parquet
/// datasets/{name}/v{version:000000}/labeled/derived/{step}/manifest.json   columns derived from the labeled splits
/// datasets/{name}/data/{sha256[..16]}/quarantine-00000-{shard sha256[..16]}.parquet   rows an upload quarantined
/// datasets/{name}/expectations.json                         what every new version must hold (replaced whole)
/// datasets/{name}/v{version:000000}/profile.json           the version's profile (create-only)
/// datasets/{name}/v{version:000000}/profile-parts/00000.json   a shard range's partial profile (create-only)
/// </code>
/// Shard folders are keyed by the upload's hash and shard names end in the shard's own hash, so a path always
/// holds the same bytes: a lost race or a repeated commit rewrites identical content or writes beside it.
/// </summary>
public static partial class DatasetPaths
{
    public const string Root = "datasets/";

    // \z, not $: $ also matches before a final newline, and "mnist\n" is not a name.
    [GeneratedRegex(@"^[a-z][a-z0-9-]{0,63}\z")]
    private static partial Regex NamePattern();

    [GeneratedRegex(@"^datasets/(?<name>[a-z][a-z0-9-]{0,63})/v(?<version>\d{6})/manifest\.json\z")]
    private static partial Regex ManifestPattern();

    public static bool IsValidName(string name) => NamePattern().IsMatch(name);

    public static string EnsureValidName(string name) => IsValidName(name)
        ? name
        : throw new ArgumentException(
            $"Dataset name '{name}' is invalid: use 1-64 characters of lower-case letters, digits and '-', starting with a letter.", nameof(name));

    public static string VersionFolder(string dataset, int version) => $"{Root}{dataset}/v{version:D6}/";
    public static string Manifest(string dataset, int version) => VersionFolder(dataset, version) + "manifest.json";
    public static string ShardFolder(string dataset, string sourceSha256) => $"{Root}{dataset}/data/{sourceSha256[..16]}/";
    public static string LabeledManifest(string dataset, int version) => VersionFolder(dataset, version) + "labeled/manifest.json";
    public static string LabeledShardPrefix(string dataset, int version, string split) => VersionFolder(dataset, version) + $"labeled/{split}-";
    public static string DerivedManifest(string dataset, int version, string name) => VersionFolder(dataset, version) + $"labeled/derived/{name}/manifest.json";
    public static string DerivedShardPrefix(string dataset, int version, string name, string split) => VersionFolder(dataset, version) + $"labeled/derived/{name}/{split}-";
    /// <summary>The dataset's expectations (validation, ingest), checked on every new version.</summary>
    public static string Expectations(string dataset) => $"{Root}{dataset}/expectations.json";
    // --- profiles (begin) ---
    public static string Profile(string dataset, int version) => VersionFolder(dataset, version) + "profile.json";
    public static string ProfilePartFolder(string dataset, int version) => VersionFolder(dataset, version) + "profile-parts/";
    public static string ProfilePart(string dataset, int version, int part) => ProfilePartFolder(dataset, version) + $"{part:D5}.json";

    /// <summary>A partial profile's mergeable state (create-only, written before the part's record, which names it).</summary>
    public static string ProfilePartState(string dataset, int version, int part) => ProfilePartFolder(dataset, version) + $"{part:D5}.state.json";

    /// <summary>A partial profile's sorted run of duplicate-row pairs (create-only, beside the part).</summary>
    public static string ProfilePartRun(string dataset, int version, int part, int run) => ProfilePartFolder(dataset, version) + $"{part:D5}.rows-{run:D4}.run";
    // --- profiles (end) ---

    /// <summary>Parses a raw manifest path into its dataset name and version.</summary>
    public static bool TryParseManifest(string path, out string dataset, out int version)
    {
        var match = ManifestPattern().Match(path);
        dataset = match.Success ? match.Groups["name"].Value : "";
        version = match.Success ? int.Parse(match.Groups["version"].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;
        return match.Success;
    }
}
