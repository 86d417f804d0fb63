using BigDataAI.Hosting;
using BigDataAI.Training.Messages;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace BigDataAI.Training.Workers;

/// <summary>
/// Checks end to end that this worker's job queue still delivers: every <c>Training:Worker:ProbeInterval</c> it
/// sends a <see cref="WorkerProbe"/> to its own queue (<see cref="WorkerQueue"/>), the one RunJob arrives on. Only probes the
/// broker accepted while the bus is connected count, and a broker outage clears what was pending, so an outage is not
/// mistaken for a lost queue. When an accepted probe has not come back within <c>Training:Worker:ProbeTimeout</c>
/// while the bus stays connected, the worker is deaf: it says so in its announcements (the scheduler then hands it
/// nothing), its readiness check fails, and after <c>Training:Worker:ExitWhenDeafFor</c> it stops with exit code 75 so
/// that its supervisor starts a fresh worker with a fresh queue (a clean stop hands its jobs on first). The embedded
/// mode (in-memory messaging, every module in one process) never stops for it.
/// </summary>
public sealed partial class JobQueueProbe(
    WorkerIdentity me,
    WorkerQueue queue,
    BoundedPublisher publisher,
    MessagingSettings messaging,
    Storage.IObjectStore store,
    IOptions<Services.TrainingOptions> options,
    IHostApplicationLifetime lifetime,
    TimeProvider time,
    ILogger<JobQueueProbe> logger) : BackgroundService
{
    /// <summary>The exit code of a worker that stopped because its queue delivered nothing (EX_TEMPFAIL).</summary>
    public const int DeafExitCode = 75;

    private readonly Lock _lock = new();
    private long _sequence;
    private long _lastReceived;
    private DateTimeOffset? _lastHeard;
    private (long Sequence, DateTimeOffset At)? _unanswered; // the oldest accepted probe not seen back yet
    private DateTimeOffset? _deafSince;

    /// <summary>Null while the queue delivers; else why this worker cannot take jobs now.</summary>
    public string? NotReceiving
    {
        get
        {
            lock (_lock)
            {
                return Deafness(time.GetUtcNow());
            }
        }
    }

    /// <summary>When a probe last came back (null before the first): proof that hand-outs can arrive.</summary>
    public DateTimeOffset? LastHeard
    {
        get
        {
            lock (_lock)
            {
                return _lastHeard;
            }
        }
    }

    /// <summary>A probe came back: the queue delivers (everything sent up to <paramref name="sequence"/> is accounted for).</summary>
    public void Received(long sequence)
    {
        lock (_lock)
        {
            _lastReceived = Math.Max(_lastReceived, sequence);
            _lastHeard = time.GetUtcNow();
            if (_unanswered is { } pending && sequence >= pending.Sequence)
            {
                _unanswered = null;
            }
            if (_deafSince is { } since)
            {
                _deafSince = null;
                LogHearing(me.Id, (time.GetUtcNow() - since).TotalSeconds);
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var o = options.Value.Worker;
        // In one process with in-memory messaging there is no queue to lose, and stopping would stop every module.
        var exitAfter = messaging.Transport == MessagingTransport.InMemory ? TimeSpan.Zero : o.ExitWhenDeafFor;
        using var timer = new PeriodicTimer(o.ProbeInterval, time);
        try
        {
            do
            {
                await SendAsync(stoppingToken).ConfigureAwait(false);
                Check(exitAfter);
            }
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task SendAsync(CancellationToken stoppingToken)
    {
        if (!publisher.IsConnected || queue.Address is not { } address)
        {
            return;
        }
        var sequence = Interlocked.Increment(ref _sequence);
        var sentAt = time.GetUtcNow();
        try
        {
            // With publisher confirms (MassTransit's default on RabbitMQ) this returns once the broker has the message.
            await publisher.SendAsync(address, new WorkerProbe(store.Location, me.Id, sequence, sentAt), stoppingToken).ConfigureAwait(false);
        }
        catch (MessagingUnavailableException)
        {
            return; // the broker did not take it: an outage, not a lost queue; nothing to expect back
        }
        lock (_lock)
        {
            // It may have come back before the confirm did.
            if (sequence > _lastReceived)
            {
                _unanswered ??= (sequence, sentAt);
            }
        }
    }

    private void Check(TimeSpan exitAfter)
    {
        var now = time.GetUtcNow();
        var connected = publisher.IsConnected;
        bool exit;
        lock (_lock)
        {
            if (!connected)
            {
                // A broker outage, not a lost queue: whatever was in flight died with the broker's queues. Start afresh
                // once it is back.
                _unanswered = null;
                _deafSince = null;
                return;
            }
            var reason = Deafness(now);
            if (reason is null)
            {
                return;
            }
            var first = _deafSince is null;
            _deafSince ??= now;
            if (first)
            {
                LogDeaf(me.Id, reason);
            }
            exit = exitAfter > TimeSpan.Zero && now - _deafSince.Value >= exitAfter;
        }
        if (exit)
        {
            LogExiting(me.Id, exitAfter.TotalSeconds, DeafExitCode);
            Environment.ExitCode = DeafExitCode;
            lifetime.StopApplication();
        }
    }

    private string? Deafness(DateTimeOffset now) =>
        _unanswered is { } pending && now - pending.At > options.Value.Worker.ProbeTimeout
            ? $"its job queue delivers nothing: a probe the broker accepted at {pending.At:HH:mm:ss} has not come back after {(now - pending.At).TotalSeconds:0} s"
            : null;

    [LoggerMessage(EventId = 20, Level = LogLevel.Error, Message = "Worker {WorkerId} cannot receive jobs: {Reason}. It takes no new jobs until its queue delivers again")]
    private partial void LogDeaf(string workerId, string reason);

    [LoggerMessage(EventId = 21, Level = LogLevel.Information, Message = "Worker {WorkerId} receives again after {Seconds:0} s")]
    private partial void LogHearing(string workerId, double seconds);

    [LoggerMessage(EventId = 22, Level = LogLevel.Critical, Message = "Worker {WorkerId} has received nothing for {Seconds:0} s (Training:Worker:ExitWhenDeafFor): stopping with exit code {ExitCode} so a fresh worker replaces it")]
    private partial void LogExiting(string workerId, double seconds, int exitCode);
}
