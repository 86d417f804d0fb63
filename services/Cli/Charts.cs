using System.Globalization;
using BigDataAI.Protos.Training.V1;
using ScottPlot;
using SkiaSharp;

namespace BigDataAI.Cli;

/// <summary>
/// PNG charts of a finished job: its training curves (<c>&lt;job&gt;-curves.png</c>) and its test confusion matrix
/// (<c>&lt;job&gt;-confusion.png</c>). Drawn by ScottPlot on SkiaSharp's Linux native assets without fontconfig, whose
/// font manager reads the font files under /usr/share/fonts itself (Debian: fonts-dejavu-core). Without any there, a
/// .ttf under /usr/local/share/fonts, ~/.local/share/fonts or ~/.fonts is used, or the file BIGDATAAI_CHART_FONT names.
/// </summary>
public static class Charts
{
    public const int CurvesWidth = 900;
    public const int CurvesHeight = 540;
    public const int ConfusionWidth = 720;
    public const int ConfusionHeight = 660;

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Sans-serif families in order of preference; the first one installed draws every text.</summary>
    private static readonly string[] PreferredFonts = ["DejaVu Sans", "Liberation Sans", "Noto Sans", "Arial", "Helvetica", "FreeSans"];

    /// <summary>Where else fonts live on Linux: SkiaSharp without fontconfig reads only /usr/share/fonts.</summary>
    private static readonly string[] MoreFontFolders =
    [
        "/usr/local/share/fonts",
        Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "share", "fonts"),
        Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".fonts"),
    ];

    private static readonly Lazy<string?> Font = new(() =>
    {
        if (Environment.GetEnvironmentVariable("BIGDATAAI_CHART_FONT") is { Length: > 0 } file)
        {
            return Register(file) ?? throw new FileNotFoundException($"BIGDATAAI_CHART_FONT={file} is not a font file SkiaSharp can read.", file);
        }
        // With no font at all, SkiaSharp's font manager still lists one family: an empty one named "".
        var installed = SKFontManager.Default.FontFamilies.Where(f => !string.IsNullOrWhiteSpace(f)).ToHashSet(StringComparer.OrdinalIgnoreCase);
        if ((PreferredFonts.FirstOrDefault(installed.Contains) ?? installed.Order(StringComparer.Ordinal).FirstOrDefault()) is { } family)
        {
            return family;
        }
        return MoreFontFolders.Where(Directory.Exists)
            .SelectMany(folder => Directory.EnumerateFiles(folder, "*.ttf", SearchOption.AllDirectories))
            .OrderBy(path => PreferredFonts.Any(p => Path.GetFileNameWithoutExtension(path).StartsWith(p.Replace(" ", ""), StringComparison.OrdinalIgnoreCase)) ? 0 : 1)
            .Select(Register)
            .FirstOrDefault(name => name is not null);
    });

    /// <summary>The font family charts are drawn with; null when no font was found (then charts have no text).</summary>
    public static string? FontFamily => Font.Value;

    /// <summary>
    /// Writes the charts a finished job has data for: curves when <paramref name="history"/> has an epoch, the confusion
    /// matrix when the job has test metrics. Returns the paths written (none for a job with neither).
    /// </summary>
    public static IReadOnlyList<string> Write(Job job, IReadOnlyList<EpochSummary> history, string directory)
    {
        var written = new List<string>();
        var hasConfusion = job.TestMetrics is { Classes: > 0 } m && m.Confusion.Count == m.Classes * m.Classes;
        if (history.Count == 0 && !hasConfusion)
        {
            return written;
        }
        Directory.CreateDirectory(directory);
        var name = FileName(job.JobId);
        if (history.Count > 0)
        {
            var path = Path.GetFullPath(Path.Combine(directory, $"{name}-curves.png"));
            Curves(job, history).SavePng(path, CurvesWidth, CurvesHeight);
            written.Add(path);
        }
        if (hasConfusion)
        {
            var path = Path.GetFullPath(Path.Combine(directory, $"{name}-confusion.png"));
            Confusion(job).SavePng(path, ConfusionWidth, ConfusionHeight);
            written.Add(path);
        }
        if (job.TestMetrics is { Curves.Count: > 0 })
        {
            var path = Path.GetFullPath(Path.Combine(directory, $"{name}-roc-pr.png"));
            RocPr(job).SavePng(path, CurvesWidth * 2, CurvesHeight);
            written.Add(path);
        }
        if (job.TestMetrics is { Calibration.Rows.Count: > 0 })
        {
            var path = Path.GetFullPath(Path.Combine(directory, $"{name}-calibration.png"));
            Reliability(job).SavePng(path, CurvesWidth, CurvesHeight);
            written.Add(path);
        }
        return written;
    }

    /// <summary>
    /// An explanation as a PNG: a saliency heatmap of the first column with a 2-D shape (an image or a [h, w] tensor), else
    /// a bar per column. Returns the full path written.
    /// </summary>
    public static string WriteExplanation(BigDataAI.Protos.Inference.V1.ExplainReply reply, string path)
    {
        var plot = new Plot();
        var map = reply.Columns.FirstOrDefault(c => c.Shape.Count == 2 && c.Values.Count == c.Shape[0] * c.Shape[1]);
        if (map is not null)
        {
            var (h, w) = (map.Shape[0], map.Shape[1]);
            var cells = new double[h, w];
            for (var r = 0; r < h; r++)
            {
                for (var c = 0; c < w; c++)
                {
                    cells[r, c] = map.Values[r * w + c];
                }
            }
            var heatmap = plot.Add.Heatmap(cells);
            heatmap.Colormap = new ScottPlot.Colormaps.MellowRainbow();
            plot.Add.ColorBar(heatmap);
            plot.HideGrid();
            plot.Title($"{reply.Model}@{reply.ModelVersion}: attributions to {(reply.ClassName.Length > 0 ? reply.ClassName : "the value")} per pixel of {map.Column}");
        }
        else
        {
            var columns = reply.Columns.Reverse().ToList();
            var bars = plot.Add.Bars(columns.Select(c => c.Attribution).ToArray());
            bars.Horizontal = true;
            plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual([.. Enumerable.Range(0, columns.Count).Select(i => (double)i)], [.. columns.Select(c => c.Column)]);
            plot.Axes.Bottom.Label.Text = $"attribution to {(reply.ClassName.Length > 0 ? $"p({reply.ClassName})" : "the value")}";
            plot.Title($"{reply.Model}@{reply.ModelVersion}: p {reply.Output.ToString("F3", Inv)} against {reply.BaselineOutput.ToString("F3", Inv)} at the baseline");
        }
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        Styled(plot).SavePng(full, CurvesWidth, CurvesHeight);
        return full;
    }

    /// <summary>ROC (left) and precision-recall (right) curves of each class against the rest, with their areas in the legend.</summary>
    public static Multiplot RocPr(Job job)
    {
        var m = job.TestMetrics ?? throw new ArgumentException($"Job {job.JobId} has no test metrics.", nameof(job));
        var roc = new Plot();
        var pr = new Plot();
        var legend = m.Curves.Count <= 12;
        foreach (var c in m.Curves.Where(c => c.RocFpr.Count > 0))
        {
            var r = roc.Add.Scatter(c.RocFpr.ToArray(), c.RocTpr.ToArray());
            r.MarkerSize = 0;
            r.LegendText = legend ? $"{c.ClassIndex}: AUC {c.RocAuc.ToString("F3", Inv)}" : "";
            var p = pr.Add.Scatter(c.PrRecall.ToArray(), c.PrPrecision.ToArray());
            p.MarkerSize = 0;
            p.LegendText = legend ? $"{c.ClassIndex}: AP {c.AveragePrecision.ToString("F3", Inv)}" : "";
        }
        var chance = roc.Add.Line(0, 0, 1, 1);
        chance.LinePattern = LinePattern.Dashed;
        chance.Color = Colors.Gray;
        roc.Axes.Bottom.Label.Text = "false-positive rate";
        roc.Axes.Left.Label.Text = "true-positive rate";
        roc.Title($"ROC, macro AUC {m.MacroRocAuc.ToString("F3", Inv)}");
        pr.Axes.Bottom.Label.Text = "recall";
        pr.Axes.Left.Label.Text = "precision";
        pr.Title($"precision-recall, macro AP {m.MacroAveragePrecision.ToString("F3", Inv)}");
        foreach (var plot in new[] { roc, pr })
        {
            plot.Axes.SetLimits(0, 1, 0, 1.02);
            if (legend)
            {
                plot.ShowLegend(Alignment.LowerRight);
            }
            Styled(plot);
        }
        var both = new Multiplot();
        both.RemovePlot(both.GetPlot(0)); // a new Multiplot starts with an empty plot of its own
        both.AddPlot(roc);
        both.AddPlot(pr);
        both.Layout = new ScottPlot.MultiplotLayouts.Columns();
        return both;
    }

    /// <summary>Reliability: each bin's accuracy against its mean confidence (bars show the rows), and the diagonal.</summary>
    public static Plot Reliability(Job job)
    {
        var cal = job.TestMetrics?.Calibration ?? throw new ArgumentException($"Job {job.JobId} has no calibration.", nameof(job));
        var plot = new Plot();
        var bins = cal.Rows.Count;
        var used = Enumerable.Range(0, bins).Where(b => cal.Rows[b] > 0).ToArray();
        var points = plot.Add.Scatter(used.Select(b => cal.Confidence[b]).ToArray(), used.Select(b => cal.Accuracy[b]).ToArray());
        points.LegendText = "accuracy per confidence bin";
        points.LineWidth = 2;
        points.MarkerSize = 7;
        var ideal = plot.Add.Line(0, 0, 1, 1);
        ideal.LinePattern = LinePattern.Dashed;
        ideal.Color = Colors.Gray;
        ideal.LegendText = "perfectly calibrated";
        plot.Axes.SetLimits(0, 1, 0, 1.02);
        plot.Axes.Bottom.Label.Text = "mean top-class probability";
        plot.Axes.Left.Label.Text = "accuracy";
        plot.Title($"{job.JobId}: calibration, ECE {cal.ExpectedCalibrationError.ToString("F4", Inv)}");
        plot.ShowLegend(Alignment.UpperLeft);
        return Styled(plot);
    }

    /// <summary>
    /// The epochs to draw curves of: the job's own history; from a server that sends none, the epochs a watch saw
    /// complete, if they are all of them or at least two (one late-seen epoch of many is no curve).
    /// </summary>
    public static IReadOnlyList<EpochSummary> HistoryFor(Job job, IReadOnlyList<EpochSummary> observed) =>
        job.History.Count > 0 ? job.History
        : observed.Count >= Math.Min(2, Math.Max(1, job.EpochsCompleted)) ? observed
        : [];

    /// <summary>Train loss (left axis) and validation accuracy in percent (right axis) per completed epoch.</summary>
    public static Plot Curves(Job job, IReadOnlyList<EpochSummary> history)
    {
        var plot = new Plot();
        var epochs = history.Select(h => (double)h.Epoch).ToArray();
        var loss = plot.Add.Scatter(epochs, history.Select(h => h.TrainLoss).ToArray());
        loss.LegendText = "train loss";
        loss.LineWidth = 2;
        loss.MarkerSize = 6;
        var accuracy = plot.Add.Scatter(epochs, history.Select(h => h.ValidationAccuracy * 100).ToArray());
        accuracy.LegendText = "validation accuracy (%)";
        accuracy.LineWidth = 2;
        accuracy.MarkerSize = 6;
        accuracy.Axes.YAxis = plot.Axes.Right;

        plot.Axes.Bottom.Label.Text = "epoch";
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
        plot.Axes.Left.Label.Text = "train loss";
        plot.Axes.Left.Label.ForeColor = loss.Color;
        plot.Axes.Right.Label.Text = "validation accuracy (%)";
        plot.Axes.Right.Label.ForeColor = accuracy.Color;
        if (history.Count == 1)
        {
            // One point has no extent: give the epoch axis one on each side so the point sits in the middle.
            plot.Axes.SetLimitsX(epochs[0] - 1, epochs[0] + 1);
        }
        plot.Title($"{job.JobId}: {Describe(job)}");
        plot.ShowLegend(Edge.Bottom);
        return Styled(plot);
    }

    /// <summary>Test confusion matrix: rows are the actual class (0 at the top), columns the predicted one, counts in the cells.</summary>
    public static Plot Confusion(Job job)
    {
        var m = job.TestMetrics ?? throw new ArgumentException($"Job {job.JobId} has no test metrics.", nameof(job));
        var n = m.Classes;
        if (n <= 0 || m.Confusion.Count != n * n)
        {
            throw new ArgumentException($"Job {job.JobId}: the confusion matrix has {m.Confusion.Count} cells, not {n}x{n}.", nameof(job));
        }
        var plot = new Plot();
        var counts = new double[n, n];
        var max = 1.0;
        for (var a = 0; a < n; a++)
        {
            for (var p = 0; p < n; p++)
            {
                counts[a, p] = m.Confusion[a * n + p];
                max = Math.Max(max, counts[a, p]);
            }
        }
        // The heatmap draws row 0 at the top, cell (row r, column c) centred on (c, n - 1 - r).
        var heatmap = plot.Add.Heatmap(counts);
        heatmap.Colormap = new ScottPlot.Colormaps.Blues().Reversed();
        var fontSize = n <= 12 ? 14 : n <= 25 ? 10 : 0;
        for (var a = 0; a < n && fontSize > 0; a++)
        {
            for (var p = 0; p < n; p++)
            {
                var text = plot.Add.Text(m.Confusion[a * n + p].ToString(Inv), p, n - 1 - a);
                text.LabelAlignment = Alignment.MiddleCenter;
                text.LabelFontSize = fontSize;
                text.LabelFontColor = counts[a, p] / max > 0.5 ? Colors.White : Colors.Black;
            }
        }
        plot.Add.ColorBar(heatmap);

        var positions = Enumerable.Range(0, n).Select(i => (double)i).ToArray();
        var labels = Enumerable.Range(0, n).Select(i => i.ToString(Inv)).ToArray();
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(positions, labels);
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(positions.Select(i => n - 1 - i).ToArray(), labels);
        plot.Axes.Bottom.Label.Text = "predicted";
        plot.Axes.Left.Label.Text = "actual";
        plot.Axes.SetLimits(-0.5, n - 0.5, -0.5, n - 0.5);
        plot.HideGrid();
        plot.Title($"{job.JobId}: test accuracy {m.Accuracy.ToString("P2", Inv)} on {m.Samples.ToString("N0", Inv)} samples");
        return Styled(plot);
    }

    /// <summary>A job id as a file name: ids are [a-z0-9-] today, but a path separator must never slip through.</summary>
    public static string FileName(string jobId)
    {
        var invalid = Path.GetInvalidFileNameChars();
        return string.Concat(jobId.Select(c => invalid.Contains(c) ? '_' : c));
    }

    private static string Describe(Job job) =>
        $"{(job.Model.Length > 0 ? job.Model : "model")} on {job.Dataset} v{job.Version}" +
        (job.State == JobState.Failed ? " (failed)" : "");

    /// <summary>Makes a font file's family known to ScottPlot; null when SkiaSharp cannot read the file.</summary>
    private static string? Register(string path)
    {
        using var typeface = File.Exists(path) ? SKTypeface.FromFile(path) : null;
        if (typeface is null || string.IsNullOrWhiteSpace(typeface.FamilyName))
        {
            return null;
        }
        Fonts.AddFontFile(typeface.FamilyName, path);
        return typeface.FamilyName;
    }

    private static Plot Styled(Plot plot)
    {
        if (FontFamily is { } family)
        {
            plot.Font.Set(family);
        }
        return plot;
    }
}
