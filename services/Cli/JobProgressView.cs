using System.Globalization;
using System.Text;
using BigDataAI.Protos.Training.V1;

namespace BigDataAI.Cli;

/// <summary>
/// What the CLI shows while it follows training jobs. Every mode prints plain lines, one per state change, take-over
/// and completed epoch (<c>[mm:ss] epoch 2/12: train loss ...</c>; prefixed with the job when several are watched).
/// On a terminal it also keeps one live line per job below them, redrawn in place with ANSI escapes: state, a bar,
/// epoch and batch, loss, validation accuracy, samples/s, worker and an ETA from the observed time per batch.
/// Thread-safe: each job's stream may call <see cref="Update"/> from its own task.
/// </summary>
public sealed class JobProgressView
{
    private const string Esc = "\u001b[";
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    private readonly TextWriter _output;
    private readonly bool _interactive;
    private readonly bool _color;
    private readonly Func<TimeSpan> _clock;
    private readonly Func<int> _width;
    private readonly List<Track> _tracks;
    private readonly Lock _lock = new();
    private string[] _frame = [];

    /// <param name="output">Where lines go.</param>
    /// <param name="jobIds">The jobs followed, in display order.</param>
    /// <param name="interactive">True on a terminal: live lines redrawn with ANSI escapes below the plain lines.</param>
    /// <param name="clock">Time since watching began (tests pass their own); defaults to a stopwatch.</param>
    /// <param name="width">Terminal columns; live lines are cut to fit so redrawing never wraps.</param>
    /// <param name="color">Colour the state word of live lines (only when <paramref name="interactive"/>).</param>
    public JobProgressView(TextWriter output, IReadOnlyList<string> jobIds, bool interactive, Func<TimeSpan>? clock = null, Func<int>? width = null, bool color = false)
    {
        if (jobIds.Count == 0)
        {
            throw new ArgumentException("Give at least one job to watch.", nameof(jobIds));
        }
        _output = output;
        _interactive = interactive;
        _color = interactive && color;
        if (clock is null)
        {
            var started = System.Diagnostics.Stopwatch.StartNew();
            clock = () => started.Elapsed;
        }
        _clock = clock;
        _width = width ?? (() => 120);
        _tracks = jobIds.Distinct().Select(id => new Track(id)).ToList();
    }

    /// <summary>True when <paramref name="output"/> is this process's standard output and that is a terminal (not redirected, TERM not "dumb").</summary>
    public static bool IsTerminal(TextWriter output) =>
        ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected && Environment.GetEnvironmentVariable("TERM") != "dumb";

    /// <summary>A view for <paramref name="output"/>: live on a terminal (in colour unless NO_COLOR is set), plain lines otherwise.</summary>
    public static JobProgressView For(TextWriter output, IReadOnlyList<string> jobIds)
    {
        var interactive = IsTerminal(output);
        return new JobProgressView(output, jobIds, interactive, width: TerminalWidth,
            color: interactive && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NO_COLOR")));
    }

    /// <summary>Takes a job's newest state: prints what changed, redraws the live lines.</summary>
    public void Update(Job job)
    {
        lock (_lock)
        {
            var track = _tracks.Find(t => t.JobId == job.JobId);
            if (track is null)
            {
                track = new Track(job.JobId);
                _tracks.Add(track);
            }
            var now = _clock();
            var events = track.Observe(job, now);
            var prefix = _tracks.Count > 1 ? $"{Short(job.JobId)}: " : "";
            Render(events.Select(e => $"[{Stamp(now)}] {prefix}{e}").ToList());
        }
    }

    /// <summary>Leaves the live lines as they are last drawn; nothing more is redrawn.</summary>
    public void Complete()
    {
        lock (_lock)
        {
            Render([]);
            _frame = [];
            _output.Flush();
        }
    }

    /// <summary>The epochs this view saw complete, for charts when the server sends no history.</summary>
    public IReadOnlyList<EpochSummary> ObservedHistory(string jobId)
    {
        lock (_lock)
        {
            return _tracks.Find(t => t.JobId == jobId)?.History.ToList() ?? [];
        }
    }

    /// <summary>The live line of a job as last drawn, without escapes (for tests and the final summary).</summary>
    public string LiveLine(string jobId)
    {
        lock (_lock)
        {
            var track = _tracks.Find(t => t.JobId == jobId) ?? throw new ArgumentException($"Job {jobId} is not watched.", nameof(jobId));
            return Describe(track, color: false);
        }
    }

    /// <summary>The estimated time left for a job, or null until a time per batch is known.</summary>
    public TimeSpan? Eta(string jobId)
    {
        lock (_lock)
        {
            return _tracks.Find(t => t.JobId == jobId)?.Eta();
        }
    }

    private void Render(List<string> events)
    {
        if (!_interactive)
        {
            foreach (var line in events)
            {
                _output.WriteLine(line);
            }
            return;
        }
        var width = Math.Max(20, _width() - 1);
        var frame = _tracks.Select(t => Fit(Describe(t, _color), width)).ToArray();
        if (events.Count == 0 && frame.SequenceEqual(_frame))
        {
            return;
        }
        var text = new StringBuilder();
        if (_frame.Length > 0)
        {
            // Back to the first live line, and clear from there to the end of the screen.
            text.Append(Esc).Append(_frame.Length.ToString(Inv)).Append("A\r").Append(Esc).Append('J');
        }
        foreach (var line in events)
        {
            text.Append(line).Append('\n');
        }
        foreach (var line in frame)
        {
            text.Append(line).Append('\n');
        }
        _output.Write(text.ToString());
        _output.Flush();
        _frame = frame;
    }

    private static string Describe(Track track, bool color)
    {
        var job = track.Job;
        var id = Short(track.JobId).PadRight(16);
        if (job is null)
        {
            return $"{id} {Paint("connecting", "90", color)}";
        }
        var state = Paint(StateName(job.State).PadRight(9), job.State switch
        {
            JobState.Queued => "33",
            JobState.Running => "36",
            JobState.Succeeded => "32",
            JobState.Failed => "31",
            JobState.Stopped => "35",
            _ => "0",
        }, color);
        var line = new StringBuilder($"{id} {state} ");
        switch (job.State)
        {
            case JobState.Queued:
                line.Append("waiting: ").Append(job.WaitingReason.Length > 0 ? job.WaitingReason : "for a worker");
                if (job.EpochsCompleted > 0)
                {
                    line.Append($"  ({job.EpochsCompleted}/{job.Epochs} epochs done)");
                }
                break;
            case JobState.Running:
                line.Append(Bar(Fraction(job))).Append($" {Fraction(job) * 100,3:F0}%");
                line.Append($"  epoch {Math.Max(job.Epoch, 1)}/{job.Epochs}");
                line.Append(job.Batches > 0 ? $"  batch {job.Batch}/{job.Batches}" : "  batch –");
                line.Append(job.Batch > 0 || job.EpochsCompleted > 0 ? $"  loss {job.TrainLoss.ToString("F4", Inv)}" : "  loss –");
                line.Append(job.EpochsCompleted > 0 ? $"  val {job.ValidationAccuracy.ToString("P2", Inv)}" : "  val –");
                line.Append(job.SamplesPerSecond > 0 ? $"  {job.SamplesPerSecond.ToString("N0", Inv)} samples/s" : "  – samples/s");
                line.Append(job.WorkerId.Length > 0 ? $"  on {job.WorkerId}" : "");
                line.Append(track.Eta() is { } eta ? $"  ETA {Duration(eta)}" : "  ETA –");
                break;
            case JobState.Succeeded:
                line.Append(Bar(1)).Append(" 100%");
                line.Append($"  {job.EpochsCompleted}/{job.Epochs} epochs");
                if (job.TestMetrics is { } m)
                {
                    line.Append($"  test accuracy {m.Accuracy.ToString("P2", Inv)}");
                }
                line.Append(job.ModelId.Length > 0 ? $"  model {job.ModelId}" : "");
                break;
            case JobState.Failed:
                line.Append($"after {job.EpochsCompleted}/{job.Epochs} epochs: {job.Error}");
                break;
            case JobState.Stopped:
                line.Append($"after {job.EpochsCompleted}/{job.Epochs} epochs: {job.StopReason}");
                break;
        }
        if (job.Attempt > 1 && job.State is not (JobState.Failed or JobState.Stopped))
        {
            line.Append("  (").Append(TakeOver(job)).Append(')');
        }
        return line.ToString();
    }

    private static string TakeOver(Job job) =>
        (job.ResumedFromEpoch > 0 ? $"resumed from epoch {job.ResumedFromEpoch}" : "restarted from scratch") +
        (job.WorkerId.Length > 0 ? $" on {job.WorkerId}" : "") + $", attempt {job.Attempt}";

    private static string StateName(JobState state) => state switch
    {
        JobState.Queued => "queued",
        JobState.Running => "running",
        JobState.Succeeded => "succeeded",
        JobState.Failed => "failed",
        JobState.Stopped => "stopped",
        _ => state.ToString(),
    };

    /// <summary>Share of all batches of all epochs done.</summary>
    private static double Fraction(Job job)
    {
        if (job.Epochs <= 0)
        {
            return 0;
        }
        if (job.Batches <= 0 || job.Epoch <= 0)
        {
            return Math.Clamp((double)job.EpochsCompleted / job.Epochs, 0, 1);
        }
        var done = (double)(job.Epoch - 1) * job.Batches + job.Batch;
        return Math.Clamp(done / ((double)job.Epochs * job.Batches), 0, 1);
    }

    private static string Bar(double fraction)
    {
        const int cells = 20;
        var full = (int)Math.Floor(fraction * cells);
        return "[" + new string('#', full) + new string('-', cells - full) + "]";
    }

    private static string Paint(string text, string code, bool color) => color ? $"{Esc}{code}m{text}{Esc}0m" : text;

    /// <summary>Cuts a line to <paramref name="width"/> visible characters, skipping over escape sequences.</summary>
    private static string Fit(string line, int width)
    {
        var text = new StringBuilder();
        var visible = 0;
        for (var i = 0; i < line.Length; i++)
        {
            if (line[i] == '\u001b')
            {
                var end = line.IndexOf('m', i);
                end = end < 0 ? line.Length - 1 : end;
                text.Append(line, i, end - i + 1);
                i = end;
            }
            else if (visible < width)
            {
                text.Append(line[i]);
                visible++;
            }
        }
        return text.ToString();
    }

    /// <summary>A job id short enough for a live line: ids are "dataset-vN-model-hash", and the hash tells jobs apart.</summary>
    public static string Short(string jobId)
    {
        if (jobId.Length <= 16)
        {
            return jobId;
        }
        var last = jobId[(jobId.LastIndexOf('-') + 1)..];
        return last.Length is >= 6 and <= 16 ? last : jobId[..15] + "…";
    }

    private static string Stamp(TimeSpan t) => t.TotalHours >= 1 ? t.ToString(@"h\:mm\:ss", Inv) : t.ToString(@"mm\:ss", Inv);

    private static string Duration(TimeSpan t) => t.TotalHours >= 1 ? t.ToString(@"h\:mm\:ss", Inv) : t.ToString(@"m\:ss", Inv);

    private static int TerminalWidth()
    {
        try
        {
            return Console.WindowWidth > 0 ? Console.WindowWidth : 120;
        }
        catch (IOException)
        {
            return 120;
        }
    }

    /// <summary>One job's newest state, the epochs seen completing, and what the ETA is computed from.</summary>
    private sealed class Track(string jobId)
    {
        private TimeSpan _since;
        private long _sinceBatch = -1;
        private int _attempt;
        private double? _secondsPerBatch;

        public string JobId { get; } = jobId;
        public Job? Job { get; private set; }
        public List<EpochSummary> History { get; } = [];

        /// <summary>Takes the newest state; returns the plain lines it calls for.</summary>
        public List<string> Observe(Job job, TimeSpan now)
        {
            var events = new List<string>();
            var last = Job;
            if (last is not null && job.Attempt > last.Attempt && job.Attempt > 1)
            {
                events.Add("taken over: " + TakeOver(job));
            }
            string? state = null;
            if (last is null || job.State != last.State || (job.State == JobState.Queued && job.WaitingReason != last.WaitingReason))
            {
                state = job.State switch
                {
                    JobState.Queued => job.WaitingReason.Length > 0 ? $"queued: {job.WaitingReason}" : "queued",
                    JobState.Running => $"running on {job.Device}" + (job.WorkerId.Length > 0 ? $" ({job.WorkerId})" : "") +
                        (last is null && job.Attempt > 1 ? $", {TakeOver(job)}" : ""),
                    JobState.Succeeded => "succeeded",
                    JobState.Failed => "failed",
                    JobState.Stopped => $"stopped: {job.StopReason}",
                    _ => job.State.ToString(),
                };
            }
            // A job that starts says so before its first epoch; one that ends, after its last.
            var ended = job.State is JobState.Succeeded or JobState.Failed or JobState.Stopped;
            if (state is not null && !ended)
            {
                events.Add(state);
            }
            if (job.EpochsCompleted > (last?.EpochsCompleted ?? 0))
            {
                events.Add($"epoch {job.EpochsCompleted}/{job.Epochs}: train loss {job.TrainLoss.ToString("F4", Inv)}, validation accuracy {job.ValidationAccuracy.ToString("P2", Inv)}, {job.SamplesPerSecond.ToString("N0", Inv)} samples/s");
                History.RemoveAll(h => h.Epoch >= job.EpochsCompleted);
                History.Add(new EpochSummary
                {
                    Epoch = job.EpochsCompleted,
                    TrainLoss = job.TrainLoss,
                    ValidationAccuracy = job.ValidationAccuracy,
                    SamplesPerSecond = job.SamplesPerSecond,
                });
            }
            if (state is not null && ended)
            {
                events.Add(state);
            }
            Measure(job, now);
            Job = job;
            return events;
        }

        /// <summary>Seconds per batch since this run was first seen running: a take-over or a restarted count starts over.</summary>
        private void Measure(Job job, TimeSpan now)
        {
            if (job.State != JobState.Running || job.Batches <= 0 || job.Epoch <= 0)
            {
                return;
            }
            var batch = (long)(job.Epoch - 1) * job.Batches + job.Batch;
            if (_sinceBatch < 0 || job.Attempt != _attempt || batch < _sinceBatch)
            {
                if (job.Attempt != _attempt)
                {
                    _secondsPerBatch = null;
                }
                (_since, _sinceBatch, _attempt) = (now, batch, job.Attempt);
                return;
            }
            if (batch > _sinceBatch && now > _since)
            {
                _secondsPerBatch = (now - _since).TotalSeconds / (batch - _sinceBatch);
            }
        }

        /// <summary>Batches left in this epoch plus the epochs after it, times the time per batch (observed, else the last epoch's).</summary>
        public TimeSpan? Eta()
        {
            if (Job is not { State: JobState.Running, Batches: > 0 } job)
            {
                return null;
            }
            var perBatch = _secondsPerBatch;
            if (perBatch is null && job.History.Count > 0 && job.History[^1].Seconds > 0)
            {
                perBatch = job.History[^1].Seconds / job.Batches;
            }
            if (perBatch is null)
            {
                return null;
            }
            var epoch = Math.Max(job.Epoch, 1);
            var remaining = Math.Max(0, job.Batches - job.Batch) + (long)Math.Max(0, job.Epochs - epoch) * job.Batches;
            return TimeSpan.FromSeconds(Math.Round(remaining * perBatch.Value));
        }
    }
}
