using System.CommandLine;
using System.Globalization;
using BigDataAI.Protos.Quality.V1;
using Grpc.Net.Client;
using ScottPlot;

namespace BigDataAI.Cli;

/// <summary>
/// <c>bigdataai clean</c> (a recipe of cleaning steps into a derived version) and <c>bigdataai drift</c> (how one version
/// differs from another, as a table and a PNG chart), over DataQualityService.
/// </summary>
public static class QualityCommands
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public const string StepSyntax =
        "dedupe | near:COLUMN[:drop|merge][:THRESHOLD (text Jaccard, 0-1) or BITS (images, 1-16)] | dropna:COLUMN | "
        + "impute:COLUMN:mean|median|mode|constant=VALUE | clip:COLUMN:iqr[:FACTOR] | clip:COLUMN:quantile[:LOW:HIGH] | "
        + "normalize[:COLUMN,COLUMN] | pii[:COLUMN,COLUMN][:mask|hash] (hash needs --pii-key or BIGDATAAI_PII_KEY)";

    /// <summary>The two commands, given the options every command shares and how to open the ingestion channel.</summary>
    public static IEnumerable<Command> Create(Option<string> dataset, Option<int> version, Func<ParseResult, GrpcChannel> ingestion, Func<Func<Task<int>>, Task<int>> run, params Option[] connection)
    {
        var steps = new Option<string[]>("--step") { Description = "A cleaning step, in order; repeat: " + StepSyntax, Required = true, AllowMultipleArgumentsPerToken = false };
        var piiKey = new Option<string?>("--pii-key") { Description = "Key of the keyed hash for pii:...:hash (at least 16 characters; default: BIGDATAAI_PII_KEY)" };
        var clean = new Command("clean", "Clean a dataset version into a new, derived version (steps run in order; the lineage records them)") { dataset, version, steps, piiKey };
        foreach (var option in connection)
        {
            clean.Options.Add(option);
        }
        clean.SetAction((r, ct) => run(async () =>
        {
            var key = r.GetValue(piiKey) ?? Environment.GetEnvironmentVariable("BIGDATAAI_PII_KEY") ?? "";
            var request = new CleanDatasetRequest { Dataset = r.GetValue(dataset)!, Version = r.GetValue(version) };
            request.Steps.AddRange(r.GetValue(steps)!.Select(s => ParseStep(s, key)));
            var reply = await new DataQualityService.DataQualityServiceClient(ingestion(r)).CleanDatasetAsync(request, cancellationToken: ct);
            Console.Out.Write(Describe(reply));
            return 0;
        }));

        var from = new Option<int>("--from") { Description = "The reference version (0 = newest)", Required = true };
        var to = new Option<int>("--to") { Description = "The version compared with it (0 = newest)", Required = true };
        var toDataset = new Option<string?>("--to-dataset") { Description = "The dataset of --to, when not --dataset (same columns needed)" };
        var chart = new Option<string?>("--chart") { Description = "Write a PNG chart: each column's drift score over its threshold" };
        var seed = new Option<long>("--seed") { Description = "Seed of the samples (0 = 1)" };
        var drift = new Command("drift", "Show how one version differs from another, column by column (PSI and KS, chi-square and JS, embedding distances)") { dataset, from, to, toDataset, chart, seed };
        foreach (var option in connection)
        {
            drift.Options.Add(option);
        }
        drift.SetAction((r, ct) => run(async () =>
        {
            var reply = await new DataQualityService.DataQualityServiceClient(ingestion(r)).GetDriftAsync(new GetDriftRequest
            {
                Dataset = r.GetValue(dataset)!,
                FromVersion = r.GetValue(from),
                ToDataset = r.GetValue(toDataset) ?? "",
                ToVersion = r.GetValue(to),
                Seed = r.GetValue(seed),
            }, cancellationToken: ct);
            Console.Out.Write(Describe(reply));
            if (r.GetValue(chart) is { } path)
            {
                DriftChart(reply).SavePng(Path.GetFullPath(path), 900, 500);
                Console.Out.WriteLine($"Chart: {Path.GetFullPath(path)}");
            }
            return reply.Drifted ? 1 : 0;
        }));
        return [clean, drift];
    }

    /// <summary>One <c>--step</c> as a request step (see <see cref="StepSyntax"/>).</summary>
    public static CleaningStep ParseStep(string text, string piiKey = "")
    {
        var parts = text.Split(':');
        string Part(int i) => i < parts.Length ? parts[i] : "";
        string Column() => Part(1).Length > 0 ? Part(1) : throw new ArgumentException($"--step {text}: name the column ({parts[0]}:COLUMN...).");
        IEnumerable<string> Columns() => Part(1).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        double Number(int i, double fallback) => Part(i).Length == 0 ? fallback
            : double.TryParse(Part(i), NumberStyles.Float, Inv, out var v) ? v : throw new ArgumentException($"--step {text}: '{Part(i)}' is not a number.");
        switch (parts[0])
        {
            case "dedupe":
                return new CleaningStep { DropDuplicates = new DropDuplicates() };
            case "near":
                var near = new NearDuplicates { Column = Column(), Action = Part(2) == "merge" ? NearDuplicateAction.Merge : NearDuplicateAction.Drop };
                if (Part(2) is not ("" or "drop" or "merge"))
                {
                    throw new ArgumentException($"--step {text}: the action is drop or merge, not '{Part(2)}'.");
                }
                var limit = Number(3, 0);
                if (limit >= 1 && limit == Math.Floor(limit))
                {
                    near.ImageMaxDistance = (int)limit;
                }
                else
                {
                    near.TextThreshold = limit;
                }
                return new CleaningStep { NearDuplicates = near };
            case "dropna":
                return new CleaningStep { MissingValues = new MissingValues { Column = Column(), Action = MissingAction.DropRow } };
            case "impute":
                var how = parts.Length > 2 ? string.Join(':', parts[2..]) : "";
                var missing = new MissingValues { Column = Column() };
                if (how.StartsWith("constant=", StringComparison.Ordinal))
                {
                    (missing.Action, missing.Constant) = (MissingAction.Constant, how["constant=".Length..]);
                }
                else
                {
                    missing.Action = how switch
                    {
                        "mean" => MissingAction.Mean,
                        "median" => MissingAction.Median,
                        "mode" => MissingAction.Mode,
                        _ => throw new ArgumentException($"--step {text}: impute with mean, median, mode or constant=VALUE."),
                    };
                }
                return new CleaningStep { MissingValues = missing };
            case "clip":
                var clip = new ClipOutliers { Column = Column() };
                switch (Part(2))
                {
                    case "iqr":
                        (clip.Method, clip.IqrFactor) = (ClipMethod.Iqr, Number(3, 0));
                        break;
                    case "quantile":
                        (clip.Method, clip.LowerQuantile, clip.UpperQuantile) = (ClipMethod.Quantile, Number(3, 0), Number(4, 0));
                        break;
                    default:
                        throw new ArgumentException($"--step {text}: clip by iqr or quantile.");
                }
                return new CleaningStep { ClipOutliers = clip };
            case "normalize":
                var normalize = new NormalizeText();
                normalize.Columns.AddRange(Columns());
                return new CleaningStep { NormalizeText = normalize };
            case "pii":
                var pii = new ScrubPii();
                pii.Columns.AddRange(Columns());
                pii.Action = Part(2) switch
                {
                    "" or "mask" => PiiAction.Mask,
                    "hash" => PiiAction.Hash,
                    _ => throw new ArgumentException($"--step {text}: pii masks or hashes, not '{Part(2)}'."),
                };
                if (pii.Action == PiiAction.Hash)
                {
                    pii.HashKey = piiKey;
                }
                return new CleaningStep { ScrubPii = pii };
            default:
                throw new ArgumentException($"--step {text}: unknown step '{parts[0]}'; use {StepSyntax}.");
        }
    }

    public static string Describe(CleanDatasetReply reply)
    {
        var text = new System.Text.StringBuilder();
        text.AppendLine(Inv, $"{reply.Dataset} v{reply.Version} {(reply.Existing ? "(made before) " : "")}from v{reply.ParentVersion}: {reply.Rows} of {reply.ParentRows} rows");
        text.AppendLine(Inv, $"{"#",-3}{"step",-17}{"rows in",10}{"dropped",10}{"cells",10}  found");
        foreach (var s in reply.Steps)
        {
            var found = string.Join(", ", s.Found.OrderBy(f => f.Key, StringComparer.Ordinal).Select(f => $"{f.Key} {f.Value}")
                .Concat(s.Bounds.Count > 0 ? [$"bounds [{string.Join(", ", s.Bounds.Select(b => b.ToString("G6", Inv)))}]"] : []));
            text.AppendLine(Inv, $"{s.Index,-3}{s.Step,-17}{s.RowsIn,10}{s.RowsDropped,10}{s.CellsChanged,10}  {found}");
        }
        return text.ToString();
    }

    public static string Describe(GetDriftReply reply)
    {
        var text = new System.Text.StringBuilder();
        text.AppendLine(Inv, $"Drift from {reply.FromDataset} v{reply.FromVersion} ({reply.FromRows} rows) to {reply.ToDataset} v{reply.ToVersion} ({reply.ToRows} rows): {(reply.Drifted ? "DRIFTED" : "no drift")}");
        text.AppendLine(Inv, $"{"column",-20}{"kind",-12}{"score",9}{"limit",8}  {"drift",-6} detail");
        foreach (var c in reply.Columns.Concat(reply.ClassBalance is null ? [] : [reply.ClassBalance]))
        {
            var name = c == reply.ClassBalance ? $"{c.Column} (classes)" : c.Column;
            text.AppendLine(Inv, $"{name,-20}{c.Kind,-12}{c.Score,9:0.####}{c.Threshold,8:0.###}  {(c.Drifted ? "yes" : "no"),-6} {c.Reason}");
        }
        return text.ToString();
    }

    /// <summary>One bar per column: its score over its threshold (1 = the threshold), drifted columns in red.</summary>
    public static Plot DriftChart(GetDriftReply reply)
    {
        var plot = new Plot();
        if (Charts.FontFamily is { } family)
        {
            plot.Font.Set(family);
        }
        var columns = reply.Columns.Concat(reply.ClassBalance is null ? [] : [reply.ClassBalance]).ToList();
        var bars = columns.Select((c, i) => new Bar
        {
            Position = i,
            Value = c.Threshold > 0 ? c.Score / c.Threshold : 0,
            FillColor = c.Drifted ? Colors.Red : Colors.Blue,
        }).ToList();
        plot.Add.Bars(bars);
        var line = plot.Add.HorizontalLine(1);
        line.LinePattern = LinePattern.Dashed;
        line.Color = Colors.Black;
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            [.. Enumerable.Range(0, columns.Count).Select(i => (double)i)],
            [.. columns.Select(c => c == reply.ClassBalance ? $"{c.Column} (classes)" : c.Column)]);
        plot.Axes.Left.Label.Text = "score / threshold";
        plot.Axes.Margins(bottom: 0);
        plot.Title($"Drift {reply.FromDataset} v{reply.FromVersion} -> {reply.ToDataset} v{reply.ToVersion}");
        return plot;
    }
}
