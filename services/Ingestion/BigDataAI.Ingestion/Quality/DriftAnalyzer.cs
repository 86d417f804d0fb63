using System.Globalization;
using BigDataAI.Datasets;
using BigDataAI.Datasets.Similarity;
using BigDataAI.Ingestion.Services;
using BigDataAI.Models.Text;
using Microsoft.Extensions.Logging;
using Proto = BigDataAI.Protos.Quality.V1;

namespace BigDataAI.Ingestion.Quality;

/// <summary>The thresholds and sample sizes of one drift request, defaults filled in.</summary>
public sealed record DriftSettings(double Psi, double Ks, double Js, double Text, double Image, int SampleRows, int TextSampleRows, int ImageSampleRows, int Seed)
{
    public const int MaxSampleRows = 100_000;
    public const int MaxEmbeddedRows = 1_000;

    internal static DriftSettings From(Proto.GetDriftRequest request)
    {
        var t = request.Thresholds ?? new Proto.DriftThresholds();
        double Threshold(double value, double fallback, string field) => value < 0 || double.IsNaN(value)
            ? throw new QualityRequestException($"thresholds.{field}", $"{value} is negative.")
            : value == 0 ? fallback : value;
        int Sample(int value, int fallback, int max, string field) => value < 0 || value > max
            ? throw new QualityRequestException(field, $"{value} is outside 0-{max}.")
            : value == 0 ? fallback : value;
        return new DriftSettings(
            Threshold(t.Psi, 0.2, "psi"), Threshold(t.Ks, 0.1, "ks"), Threshold(t.Js, 0.1, "js"), Threshold(t.Text, 0.1, "text"), Threshold(t.Image, 0.05, "image"),
            Sample(request.SampleRows, 10_000, MaxSampleRows, "sample_rows"), Sample(request.TextSampleRows, 64, MaxEmbeddedRows, "text_sample_rows"),
            Sample(request.ImageSampleRows, 128, MaxEmbeddedRows, "image_sample_rows"),
            request.Seed == 0 ? 1 : unchecked((int)request.Seed ^ (int)(request.Seed >> 32)));
    }
}

/// <summary>
/// Measures drift from one version (the reference) to another of the same columns, column by column, reading each
/// version once, shard by shard: exact counts for categorical columns, seeded reservoir samples for numeric values,
/// texts and images (see protos/quality.proto for the statistics and the flags).
/// </summary>
internal sealed class DriftAnalyzer(DatasetStore datasets, ILogger<DriftAnalyzer> logger)
{
    public const int MaxCategories = 1_000;
    public const int ChartCategories = 20;
    public const int Thumbnail = 16;
    public const string Other = "(other)";

    public async Task<Proto.GetDriftReply> AnalyzeAsync(Proto.GetDriftRequest request, CancellationToken cancellationToken)
    {
        using var activity = IngestionTelemetry.Source.StartActivity("drift");
        QualityArguments.Dataset("dataset", request.Dataset);
        if (!string.IsNullOrEmpty(request.ToDataset))
        {
            QualityArguments.Dataset("to_dataset", request.ToDataset);
        }
        QualityArguments.Version("from_version", request.FromVersion);
        QualityArguments.Version("to_version", request.ToVersion);
        var settings = DriftSettings.From(request);
        var from = await datasets.GetRequiredAsync(request.Dataset, request.FromVersion, cancellationToken).ConfigureAwait(false);
        var to = await datasets.GetRequiredAsync(string.IsNullOrEmpty(request.ToDataset) ? request.Dataset : request.ToDataset, request.ToVersion, cancellationToken).ConfigureAwait(false);
        activity?.SetTag("bigdataai.dataset", from.Dataset);
        activity?.SetTag("bigdataai.dataset_version", from.Version);
        activity?.SetTag("bigdataai.to_dataset_version", $"{to.Dataset}@{to.Version}");
        var schema = from.EffectiveSchema;
        if (SchemaDifferences(schema, to.EffectiveSchema) is { Count: > 0 } differences)
        {
            throw new QualityPreconditionException($"{from.Dataset} v{from.Version} and {to.Dataset} v{to.Version} have different columns: {string.Join("; ", differences)}.");
        }

        var plan = schema.Columns.Select(c => (Column: c, Kind: KindOf(c, schema))).Where(p => p.Kind is not null).ToList();
        var reference = await ProfileAsync(from, plan!, settings, cancellationToken).ConfigureAwait(false);
        var current = await ProfileAsync(to, plan!, settings, cancellationToken).ConfigureAwait(false);

        var reply = new Proto.GetDriftReply
        {
            FromDataset = from.Dataset,
            FromVersion = from.Version,
            ToDataset = to.Dataset,
            ToVersion = to.Version,
            FromRows = from.Rows,
            ToRows = to.Rows,
            Thresholds = new Proto.DriftThresholds { Psi = settings.Psi, Ks = settings.Ks, Js = settings.Js, Text = settings.Text, Image = settings.Image },
        };
        for (var i = 0; i < plan.Count; i++)
        {
            var drift = Compare(plan[i].Column, plan[i].Kind!, reference[i], current[i], settings, cancellationToken);
            if (plan[i].Column.Role == ColumnRole.Label && plan[i].Kind == "categorical")
            {
                reply.ClassBalance = drift;
            }
            else
            {
                reply.Columns.Add(drift);
            }
        }
        reply.Drifted = reply.Columns.Any(c => c.Drifted) || reply.ClassBalance?.Drifted == true;
        logger.LogInformation("Drift {FromDataset} v{From} -> {ToDataset} v{To}: {Drifted} of {Columns} columns drifted ({Names})",
            from.Dataset, from.Version, to.Dataset, to.Version, reply.Columns.Count(c => c.Drifted) + (reply.ClassBalance?.Drifted == true ? 1 : 0),
            reply.Columns.Count + (reply.ClassBalance is null ? 0 : 1), string.Join(", ", reply.Columns.Where(c => c.Drifted).Select(c => c.Column)));
        return reply;
    }

    /// <summary>The columns that keep two schemas from being compared: missing on one side, or of another type.</summary>
    public static List<string> SchemaDifferences(DatasetSchema a, DatasetSchema b)
    {
        var differences = new List<string>();
        foreach (var column in a.Columns)
        {
            if (b.Find(column.Name) is not { } other)
            {
                differences.Add($"'{column.Name}' ({column.TypeName}) only in the first");
            }
            else if (other.TypeName != column.TypeName)
            {
                differences.Add($"'{column.Name}' is {column.TypeName} in the first, {other.TypeName} in the second");
            }
        }
        differences.AddRange(b.Columns.Where(c => a.Find(c.Name) is null).Select(c => $"'{c.Name}' ({c.TypeName}) only in the second"));
        return differences;
    }

    /// <summary>How a column is compared: numeric, categorical, text, image or vector; null to skip it (ids, ignored).</summary>
    public static string? KindOf(ColumnSchema column, DatasetSchema schema) => column switch
    {
        { Role: ColumnRole.Id or ColumnRole.Ignored } => null,
        { Role: ColumnRole.Label } when schema.IsRegression => "numeric",
        { Role: ColumnRole.Label } => "categorical",
        { Type: ColumnType.Int64 or ColumnType.Double or ColumnType.Timestamp } => "numeric",
        { Type: ColumnType.Bool } => "categorical",
        { Type: ColumnType.String, Role: ColumnRole.Text } => "text",
        { Type: ColumnType.String } => "categorical",
        { Type: ColumnType.Binary } => "image",
        { Type: ColumnType.Tensor } when PerceptualHash.IsImageShape(column.Shape) => "image",
        { Type: ColumnType.Tensor } => "vector",
        _ => null,
    };

    /// <summary>What one pass over a version keeps of one column.</summary>
    private sealed class ColumnSide(int sampleRows, int embedRows, int seed)
    {
        public long Count;
        public long Nulls;
        public readonly Reservoir<double> Numbers = new(sampleRows, seed);
        public readonly Dictionary<string, long> Categories = new(StringComparer.Ordinal);
        public long OtherCategories;
        public readonly Reservoir<string> Texts = new(embedRows, seed);
        public readonly Reservoir<float[]> Vectors = new(embedRows, seed);
    }

    private async Task<List<ColumnSide>> ProfileAsync(DatasetManifest manifest, List<(ColumnSchema Column, string Kind)> plan, DriftSettings settings, CancellationToken cancellationToken)
    {
        var sides = plan.Select((p, i) => new ColumnSide(settings.SampleRows, p.Kind == "text" ? settings.TextSampleRows : settings.ImageSampleRows, settings.Seed + i)).ToList();
        await foreach (var shard in datasets.StreamAsync(manifest, cancellationToken).ConfigureAwait(false))
        {
            for (var i = 0; i < plan.Count; i++)
            {
                var (schema, kind) = plan[i];
                var column = shard[schema.Name];
                var side = sides[i];
                for (var r = 0; r < shard.Rows; r++)
                {
                    side.Count++;
                    if (column.IsNull(r))
                    {
                        side.Nulls++;
                        continue;
                    }
                    switch (kind)
                    {
                        case "numeric":
                            side.Numbers.Add(Cells.Number(column, r)!.Value);
                            break;
                        case "categorical":
                            var text = column.Format(r)!;
                            if (side.Categories.TryGetValue(text, out var n))
                            {
                                side.Categories[text] = n + 1;
                            }
                            else if (side.Categories.Count < MaxCategories)
                            {
                                side.Categories[text] = 1;
                            }
                            else
                            {
                                side.OtherCategories++;
                            }
                            break;
                        case "text":
                            side.Texts.Add(((string?[])column.Values)[r]!);
                            break;
                        case "image":
                        case "vector":
                            if (Vector(column, r, kind) is { } vector)
                            {
                                side.Vectors.Add(vector);
                            }
                            break;
                    }
                }
            }
        }
        return sides;
    }

    /// <summary>An image as its 16 x 16 gray thumbnail scaled to 0-1; a plain tensor as it is.</summary>
    private static float[]? Vector(Column column, int row, string kind)
    {
        if (column.Values is float[] values)
        {
            var span = values.AsSpan(row * column.Schema.Width, column.Schema.Width);
            if (kind == "vector")
            {
                return span.ToArray();
            }
            var image = PerceptualHash.TensorGray(span, column.Schema.Shape!);
            return Scale(PerceptualHash.Reduce(image.Gray, image.Width, image.Height, Thumbnail, Thumbnail));
        }
        if (column.Values is byte[]?[] images && images[row] is { } bytes && PerceptualHash.DecodeGray(bytes) is { } decoded)
        {
            return [.. PerceptualHash.Reduce(decoded.Gray, decoded.Width, decoded.Height, Thumbnail, Thumbnail).Select(v => v / 255f)];
        }
        return null;
    }

    private static float[] Scale(float[] cells)
    {
        // Tensors of 0-255 pixels and of 0-1 pixels compare alike: a tensor with a value over 1 is read as 0-255.
        var max = cells.Length == 0 ? 1 : cells.Max();
        var scale = max > 1 ? 255f : 1f;
        return [.. cells.Select(v => v / scale)];
    }

    private static Proto.ColumnDrift Compare(ColumnSchema column, string kind, ColumnSide a, ColumnSide b, DriftSettings settings, CancellationToken cancellationToken)
    {
        var drift = new Proto.ColumnDrift
        {
            Column = column.Name,
            Kind = kind,
            FromCount = a.Count,
            ToCount = b.Count,
            FromNulls = a.Nulls,
            ToNulls = b.Nulls,
        };
        switch (kind)
        {
            case "numeric":
            {
                var x = a.Numbers.Items.ToArray();
                var y = b.Numbers.Items.ToArray();
                Array.Sort(x);
                Array.Sort(y);
                drift.SampledFrom = x.Length;
                drift.SampledTo = y.Length;
                var edges = DriftStatistics.QuantileEdges(x);
                var p = DriftStatistics.Bin(x, edges);
                var q = DriftStatistics.Bin(y, edges);
                drift.Psi = DriftStatistics.Psi(p, q);
                (drift.KsStatistic, drift.KsPValue) = DriftStatistics.KolmogorovSmirnov(x, y);
                for (var i = 0; i <= edges.Length; i++)
                {
                    var low = i == 0 ? "" : edges[i - 1].ToString("G4", CultureInfo.InvariantCulture);
                    var high = i == edges.Length ? "" : edges[i].ToString("G4", CultureInfo.InvariantCulture);
                    drift.Bins.Add(i == 0 ? $"<= {high}" : i == edges.Length ? $"> {low}" : $"({low}, {high}]");
                    drift.FromShare.Add(x.Length == 0 ? 0 : (double)p[i] / x.Length);
                    drift.ToShare.Add(y.Length == 0 ? 0 : (double)q[i] / y.Length);
                }
                var byPsi = drift.Psi / settings.Psi >= drift.KsStatistic / settings.Ks;
                (drift.Score, drift.Threshold) = byPsi ? (drift.Psi, settings.Psi) : (drift.KsStatistic, settings.Ks);
                drift.Drifted = drift.Psi >= settings.Psi || drift.KsStatistic >= settings.Ks;
                drift.Reason = string.Create(CultureInfo.InvariantCulture,
                    $"PSI {drift.Psi:0.###} {(drift.Psi >= settings.Psi ? ">=" : "<")} {settings.Psi}, KS {drift.KsStatistic:0.###} {(drift.KsStatistic >= settings.Ks ? ">=" : "<")} {settings.Ks} (p {drift.KsPValue:0.###})");
                break;
            }
            case "categorical":
            {
                var categories = a.Categories.Keys.Union(b.Categories.Keys).Order(StringComparer.Ordinal).ToList();
                var p = categories.Select(c => a.Categories.GetValueOrDefault(c)).Append(a.OtherCategories).ToArray();
                var q = categories.Select(c => b.Categories.GetValueOrDefault(c)).Append(b.OtherCategories).ToArray();
                (drift.ChiSquare, drift.ChiSquareDf, drift.ChiSquarePValue) = DriftStatistics.ChiSquare(p, q);
                drift.JsDistance = DriftStatistics.JensenShannon(p, q);
                double na = Math.Max(1, p.Sum()), nb = Math.Max(1, q.Sum());
                var shown = categories.Select((c, i) => (c, i)).OrderByDescending(t => p[t.i] + q[t.i]).ThenBy(t => t.c, StringComparer.Ordinal).Take(ChartCategories).ToList();
                foreach (var (c, i) in shown.OrderBy(t => t.i))
                {
                    drift.Bins.Add(c);
                    drift.FromShare.Add(p[i] / na);
                    drift.ToShare.Add(q[i] / nb);
                }
                var rest = Enumerable.Range(0, p.Length).Except(shown.Select(s => s.i)).ToList();
                if (rest.Any(i => p[i] + q[i] > 0))
                {
                    drift.Bins.Add(Other);
                    drift.FromShare.Add(rest.Sum(i => p[i]) / na);
                    drift.ToShare.Add(rest.Sum(i => q[i]) / nb);
                }
                (drift.Score, drift.Threshold) = (drift.JsDistance, settings.Js);
                drift.Drifted = drift.JsDistance >= settings.Js;
                drift.Reason = string.Create(CultureInfo.InvariantCulture,
                    $"JS {drift.JsDistance:0.###} {(drift.Drifted ? ">=" : "<")} {settings.Js} (chi-square {drift.ChiSquare:0.##}, df {drift.ChiSquareDf}, p {drift.ChiSquarePValue:0.###})");
                break;
            }
            case "text":
            {
                drift.SampledFrom = a.Texts.Items.Count;
                drift.SampledTo = b.Texts.Items.Count;
                var ea = MeanEmbedding(a.Texts.Items, cancellationToken);
                var eb = MeanEmbedding(b.Texts.Items, cancellationToken);
                drift.EmbeddingDistance = ea is null || eb is null ? 0 : DriftStatistics.CosineDistance(ea, eb);
                (drift.Score, drift.Threshold) = (drift.EmbeddingDistance, settings.Text);
                drift.Drifted = drift.EmbeddingDistance >= settings.Text;
                drift.Reason = string.Create(CultureInfo.InvariantCulture,
                    $"cosine distance of mean MiniLM embeddings {drift.EmbeddingDistance:0.####} {(drift.Drifted ? ">=" : "<")} {settings.Text}");
                break;
            }
            default:
            {
                drift.SampledFrom = a.Vectors.Items.Count;
                drift.SampledTo = b.Vectors.Items.Count;
                drift.EmbeddingDistance = DriftStatistics.MaximumMeanDiscrepancy(a.Vectors.Items, b.Vectors.Items);
                (drift.Score, drift.Threshold) = (drift.EmbeddingDistance, settings.Image);
                drift.Drifted = drift.EmbeddingDistance >= settings.Image;
                drift.Reason = string.Create(CultureInfo.InvariantCulture,
                    $"MMD² of {(kind == "image" ? "16x16 thumbnails" : "the vectors")} {drift.EmbeddingDistance:0.####} {(drift.Drifted ? ">=" : "<")} {settings.Image}");
                break;
            }
        }
        return drift;
    }

    private static double[]? MeanEmbedding(IReadOnlyList<string> texts, CancellationToken cancellationToken)
    {
        if (texts.Count == 0)
        {
            return null;
        }
        var mean = new double[TextEncoders.MiniLmDimensions];
        foreach (var batch in texts.Chunk(32))
        {
            foreach (var embedding in TextEncoders.Embed(batch, cancellationToken))
            {
                for (var i = 0; i < mean.Length; i++)
                {
                    mean[i] += embedding[i] / texts.Count;
                }
            }
        }
        return mean;
    }
}
