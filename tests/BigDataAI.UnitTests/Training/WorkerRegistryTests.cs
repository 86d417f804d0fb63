using BigDataAI.Training.Messages;
using BigDataAI.Training.Scheduling;
using BigDataAI.Training.Services;
using Microsoft.Extensions.Options;

namespace BigDataAI.UnitTests.Training;

public sealed class WorkerRegistryTests
{
    private sealed class ManualTime(DateTimeOffset start) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = start;
        public override DateTimeOffset GetUtcNow() => Now;
    }

    private static readonly DateTimeOffset Start = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);

    private static (WorkerRegistry Registry, ManualTime Time) Create()
    {
        var options = new TrainingOptions();
        options.Scheduler.WorkerTimeout = TimeSpan.FromMinutes(10); // announcements never lapse in these tests
        options.Scheduler.SilentWorkerPause = TimeSpan.FromMinutes(2);
        var time = new ManualTime(Start);
        return (new WorkerRegistry(Options.Create(options), time), time);
    }

    private static WorkerAnnounced Announce(string id, string? notReceiving = null, params string[] running) =>
        new("store", id, 0, 4096, 1, "cpu", running, Start, notReceiving);

    [Fact]
    public void A_worker_that_says_its_queue_delivers_nothing_takes_no_jobs()
    {
        var (registry, _) = Create();
        registry.Update(Announce("deaf", "its job queue delivers nothing"));
        registry.Update(Announce("fine"));

        var live = registry.Live();

        Assert.Equal("its job queue delivers nothing", live.Single(w => w.WorkerId == "deaf").NotTakingJobs);
        Assert.Null(live.Single(w => w.WorkerId == "fine").NotTakingJobs);
    }

    [Fact]
    public void A_silent_worker_is_paused_until_the_pause_ends_or_it_starts_a_job()
    {
        var (registry, time) = Create();
        registry.Update(Announce("w1"));
        registry.MarkSilent("w1", "did not start job j1");
        Assert.Equal("did not start job j1", registry.Live().Single().NotTakingJobs);

        time.Now += TimeSpan.FromMinutes(1);
        registry.Update(Announce("w1"));
        Assert.NotNull(registry.Live().Single().NotTakingJobs);

        // Seen running a job: it receives hand-outs, so the pause ends at once.
        registry.Update(Announce("w1", null, "j2"));
        Assert.Null(registry.Live().Single().NotTakingJobs);

        registry.MarkSilent("w1", "did not start job j3");
        time.Now += TimeSpan.FromMinutes(2);
        registry.Update(Announce("w1", null, "j2"));
        Assert.Null(registry.Live().Single().NotTakingJobs);
    }
}
