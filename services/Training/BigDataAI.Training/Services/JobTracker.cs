using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using BigDataAI.Storage;
using BigDataAI.Training.Model;

namespace BigDataAI.Training.Services;

/// <summary>
/// Every job this process knows: kept in memory for status and progress streams, stored in
/// <c>jobs/{id}/job.json</c> on every state change and epoch so a restart finds them again.
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
    public static string CheckpointPath(string jobId, int epoch) => $"jobs/{jobId}/checkpoints/epoch-{epoch:D3}.pt";

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
                job = await ReadAsync(path, cancellationToken).ConfigureAwait(false);
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
            _jobs.TryAdd(job.JobId, new Entry(job));
            if (!job.IsFinished)
            {
                unfinished.Add(job);
            }
        }
        return unfinished;
    }

    /// <summary>
    /// The job for <paramref name="spec"/>: the existing one when it is queued, running or succeeded; otherwise
    /// (new, or failed before) a fresh queued record. <c>Created</c> tells whether the caller must enqueue it.
    /// </summary>
    public async Task<(JobRecord Job, bool Created)> SubmitAsync(JobSpec spec, CancellationToken cancellationToken)
    {
        var id = spec.JobId;
        // A job this process has not loaded yet (a request that comes before LoadAsync after a restart) is still
        // the stored one: never overwrite a stored job that succeeded or is under way with a fresh record.
        if (!_jobs.ContainsKey(id) && await ReadAsync(JobPath(id), cancellationToken).ConfigureAwait(false) is { } stored)
        {
            _jobs.TryAdd(id, new Entry(stored));
        }
        if (_jobs.TryGetValue(id, out var existing) && existing.Current.Status != JobStatus.Failed)
        {
            return (existing.Current, false);
        }
        var job = JobRecord.New(spec);
        var entry = _jobs.AddOrUpdate(id, _ => new Entry(job), (_, old) => old.Current.Status == JobStatus.Failed ? new Entry(job) : old);
        if (!ReferenceEquals(entry.Current, job))
        {
            return (entry.Current, false);
        }
        try
        {
            await SaveAsync(job, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // Not stored, so not submitted: forget it, or the next submit would find a queued job nobody runs.
            _jobs.TryRemove(new KeyValuePair<string, Entry>(id, entry));
            throw;
        }
        return (job, true);
    }

    /// <summary>Job records <see cref="LoadAsync"/> could not parse.</summary>
    public List<string> Unreadable { get; } = [];

    public JobRecord? Get(string jobId) => _jobs.TryGetValue(jobId, out var entry) ? entry.Current : null;

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
        if (await ReadAsync(JobPath(jobId), cancellationToken).ConfigureAwait(false) is not { } stored)
        {
            return null;
        }
        return _jobs.GetOrAdd(jobId, _ => new Entry(stored)).Current;
    }

    /// <summary>Moves a queued job to Running. False when it is not queued (already run, running, or enqueued twice).</summary>
    public async Task<bool> TryBeginAsync(string jobId, string device, CancellationToken cancellationToken)
    {
        if (!_jobs.TryGetValue(jobId, out var entry))
        {
            return false;
        }
        lock (entry)
        {
            if (entry.Current.Status != JobStatus.Queued)
            {
                return false;
            }
            entry.Current = entry.Current with { Status = JobStatus.Running };
        }
        await UpdateAsync(jobId, j => j with { Device = device, Epoch = 0, Batch = 0, EpochsCompleted = 0, Error = null }, persist: true, cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>Applies <paramref name="change"/>, wakes the watchers, and stores the record when <paramref name="persist"/>.</summary>
    public async Task<JobRecord> UpdateAsync(string jobId, Func<JobRecord, JobRecord> change, bool persist, CancellationToken cancellationToken = default)
    {
        var entry = _jobs[jobId];
        JobRecord updated;
        TaskCompletionSource changed;
        lock (entry)
        {
            updated = change(entry.Current) with { UpdatedAt = DateTimeOffset.UtcNow };
            entry.Current = updated;
            changed = entry.Changed;
            entry.Changed = NewSignal();
        }
        changed.TrySetResult();
        if (persist)
        {
            await SaveAsync(updated, cancellationToken).ConfigureAwait(false);
        }
        return updated;
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

    private async Task<JobRecord?> ReadAsync(string path, CancellationToken cancellationToken)
    {
        await using var stream = await store.OpenReadAsync(path, cancellationToken).ConfigureAwait(false);
        return stream is null ? null : await JsonSerializer.DeserializeAsync<JobRecord>(stream, Json, cancellationToken).ConfigureAwait(false);
    }

    private async Task SaveAsync(JobRecord job, CancellationToken cancellationToken)
    {
        using var content = new MemoryStream(JsonSerializer.SerializeToUtf8Bytes(job, Json), writable: false);
        await store.PutAsync(JobPath(job.JobId), content, cancellationToken).ConfigureAwait(false);
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private sealed class Entry(JobRecord job)
    {
        public JobRecord Current { get; set; } = job;
        public TaskCompletionSource Changed { get; set; } = NewSignal();
    }
}
