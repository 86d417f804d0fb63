using BigDataAI.Training.Model;

namespace BigDataAI.Training.Messages;

// Messages between the training control plane (API and scheduler) and its workers. They stay inside the training
// service, so they live in its module rather than in BigDataAI.Contracts. Each names the object store (its Location) of
// the deployment it belongs to: control planes and workers ignore messages of another deployment that shares the broker.

/// <summary>
/// A worker says it is alive and what it has, every <c>Training:Worker:AnnounceInterval</c>. Published: every
/// control-plane replica hears it on its own temporary queue. <paramref name="NotReceiving"/> is null while the
/// worker's own queue delivers its probes, else why it cannot take jobs now (the scheduler then gives it none).
/// <paramref name="LastHeard"/> is when one of its probes last came back through that queue. <paramref name="Queue"/> is
/// the address of that queue, where RunJob is sent (null until the bus has configured it: then it gets no jobs).
/// </summary>
public sealed record WorkerAnnounced(
    string Store,
    string WorkerId,
    int Gpus,
    int MemoryMiB,
    int Slots,
    string Device,
    IReadOnlyList<string> RunningJobs,
    DateTimeOffset SentAt,
    string? NotReceiving = null,
    DateTimeOffset? LastHeard = null,
    string? Queue = null);

/// <summary>A worker that stops cleanly says so, so the scheduler stops placing jobs on it at once.</summary>
public sealed record WorkerStopping(string Store, string WorkerId);

/// <summary>
/// The control plane asks the worker running a job to stop it (StopJob, a sweep's early stopping): sent to that worker's
/// queue, again until the job's record says it ended.
/// </summary>
public sealed record StopJob(string Store, string JobId, string WorkerId, string Reason);

/// <summary>The scheduler hands a job to one worker: sent to that worker's own queue (its announced <c>Queue</c>).</summary>
public sealed record RunJob(string Store, string JobId, string WorkerId);

/// <summary>
/// A worker checks that its own queue still delivers: it sends this to that queue every
/// <c>Training:Worker:ProbeInterval</c> and expects it back there, where RunJob arrives. A probe the broker accepted that never comes back means the
/// queue is gone (seen after a broker crash), so hand-outs would vanish too.
/// </summary>
public sealed record WorkerProbe(string Store, string WorkerId, long Sequence, DateTimeOffset SentAt);

/// <summary>A job's record changed (progress, an epoch, the end). Published by the worker that runs it, for the control planes' views.</summary>
public sealed record JobUpdated(string Store, JobRecord Job);
