using System.Threading.Channels;
using BigDataAI.Training.Model;
using BigDataAI.Training.Services;
using BigDataAI.UnitTests.Storage;

namespace BigDataAI.UnitTests.Training;

public sealed class JobTrackerTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private readonly TempObjectStore _temp = new();
    private readonly JobTracker _tracker;
    private readonly CancellationTokenSource _timeout = new(Timeout);

    public JobTrackerTests() => _tracker = new JobTracker(_temp.Store);

    public void Dispose()
    {
        _timeout.Dispose();
        _temp.Dispose();
    }

    private static JobSpec Spec(int seed = 1, string model = "mlp") => new("mnist", 1, model, new HyperParameters(10, 128, 1e-3, "adam", seed));

    private CancellationToken Token => _timeout.Token;

    /// <summary>What a worker does: the next revision of the record, stored when <paramref name="persist"/>, then published to the view.</summary>
    private async Task<JobRecord> Update(string jobId, Func<JobRecord, JobRecord> change, bool persist, CancellationToken cancellationToken)
    {
        var next = change(_tracker.Get(jobId)!).Next();
        if (persist)
        {
            await JobTracker.SaveAsync(_temp.Store, next, lease: null, cancellationToken);
        }
        _tracker.Apply(next);
        return next;
    }

    [Fact]
    public async Task Submit_Twice_GivesTheSameJob_CreatedOnlyTheFirstTime()
    {
        var (first, created) = await _tracker.SubmitAsync(Spec(), null, Token);
        var (second, createdAgain) = await _tracker.SubmitAsync(Spec(), null, Token);

        Assert.True(created);
        Assert.False(createdAgain);
        Assert.Same(first, second);
        Assert.Equal(Spec().JobId, first.JobId);
        Assert.Equal(JobStatus.Queued, first.Status);
        Assert.Equal(Spec(), first.Spec);
        Assert.Same(first, _tracker.Get(first.JobId));
        Assert.True(await _temp.Store.ExistsAsync(JobTracker.JobPath(first.JobId), Token));
        Assert.Equal($"jobs/{first.JobId}/job.json", JobTracker.JobPath(first.JobId));
    }

    [Fact]
    public async Task Submit_SameSpecConcurrently_CreatesExactlyOneJob()
    {
        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() => _tracker.SubmitAsync(Spec(), null, Token)))).WaitAsync(Timeout);

        Assert.Single(results, r => r.Created);
        Assert.Single(results.Select(r => r.Job).Distinct());
    }

    [Fact]
    public async Task Submit_OtherSpec_IsAnotherJob()
    {
        var (a, _) = await _tracker.SubmitAsync(Spec(seed: 1), null, Token);
        var (b, created) = await _tracker.SubmitAsync(Spec(seed: 2), null, Token);

        Assert.True(created);
        Assert.NotEqual(a.JobId, b.JobId);
    }

    [Fact]
    public async Task Submit_AfterTheJobFailed_QueuesAFreshJob()
    {
        var (job, _) = await _tracker.SubmitAsync(Spec(), null, Token);
        await Update(job.JobId, j => j with { Status = JobStatus.Running, Epoch = 3 }, persist: true, Token);
        var failed = await Update(job.JobId, j => j with { Status = JobStatus.Failed, Error = "out of memory" }, persist: true, Token);

        var (again, created) = await _tracker.SubmitAsync(Spec(), null, Token);

        Assert.True(created);
        Assert.Equal(job.JobId, again.JobId);
        Assert.Equal(JobStatus.Queued, again.Status);
        Assert.Null(again.Error);
        Assert.Equal(0, again.Epoch);
        Assert.True(again.CreatedAt >= failed.CreatedAt);
        Assert.Same(again, _tracker.Get(job.JobId));
        var reloaded = new JobTracker(_temp.Store);
        Assert.Equal([job.JobId], (await reloaded.LoadAsync(Token)).Select(j => j.JobId));
        Assert.Equal(JobStatus.Queued, reloaded.Get(job.JobId)?.Status);
    }

    [Theory]
    [InlineData(JobStatus.Running)]
    [InlineData(JobStatus.Succeeded)]
    public async Task Submit_WhileRunningOrAfterSuccess_ReturnsThatJob(JobStatus status)
    {
        var (job, _) = await _tracker.SubmitAsync(Spec(), null, Token);
        var updated = await Update(job.JobId, j => j with { Status = status, ModelId = "m-1" }, persist: true, Token);

        var (again, created) = await _tracker.SubmitAsync(Spec(), null, Token);

        Assert.False(created);
        Assert.Same(updated, again);
    }

    [Fact]
    public async Task Update_Persisted_IsSeenByANewTracker_WhoseLoadReturnsOnlyUnfinishedJobs()
    {
        var queued = (await _tracker.SubmitAsync(Spec(seed: 1), null, Token)).Job;
        var running = (await _tracker.SubmitAsync(Spec(seed: 2), null, Token)).Job;
        var succeeded = (await _tracker.SubmitAsync(Spec(seed: 3), null, Token)).Job;
        var failed = (await _tracker.SubmitAsync(Spec(seed: 4), null, Token)).Job;
        await Update(running.JobId, j => j with { Status = JobStatus.Running, Epoch = 2, Batch = 17, Batches = 63, EpochsCompleted = 1, TrainLoss = 0.25, ValidationAccuracy = 0.875, SamplesPerSecond = 5470.5, Device = "cpu" }, persist: true, Token);
        var metrics = new TestMetrics(0.974, [0.9, 1.0], [1.0, 0.95], [0.947, 0.974], [10, 0, 1, 19], 2, 30);
        await Update(succeeded.JobId, j => j with { Status = JobStatus.Succeeded, TestMetrics = metrics, ModelId = "mnist-v1-cnn-1" }, persist: true, Token);
        await Update(failed.JobId, j => j with { Status = JobStatus.Failed, Error = "Dataset 'mnist' v1 has no 'train' split." }, persist: true, Token);
        // A checkpoint beside the job files is not a job.
        await _temp.Store.PutAsync(JobTracker.CheckpointPath(running.JobId, 1), new MemoryStream([1, 2, 3]), Token);

        var restarted = new JobTracker(_temp.Store);
        var unfinished = await restarted.LoadAsync(Token);

        Assert.Equal(new[] { queued.JobId, running.JobId }.Order(StringComparer.Ordinal), unfinished.Select(j => j.JobId).Order(StringComparer.Ordinal));
        var r = restarted.Get(running.JobId);
        Assert.NotNull(r);
        Assert.Equal(
            (JobStatus.Running, 2, 17, 63, 1, 0.25, 0.875, 5470.5, "cpu"),
            (r.Status, r.Epoch, r.Batch, r.Batches, r.EpochsCompleted, r.TrainLoss, r.ValidationAccuracy, r.SamplesPerSecond, r.Device));
        Assert.Equal(running.Spec, r.Spec);
        Assert.Equal(running.CreatedAt, r.CreatedAt);
        var s = restarted.Get(succeeded.JobId);
        Assert.NotNull(s?.TestMetrics);
        Assert.Equal(JobStatus.Succeeded, s.Status);
        Assert.Equal("mnist-v1-cnn-1", s.ModelId);
        Assert.Equal(metrics.Accuracy, s.TestMetrics.Accuracy);
        Assert.Equal(metrics.Precision, s.TestMetrics.Precision);
        Assert.Equal(metrics.Recall, s.TestMetrics.Recall);
        Assert.Equal(metrics.F1, s.TestMetrics.F1);
        Assert.Equal(metrics.Confusion, s.TestMetrics.Confusion);
        Assert.Equal((2, 30L), (s.TestMetrics.Classes, s.TestMetrics.Samples));
        Assert.Equal("Dataset 'mnist' v1 has no 'train' split.", restarted.Get(failed.JobId)?.Error);
    }

    [Fact]
    public async Task Update_NotPersisted_ChangesMemoryOnly()
    {
        var (job, _) = await _tracker.SubmitAsync(Spec(), null, Token);

        var updated = await Update(job.JobId, j => j with { Status = JobStatus.Running, Batch = 5 }, persist: false, Token);

        Assert.Equal(5, _tracker.Get(job.JobId)?.Batch);
        Assert.True(updated.UpdatedAt >= job.UpdatedAt);
        var restarted = new JobTracker(_temp.Store);
        await restarted.LoadAsync(Token);
        Assert.Equal((JobStatus.Queued, 0), (restarted.Get(job.JobId)?.Status, restarted.Get(job.JobId)?.Batch));
    }

    [Fact]
    public async Task Load_EmptyStore_FindsNothing()
    {
        Assert.Empty(await _tracker.LoadAsync(Token));
        Assert.Null(_tracker.Get(Spec().JobId));
    }

    [Fact]
    public async Task Submit_AfterARestartBeforeLoad_FindsTheStoredJobInsteadOfStartingOver()
    {
        var (job, _) = await _tracker.SubmitAsync(Spec(), null, Token);
        await Update(job.JobId, j => j with { Status = JobStatus.Succeeded, ModelId = "m-1" }, persist: true, Token);

        // A new process: the API may take a request before the worker has loaded the stored jobs.
        var restarted = new JobTracker(_temp.Store);
        var (again, created) = await restarted.SubmitAsync(Spec(), null, Token);

        Assert.False(created);
        Assert.Equal(JobStatus.Succeeded, again.Status);
        Assert.Equal("m-1", again.ModelId);
        var stored = new JobTracker(_temp.Store);
        await stored.LoadAsync(Token);
        Assert.Equal(JobStatus.Succeeded, stored.Get(job.JobId)?.Status);
    }

    [Fact]
    public async Task Watch_YieldsTheCurrentStateThenEachChange_AndEndsWhenTheJobFinishes()
    {
        var (job, _) = await _tracker.SubmitAsync(Spec(), null, Token);
        var seen = Channel.CreateUnbounded<JobRecord>();
        var watcher = Task.Run(async () =>
        {
            await foreach (var state in _tracker.WatchAsync(job.JobId, Token))
            {
                await seen.Writer.WriteAsync(state, Token);
            }
            seen.Writer.Complete();
        });

        // Each change is made only after the watcher has reported the one before, so none is coalesced.
        Assert.Equal(JobStatus.Queued, (await seen.Reader.ReadAsync(Token)).Status);
        await Update(job.JobId, j => j with { Status = JobStatus.Running }, persist: false, Token);
        Assert.Equal((JobStatus.Running, 0), Progress(await seen.Reader.ReadAsync(Token)));
        for (var epoch = 1; epoch <= 3; epoch++)
        {
            var e = epoch;
            await Task.Run(() => Update(job.JobId, j => j with { Epoch = e }, persist: false, Token), Token);
            Assert.Equal((JobStatus.Running, epoch), Progress(await seen.Reader.ReadAsync(Token)));
        }
        await Update(job.JobId, j => j with { Status = JobStatus.Succeeded, ModelId = "m-1" }, persist: true, Token);

        var last = await seen.Reader.ReadAsync(Token);
        Assert.Equal((JobStatus.Succeeded, 3), Progress(last));
        Assert.Equal("m-1", last.ModelId);
        await watcher.WaitAsync(Token);
        Assert.False(await seen.Reader.WaitToReadAsync(Token));
    }

    [Fact]
    public async Task Watch_ChangesFasterThanTheReader_AreCoalescedIntoTheLatest()
    {
        var (job, _) = await _tracker.SubmitAsync(Spec(), null, Token);
        await using var watch = _tracker.WatchAsync(job.JobId, Token).GetAsyncEnumerator(Token);

        Assert.True(await watch.MoveNextAsync());
        Assert.Equal(JobStatus.Queued, watch.Current.Status);
        for (var batch = 1; batch <= 5; batch++)
        {
            var b = batch;
            await Update(job.JobId, j => j with { Status = JobStatus.Running, Batch = b }, persist: false, Token);
        }
        Assert.True(await watch.MoveNextAsync());
        Assert.Equal((JobStatus.Running, 5), (watch.Current.Status, watch.Current.Batch));

        await Update(job.JobId, j => j with { Status = JobStatus.Failed, Error = "boom" }, persist: false, Token);
        Assert.True(await watch.MoveNextAsync());
        Assert.Equal(JobStatus.Failed, watch.Current.Status);
        Assert.False(await watch.MoveNextAsync());
    }

    [Fact]
    public async Task Watch_FinishedJob_YieldsItOnceAndEnds()
    {
        var (job, _) = await _tracker.SubmitAsync(Spec(), null, Token);
        await Update(job.JobId, j => j with { Status = JobStatus.Succeeded }, persist: false, Token);

        var states = new List<JobRecord>();
        await foreach (var state in _tracker.WatchAsync(job.JobId, Token))
        {
            states.Add(state);
        }

        Assert.Equal(JobStatus.Succeeded, Assert.Single(states).Status);
    }

    [Fact]
    public async Task Watch_Cancelled_StopsWaiting()
    {
        var (job, _) = await _tracker.SubmitAsync(Spec(), null, Token);
        using var cancel = new CancellationTokenSource();
        await using var watch = _tracker.WatchAsync(job.JobId, cancel.Token).GetAsyncEnumerator(Token);
        Assert.True(await watch.MoveNextAsync());

        var next = watch.MoveNextAsync().AsTask();
        Assert.False(next.IsCompleted);
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => next.WaitAsync(Timeout));
    }

    private static (JobStatus, int) Progress(JobRecord job) => (job.Status, job.Epoch);

    [Fact]
    public async Task Apply_KeepsTheNewestRevision_WhenUpdatesArriveOutOfOrder()
    {
        var (job, _) = await _tracker.SubmitAsync(Spec(), null, Token);
        var epoch1 = job.Next() with { Status = JobStatus.Running, Epoch = 1 };
        var epoch2 = epoch1.Next() with { Epoch = 2 };

        Assert.True(_tracker.Apply(epoch2));
        Assert.False(_tracker.Apply(epoch1)); // late, older
        Assert.False(_tracker.Apply(job));

        Assert.Same(epoch2, _tracker.Get(job.JobId));
    }

    [Fact]
    public async Task SetWaitingReason_ShowsOnQueuedJobsOnly_AndIsNotStored()
    {
        var (job, _) = await _tracker.SubmitAsync(Spec(), null, Token);

        _tracker.SetWaitingReason(job.JobId, "no connected worker has 1 GPU");
        Assert.Equal("no connected worker has 1 GPU", _tracker.Get(job.JobId)?.WaitingReason);
        var restarted = new JobTracker(_temp.Store);
        await restarted.LoadAsync(Token);
        Assert.Null(restarted.Get(job.JobId)?.WaitingReason);

        await Update(job.JobId, j => j with { Status = JobStatus.Running }, persist: false, Token);
        _tracker.SetWaitingReason(job.JobId, "late");
        Assert.NotEqual("late", _tracker.Get(job.JobId)?.WaitingReason);
    }

    [Fact]
    public async Task Load_SkipsAnUnreadableRecord_AndNamesIt()
    {
        var (job, _) = await _tracker.SubmitAsync(Spec(), null, Token);
        using (var garbage = new MemoryStream("{ not json"u8.ToArray()))
        {
            await _temp.Store.PutAsync("jobs/broken/job.json", garbage, Token);
        }

        var reloaded = new JobTracker(_temp.Store);
        var unfinished = await reloaded.LoadAsync(Token);

        Assert.Equal(job.JobId, Assert.Single(unfinished).JobId);
        Assert.Equal(["jobs/broken/job.json"], reloaded.Unreadable);
    }

    [Fact]
    public async Task GetOrLoad_FindsAStoredJobBeforeLoadHasRun()
    {
        var (job, _) = await _tracker.SubmitAsync(Spec(), null, Token);
        var restarted = new JobTracker(_temp.Store);

        Assert.Null(restarted.Get(job.JobId));
        Assert.Equal(job.JobId, (await restarted.GetOrLoadAsync(job.JobId, Token))?.JobId);
        Assert.NotNull(restarted.Get(job.JobId));
        Assert.Null(await restarted.GetOrLoadAsync("no-such-job", Token));
        Assert.Null(await restarted.GetOrLoadAsync("../escape", Token));
        Assert.Null(await restarted.GetOrLoadAsync("", Token));
    }

    [Fact]
    public async Task Submit_WhoseRecordCannotBeStored_IsNotRemembered()
    {
        var store = new InterceptingObjectStore(_temp.Store) { BeforePut = _ => throw new IOException("storage unreachable") };
        var tracker = new JobTracker(store);

        await Assert.ThrowsAsync<IOException>(() => tracker.SubmitAsync(Spec(), null, Token));
        Assert.Null(tracker.Get(Spec().JobId));

        store.BeforePut = null;
        var (job, created) = await tracker.SubmitAsync(Spec(), null, Token);
        Assert.True(created); // so the caller enqueues it this time
        Assert.Equal(JobStatus.Queued, job.Status);
    }
}
