using BigDataAI.Protos.Training.V1;

namespace BigDataAI.Cli.Tests;

public sealed class JobProgressViewTests
{
    private const string Id = "mnist-v1-cnn-0123456789";
    private const string Esc = "\u001b";

    private readonly StringWriter _output = new();
    private TimeSpan _now;

    [Fact]
    public void Running_line_shows_epoch_batch_loss_accuracy_throughput_worker_and_an_eta_from_the_time_per_batch()
    {
        var view = Plain(Id);

        view.Update(Running(epoch: 1, batch: 10));
        var first = view.LiveLine(Id);
        Assert.Contains("0123456789", first);
        Assert.Contains("running", first);
        Assert.Contains("epoch 1/3", first);
        Assert.Contains("batch 10/100", first);
        Assert.Contains("loss 0.5000", first);
        Assert.Contains("val –", first);
        Assert.Contains("on worker-a", first);
        Assert.Contains("ETA –", first);
        Assert.Null(view.Eta(Id));

        // 10 batches in 5 s: 0.5 s a batch; left: 80 of this epoch + 2 epochs of 100 = 280 batches = 140 s.
        _now = TimeSpan.FromSeconds(5);
        view.Update(Running(epoch: 1, batch: 20));
        Assert.Equal(TimeSpan.FromSeconds(140), view.Eta(Id));
        Assert.Contains("ETA 2:20", view.LiveLine(Id));

        // Epoch 1 done; 110 batches since the first sight in 88 s: 0.8 s a batch; left: 80 + 100 = 180 batches = 144 s.
        _now = TimeSpan.FromSeconds(88);
        var second = Running(epoch: 2, batch: 20, completed: 1);
        second.ValidationAccuracy = 0.9123;
        second.SamplesPerSecond = 6130;
        view.Update(second);
        var line = view.LiveLine(Id);
        Assert.Contains("epoch 2/3", line);
        Assert.Contains("val 91.23 %", line);
        Assert.Contains("6,130 samples/s", line);
        Assert.Contains("ETA 2:24", line);
    }

    [Fact]
    public void Last_epoch_time_from_the_history_gives_an_eta_before_batches_are_timed()
    {
        var view = Plain(Id);
        var job = Running(epoch: 2, batch: 0, completed: 1);
        job.History.Add(new EpochSummary { Epoch = 1, TrainLoss = 0.5, ValidationAccuracy = 0.9, Seconds = 30 });

        view.Update(job);

        // 30 s for 100 batches; left: 100 of epoch 2 and 100 of epoch 3.
        Assert.Equal(TimeSpan.FromSeconds(60), view.Eta(Id));
        Assert.Contains("ETA 1:00", view.LiveLine(Id));
    }

    [Fact]
    public void Queued_job_shows_why_it_waits_and_a_new_reason_is_a_new_line()
    {
        var view = Plain(Id);

        view.Update(Queued("no connected worker has 1 GPU"));
        Assert.Contains("queued", view.LiveLine(Id));
        Assert.Contains("waiting: no connected worker has 1 GPU", view.LiveLine(Id));

        _now = TimeSpan.FromSeconds(3);
        view.Update(Queued("no connected worker has 1 GPU"));
        _now = TimeSpan.FromSeconds(7);
        view.Update(Queued("every worker's slots are taken"));

        Assert.Equal(["[00:00] queued: no connected worker has 1 GPU", "[00:07] queued: every worker's slots are taken"], Lines());
        Assert.Null(view.Eta(Id));
    }

    [Fact]
    public void Job_taken_over_by_another_worker_says_where_it_resumed_and_times_the_new_run_afresh()
    {
        var view = Plain(Id);
        view.Update(Running(epoch: 4, batch: 10, completed: 3, epochs: 6));
        _now = TimeSpan.FromSeconds(10);
        view.Update(Running(epoch: 4, batch: 60, completed: 3, epochs: 6));
        Assert.NotNull(view.Eta(Id));

        _now = TimeSpan.FromSeconds(40);
        var resumed = Running(epoch: 4, batch: 5, completed: 3, epochs: 6);
        resumed.Attempt = 2;
        resumed.ResumedFromEpoch = 3;
        resumed.WorkerId = "worker-b";
        view.Update(resumed);

        var line = view.LiveLine(Id);
        Assert.Contains("resumed from epoch 3 on worker-b", line);
        Assert.Contains("attempt 2", line);
        Assert.Contains("on worker-b", line);
        Assert.Contains("ETA –", line);
        Assert.Contains("[00:40] taken over: resumed from epoch 3 on worker-b, attempt 2", Lines());
    }

    [Fact]
    public void Plain_mode_prints_one_line_per_state_change_and_completed_epoch_and_no_escapes()
    {
        var view = Plain(Id);
        view.Update(Queued(""));
        _now = TimeSpan.FromSeconds(1);
        view.Update(Running(epoch: 1, batch: 0, epochs: 2));
        for (var b = 10; b <= 100; b += 10)
        {
            _now += TimeSpan.FromSeconds(1);
            view.Update(Running(epoch: 1, batch: b, epochs: 2));
        }
        view.Update(WithEpochDone(Running(epoch: 2, batch: 0, epochs: 2, completed: 1), 0.4321, 0.9, 1000));
        for (var b = 10; b <= 100; b += 10)
        {
            _now += TimeSpan.FromSeconds(1);
            view.Update(Running(epoch: 2, batch: b, epochs: 2, completed: 1));
        }
        var done = WithEpochDone(Running(epoch: 2, batch: 100, epochs: 2, completed: 2), 0.2, 0.955, 1234.4);
        done.State = JobState.Succeeded;
        view.Update(done);
        view.Complete();

        var text = _output.ToString();
        Assert.DoesNotContain(Esc, text);
        Assert.DoesNotContain("\r", text);
        Assert.Equal(
        [
            "[00:00] queued",
            "[00:01] running on cpu (worker-a)",
            "[00:11] epoch 1/2: train loss 0.4321, validation accuracy 90.00 %, 1,000 samples/s",
            "[00:21] epoch 2/2: train loss 0.2000, validation accuracy 95.50 %, 1,234 samples/s",
            "[00:21] succeeded",
        ], Lines());
        Assert.Equal([1, 2], view.ObservedHistory(Id).Select(h => h.Epoch));
        Assert.Equal(0.2, view.ObservedHistory(Id)[1].TrainLoss);
    }

    [Fact]
    public void Terminal_mode_redraws_the_live_line_in_place_below_the_plain_lines()
    {
        var view = new JobProgressView(_output, [Id], interactive: true, () => _now, () => 200);
        view.Update(Queued("no connected worker has 1 GPU"));
        _now = TimeSpan.FromSeconds(2);
        view.Update(Running(epoch: 1, batch: 10));
        _now = TimeSpan.FromSeconds(3);
        view.Update(Running(epoch: 1, batch: 20));

        var text = _output.ToString();
        // Each redraw goes back up over the one live line and clears from there.
        Assert.Equal(2, Count(text, $"{Esc}[1A\r{Esc}[J"));
        var last = text[(text.LastIndexOf($"{Esc}[J", StringComparison.Ordinal) + 3)..];
        Assert.Contains("batch 20/100", last);
        Assert.Contains("ETA 0:28", last);
        Assert.Contains("[00:00] queued: no connected worker has 1 GPU", text);
        Assert.Contains("[00:02] running on cpu (worker-a)", text);
    }

    [Fact]
    public void Terminal_mode_cuts_live_lines_to_the_width_so_redrawing_never_wraps()
    {
        var view = new JobProgressView(_output, [Id], interactive: true, () => _now, () => 40, color: true);
        view.Update(Running(epoch: 1, batch: 10));

        var frame = _output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Last();
        Assert.Contains($"{Esc}[36m", frame);
        var visible = System.Text.RegularExpressions.Regex.Replace(frame, @"\u001b\[[0-9;]*m", "");
        Assert.Equal(39, visible.Length);
        Assert.StartsWith("0123456789", visible);
    }

    [Fact]
    public void Several_jobs_get_one_live_line_each_and_plain_lines_name_their_job()
    {
        const string other = "mnist-v1-mlp-abcdefabcd";
        var view = new JobProgressView(_output, [Id, other], interactive: false, () => _now);
        view.Update(Queued("no connected worker has 1 GPU"));
        var job = Running(epoch: 1, batch: 5);
        job.JobId = other;
        view.Update(job);

        Assert.Equal(["[00:00] 0123456789: queued: no connected worker has 1 GPU", "[00:00] abcdefabcd: running on cpu (worker-a)"], Lines());
        Assert.Contains("queued", view.LiveLine(Id));
        Assert.Contains("batch 5/100", view.LiveLine(other));

        var terminal = new StringWriter();
        var live = new JobProgressView(terminal, [Id, other], interactive: true, () => _now, () => 200);
        live.Update(Queued("no connected worker has 1 GPU"));
        live.Update(job);
        var redraw = terminal.ToString();
        Assert.Contains($"{Esc}[2A", redraw);
        var frame = redraw[(redraw.LastIndexOf($"{Esc}[J", StringComparison.Ordinal) + 3)..].Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, frame.Length);
        Assert.Contains("abcdefabcd: running", frame[0]);
        Assert.StartsWith("0123456789", frame[1]);
        Assert.StartsWith("abcdefabcd", frame[2]);
    }

    [Fact]
    public void Failed_and_succeeded_jobs_end_with_their_outcome()
    {
        var view = Plain(Id);
        var failed = Running(epoch: 2, batch: 3, completed: 1);
        failed.State = JobState.Failed;
        failed.Error = "out of memory";
        view.Update(failed);
        Assert.Contains("failed", view.LiveLine(Id));
        Assert.Contains("after 1/3 epochs: out of memory", view.LiveLine(Id));

        var ok = Running(epoch: 3, batch: 100, completed: 3);
        ok.JobId = "other";
        ok.State = JobState.Succeeded;
        ok.ModelId = "mnist-v1-cnn-m1";
        ok.TestMetrics = new Metrics { Accuracy = 0.974 };
        view.Update(ok);
        Assert.Contains("100%", view.LiveLine("other"));
        Assert.Contains("test accuracy 97.40 %", view.LiveLine("other"));
        Assert.Contains("model mnist-v1-cnn-m1", view.LiveLine("other"));
    }

    [Theory]
    [InlineData("mnist-v1-cnn-0123456789", "0123456789")]
    [InlineData("job-1", "job-1")]
    [InlineData("a-very-long-dataset-name-v12-cnn-x", "a-very-long-dat…")]
    public void Short_ids_keep_the_part_that_tells_jobs_apart(string id, string expected) =>
        Assert.Equal(expected, JobProgressView.Short(id));

    private JobProgressView Plain(params string[] ids) => new(_output, ids, interactive: false, () => _now);

    private string[] Lines() => _output.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);

    private static int Count(string text, string part)
    {
        var n = 0;
        for (var i = text.IndexOf(part, StringComparison.Ordinal); i >= 0; i = text.IndexOf(part, i + 1, StringComparison.Ordinal))
        {
            n++;
        }
        return n;
    }

    private static Job Queued(string reason) => new()
    {
        JobId = Id,
        Model = "cnn",
        State = JobState.Queued,
        Epochs = 3,
        WaitingReason = reason,
        Attempt = 0,
    };

    private static Job Running(int epoch, int batch, int epochs = 3, int completed = 0) => new()
    {
        JobId = Id,
        Model = "cnn",
        State = JobState.Running,
        Device = "cpu",
        WorkerId = "worker-a",
        Attempt = 1,
        Epoch = epoch,
        Epochs = epochs,
        Batch = batch,
        Batches = 100,
        EpochsCompleted = completed,
        TrainLoss = 0.5,
    };

    private static Job WithEpochDone(Job job, double loss, double accuracy, double samplesPerSecond)
    {
        job.TrainLoss = loss;
        job.ValidationAccuracy = accuracy;
        job.SamplesPerSecond = samplesPerSecond;
        return job;
    }
}
