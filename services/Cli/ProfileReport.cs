using System.Globalization;
using System.Net;
using System.Text;
using BigDataAI.Protos.Quality.V1;
using Grpc.Net.Client;
using ScottPlot;
using P = BigDataAI.Protos.Quality.V1;

namespace BigDataAI.Cli;

/// <summary>
/// <c>bigdataai profile</c>: a version's profile (GetProfile) as a table in the terminal and, with <c>--html</c>, a
/// self-contained HTML page with PNG charts embedded (a histogram per numeric column, the class balance).
/// </summary>
public static class ProfileReport
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static async Task<GetProfileReply> RunAsync(GrpcChannel ingestion, string dataset, int version, string? html, TextWriter output, CancellationToken ct)
    {
        var client = new DataQualityService.DataQualityServiceClient(ingestion);
        var profile = await client.GetProfileAsync(new GetProfileRequest { Dataset = dataset, Version = version }, cancellationToken: ct);
        Print(profile, output);
        if (html is not null)
        {
            var path = Path.GetFullPath(html);
            if (Path.GetDirectoryName(path) is { Length: > 0 } folder)
            {
                Directory.CreateDirectory(folder);
            }
            await File.WriteAllTextAsync(path, Html(profile), ct);
            output.WriteLine($"Report: {path}");
        }
        return profile;
    }

    public static void Print(GetProfileReply p, TextWriter output)
    {
        output.WriteLine($"{p.Dataset} v{p.Version}: {p.Rows.ToString("N0", Inv)} rows, {p.Columns.Count} columns{(p.Parts > 1 ? $", profiled in {p.Parts} parts" : "")}{(p.ComputedNow ? " (computed now)" : "")}");
        string[] header = ["column", "type", "count", "nulls", "distinct", "measure", "min", "mean", "max", "stddev", "median", "outliers", "top value"];
        var rows = p.Columns.Select(c => new[]
        {
            c.Name,
            c.Type,
            c.Count.ToString("N0", Inv),
            c.Nulls.ToString("N0", Inv),
            c.Distinct < 0 ? "-" : "~" + c.Distinct.ToString("N0", Inv),
            c.Values?.Measure ?? "-",
            Number(c.Values?.Min),
            Number(c.Values?.Mean),
            Number(c.Values?.Max),
            Number(c.Values?.Stddev),
            Number(c.Values?.Quantiles.FirstOrDefault(q => q.Q == 0.5)?.Value),
            c.Outliers is { } o ? o.Count.ToString("N0", Inv) : "-",
            c.TopValues.Count > 0 ? $"{Shorten(c.TopValues[0].Value, 24)} ({(c.TopValuesExact ? "" : ">=")}{c.TopValues[0].Count.ToString("N0", Inv)})" : "-",
        }).ToList();
        WriteTable(output, header, rows);
        if (p.ClassBalance is { } balance)
        {
            output.WriteLine($"Classes of '{balance.Column}': " + string.Join(", ", balance.Classes.Select(c => $"{c.Class} {c.Count.ToString("N0", Inv)} ({c.Fraction.ToString("P1", Inv)})"))
                + (balance.Unlabeled > 0 ? $"; {balance.Unlabeled.ToString("N0", Inv)} unlabeled" : "")
                + $"; largest/smallest {balance.ImbalanceRatio.ToString("F2", Inv)}");
        }
        output.WriteLine(p.Duplicates.DuplicateRows == 0
            ? "Exact duplicate rows: none"
            : $"Exact duplicate rows: {p.Duplicates.DuplicateRows.ToString("N0", Inv)} in {p.Duplicates.Groups.ToString("N0", Inv)} groups, e.g. rows " + string.Join("; ", p.Duplicates.Examples.Take(3).Select(g => string.Join(", ", g.Rows))));
        foreach (var n in p.NearDuplicates)
        {
            output.WriteLine($"Near-duplicates in '{n.Column}' ({n.Method}, threshold {Number(n.Threshold)}): {n.Pairs.ToString("N0", Inv)} pairs among {n.RowsSearched.ToString("N0", Inv)} rows"
                + (n.Examples.Count > 0 ? ", e.g. rows " + string.Join("; ", n.Examples.Take(3).Select(g => string.Join(" ~ ", g.Rows))) : ""));
        }
        foreach (var c in p.Columns.Where(c => c.Outliers is { Count: > 0 }))
        {
            output.WriteLine($"Outliers in '{c.Name}': {c.Outliers.Count.ToString("N0", Inv)} outside [{Number(c.Outliers.Lower)}, {Number(c.Outliers.Upper)}], e.g. rows {string.Join(", ", c.Outliers.ExampleRows)}");
        }
        foreach (var h in p.Leakage.Where(h => h.Suspicious))
        {
            output.WriteLine($"Possible leakage: '{h.Column}' alone predicts the label with accuracy {h.Accuracy.ToString("P1", Inv)} (majority class {h.Baseline.ToString("P1", Inv)}; {h.Method}: {h.Detail})");
        }
    }

    public static string Html(GetProfileReply p)
    {
        var html = new StringBuilder();
        html.Append(CultureInfo.InvariantCulture, $"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Profile of {E(p.Dataset)} v{p.Version}</title>")
            .Append("<style>body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f4f4f4}td:first-child{text-align:left}.warn{color:#a40}section{margin:2em 0}</style></head><body>")
            .Append(CultureInfo.InvariantCulture, $"<h1>{E(p.Dataset)} v{p.Version}</h1><p>{p.Rows.ToString("N0", Inv)} rows, {p.Columns.Count} columns; exact duplicate rows: {p.Duplicates.DuplicateRows.ToString("N0", Inv)}.</p>")
            .Append("<table><tr><th>column</th><th>type</th><th>role</th><th>count</th><th>nulls</th><th>distinct (approx.)</th><th>measure</th><th>min</th><th>mean</th><th>max</th><th>stddev</th><th>p1</th><th>p25</th><th>p50</th><th>p75</th><th>p99</th><th>outliers</th></tr>");
        foreach (var c in p.Columns)
        {
            string Q(double q) => Number(c.Values?.Quantiles.FirstOrDefault(x => x.Q == q)?.Value);
            html.Append(CultureInfo.InvariantCulture, $"<tr><td>{E(c.Name)}</td><td>{E(c.Type)}</td><td>{E(c.Role)}</td><td>{c.Count:N0}</td><td>{c.Nulls:N0}</td><td>{(c.Distinct < 0 ? "-" : c.Distinct.ToString("N0", Inv))}</td><td>{E(c.Values?.Measure ?? "-")}</td>")
                .Append(CultureInfo.InvariantCulture, $"<td>{Number(c.Values?.Min)}</td><td>{Number(c.Values?.Mean)}</td><td>{Number(c.Values?.Max)}</td><td>{Number(c.Values?.Stddev)}</td>")
                .Append(CultureInfo.InvariantCulture, $"<td>{Q(0.01)}</td><td>{Q(0.25)}</td><td>{Q(0.5)}</td><td>{Q(0.75)}</td><td>{Q(0.99)}</td><td>{(c.Outliers is { } o ? o.Count.ToString("N0", Inv) : "-")}</td></tr>");
        }
        html.Append("</table>");
        if (p.ClassBalance is { Classes.Count: > 0 } balance)
        {
            html.Append(CultureInfo.InvariantCulture, $"<section><h2>Class balance of '{E(balance.Column)}'</h2>")
                .Append(Bars(balance.Classes.Select(c => c.Class).ToArray(), balance.Classes.Select(c => (double)c.Count).ToArray(), $"rows per class ({balance.Unlabeled:N0} unlabeled)"))
                .Append("</section>");
        }
        foreach (var c in p.Columns.Where(c => c.Values is { Histogram.Count: > 0 }))
        {
            html.Append(CultureInfo.InvariantCulture, $"<section><h2>{E(c.Name)}: {E(c.Values.Measure)}</h2>").Append(Histogram(c)).Append("</section>");
            if (c.TopValues.Count > 0)
            {
                html.Append("<table><tr><th>top value</th><th>count</th></tr>");
                foreach (var t in c.TopValues)
                {
                    html.Append(CultureInfo.InvariantCulture, $"<tr><td>{E(Shorten(t.Value, 80))}</td><td>{(c.TopValuesExact ? "" : "&ge; ")}{t.Count:N0}</td></tr>");
                }
                html.Append("</table>");
            }
        }
        if (p.Leakage.Count > 0)
        {
            html.Append("<section><h2>Leakage hints</h2><table><tr><th>column</th><th>method</th><th>accuracy alone</th><th>majority class</th><th>detail</th></tr>");
            foreach (var h in p.Leakage)
            {
                html.Append(CultureInfo.InvariantCulture, $"<tr{(h.Suspicious ? " class=\"warn\"" : "")}><td>{E(h.Column)}</td><td>{E(h.Method)}</td><td>{h.Accuracy.ToString("P1", Inv)}</td><td>{h.Baseline.ToString("P1", Inv)}</td><td>{E(h.Detail)}</td></tr>");
            }
            html.Append("</table></section>");
        }
        foreach (var n in p.NearDuplicates)
        {
            html.Append(CultureInfo.InvariantCulture, $"<section><h2>Near-duplicates in '{E(n.Column)}'</h2><p>{E(n.Method)} at {Number(n.Threshold)}: {n.Pairs:N0} pairs among {n.RowsSearched:N0} rows. ")
                .Append(E(string.Join("; ", n.Examples.Select(g => string.Join(" ~ ", g.Rows))))).Append("</p></section>");
        }
        if (p.Duplicates.Examples.Count > 0)
        {
            html.Append("<section><h2>Duplicate rows (examples)</h2><ul>");
            foreach (var g in p.Duplicates.Examples)
            {
                html.Append("<li>rows ").Append(E(string.Join(", ", g.Rows))).Append("</li>");
            }
            html.Append("</ul></section>");
        }
        return html.Append("</body></html>").ToString();
    }

    /// <summary>The column's histogram as an embedded PNG.</summary>
    public static string Histogram(P.ColumnProfile c)
    {
        var plot = new Plot();
        var bins = c.Values.Histogram;
        var bars = bins.Select(b => new Bar { Position = (b.Lower + b.Upper) / 2, Value = b.Count, Size = Math.Max(b.Upper - b.Lower, 1e-12) * 0.95 }).ToList();
        plot.Add.Bars(bars);
        plot.Axes.Bottom.Label.Text = $"{c.Name} ({c.Values.Measure})";
        plot.Axes.Left.Label.Text = c.Values.Measure == "element" ? "elements" : "rows";
        plot.Axes.Margins(bottom: 0);
        plot.Title($"{c.Name}: {c.Values.Count.ToString("N0", Inv)} values, mean {Number(c.Values.Mean)}");
        return Png(plot);
    }

    private static string Bars(string[] names, double[] values, string title)
    {
        var plot = new Plot();
        plot.Add.Bars(values.Select((v, i) => new Bar { Position = i, Value = v }).ToList());
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual([.. Enumerable.Range(0, names.Length).Select(i => (double)i)], names);
        plot.Axes.Margins(bottom: 0);
        plot.Title(title);
        return Png(plot);
    }

    private static string Png(Plot plot)
    {
        if (Charts.FontFamily is { } family)
        {
            plot.Font.Set(family);
        }
        return plot.GetPngHtml(720, 360);
    }

    private static void WriteTable(TextWriter output, string[] header, List<string[]> rows)
    {
        var widths = header.Select((h, i) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length))).ToArray();
        output.WriteLine(string.Join("  ", header.Select((h, i) => h.PadRight(widths[i]))).TrimEnd());
        output.WriteLine(string.Join("  ", widths.Select(w => new string('-', w))));
        foreach (var row in rows)
        {
            // Names and text left, numbers right.
            output.WriteLine(string.Join("  ", row.Select((cell, i) => i is 0 or 1 or 5 or 12 ? cell.PadRight(widths[i]) : cell.PadLeft(widths[i]))).TrimEnd());
        }
    }

    private static string Number(double? value) => value switch
    {
        null => "-",
        { } v when double.IsNaN(v) => "-",
        { } v when Math.Abs(v) >= 1e6 || (v != 0 && Math.Abs(v) < 1e-3) => v.ToString("G4", Inv),
        { } v => Math.Round(v, 3).ToString("0.###", Inv),
    };

    private static string Shorten(string text, int length) => text.Length <= length ? text : text[..(length - 1)] + "…";

    private static string E(string text) => WebUtility.HtmlEncode(text);
}
