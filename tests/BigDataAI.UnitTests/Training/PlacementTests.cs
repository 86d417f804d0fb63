using BigDataAI.Training.Model;
using BigDataAI.Training.Scheduling;

namespace BigDataAI.UnitTests.Training;

public sealed class PlacementTests
{
    private static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;

    private static WorkerInfo Worker(string id, int gpus, int memoryMiB, int slots = 1, params string[] running) =>
        new(id, gpus, memoryMiB, slots, gpus > 0 ? "cuda" : "cpu", running, Now);

    private static JobRecord Job(int seed, int gpus = 0, int memoryMiB = 0) =>
        JobRecord.New(new JobSpec("mnist", 1, "mlp", new HyperParameters(2, 128, 1e-3, "adam", seed), new JobResources(gpus, memoryMiB)))
            with { CreatedAt = Now.AddSeconds(seed) };

    private static Dictionary<string, int> Busy(params (string Worker, int Jobs)[] busy) =>
        busy.ToDictionary(b => b.Worker, b => b.Jobs);

    [Fact]
    public void Jobs_go_only_to_workers_with_the_gpus_and_memory_they_need()
    {
        var cpu = Worker("cpu-small", 0, 2048);
        var gpu = Worker("gpu-big", 2, 65536);
        var gpuJob = Job(1, gpus: 2);
        var bigJob = Job(2, memoryMiB: 8192);
        var smallJob = Job(3, memoryMiB: 1024);

        var plan = Placement.Plan([gpuJob, bigJob, smallJob], [gpu, cpu], Busy());

        // gpu-big has one slot: the oldest job that fits it (the GPU job) takes it; the 8 GiB CPU job then fits nowhere free.
        Assert.Equal([new Assignment(gpuJob.JobId, "gpu-big"), new Assignment(smallJob.JobId, "cpu-small")], plan.Assignments);
        Assert.Contains("every worker with CPU, 8,192 MiB is busy", plan.Waiting[bigJob.JobId], StringComparison.Ordinal);
    }

    [Fact]
    public void Cpu_jobs_prefer_the_smallest_worker_that_fits_so_gpu_workers_stay_free()
    {
        var plan = Placement.Plan([Job(1)], [Worker("a-gpu", 1, 16384), Worker("z-cpu", 0, 4096)], Busy());

        Assert.Equal("z-cpu", Assert.Single(plan.Assignments).WorkerId);
    }

    [Fact]
    public void A_job_that_fits_no_worker_waits_with_the_reason_and_does_not_hold_back_later_jobs()
    {
        var needsGpu = Job(1, gpus: 1);
        var fits = Job(2);

        var plan = Placement.Plan([needsGpu, fits], [Worker("cpu-1", 0, 4096)], Busy());

        Assert.Equal(fits.JobId, Assert.Single(plan.Assignments).JobId);
        Assert.Equal("no connected worker has 1 GPU (connected: cpu-1 (0 GPU, 4,096 MiB, 1 slot))", plan.Waiting[needsGpu.JobId]);
    }

    [Fact]
    public void Busy_slots_are_respected_and_free_slots_fill_in_age_order()
    {
        var jobs = new[] { Job(1), Job(2), Job(3), Job(4) };

        var plan = Placement.Plan(jobs, [Worker("w1", 0, 4096, slots: 2), Worker("w2", 0, 4096, slots: 2)], Busy(("w1", 1), ("w2", 2)));

        Assert.Equal([new Assignment(jobs[0].JobId, "w1")], plan.Assignments);
        Assert.Equal([jobs[1].JobId, jobs[2].JobId, jobs[3].JobId], plan.Waiting.Keys.Order(StringComparer.Ordinal).ToArray().Intersect(plan.Waiting.Keys).OrderBy(k => Array.FindIndex(jobs, j => j.JobId == k)));
        Assert.All(plan.Waiting.Values, reason => Assert.StartsWith("every worker with CPU is busy", reason, StringComparison.Ordinal));
    }

    [Fact]
    public void With_no_worker_connected_every_job_waits_and_says_so()
    {
        var plan = Placement.Plan([Job(1)], [], Busy());

        Assert.Empty(plan.Assignments);
        Assert.Equal("no training worker is connected", Assert.Single(plan.Waiting).Value);
    }

    [Fact]
    public void Memory_zero_means_no_stated_need()
    {
        Assert.True(Placement.Fits(new JobResources(0, 0), Worker("tiny", 0, 1)));
        Assert.False(Placement.Fits(new JobResources(0, 2), Worker("tiny", 0, 1)));
        Assert.False(Placement.Fits(new JobResources(1, 0), Worker("tiny", 0, 1)));
    }
}

public sealed class PlacementOfWorkersNotTakingJobsTests
{
    private static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;

    private static JobRecord Job(int seed) =>
        JobRecord.New(new JobSpec("mnist", 1, "mlp", new HyperParameters(2, 128, 1e-3, "adam", seed), new JobResources(0, 0)))
            with { CreatedAt = Now.AddSeconds(seed) };

    [Fact]
    public void A_worker_not_taking_jobs_gets_none_and_the_job_says_why_it_waits()
    {
        var deaf = new WorkerInfo("deaf", 0, 4096, 4, "cpu", [], Now, "its job queue delivers nothing");
        var job = Job(1);

        var plan = Placement.Plan([job], [deaf], new Dictionary<string, int>());

        Assert.Empty(plan.Assignments);
        Assert.Contains("deaf: its job queue delivers nothing", plan.Waiting[job.JobId], StringComparison.Ordinal);
    }

    [Fact]
    public void The_job_goes_to_a_worker_that_takes_jobs_even_when_a_smaller_one_is_silent()
    {
        var silent = new WorkerInfo("a-small", 0, 2048, 1, "cpu", [], Now, "did not start a job in time");
        var fine = new WorkerInfo("b-big", 0, 8192, 1, "cpu", [], Now);
        var job = Job(1);

        var plan = Placement.Plan([job], [silent, fine], new Dictionary<string, int>());

        Assert.Equal([new Assignment(job.JobId, "b-big")], plan.Assignments);
    }
}
