using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using BigDataAI.Storage;

namespace BigDataAI.Datasets.Profiling;

/// <summary>
/// A shard range's partial profile: which shards, who profiled them, and where its mergeable state is
/// (<see cref="DatasetPaths.ProfilePartState"/>, stored first). <paramref name="State"/> is the state inline, as parts
/// written before the state had its own object carry it; it is read, never written.
/// </summary>
public sealed record ProfilePart(string Dataset, int Version, int Part, int Parts, int FirstShard, int ShardCount, string ProfiledBy, string? StatePath, string? State = null);

/// <summary>
/// Profiles in the object store, beside the manifest (<see cref="DatasetPaths.Profile"/>), and the partial profiles of
/// shard ranges (<see cref="DatasetPaths.ProfilePart"/>). Everything is written create-only: the first writer of a path
/// wins and a later one (a redelivered message, a second replica) leaves it as it is.
/// </summary>
public sealed class ProfileStore(DatasetStore datasets)
{
    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    private IObjectStore Objects => datasets.Objects;

    public DatasetStore Datasets => datasets;

    public Task<DatasetProfile?> GetAsync(string dataset, int version, CancellationToken cancellationToken = default) =>
        ReadAsync<DatasetProfile>(DatasetPaths.Profile(dataset, version), cancellationToken);

    /// <summary>Stores <paramref name="profile"/> unless one is there; returns the stored one and whether it is ours.</summary>
    public async Task<(DatasetProfile Profile, bool Created)> TryCreateAsync(DatasetProfile profile, CancellationToken cancellationToken = default)
    {
        var path = DatasetPaths.Profile(profile.Dataset, profile.Version);
        if (await CreateAsync(path, profile, cancellationToken).ConfigureAwait(false))
        {
            return (profile, true);
        }
        return (await ReadAsync<DatasetProfile>(path, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"Profile '{path}' vanished while being read."), false);
    }

    public Task<bool> TryCreatePartAsync(ProfilePart part, CancellationToken cancellationToken = default) =>
        CreateAsync(DatasetPaths.ProfilePart(part.Dataset, part.Version, part.Part), part, cancellationToken);

    public Task<bool> PartExistsAsync(string dataset, int version, int part, CancellationToken cancellationToken = default) =>
        Objects.ExistsAsync(DatasetPaths.ProfilePart(dataset, version, part), cancellationToken);

    /// <summary>The part numbers stored so far.</summary>
    public async Task<IReadOnlyList<int>> ListPartsAsync(string dataset, int version, CancellationToken cancellationToken = default)
    {
        var folder = DatasetPaths.ProfilePartFolder(dataset, version);
        var parts = new List<int>();
        await foreach (var path in Objects.ListAsync(folder, cancellationToken).ConfigureAwait(false))
        {
            var name = path[folder.Length..];
            if (name.EndsWith(".json", StringComparison.Ordinal) && int.TryParse(name[..^5], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var part))
            {
                parts.Add(part);
            }
        }
        return parts;
    }

    public async Task<ProfilePart> ReadPartAsync(string dataset, int version, int part, CancellationToken cancellationToken = default) =>
        await ReadAsync<ProfilePart>(DatasetPaths.ProfilePart(dataset, version, part), cancellationToken).ConfigureAwait(false)
        ?? throw new InvalidDataException($"Partial profile {part} of {dataset} v{version} is missing from storage.");

    /// <summary>
    /// Stores the state of part <paramref name="part"/> and returns its path, for the part's <see cref="ProfilePart"/>: its
    /// duplicate-row pairs go to sorted runs beside it first (create-only, <see cref="DatasetPaths.ProfilePartRun"/>), and
    /// the state names them. The state is streamed through a local temporary file, never held as one string; it is
    /// written create-only, and the same shards give the same state, so a second writer finds the same bytes there.
    /// </summary>
    public async Task<string> SavePartStateAsync(ProfileBuilder builder, string dataset, int version, int part, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(builder);
        await builder.DuplicatePairs.StoreAsync(Objects, run => DatasetPaths.ProfilePartRun(dataset, version, part, run), cancellationToken).ConfigureAwait(false);
        var path = DatasetPaths.ProfilePartState(dataset, version, part);
        await using var file = new FileStream(Path.Combine(Path.GetTempPath(), $"bigdataai-profile-state-{Guid.NewGuid():N}.json"), FileMode.CreateNew,
            FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.DeleteOnClose | FileOptions.Asynchronous);
        await builder.WriteStateAsync(file, cancellationToken).ConfigureAwait(false);
        file.Position = 0;
        await Objects.TryCreateAsync(path, file, cancellationToken).ConfigureAwait(false);
        return path;
    }

    /// <summary>The builder of a stored part, read from its state object a buffer at a time (or from the inline state of an older part).</summary>
    public async Task<ProfileBuilder> ReadPartStateAsync(ProfilePart part, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(part);
        if (part.State is { } inline)
        {
            return ProfileBuilder.FromJson(inline);
        }
        var path = part.StatePath ?? throw new InvalidDataException($"Partial profile {part.Part} of {part.Dataset} v{part.Version} names no state.");
        await using var stream = await Objects.OpenReadAsync(path, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidDataException($"The state of partial profile {part.Part} of {part.Dataset} v{part.Version} is missing from storage ({path}).");
        return await ProfileBuilder.ReadStateAsync(stream, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The profile of <paramref name="builder"/>'s rows, reading the duplicate-row runs of merged parts from this store.</summary>
    public ValueTask<DatasetProfile> BuildAsync(ProfileBuilder builder, string dataset, int version, int parts = 1, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.BuildAsync(dataset, version, parts, Objects, cancellationToken);
    }

    /// <summary>Profiles shards [<paramref name="first"/>, first + count) of a version, reading one shard at a time.</summary>
    public async Task<ProfileBuilder> ProfileShardsAsync(DatasetManifest manifest, int first, int count, CancellationToken cancellationToken = default)
    {
        var builder = new ProfileBuilder(manifest.EffectiveSchema);
        for (var i = first; i < first + count; i++)
        {
            builder.Observe(await datasets.ReadShardAsync(manifest, i, cancellationToken).ConfigureAwait(false));
        }
        return builder;
    }

    private async Task<bool> CreateAsync<T>(string path, T value, CancellationToken cancellationToken)
    {
        using var content = new MemoryStream(JsonSerializer.SerializeToUtf8Bytes(value, Json), writable: false);
        return await Objects.TryCreateAsync(path, content, cancellationToken).ConfigureAwait(false);
    }

    private async Task<T?> ReadAsync<T>(string path, CancellationToken cancellationToken)
    {
        await using var stream = await Objects.OpenReadAsync(path, cancellationToken).ConfigureAwait(false);
        return stream is null ? default : await JsonSerializer.DeserializeAsync<T>(stream, Json, cancellationToken).ConfigureAwait(false);
    }

    public static string Serialize(DatasetProfile profile) => Encoding.UTF8.GetString(JsonSerializer.SerializeToUtf8Bytes(profile, Json));
}
