using System.Diagnostics;
using BigDataAI.Protos.Training.V1;
using Grpc.Core;

namespace BigDataAI.Client;

/// <summary>
/// The training flows every caller needs: start a job as soon as its dataset is labeled, and follow a job to its end
/// through WatchJob, across broken streams.
/// </summary>
public static class TrainingClientExtensions
{
    private static readonly TimeSpan FirstDelay = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan LongestDelay = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Calls StartTraining, and again while it answers FAILED_PRECONDITION (the dataset version exists but labeling has
    /// not committed its labeled version yet), backing off from 0.1 s to 2 s between tries, for up to
    /// <paramref name="labelWait"/>. Then that FAILED_PRECONDITION is what the caller gets. Any other status (NOT_FOUND
    /// for an unknown dataset or version, INVALID_ARGUMENT, UNAVAILABLE) is thrown at once. Retrying is safe: the same
    /// dataset version with the same spec is one job.
    /// </summary>
    /// <param name="notLabeledYet">Called with each FAILED_PRECONDITION answer that will be retried, before the wait (e.g. to say "waiting for labeling").</param>
    /// <param name="callTimeout">The gRPC deadline of each try; none when null.</param>
    public static async Task<Job> StartTrainingWhenLabeledAsync(this TrainingService.TrainingServiceClient client, StartTrainingRequest request, TimeSpan labelWait,
        Action<RpcException>? notLabeledYet = null, TimeSpan? callTimeout = null, CancellationToken cancellationToken = default)
    {
        var waited = Stopwatch.StartNew();
        var delay = FirstDelay;
        while (true)
        {
            try
            {
                return await client.StartTrainingAsync(request, deadline: DateTime.UtcNow + callTimeout, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.FailedPrecondition && waited.Elapsed < labelWait)
            {
                // Polled: the labeled version is announced on the broker, which a gRPC caller does not see.
                notLabeledYet?.Invoke(e);
                await Task.Delay(Min(delay, Max(labelWait - waited.Elapsed, TimeSpan.Zero)), cancellationToken).ConfigureAwait(false);
                delay = Min(delay * 2, LongestDelay);
            }
        }
    }

    /// <summary>
    /// Follows <paramref name="jobId"/> through WatchJob until it succeeds or fails, and returns that final state.
    /// <paramref name="onUpdate"/>, when given, gets every state the stream sends (the current one first), in order, on
    /// the reading task, each one different from the one before. When the stream breaks with UNAVAILABLE (the training
    /// service restarted, a proxy dropped the connection) or ends before the final state, it is opened again, backing
    /// off from 0.1 s to 2 s while the service does not answer, and the watch goes on from the job's current state.
    /// Other statuses are thrown: NOT_FOUND for an unknown job id.
    /// </summary>
    /// <param name="onUpdate">A synchronous callback, so updates keep their order (a <see cref="Progress{T}"/> would post them to the thread pool).</param>
    /// <param name="timeout">How long to watch in all, reconnections included; without it, until the job ends or <paramref name="cancellationToken"/> cancels.</param>
    /// <exception cref="TimeoutException">The job did not end within <paramref name="timeout"/>; the message names the job and its last state.</exception>
    public static async Task<Job> WatchToEndAsync(this TrainingService.TrainingServiceClient client, string jobId, Action<Job>? onUpdate = null, TimeSpan? timeout = null,
        CancellationToken cancellationToken = default)
    {
        DateTime? deadline = timeout is { } t ? DateTime.UtcNow + t : null;
        var delay = FirstDelay;
        Job? last = null;
        while (true)
        {
            try
            {
                using var call = client.WatchJob(new GetJobRequest { JobId = jobId }, deadline: deadline, cancellationToken: cancellationToken);
                while (await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
                {
                    var job = call.ResponseStream.Current;
                    delay = FirstDelay;
                    if (!job.Equals(last))
                    {
                        onUpdate?.Invoke(job);
                    }
                    last = job;
                    if (IsFinal(job))
                    {
                        return job;
                    }
                }
                // The stream ended without the final state (the service stopped while streaming): watch again.
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable && !cancellationToken.IsCancellationRequested)
            {
                // The stream broke, or the service does not answer (yet): watch again.
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.DeadlineExceeded && deadline is not null && !cancellationToken.IsCancellationRequested)
            {
                throw TimedOut(jobId, timeout!.Value, last, e);
            }
            var rest = deadline is { } d ? d - DateTime.UtcNow : LongestDelay;
            if (rest <= TimeSpan.Zero)
            {
                throw TimedOut(jobId, timeout!.Value, last, null);
            }
            await Task.Delay(Min(delay, rest), cancellationToken).ConfigureAwait(false);
            delay = Min(delay * 2, LongestDelay);
        }
    }

    private static bool IsFinal(Job job) => job.State is JobState.Succeeded or JobState.Failed or JobState.Stopped;

    private static TimeoutException TimedOut(string jobId, TimeSpan timeout, Job? last, Exception? inner) =>
        new($"Job {jobId} did not end within {timeout.TotalSeconds:0.#} s (last seen: {(last is null ? "no state yet" : $"{last.State}, epoch {last.EpochsCompleted}/{last.Epochs} completed")}).", inner);

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
}
