using BigDataAI.Training.Workers;

namespace BigDataAI.UnitTests.Training;

public sealed class WorkerJobsTests
{
    [Fact]
    public void A_stop_cancels_the_run_it_was_sent_for_even_before_it_starts_and_is_forgotten_with_the_job()
    {
        var jobs = new WorkerJobs();
        Assert.False(jobs.RequestStop("not-held", "stale")); // a job this worker does not hold: nothing kept
        Assert.Null(jobs.StopReason("not-held"));

        Assert.True(jobs.TryAdd("a"));
        Assert.True(jobs.RequestStop("a", "asha")); // handed out, not started yet
        using (var run = jobs.Starting("a", CancellationToken.None))
        {
            Assert.True(run.IsCancellationRequested);
            Assert.Equal("asha", jobs.StopReason("a"));
        }
        jobs.Ended("a");
        jobs.Done("a");

        // The same job handed out again later runs: the old stop is gone.
        Assert.True(jobs.TryAdd("a"));
        using var again = jobs.Starting("a", CancellationToken.None);
        Assert.False(again.IsCancellationRequested);
        Assert.True(jobs.RequestStop("a", "user"));
        Assert.True(again.IsCancellationRequested);
        Assert.Equal("user", jobs.StopReason("a"));
    }
}
