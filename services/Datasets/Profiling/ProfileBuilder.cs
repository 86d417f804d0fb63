using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using BigDataAI.Storage;

namespace BigDataAI.Datasets.Profiling;

/// <summary>
/// Builds a version's <see cref="DatasetProfile"/> one shard at a time (an <see cref="IShardObserver"/>: give it to a
/// <see cref="VersionWriter"/>, or feed it <see cref="DatasetStore.StreamAsync"/>'s shards). Memory holds the sketches
/// (a few KiB per column, plus a quantile sketch per class and numeric column) and at most
/// <see cref="DuplicateRows.MaxPairsInMemory"/> (hash, row id) pairs for exact duplicate rows; beyond that they are
/// spilled as sorted runs (<see cref="DuplicateRows"/>), so memory does not grow with the rows. Two builders of the same schema <see cref="Merge"/>: shards
/// profiled apart (on other replicas) and merged give the profile of the whole: exactly for counts, nulls, minimum,
/// maximum, distinct-count registers, class balance and duplicates; within the sketches' bounds for quantiles and top
/// values; up to rounding for mean and standard deviation. <see cref="ToJson"/>/<see cref="FromJson"/> carry the state
/// (a part's runs are stored first: <see cref="ProfileStore.SavePartStateAsync"/>).
/// </summary>
public sealed class ProfileBuilder : IShardObserver, IDisposable
{
    /// <summary>
    /// The state's format: 2 names the duplicate-row runs (<see cref="DuplicateRun"/>); 1 (written without a format
    /// field) carried every row's hash and id inline and is still read.
    /// </summary>
    public const int StateFormat = 2;

    /// <summary>The most classes tracked per column for leakage hints (a label with more is not a class label).</summary>
    public const int MaxLeakageClasses = 100;

    /// <summary>Examples kept per finding (duplicate groups, outlier rows).</summary>
    public const int Examples = 5;

    public static readonly IReadOnlyList<double> QuantilePoints = [0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1];
    public const int HistogramBins = 20;

    private State _state;

    private readonly CellTally _tally = new();

    /// <param name="maxPairsInMemory">Duplicate-row pairs held before a sorted run is spilled (tests lower it).</param>
    public ProfileBuilder(DatasetSchema schema, int maxPairsInMemory = DuplicateRows.DefaultMaxPairsInMemory)
    {
        ArgumentNullException.ThrowIfNull(schema);
        var leakage = schema.Label is not null && !schema.IsRegression;
        _state = new State
        {
            Schema = schema,
            Columns = [.. schema.Columns.Select(c => ColumnProfiler.For(c, leakage))],
            Leakage = leakage,
            NearDuplicates = NearDuplicateFinder.For(schema),
            Pairs = new DuplicateRows(maxPairsInMemory),
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
        ShardLabels? labels = null;
        if (s.Schema.Label is { } label)
        {
            var column = shard[label.Name];
            var texts = new string?[shard.Rows];
            var classes = new int[shard.Rows];
            var names = new Dictionary<string, int>(StringComparer.Ordinal);
            for (var r = 0; r < shard.Rows; r++)
            {
                var text = texts[r] = column.Format(r);
                classes[r] = -1;
                if (text is null)
                {
                    s.Unlabeled++;
                }
                else if (!s.Schema.IsRegression)
                {
                    s.ClassCounts[text] = s.ClassCounts.GetValueOrDefault(text) + 1;
                    if (names.TryGetValue(text, out var index))
                    {
                        classes[r] = index;
                    }
                    else if (names.Count < CellTally.MaxClasses)
                    {
                        names[text] = classes[r] = names.Count;
                    }
                }
            }
            labels = new ShardLabels(texts, classes, [.. names.OrderBy(n => n.Value).Select(n => n.Key)]);
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
            s.Columns[i].Observe(shard.Columns[i], shard.RowIds, s.Leakage ? labels : null, hashes, _tally);
        }
        s.Pairs.Add(hashes, shard.RowIds);
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
        s.Pairs.Merge(o.Pairs);
        s.NearDuplicates.Merge(o.NearDuplicates);
    }

    /// <summary>The duplicate-row pairs (buffered, spilled or stored runs).</summary>
    public DuplicateRows DuplicatePairs => _state.Pairs;

    /// <summary>The profile of every row observed so far, when no duplicate-row runs are in the object store (else <see cref="BuildAsync"/>).</summary>
    public DatasetProfile Build(string dataset, int version, int parts = 1) =>
        BuildAsync(dataset, version, parts, null, CancellationToken.None).AsTask().GetAwaiter().GetResult();

    /// <summary>The profile of every row observed or merged so far; stored duplicate-row runs are read from <paramref name="objects"/>.</summary>
    public async ValueTask<DatasetProfile> BuildAsync(string dataset, int version, int parts, IObjectStore? objects, CancellationToken cancellationToken = default)
    {
        var s = _state;
        var duplicates = await s.Pairs.ReportAsync(objects, cancellationToken).ConfigureAwait(false);
        return new DatasetProfile(DatasetProfile.CurrentFormat, dataset, version, s.Rows,
            [.. s.Columns.Select(Summarize)], ClassBalanceOf(), duplicates, LeakageHints(), parts, DateTimeOffset.UtcNow)
        {
            NearDuplicates = s.NearDuplicates.Report(),
        };
    }

    public void Dispose() => _state.Pairs.Dispose();

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

    public static ProfileBuilder FromJson(string json) => Checked(JsonSerializer.Deserialize<State>(json, Json));

    /// <summary>
    /// Writes the state as <see cref="ToJson"/> does, straight to <paramref name="stream"/>: a wide table's state is tens of
    /// MB of JSON, and building it as one string first made the serializer rent buffers of hundreds of MB that the
    /// shared array pool then kept for the life of the process.
    /// </summary>
    public Task WriteStateAsync(Stream stream, CancellationToken cancellationToken = default) =>
        JsonSerializer.SerializeAsync(stream, _state.Pack(), Json, cancellationToken);

    /// <summary>Reads a state written by <see cref="WriteStateAsync"/> or <see cref="ToJson"/>, a buffer at a time.</summary>
    public static async Task<ProfileBuilder> ReadStateAsync(Stream stream, CancellationToken cancellationToken = default) =>
        Checked(await JsonSerializer.DeserializeAsync<State>(stream, Json, cancellationToken).ConfigureAwait(false));

    private static ProfileBuilder Checked(State? state)
    {
        if (state is null)
        {
            throw new InvalidDataException("An empty profile state.");
        }
        if (state.Format > StateFormat)
        {
            throw new InvalidDataException($"The profile state is in format {state.Format}; this build reads formats 1 to {StateFormat}. Profile the version again with this build, or merge with a newer one.");
        }
        return new(state.Unpack());
    }

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

        /// <summary>Missing (0) in format 1, whose parts carried every row's hash and id in PackedHashes and PackedIds.</summary>
        public int Format { get; set; }

        [JsonIgnore]
        public DuplicateRows Pairs { get; set; } = new();

        /// <summary>The buffered row hashes and ids as little-endian bytes (base64 in JSON): a small state's pairs, or a format-1 part's.</summary>
        public byte[]? PackedHashes { get; set; }

        public byte[]? PackedIds { get; set; }

        /// <summary>Sorted runs of (hash, row id) in the object store.</summary>
        public List<DuplicateRun>? DuplicateRuns { get; set; }

        public State Pack()
        {
            Format = StateFormat;
            (PackedHashes, PackedIds) = Pairs.Pack();
            if (PackedHashes.Length == 0)
            {
                (PackedHashes, PackedIds) = (null, null);
            }
            DuplicateRuns = Pairs.StoredRuns.Count > 0 ? [.. Pairs.StoredRuns] : null;
            return this;
        }

        public State Unpack()
        {
            Pairs = new DuplicateRows();
            Pairs.Unpack(PackedHashes, PackedIds, DuplicateRuns);
            (PackedHashes, PackedIds, DuplicateRuns) = (null, null, null);
            ClassCounts = new(ClassCounts, StringComparer.Ordinal);
            return this;
        }
    }
}
