using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace BigDataAI.Datasets.Profiling;

/// <summary>
/// Builds a version's <see cref="DatasetProfile"/> one shard at a time (an <see cref="IShardObserver"/>: give it to a
/// <see cref="VersionWriter"/>, or feed it <see cref="DatasetStore.StreamAsync"/>'s shards). Memory holds the sketches
/// (a few KiB per column, plus a quantile sketch per class and numeric column) and 16 bytes per row for exact duplicate
/// rows (the row's 64-bit hash and its id), not the rows. Two builders of the same schema <see cref="Merge"/>: shards
/// profiled apart (on other replicas) and merged give the profile of the whole: exactly for counts, nulls, minimum,
/// maximum, distinct-count registers, class balance and duplicates; within the sketches' bounds for quantiles and top
/// values; up to rounding for mean and standard deviation. <see cref="ToJson"/>/<see cref="FromJson"/> carry the state.
/// </summary>
public sealed class ProfileBuilder : IShardObserver
{
    /// <summary>The most classes tracked per column for leakage hints (a label with more is not a class label).</summary>
    public const int MaxLeakageClasses = 100;

    /// <summary>Examples kept per finding (duplicate groups, outlier rows).</summary>
    public const int Examples = 5;

    public static readonly IReadOnlyList<double> QuantilePoints = [0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1];
    public const int HistogramBins = 20;

    private State _state;

    public ProfileBuilder(DatasetSchema schema)
    {
        ArgumentNullException.ThrowIfNull(schema);
        var leakage = schema.Label is not null && !schema.IsRegression;
        _state = new State
        {
            Schema = schema,
            Columns = [.. schema.Columns.Select(c => ColumnProfiler.For(c, leakage))],
            Leakage = leakage,
            NearDuplicates = NearDuplicateFinder.For(schema),
        };
    }

    private ProfileBuilder(State state) => _state = state;

    public DatasetSchema Schema => _state.Schema;

    public long Rows => _state.Rows;

    public void Observe(Table shard)
    {
        ArgumentNullException.ThrowIfNull(shard);
        if (!shard.Schema.Equals(_state.Schema))
        {
            throw new ArgumentException("The shard's schema is not the profile's.", nameof(shard));
        }
        var s = _state;
        string?[]? labels = null;
        if (s.Schema.Label is { } label)
        {
            var column = shard[label.Name];
            labels = new string?[shard.Rows];
            for (var r = 0; r < shard.Rows; r++)
            {
                labels[r] = column.Format(r);
                if (labels[r] is null)
                {
                    s.Unlabeled++;
                }
                else if (!s.Schema.IsRegression)
                {
                    s.ClassCounts[labels[r]!] = s.ClassCounts.GetValueOrDefault(labels[r]!) + 1;
                }
            }
            if (s.Leakage && s.ClassCounts.Count > MaxLeakageClasses)
            {
                s.Leakage = false;
                foreach (var c in s.Columns)
                {
                    c.ValueByClass = null;
                    c.ByClass = null;
                }
            }
        }
        var hashes = new ulong[shard.Rows];
        for (var i = 0; i < shard.Columns.Count; i++)
        {
            s.Columns[i].Observe(shard.Columns[i], shard.RowIds, s.Leakage ? labels : null, hashes);
        }
        s.RowHashes.AddRange(hashes);
        s.RowIds.AddRange(shard.RowIds);
        s.Rows += shard.Rows;
        s.NearDuplicates.Observe(shard);
    }

    /// <summary>Adds <paramref name="other"/>'s rows (profiled apart, e.g. another shard range) to this one.</summary>
    public void Merge(ProfileBuilder other)
    {
        ArgumentNullException.ThrowIfNull(other);
        var (s, o) = (_state, other._state);
        if (!o.Schema.Equals(s.Schema))
        {
            throw new ArgumentException("Cannot merge profiles of different schemas.", nameof(other));
        }
        s.Rows += o.Rows;
        s.Unlabeled += o.Unlabeled;
        foreach (var (c, n) in o.ClassCounts)
        {
            s.ClassCounts[c] = s.ClassCounts.GetValueOrDefault(c) + n;
        }
        s.Leakage = s.Leakage && o.Leakage && s.ClassCounts.Count <= MaxLeakageClasses;
        for (var i = 0; i < s.Columns.Count; i++)
        {
            s.Columns[i].Merge(o.Columns[i]);
            if (!s.Leakage)
            {
                s.Columns[i].ValueByClass = null;
                s.Columns[i].ByClass = null;
            }
        }
        s.RowHashes.AddRange(o.RowHashes);
        s.RowIds.AddRange(o.RowIds);
        s.NearDuplicates.Merge(o.NearDuplicates);
    }

    /// <summary>The profile of every row observed so far.</summary>
    public DatasetProfile Build(string dataset, int version, int parts = 1)
    {
        var s = _state;
        return new DatasetProfile(DatasetProfile.CurrentFormat, dataset, version, s.Rows,
            [.. s.Columns.Select(Summarize)], ClassBalanceOf(), Duplicates(), LeakageHints(), parts, DateTimeOffset.UtcNow)
        {
            NearDuplicates = s.NearDuplicates.Report(),
        };
    }

    private ColumnProfile Summarize(ColumnProfiler c)
    {
        var measure = c.Column.Type switch
        {
            ColumnType.String => "length",
            ColumnType.Binary => "bytes",
            ColumnType.Tensor => "element",
            ColumnType.Bool => null,
            _ => "value",
        };
        NumericSummary? values = null;
        OutlierReport? outliers = null;
        if (measure is not null && c.Moments.Count > 0)
        {
            var q = c.Sketch.Quantiles(QuantilePoints);
            values = new NumericSummary(measure, c.Moments.Count, c.Moments.Min, c.Moments.Max, c.Moments.Mean, c.Moments.StdDev,
                [.. QuantilePoints.Select((p, i) => new QuantileValue(p, q[i]))], Histogram(c.Sketch));
            if (c.Extremes is not null)
            {
                outliers = Outliers(c, q[4], q[6]);
            }
        }
        var top = c.Top?.Top(10).Select(p => new TopValue(p.Key, p.Value)).ToList() ?? [];
        // Tensor columns count rows; the summary counts elements.
        var count = c.Rows - c.Nulls;
        return new ColumnProfile(c.Column.Name, c.Column.TypeName, c.Column.Role.ToString().ToLowerInvariant(), count, c.Nulls,
            c.Distinct?.Estimate(), c.NonFinite, values, top, c.Top?.Exact ?? true, outliers);
    }

    private static List<HistogramBin> Histogram(KllSketch sketch)
    {
        if (sketch.Count == 0)
        {
            return [];
        }
        var (min, max) = (sketch.Min, sketch.Max);
        if (min == max)
        {
            return [new HistogramBin(min, max, sketch.Count)];
        }
        var bins = new List<HistogramBin>(HistogramBins);
        var width = (max - min) / HistogramBins;
        long previous = 0;
        for (var b = 0; b < HistogramBins; b++)
        {
            var lower = min + b * width;
            var upper = b == HistogramBins - 1 ? max : min + (b + 1) * width;
            // Rows below the bin's upper edge (all of them at the last bin), from the sketch's ranks.
            var cumulative = b == HistogramBins - 1 ? sketch.Count : (long)Math.Round(sketch.RankBelow(upper) * sketch.Count);
            bins.Add(new HistogramBin(lower, upper, cumulative - previous));
            previous = cumulative;
        }
        return bins;
    }

    private static OutlierReport Outliers(ColumnProfiler c, double q1, double q3)
    {
        var iqr = q3 - q1;
        var (lower, upper) = (q1 - 1.5 * iqr, q3 + 1.5 * iqr);
        var n = c.Sketch.Count;
        // Exact on a side whose kept extremes reach back inside the fence (so every value beyond it is among them);
        // otherwise read from the quantile sketch's ranks.
        var low = c.Extremes!.Lowest.Count(v => v.Value < lower);
        var high = c.Extremes.Highest.Count(v => v.Value > upper);
        var count = (low < c.Extremes.Lowest.Count || c.Extremes.Lowest.Count == n ? low : Math.Max(low, (long)Math.Round(c.Sketch.RankBelow(lower) * n)))
            + (high < c.Extremes.Highest.Count || c.Extremes.Highest.Count == n ? high : Math.Max(high, (long)Math.Round((1 - c.Sketch.Rank(upper)) * n)));
        var examples = c.Extremes!.Lowest.Where(v => v.Value < lower).Concat(c.Extremes.Highest.Where(v => v.Value > upper))
            .Select(v => v.Row).Distinct().Order().Take(Examples).ToList();
        return new OutlierReport("iqr-1.5", lower, upper, count, examples);
    }

    private ClassBalance? ClassBalanceOf()
    {
        var s = _state;
        if (s.Schema.Label is not { } label || s.Schema.IsRegression)
        {
            return null;
        }
        var labeled = s.ClassCounts.Values.Sum();
        var classes = VersionWriter.OrderClasses(s.ClassCounts.Keys, label.Type)
            .Select(c => new ClassShare(c, s.ClassCounts[c], labeled == 0 ? 0 : (double)s.ClassCounts[c] / labeled)).ToList();
        var (most, least) = classes.Count == 0 ? (0L, 0L) : (classes.Max(c => c.Count), classes.Min(c => c.Count));
        return new ClassBalance(label.Name, classes, s.Unlabeled, labeled == 0 ? 0 : (double)most / labeled, least == 0 ? 0 : (double)most / least);
    }

    private DuplicateReport Duplicates()
    {
        var s = _state;
        var order = Enumerable.Range(0, s.RowHashes.Count).ToArray();
        var hashes = CollectionsMarshal.AsSpan(s.RowHashes).ToArray();
        var ids = s.RowIds;
        Array.Sort(order, (a, b) => hashes[a] != hashes[b] ? hashes[a].CompareTo(hashes[b]) : ids[a].CompareTo(ids[b]));
        long duplicates = 0, groups = 0;
        var examples = new List<IReadOnlyList<long>>();
        for (var i = 0; i < order.Length;)
        {
            var j = i + 1;
            while (j < order.Length && hashes[order[j]] == hashes[order[i]])
            {
                j++;
            }
            if (j - i > 1)
            {
                groups++;
                duplicates += j - i - 1;
                examples.Add([.. order[i..j].Select(k => ids[k]).Order().Take(Examples)]);
            }
            i = j;
        }
        // The groups with the first rows, so examples do not depend on hash order.
        return new DuplicateReport(duplicates, groups, [.. examples.OrderBy(e => e[0]).Take(Examples)]);
    }

    private List<LeakageHint> LeakageHints()
    {
        var s = _state;
        if (!s.Leakage || s.ClassCounts.Count < 2)
        {
            return [];
        }
        var labeled = s.ClassCounts.Values.Sum();
        var baseline = (double)s.ClassCounts.Values.Max() / labeled;
        var hints = new List<LeakageHint>();
        foreach (var c in s.Columns)
        {
            if (c.ValueByClass is { Count: > 0 } byValue && byValue.Count < labeled / 2.0)
            {
                // Each value's majority class; a column with about one value per row (an id) would be "pure" trivially.
                var right = byValue.Values.Sum(counts => counts.Values.Max());
                var total = byValue.Values.Sum(counts => counts.Values.Sum());
                var accuracy = (double)right / total;
                hints.Add(Hint(c.Column.Name, "value-purity", accuracy, baseline, $"{byValue.Count} values, each mapped to its most frequent class"));
            }
            else if (c.ByClass is { Count: > 0 } byClass && c.Sketch.Count > 0)
            {
                // One threshold t: rows below go to the class most frequent below, the rest to the class most frequent above.
                var thresholds = c.Sketch.Quantiles([.. Enumerable.Range(1, 99).Select(i => i / 100.0)]).Distinct();
                var n = byClass.Values.Sum(k => k.Count);
                var (best, at) = (0.0, double.NaN);
                foreach (var t in thresholds)
                {
                    double below = 0, above = 0;
                    foreach (var k in byClass.Values)
                    {
                        var b = k.Rank(t) * k.Count;
                        below = Math.Max(below, b);
                        above = Math.Max(above, k.Count - b);
                    }
                    var accuracy = (below + above) / n;
                    if (accuracy > best)
                    {
                        (best, at) = (accuracy, t);
                    }
                }
                hints.Add(Hint(c.Column.Name, "single-threshold", Math.Min(1, best), baseline, $"best split at {at.ToString("G6", CultureInfo.InvariantCulture)}"));
            }
        }
        return [.. hints.OrderByDescending(h => h.Accuracy).ThenBy(h => h.Column, StringComparer.Ordinal)];
    }

    private static LeakageHint Hint(string column, string method, double accuracy, double baseline, string detail) =>
        new(column, method, Math.Round(accuracy, 6), Math.Round(baseline, 6), baseline < 1 && (accuracy - baseline) / (1 - baseline) >= 0.95, detail);

    public string ToJson() => JsonSerializer.Serialize(_state.Pack(), Json);

    public static ProfileBuilder FromJson(string json) =>
        new((JsonSerializer.Deserialize<State>(json, Json) ?? throw new InvalidDataException("An empty profile state.")).Unpack());

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    private sealed class State
    {
        public DatasetSchema Schema { get; set; } = null!;

        public List<ColumnProfiler> Columns { get; set; } = [];

        public bool Leakage { get; set; }

        public long Rows { get; set; }

        public long Unlabeled { get; set; }

        public Dictionary<string, long> ClassCounts { get; set; } = new(StringComparer.Ordinal);

        public NearDuplicateFinder NearDuplicates { get; set; } = new();

        [JsonIgnore]
        public List<ulong> RowHashes { get; set; } = [];

        [JsonIgnore]
        public List<long> RowIds { get; set; } = [];

        /// <summary>The row hashes and ids as little-endian bytes (base64 in JSON: a third of the size of number lists).</summary>
        public byte[]? PackedHashes { get; set; }

        public byte[]? PackedIds { get; set; }

        public State Pack()
        {
            PackedHashes = MemoryMarshal.AsBytes(CollectionsMarshal.AsSpan(RowHashes)).ToArray();
            PackedIds = MemoryMarshal.AsBytes(CollectionsMarshal.AsSpan(RowIds)).ToArray();
            return this;
        }

        public State Unpack()
        {
            RowHashes = [.. MemoryMarshal.Cast<byte, ulong>(PackedHashes ?? [])];
            RowIds = [.. MemoryMarshal.Cast<byte, long>(PackedIds ?? [])];
            (PackedHashes, PackedIds) = (null, null);
            ClassCounts = new(ClassCounts, StringComparer.Ordinal);
            return this;
        }
    }
}
