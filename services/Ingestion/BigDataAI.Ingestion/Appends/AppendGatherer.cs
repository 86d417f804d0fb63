using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using BigDataAI.Contracts.Ingestion;
using BigDataAI.Datasets;
using BigDataAI.Hosting;
using BigDataAI.Ingestion.Services;
using BigDataAI.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace BigDataAI.Ingestion.Appends;

/// <summary>
/// Commits staged batches as new versions (a Delta Lake append: the previous version's shards plus new ones, row ids
/// continuing), once a dataset has Appends:MaxRows rows staged or its oldest batch is Appends:MaxDelay old, and at start
/// and every Appends:RescanInterval for batches other processes left. One replica at a time commits a dataset: the one
/// holding its lease (<see cref="AppendPaths.Lease"/>). A commit takes, per producer, the staged sequences that follow
/// the last committed one without a hole, records the new last ones in the manifest, and only then deletes the staged
/// files; batches at or below a producer's committed sequence are never appended again, only deleted. A crash at any
/// point leaves either no new manifest (the batches stay staged and are committed later) or a complete version.
/// </summary>
public sealed class AppendGatherer(
    DatasetStore datasets,
    AppendPending pending,
    BoundedPublisher publisher,
    IOptions<AppendOptions> options,
    IOptions<IngestionOptions> ingestion,
    ILogger<AppendGatherer> logger) : BackgroundService
{
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(250);
    private readonly AppendOptions _options = options.Value;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var nextScan = TimeSpan.Zero;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (clock.Elapsed >= nextScan)
                {
                    await ScanAsync(stoppingToken).ConfigureAwait(false);
                    nextScan = clock.Elapsed + _options.RescanInterval;
                }
                var (due, next) = pending.Due(_options.MaxRows, _options.MaxDelay);
                foreach (var dataset in due)
                {
                    await GatherAsync(dataset, stoppingToken).ConfigureAwait(false);
                }
                var wait = next is { } n && n < Tick ? n : Tick;
                await pending.WaitAsync(due.Count > 0 ? Tick : wait, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                logger.LogWarning(e, "Appends: a gather round failed ({Reason}); trying again", e.Message);
                await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Marks every dataset with staged batches in storage that this process did not stage as due (batches of a crashed or another replica).</summary>
    private async Task ScanAsync(CancellationToken cancellationToken)
    {
        await foreach (var lease in datasets.Objects.ListAsync(AppendPaths.LeaseRoot, cancellationToken).ConfigureAwait(false))
        {
            var dataset = lease[AppendPaths.LeaseRoot.Length..];
            if (!DatasetPaths.IsValidName(dataset) || pending.Knows(dataset))
            {
                continue; // this process's own batches are due by their own clock
            }
            await foreach (var _ in datasets.Objects.ListAsync(AppendPaths.StagedRoot(dataset), cancellationToken).ConfigureAwait(false))
            {
                pending.Found(dataset);
                break;
            }
        }
    }

    /// <summary>Commits what is staged for <paramref name="dataset"/>, if this replica gets its lease.</summary>
    public async Task GatherAsync(string dataset, CancellationToken cancellationToken)
    {
        var listedAt = pending.Time.GetUtcNow();
        var lease = await TryLeaseAsync(dataset, cancellationToken).ConfigureAwait(false);
        if (lease is null)
        {
            logger.LogDebug("Appends to {Dataset}: another replica holds the lease and commits them", dataset);
            return;
        }
        await using var keeper = new LeaseKeeper(datasets.Objects, lease, logger, cancellationToken);
        try
        {
            if (await CommitAsync(dataset, keeper.Token).ConfigureAwait(false))
            {
                pending.Committed(dataset, listedAt);
            }
        }
        catch (OperationCanceledException) when (keeper.Lost && !cancellationToken.IsCancellationRequested)
        {
            logger.LogWarning("Appends to {Dataset}: the lease was lost during the commit; the staged batches stay for the next holder", dataset);
        }
    }

    private async Task<ObjectLease?> TryLeaseAsync(string dataset, CancellationToken cancellationToken)
    {
        try
        {
            return await datasets.Objects.TryAcquireLeaseAsync(AppendPaths.Lease(dataset), _options.LeaseDuration, cancellationToken).ConfigureAwait(false);
        }
        catch (FileNotFoundException)
        {
            await AppendStager.EnsureLeaseObjectAsync(datasets.Objects, dataset, cancellationToken).ConfigureAwait(false);
            return await datasets.Objects.TryAcquireLeaseAsync(AppendPaths.Lease(dataset), _options.LeaseDuration, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>One commit; false when another write took the version number first (then the next round tries again).</summary>
    private async Task<bool> CommitAsync(string dataset, CancellationToken cancellationToken)
    {
        using var activity = IngestionTelemetry.Source.StartActivity("append.commit");
        activity?.SetTag("bigdataai.dataset", dataset);
        var parent = await datasets.GetAsync(dataset, 0, cancellationToken).ConfigureAwait(false);
        if (parent is null)
        {
            logger.LogWarning("Appends to {Dataset}: batches are staged but the dataset has no version", dataset);
            return true;
        }
        var committed = await AppendStager.CommittedSequencesAsync(datasets, parent, cancellationToken).ConfigureAwait(false);
        var staged = new List<(string Path, string Producer, long Sequence)>();
        await foreach (var path in datasets.Objects.ListAsync(AppendPaths.StagedRoot(dataset), cancellationToken).ConfigureAwait(false))
        {
            if (AppendPaths.TryParseStaged(path, out var producer, out var sequence))
            {
                staged.Add((path, producer, sequence));
            }
        }
        var obsolete = staged.Where(s => s.Sequence <= committed.GetValueOrDefault(s.Producer)).ToList();
        var take = new List<(string Path, string Producer, long Sequence)>();
        foreach (var producer in staged.GroupBy(s => s.Producer, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var next = committed.GetValueOrDefault(producer.Key) + 1;
            foreach (var batch in producer.Where(s => s.Sequence >= next).OrderBy(s => s.Sequence))
            {
                if (batch.Sequence != next)
                {
                    break; // a hole: what follows waits for it
                }
                take.Add(batch);
                next++;
            }
        }
        if (take.Count > 0)
        {
            var sequences = new Dictionary<string, long>(committed, StringComparer.Ordinal);
            var ranges = new SortedDictionary<string, long[]>(StringComparer.Ordinal);
            foreach (var group in take.GroupBy(t => t.Producer, StringComparer.Ordinal))
            {
                sequences[group.Key] = group.Max(t => t.Sequence);
                ranges[group.Key] = [group.Min(t => t.Sequence), group.Max(t => t.Sequence)];
            }
            var key = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(
                $"append\n{dataset}\n{parent.Version}\n" + string.Join("\n", take.Select(t => t.Path)))));
            var files = ranges.Select(r => $"{r.Key}:{r.Value[0]}-{r.Value[1]}").ToList();
            var source = new DatasetSource("append", files, key, $"{take.Count} appended batches");
            var lineage = new DatasetLineage("append", files, parent.Version, JsonSerializer.Serialize(new { producers = ranges }));
            var manifest = await datasets.CommitAppendAsync(parent, ReadAsync(take, parent.EffectiveSchema, cancellationToken), key, source, lineage, sequences,
                ingestion.Value.RowsPerShard, cancellationToken).ConfigureAwait(false);
            if (manifest is null)
            {
                logger.LogInformation("Appends to {Dataset}: v{Version} was taken by another write first; committing on top of the newest next round", dataset, parent.Version + 1);
                return false;
            }
            activity?.SetTag("bigdataai.dataset_version", manifest.Version);
            AppendTelemetry.Versions.Add(1);
            logger.LogInformation("Committed {Dataset} v{Version} from {Batches} appended batches ({Producers}): {Added} new rows, {Rows} in all, {Shards} shards",
                dataset, manifest.Version, take.Count, string.Join(", ", files), manifest.Rows - parent.Rows, manifest.Rows, manifest.Shards.Count);
            await AnnounceAsync(manifest).ConfigureAwait(false);
        }
        foreach (var (path, _, _) in obsolete.Concat(take))
        {
            try
            {
                await datasets.Objects.DeleteAsync(path, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // Committed already: a later round deletes it (its sequence is at or below the committed one).
                logger.LogWarning("Appends to {Dataset}: could not delete the committed batch {Path} ({Reason})", dataset, path, e.Message);
            }
        }
        if (take.Count < staged.Count - obsolete.Count)
        {
            // Staged after a hole: they wait for the missing batch, whose staging makes the dataset due again.
            logger.LogInformation("Appends to {Dataset}: {Waiting} staged batches wait for an earlier sequence of their producer", dataset, staged.Count - obsolete.Count - take.Count);
        }
        return true;
    }

    private async IAsyncEnumerable<Table> ReadAsync(IReadOnlyList<(string Path, string Producer, long Sequence)> batches, DatasetSchema schema, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        foreach (var (path, _, _) in batches)
        {
            await using var stream = await datasets.Objects.OpenReadAsync(path, cancellationToken).ConfigureAwait(false)
                ?? throw new InvalidDataException($"Staged batch '{path}' vanished before it was committed.");
            using var buffer = new MemoryStream();
            await stream.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
            buffer.Position = 0;
            yield return await ParquetShards.DecodeAsync(buffer, path, schema, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Publishes DatasetIngested; a committed version is never undone for want of it (labeling's reconciler finds it).</summary>
    private async Task AnnounceAsync(DatasetManifest manifest)
    {
        try
        {
            await publisher.PublishAsync(new DatasetIngested(manifest.Dataset, manifest.Version, DatasetPaths.Manifest(manifest.Dataset, manifest.Version),
                manifest.Rows, manifest.Source.Sha256, manifest.CreatedAt), CancellationToken.None).ConfigureAwait(false);
        }
        catch (MessagingUnavailableException e)
        {
            logger.LogWarning("{Dataset} v{Version} (appended) is committed but could not be announced ({Reason}); labeling's reconciler will find it",
                manifest.Dataset, manifest.Version, e.Message);
        }
    }
}
