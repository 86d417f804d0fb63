using System.Diagnostics;
using System.Diagnostics.Metrics;
using BigDataAI.Contracts.Ingestion;
using BigDataAI.Datasets;
using BigDataAI.Datasets.Profiling;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace BigDataAI.Ingestion.Services;

/// <summary>Names this process's profiler in the partial profiles it writes (so one can tell which replica did a part).</summary>
public sealed class ProfilerIdentity
{
    public string Id { get; } = $"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid().ToString("N")[..8]}";
}

/// <summary>
/// Computes and stores the profile of a dataset version (docs/data-profiles.md). A version of at most
/// <see cref="ProfilingOptions.ShardsPerTask"/> shards is profiled in one piece; a larger one is cut into shard ranges,
/// one <see cref="ProfileShards"/> message each, which the ingestion replicas take as competing consumers. Each writes its
/// partial profile create-only; the replica that then finds every part stored merges them and writes profile.json,
/// create-only, so two replicas finishing at once, or a redelivered message, store one profile. Memory holds one shard,
/// the sketches (twice while merging: the merged ones and one part's, whose state is streamed from storage) and at most
/// a million duplicate-row pairs (sorted runs beside the parts hold the rest), whatever the version's size.
/// </summary>
public sealed class DatasetProfiler(ProfileStore profiles, ProfilerIdentity identity, IOptions<ProfilingOptions> options, ILogger<DatasetProfiler> logger)
{
    private static readonly Meter Meter = new(IngestionTelemetry.Name);
    private static readonly Counter<long> Profiled = Meter.CreateCounter<long>("bigdataai.ingestion.profiles", description: "Dataset versions profiled, by how (whole, merged, on-request)");
    private static readonly Counter<long> PartsProfiled = Meter.CreateCounter<long>("bigdataai.ingestion.profile_parts", description: "Shard ranges profiled");
    private static readonly Histogram<double> Seconds = Meter.CreateHistogram<double>("bigdataai.ingestion.profile_seconds", "s", "Time to profile a version or a part");

    /// <summary>What to do for a new version: nothing (profiled already), the profile stored now, or the parts to send.</summary>
    public sealed record Plan(DatasetProfiled? Profiled, IReadOnlyList<ProfileShards> Parts);

    /// <summary>Profiles a newly ingested version, or plans its parts. A version this store does not have is logged and skipped.</summary>
    public async Task<Plan> ProfileVersionAsync(string dataset, int version, CancellationToken cancellationToken)
    {
        using var activity = IngestionTelemetry.Source.StartActivity("profile");
        activity?.SetTag("bigdataai.dataset", dataset);
        activity?.SetTag("bigdataai.dataset_version", version);
        if (await profiles.GetAsync(dataset, version, cancellationToken).ConfigureAwait(false) is not null)
        {
            logger.LogInformation("{Dataset} v{Version} is profiled already", dataset, version);
            return new Plan(null, []);
        }
        var manifest = await profiles.Datasets.GetAsync(dataset, version, cancellationToken).ConfigureAwait(false);
        if (manifest is null)
        {
            logger.LogWarning("Not profiling {Dataset} v{Version}: this store ({Store}) has no such version", dataset, version, profiles.Datasets.Objects.Location);
            return new Plan(null, []);
        }
        var perTask = options.Value.ShardsPerTask;
        var shards = manifest.Shards.Count;
        if (shards <= perTask)
        {
            var (profile, created) = await ComputeWholeAsync(manifest, "whole", cancellationToken).ConfigureAwait(false);
            return new Plan(created ? Announce(profile) : null, []);
        }
        var parts = (shards + perTask - 1) / perTask;
        activity?.SetTag("bigdataai.profile_parts", parts);
        logger.LogInformation("Profiling {Dataset} v{Version} ({Shards} shards) in {Parts} parts of up to {PerTask} shards", dataset, version, shards, parts, perTask);
        return new Plan(null, [.. Enumerable.Range(0, parts).Select(p => new ProfileShards(dataset, version, p, parts, p * perTask, Math.Min(perTask, shards - p * perTask)))]);
    }

    /// <summary>Profiles one shard range (unless stored already), then merges when every part is there. Returns the event to publish when this call stored the profile.</summary>
    public async Task<DatasetProfiled?> ProfilePartAsync(ProfileShards part, CancellationToken cancellationToken)
    {
        using var activity = IngestionTelemetry.Source.StartActivity("profile-part");
        activity?.SetTag("bigdataai.dataset", part.Dataset);
        activity?.SetTag("bigdataai.dataset_version", part.Version);
        activity?.SetTag("bigdataai.profile_part", part.Part);
        if (await profiles.GetAsync(part.Dataset, part.Version, cancellationToken).ConfigureAwait(false) is not null)
        {
            return null;
        }
        var manifest = await profiles.Datasets.GetAsync(part.Dataset, part.Version, cancellationToken).ConfigureAwait(false);
        if (manifest is null)
        {
            logger.LogWarning("Not profiling part {Part} of {Dataset} v{Version}: this store has no such version", part.Part, part.Dataset, part.Version);
            return null;
        }
        if (part.Part < 0 || part.Part >= part.Parts || part.FirstShard < 0 || part.ShardCount < 1 || part.FirstShard + part.ShardCount > manifest.Shards.Count)
        {
            throw new ArgumentException($"Part {part.Part} of {part.Parts} (shards {part.FirstShard}..{part.FirstShard + part.ShardCount - 1}) does not fit {part.Dataset} v{part.Version}'s {manifest.Shards.Count} shards.");
        }
        if (!await profiles.PartExistsAsync(part.Dataset, part.Version, part.Part, cancellationToken).ConfigureAwait(false))
        {
            await ProfileAndStorePartAsync(manifest, part, cancellationToken).ConfigureAwait(false);
        }
        return await TryMergeAsync(manifest, part.Parts, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// A method of its own so that the part's builder (a few hundred MB of sketches for a wide table: MNIST's 785 columns
    /// take 265 MB) is garbage before the merge starts; as a local of the caller's async state machine it stayed
    /// reachable until the caller returned, beside the merged builder.
    /// </summary>
    private async Task ProfileAndStorePartAsync(DatasetManifest manifest, ProfileShards part, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        using var builder = await profiles.ProfileShardsAsync(manifest, part.FirstShard, part.ShardCount, cancellationToken).ConfigureAwait(false);
        var state = await profiles.SavePartStateAsync(builder, part.Dataset, part.Version, part.Part, cancellationToken).ConfigureAwait(false);
        var stored = await profiles.TryCreatePartAsync(new ProfilePart(part.Dataset, part.Version, part.Part, part.Parts, part.FirstShard, part.ShardCount, identity.Id, state), cancellationToken).ConfigureAwait(false);
        PartsProfiled.Add(1);
        Seconds.Record(watch.Elapsed.TotalSeconds, new KeyValuePair<string, object?>("bigdataai.profile_kind", "part"));
        logger.LogInformation("Profiled part {Part}/{Parts} of {Dataset} v{Version}: shards {First}..{Last}, {Rows} rows in {Ms} ms{Note}",
            part.Part + 1, part.Parts, part.Dataset, part.Version, part.FirstShard, part.FirstShard + part.ShardCount - 1, builder.Rows, watch.ElapsedMilliseconds,
            stored ? "" : " (another replica stored it first)");
    }

    /// <summary>The stored profile, or (when there is none yet) the profile computed now from the shards and stored.</summary>
    public async Task<(DatasetProfile Profile, bool ComputedNow)> GetOrComputeAsync(DatasetManifest manifest, CancellationToken cancellationToken)
    {
        if (await profiles.GetAsync(manifest.Dataset, manifest.Version, cancellationToken).ConfigureAwait(false) is { } stored)
        {
            return (stored, false);
        }
        var (profile, _) = await ComputeWholeAsync(manifest, "on-request", cancellationToken).ConfigureAwait(false);
        return (profile, true);
    }

    private async Task<(DatasetProfile Profile, bool Created)> ComputeWholeAsync(DatasetManifest manifest, string kind, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        using var builder = await profiles.ProfileShardsAsync(manifest, 0, manifest.Shards.Count, cancellationToken).ConfigureAwait(false);
        var built = await profiles.BuildAsync(builder, manifest.Dataset, manifest.Version, cancellationToken: cancellationToken).ConfigureAwait(false);
        var (profile, created) = await profiles.TryCreateAsync(built, cancellationToken).ConfigureAwait(false);
        Profiled.Add(1, new KeyValuePair<string, object?>("bigdataai.profile_kind", kind));
        Seconds.Record(watch.Elapsed.TotalSeconds, new KeyValuePair<string, object?>("bigdataai.profile_kind", kind));
        logger.LogInformation("Profiled {Dataset} v{Version} ({Kind}): {Rows} rows, {Columns} columns, {Duplicates} duplicate rows in {Ms} ms",
            manifest.Dataset, manifest.Version, kind, profile.Rows, profile.Columns.Count, profile.Duplicates.DuplicateRows, watch.ElapsedMilliseconds);
        return (profile, created);
    }

    private async Task<DatasetProfiled?> TryMergeAsync(DatasetManifest manifest, int parts, CancellationToken cancellationToken)
    {
        // Each replica lists after storing its own part, so whichever stores the last part sees them all.
        var stored = await profiles.ListPartsAsync(manifest.Dataset, manifest.Version, cancellationToken).ConfigureAwait(false);
        if (stored.Count(p => p < parts) < parts)
        {
            return null;
        }
        var watch = Stopwatch.StartNew();
        // The parts' sketches merge in memory, one part's state read at a time; their duplicate-row runs stay in storage
        // and are streamed by the build.
        using var merged = await ReadPartAsync(manifest, 0, cancellationToken).ConfigureAwait(false);
        for (var p = 1; p < parts; p++)
        {
            await MergePartAsync(merged, manifest, p, cancellationToken).ConfigureAwait(false);
        }
        var built = await profiles.BuildAsync(merged, manifest.Dataset, manifest.Version, parts, cancellationToken).ConfigureAwait(false);
        var (profile, created) = await profiles.TryCreateAsync(built, cancellationToken).ConfigureAwait(false);
        if (created)
        {
            Profiled.Add(1, new KeyValuePair<string, object?>("bigdataai.profile_kind", "merged"));
            logger.LogInformation("Merged {Parts} partial profiles of {Dataset} v{Version} ({Rows} rows) in {Ms} ms", parts, manifest.Dataset, manifest.Version, profile.Rows, watch.ElapsedMilliseconds);
        }
        return created ? Announce(profile) : null;
    }

    /// <summary>Its own method, so the part's builder is garbage once merged (not a hoisted local of the merge loop).</summary>
    private async Task MergePartAsync(ProfileBuilder merged, DatasetManifest manifest, int part, CancellationToken cancellationToken)
    {
        using var builder = await ReadPartAsync(manifest, part, cancellationToken).ConfigureAwait(false);
        merged.Merge(builder);
    }

    private async Task<ProfileBuilder> ReadPartAsync(DatasetManifest manifest, int part, CancellationToken cancellationToken) =>
        await profiles.ReadPartStateAsync(await profiles.ReadPartAsync(manifest.Dataset, manifest.Version, part, cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);

    private static DatasetProfiled Announce(DatasetProfile profile) =>
        new(profile.Dataset, profile.Version, DatasetPaths.Profile(profile.Dataset, profile.Version), profile.Rows, profile.Parts, profile.CreatedAt);
}
