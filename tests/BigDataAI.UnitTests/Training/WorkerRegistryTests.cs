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
        new("store", id, 0, 4096, 1, "cpu", running, DateTimeOffset.UtcNow, notReceiving, Queue: $"loopback://localhost/training-worker-{id}");

    private static WorkerAnnounced Heard(string id, DateTimeOffset sentAt, DateTimeOffset? lastHeard, params string[] running) =>
        new("store", id, 0, 4096, 1, "cpu", running, sentAt, null, lastHeard, $"loopback://localhost/training-worker-{id}");

    [Fact]
    public void A_worker_that_has_not_announced_its_queue_takes_no_jobs_and_is_placed_once_it_has()
    {
        var (registry, _) = Create();
        registry.Update(new WorkerAnnounced("store", "starting", 0, 4096, 1, "cpu", [], DateTimeOffset.UtcNow));

        var worker = Assert.Single(registry.Live());
        Assert.Null(worker.Queue);
        Assert.Contains("has not announced a job queue", worker.NotTakingJobs, StringComparison.Ordinal);

        registry.Update(Announce("starting"));
        worker = Assert.Single(registry.Live());
        Assert.Null(worker.NotTakingJobs);
        Assert.Equal(new Uri("loopback://localhost/training-worker-starting"), worker.Queue);
    }

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
        Assert.True(registry.MarkSilent("w1", "j1", _ => "did not start job j1"));
        Assert.Equal("did not start job j1", registry.Live().Single().NotTakingJobs);

        time.Now += TimeSpan.FromMinutes(1);
        registry.Update(Announce("w1"));
        Assert.NotNull(registry.Live().Single().NotTakingJobs);

        // Seen running a job: it receives hand-outs, so the pause ends at once.
        registry.Update(Announce("w1", null, "j2"));
        Assert.Null(registry.Live().Single().NotTakingJobs);

        registry.MarkSilent("w1", "j3", _ => "did not start job j3");
        time.Now += TimeSpan.FromMinutes(2);
        registry.Update(Announce("w1", null, "j2"));
        Assert.Null(registry.Live().Single().NotTakingJobs);
    }

    [Fact]
    public void A_worker_seen_running_the_job_is_not_paused_for_it()
    {
        var (registry, _) = Create();
        registry.Update(Announce("w1", null, "j1"));

        Assert.False(registry.MarkSilent("w1", "j1", _ => "did not start job j1"));
        Assert.Null(registry.Live().Single().NotTakingJobs);
    }

    [Fact]
    public void Misses_in_a_row_pause_a_worker_twice_as_long_each_time()
    {
        var (registry, time) = Create();
        registry.Update(Announce("w1"));
        var pauses = new List<TimeSpan>();
        registry.MarkSilent("w1", "j1", p => { pauses.Add(p); return "miss 1"; });
        time.Now += TimeSpan.FromMinutes(2); // the first pause is over
        Assert.Null(registry.Live().Single().NotTakingJobs);
        registry.MarkSilent("w1", "j2", p => { pauses.Add(p); return "miss 2"; });

        Assert.Equal([TimeSpan.FromMinutes(2), TimeSpan.FromMinutes(4)], pauses);
        time.Now += TimeSpan.FromMinutes(3);
        Assert.Equal("miss 2", registry.Live().Single().NotTakingJobs);
    }

    [Fact]
    public void A_first_miss_is_forgiven_once_a_probe_comes_back_but_a_second_is_not()
    {
        var (registry, time) = Create();
        registry.Update(Heard("w1", time.Now, lastHeard: time.Now));
        registry.MarkSilent("w1", "j1", _ => "miss 1");

        time.Now += TimeSpan.FromSeconds(5);
        registry.Update(Heard("w1", time.Now, lastHeard: time.Now - TimeSpan.FromSeconds(10))); // heard before the miss: no proof
        Assert.Equal("miss 1", registry.Live().Single().NotTakingJobs);
        registry.Update(Heard("w1", time.Now, lastHeard: time.Now)); // heard after it
        Assert.Null(registry.Live().Single().NotTakingJobs);

        registry.MarkSilent("w1", "j2", _ => "miss 2");
        Assert.True(registry.MarkSilent("w1", "j3", _ => "miss 3"));
        time.Now += TimeSpan.FromSeconds(5);
        registry.Update(Heard("w1", time.Now, lastHeard: time.Now));
        Assert.Equal("miss 3", registry.Live().Single().NotTakingJobs);
    }

    [Fact]
    public void An_announcement_overtaken_by_a_newer_one_is_ignored()
    {
        var (registry, time) = Create();
        registry.Update(Heard("w1", time.Now, null, "j1"));
        registry.Update(Heard("w1", time.Now - TimeSpan.FromSeconds(2), null));

        Assert.Equal(["j1"], registry.Live().Single().RunningJobs);
    }
}
