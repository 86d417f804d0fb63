using System.Diagnostics;
using System.Globalization;
using BigDataAI.Protos.Training.V1;
using Grpc.Core;

namespace BigDataAI.Cli;

/// <summary><c>bigdataai sweep</c>: starts a sweep and shows its trials live (a line per change), then the table and the best.</summary>
public static class SweepView
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public const string ParamSyntax = "NAME=MIN:MAX[:log][:POINTS] (a range; POINTS: values in a grid) or NAME=A,B,C (choices)";

    /// <summary>A --param: <see cref="ParamSyntax"/>; ArgumentException naming it otherwise.</summary>
    public static SearchParameter ParseParam(string text)
    {
        var eq = text.IndexOf('=');
        if (eq <= 0 || eq == text.Length - 1)
        {
            throw new ArgumentException($"--param '{text}': write {ParamSyntax}.");
        }
        var parameter = new SearchParameter { Name = text[..eq].Trim() };
        var value = text[(eq + 1)..];
        if (!value.Contains(':'))
        {
            parameter.Choices.AddRange(value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));
            return parameter;
        }
        var parts = value.Split(':', StringSplitOptions.TrimEntries);
        if (parts.Length < 2 || !double.TryParse(parts[0], NumberStyles.Float, Inv, out var min) || !double.TryParse(parts[1], NumberStyles.Float, Inv, out var max))
        {
            throw new ArgumentException($"--param '{text}': a range is MIN:MAX with numbers, e.g. learning_rate=1e-4:1e-2:log.");
        }
        (parameter.Min, parameter.Max) = (min, max);
        foreach (var extra in parts.Skip(2))
        {
            if (extra == "log")
            {
                parameter.LogScale = true;
            }
            else if (int.TryParse(extra, NumberStyles.None, Inv, out var points))
            {
                parameter.GridPoints = points;
            }
            else
            {
                throw new ArgumentException($"--param '{text}': '{extra}' is neither 'log' nor a number of grid points.");
            }
        }
        return parameter;
    }

    /// <summary>Starts the sweep, follows it to its end and prints the outcome. Exit code 0 when it succeeded.</summary>
    public static async Task<int> RunAsync(TrainingService.TrainingServiceClient client, StartSweepRequest request, TextWriter output, CancellationToken cancellationToken)
    {
        var started = await client.StartSweepAsync(request, cancellationToken: cancellationToken);
        output.WriteLine($"Sweep {started.SweepId}: {started.Strategy}, {started.Trials.Count} trials" +
            (started.Strategy == "asha" ? $", rungs from {started.MinEpochs} epoch(s), reduction factor {started.ReductionFactor}" : ""));
        var clock = Stopwatch.StartNew();
        var seen = new Dictionary<int, string>();
        var last = started;
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                using var watch = client.WatchSweep(new GetSweepRequest { SweepId = started.SweepId }, cancellationToken: cancellationToken);
                await foreach (var sweep in watch.ResponseStream.ReadAllAsync(cancellationToken))
                {
                    last = sweep;
                    foreach (var line in Changes(sweep, seen))
                    {
                        output.WriteLine($"[{clock.Elapsed:mm\\:ss}] {line}");
                    }
                }
                break;
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable && attempt < 30)
            {
                // The control plane restarted: the sweep goes on there; follow it again.
                await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
            }
        }
        output.Write(Describe(last));
        return last.State == JobState.Succeeded ? 0 : 1;
    }

    /// <summary>A line for each trial whose state, epochs or rungs changed since <paramref name="seen"/>.</summary>
    public static IEnumerable<string> Changes(Sweep sweep, Dictionary<int, string> seen)
    {
        foreach (var t in sweep.Trials)
        {
            var now = $"{t.State}|{t.EpochsCompleted}|{t.RungsPassed.Count}";
            if (seen.TryGetValue(t.Index, out var before) && before == now)
            {
                continue;
            }
            seen[t.Index] = now;
            var what = t.State switch
            {
                JobState.Queued => "queued",
                JobState.Running when t.EpochsCompleted == 0 => "running",
                JobState.Running => $"epoch {t.EpochsCompleted}, validation {t.ValidationScore.ToString("F4", Inv)}" + (t.RungsPassed.Count > 0 ? $", passed rung {t.RungsPassed[^1]}" : ""),
                JobState.Succeeded => $"succeeded after {t.EpochsCompleted} epochs: validation {t.ValidationScore.ToString("F4", Inv)}, test {t.TestScore.ToString("F4", Inv)}",
                JobState.Stopped => $"stopped after {t.EpochsCompleted} epochs: {t.StopReason}",
                JobState.Failed => $"failed: {t.StopReason}",
                _ => t.State.ToString(),
            };
            yield return $"trial {t.Index} ({Values(t)}): {what}";
        }
    }

    public static string Describe(Sweep sweep)
    {
        var rows = sweep.Trials.OrderByDescending(t => t.State == JobState.Succeeded).ThenByDescending(t => t.ValidationScore).Select(t => new[]
        {
            (t.Index == sweep.BestTrial ? "* " : "  ") + t.Index.ToString(Inv), Values(t), t.State.ToString().ToLowerInvariant(), t.EpochsCompleted.ToString(Inv),
            t.ValidationScore.ToString("F4", Inv), t.State == JobState.Succeeded ? t.TestScore.ToString("F4", Inv) : "", t.ModelId,
        }).ToList();
        var header = new[] { "  trial", "values", "state", "epochs", "validation", "test", "model" };
        var all = rows.Prepend(header).ToList();
        var widths = Enumerable.Range(0, header.Length).Select(c => all.Max(r => r[c].Length)).ToArray();
        var text = new System.Text.StringBuilder();
        foreach (var row in all)
        {
            text.AppendLine(string.Join("  ", row.Select((cell, c) => cell.PadRight(widths[c]))).TrimEnd());
        }
        if (sweep.State == JobState.Succeeded)
        {
            var best = sweep.Trials.Single(t => t.Index == sweep.BestTrial);
            text.AppendLine($"Best: trial {best.Index} ({Values(best)}), validation {best.ValidationScore.ToString("F4", Inv)}, test {best.TestScore.ToString("F4", Inv)}, model {sweep.BestModelId} (tagged sweep-best=true)");
        }
        else
        {
            text.AppendLine($"Sweep {sweep.State.ToString().ToLowerInvariant()}: {sweep.Error}");
        }
        return text.ToString();
    }

    private static string Values(Trial t) => string.Join(" ", t.Parameters.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value}"));
}
