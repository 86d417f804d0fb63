using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using BigDataAI.Storage;
using BigDataAI.Training.Model;

namespace BigDataAI.Training.Services;

/// <summary>
/// The control plane's view of every job: kept in memory for status, listing and progress streams, fed by its own
/// submissions and by the <see cref="Messages.JobUpdated"/> snapshots workers publish, and stored in
/// <c>jobs/{id}/job.json</c>. The stored record is written by the control plane only when nobody holds the job's lease
/// (at submission, and when it takes a lost worker's job back); the worker that holds the lease writes it otherwise.
/// </summary>
public sealed class JobTracker(IObjectStore store)
{
    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
    };

    private readonly ConcurrentDictionary<string, Entry> _jobs = new(StringComparer.Ordinal);

    public static string JobPath(string jobId) => $"jobs/{jobId}/job.json";
    public static string CheckpointFolder(string jobId) => $"jobs/{jobId}/checkpoints/";
    public static string CheckpointPath(string jobId, int epoch) => $"{CheckpointFolder(jobId)}epoch-{epoch:D3}.ckpt";

    /// <summary>Raised after any job changed (submitted, updated by a worker, taken back); the scheduler listens.</summary>
    public event Action? Changed;

    /// <summary>Loads the stored jobs (at start). Returns those that had not finished.</summary>
    public async Task<IReadOnlyList<JobRecord>> LoadAsync(CancellationToken cancellationToken)
    {
        var unfinished = new List<JobRecord>();
        await foreach (var path in store.ListAsync("jobs/", cancellationToken).ConfigureAwait(false))
        {
            if (!path.EndsWith("/job.json", StringComparison.Ordinal))
            {
                continue;
            }
            JobRecord? job;
            try
            {
                job = await ReadAsync(store, path, cancellationToken).ConfigureAwait(false);
            }
            catch (JsonException)
            {
                // An unreadable record must not keep the service from starting; it stays in storage for inspection.
                Unreadable.Add(path);
                continue;
            }
            if (job is null)
            {
                continue;
            }
            Apply(job);
            if (!job.IsFinished)
            {
                unfinished.Add(job);
            }
        }
        return unfinished;
    }

    /// <summary>
    /// The job for <paramref name="spec"/>: the existing one when it is queued, running or succeeded; otherwise
    /// (new, or failed or stopped before) a fresh queued record. <c>Created</c> tells whether it was stored now.
    /// </summary>
    public async Task<(JobRecord Job, bool Created)> SubmitAsync(JobSpec spec, string? traceParent, CancellationToken cancellationToken, IReadOnlyDictionary<string, string>? tags = null)
    {
        var id = spec.JobId;
        // A job this process has not loaded yet (a request that comes before LoadAsync after a restart) is still
        // the stored one: never overwrite a stored job that succeeded or is under way with a fresh record.
        var stored = _jobs.ContainsKey(id) ? null : await ReadAsync(store, JobPath(id), cancellationToken).ConfigureAwait(false);
        if (stored is not null)
        {
            Apply(stored);
        }
        if (_jobs.TryGetValue(id, out var existing) && !existing.Current.MayRunAgain)
        {
            return (existing.Current, false);
        }
        var revision = existing?.Current.Revision ?? 0;
        var job = JobRecord.New(spec, traceParent) with { Revision = revision + 1, Attempt = existing?.Current.Attempt ?? 0, Tags = tags ?? JobRecord.NoTags };
        var entry = _jobs.AddOrUpdate(id, _ => new Entry(job), (_, old) => old.Current.MayRunAgain ? new Entry(job) : old);
        if (!ReferenceEquals(entry.Current, job))
        {
            return (entry.Current, false);
        }
        try
        {
            await SaveAsync(store, job, lease: null, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // Not stored, so not submitted: forget it, or the next submit would find a queued job nobody runs.
            _jobs.TryRemove(new KeyValuePair<string, Entry>(id, entry));
            throw;
        }
        Changed?.Invoke();
        return (job, true);
    }

    /// <summary>Job records <see cref="LoadAsync"/> could not parse.</summary>
    public List<string> Unreadable { get; } = [];

    public JobRecord? Get(string jobId) => _jobs.TryGetValue(jobId, out var entry) ? entry.Current : null;

    /// <summary>Every job known, oldest first.</summary>
    /// <summary>
    /// The jobs that match <paramref name="filter"/>, newest first, at most <paramref name="limit"/>: one pass over the
    /// in-memory view, with no storage read (docs/registry.md has the figures at 100,000 jobs).
    /// </summary>
    public IReadOnlyList<JobRecord> Search(Func<JobRecord, bool> filter, int limit)
    {
        var matches = new List<JobRecord>();
        foreach (var entry in _jobs.Values)
        {
            if (filter(entry.Current))
            {
                matches.Add(entry.Current);
            }
        }
        matches.Sort((a, b) => b.CreatedAt != a.CreatedAt ? b.CreatedAt.CompareTo(a.CreatedAt) : string.CompareOrdinal(b.JobId, a.JobId));
        return matches.Count > limit ? matches[..limit] : matches;
    }

    public IReadOnlyList<JobRecord> All() => [.. _jobs.Values.Select(e => e.Current).OrderBy(j => j.CreatedAt).ThenBy(j => j.JobId, StringComparer.Ordinal)];

    /// <summary>
    /// The job from memory, or else from storage (after a restart, before <see cref="LoadAsync"/> has run); null when
    /// there is none or the id is not a job id.
    /// </summary>
    public async Task<JobRecord?> GetOrLoadAsync(string jobId, CancellationToken cancellationToken)
    {
        if (Get(jobId) is { } known)
        {
            return known;
        }
        if (string.IsNullOrEmpty(jobId) || jobId.Contains('/') || jobId.Contains('\\') || jobId is "." or "..")
        {
            return null;
        }
        if (await ReadAsync(store, JobPath(jobId), cancellationToken).ConfigureAwait(false) is not { } stored)
        {
            return null;
        }
        Apply(stored);
        return Get(jobId);
    }

    /// <summary>Takes <paramref name="job"/> when it is newer (higher revision) than what this view has. True when it did.</summary>
    public bool Apply(JobRecord job)
    {
        var entry = _jobs.GetOrAdd(job.JobId, _ => new Entry(job));
        TaskCompletionSource changed;
        lock (entry)
        {
            if (!ReferenceEquals(entry.Current, job))
            {
                if (job.Revision <= entry.Current.Revision)
                {
                    return false;
                }
                entry.Current = job;
            }
            changed = entry.Changed;
            entry.Changed = NewSignal();
        }
        changed.TrySetResult();
        Changed?.Invoke();
        return true;
    }

    /// <summary>Sets why a queued job waits (shown to watchers; not stored).</summary>
    public void SetWaitingReason(string jobId, string? reason)
    {
        if (!_jobs.TryGetValue(jobId, out var entry))
        {
            return;
        }
        TaskCompletionSource changed;
        lock (entry)
        {
            if (entry.Current.Status != JobStatus.Queued || entry.Current.WaitingReason == reason)
            {
                return;
            }
            entry.Current = entry.Current with { WaitingReason = reason };
            changed = entry.Changed;
            entry.Changed = NewSignal();
        }
        changed.TrySetResult();
    }

    /// <summary>The job now, then each change (changes that come faster than the reader are coalesced), until it finishes.</summary>
    public async IAsyncEnumerable<JobRecord> WatchAsync(string jobId, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var entry = _jobs[jobId];
        while (true)
        {
            JobRecord current;
            Task changed;
            lock (entry)
            {
                current = entry.Current;
                changed = entry.Changed.Task;
            }
            yield return current;
            if (current.IsFinished)
            {
                yield break;
            }
            await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    internal static async Task<JobRecord?> ReadAsync(IObjectStore store, string path, CancellationToken cancellationToken)
    {
        await using var stream = await store.OpenReadAsync(path, cancellationToken).ConfigureAwait(false);
        return stream is null ? null : await JsonSerializer.DeserializeAsync<JobRecord>(stream, Json, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Stores <paramref name="job"/>, under <paramref name="lease"/> when one is held.</summary>
    internal static async Task SaveAsync(IObjectStore store, JobRecord job, ObjectLease? lease, CancellationToken cancellationToken)
    {
        using var content = new MemoryStream(JsonSerializer.SerializeToUtf8Bytes(job, Json), writable: false);
        if (lease is null)
        {
            await store.PutAsync(JobPath(job.JobId), content, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await store.PutAsync(JobPath(job.JobId), content, lease, cancellationToken).ConfigureAwait(false);
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private sealed class Entry(JobRecord job)
    {
        public JobRecord Current { get; set; } = job;
        public TaskCompletionSource Changed { get; set; } = NewSignal();
    }
}
