using System.Text;
using BigDataAI.Datasets;
using BigDataAI.Datasets.Similarity;

namespace BigDataAI.Ingestion.Quality;

/// <summary>What one step did over the version: rows in, rows dropped, cells changed, what it found, bounds it used.</summary>
public sealed class StepTally(int index, string step)
{
    public int Index { get; } = index;
    public string Step { get; } = step;
    public long RowsIn { get; set; }
    public long RowsDropped { get; set; }
    public long CellsChanged { get; set; }
    public SortedDictionary<string, long> Found { get; } = new(StringComparer.Ordinal);
    public List<double> Bounds { get; } = [];

    public void Count(string what, long n = 1) => Found[what] = Found.GetValueOrDefault(what) + n;
}

/// <summary>
/// One resolved cleaning step. A step that needs statistics of its input (<see cref="NeedsFit"/>) first sees every row
/// of it through <see cref="Fit"/>; then <see cref="Apply"/> turns each shard of its input into a shard of its output,
/// in order. <see cref="BeginPass"/> is called before every pass over the data.
/// </summary>
internal abstract class CleaningStep(int index, string name)
{
    public int Index { get; } = index;
    public string Name { get; } = name;
    public virtual bool NeedsFit => false;
    public virtual void BeginPass() { }
    public virtual void Fit(Table rows) { }
    public virtual void EndFit(StepTally tally) { }
    public abstract Table Apply(Table rows, StepTally tally);

    protected static Table Keep(Table rows, List<int> kept) => kept.Count == rows.Rows ? rows : rows.Select(kept);
}

/// <summary>Drops rows equal to an earlier row (by <see cref="RowHash"/>); keeps one 64-bit hash per distinct row.</summary>
internal sealed class DropDuplicatesStep(int index) : CleaningStep(index, "drop_duplicates")
{
    private readonly HashSet<ulong> _seen = [];

    public override void BeginPass() => _seen.Clear();

    public override Table Apply(Table rows, StepTally tally)
    {
        var kept = new List<int>(rows.Rows);
        for (var r = 0; r < rows.Rows; r++)
        {
            if (_seen.Add(RowHash.Of(rows, r)))
            {
                kept.Add(r);
            }
        }
        return Keep(rows, kept);
    }
}

/// <summary>
/// Near-duplicates of one column: MinHash + LSH for text, dHash + a Hamming index for images and image tensors. The fit
/// pass decides, row by row in order, whether a row is near an earlier kept row (then it is dropped) and, to merge,
/// tallies the labels of each group; the write pass drops those rows and gives each kept row its group's label.
/// </summary>
internal sealed class NearDuplicatesStep : CleaningStep
{
    private readonly ColumnSchema _column;
    private readonly bool _merge;
    private readonly string? _label;
    private readonly MinHash? _minHash;
    private readonly MinHashLsh? _lsh;
    private readonly HammingIndex? _hamming;
    private readonly HashSet<long> _dropped = [];
    private readonly Dictionary<long, long> _groupOf = [];
    private readonly Dictionary<long, List<(object Label, long Order)>> _votes = [];
    private readonly Dictionary<long, object> _mergedLabel = [];
    private long _order;

    public NearDuplicatesStep(int index, ColumnSchema column, bool merge, double textThreshold, int imageMaxDistance, string? label) : base(index, "near_duplicates")
    {
        _column = column;
        _merge = merge;
        _label = label;
        if (column.Type == ColumnType.String)
        {
            _minHash = new MinHash();
            _lsh = new MinHashLsh(_minHash.Slots, textThreshold);
        }
        else
        {
            _hamming = new HammingIndex(imageMaxDistance);
        }
    }

    public override bool NeedsFit => true;

    public override void Fit(Table rows)
    {
        var column = rows[_column.Name];
        var labels = _merge && _label is not null ? rows[_label] : null;
        for (var r = 0; r < rows.Rows; r++)
        {
            var id = rows.RowIds[r];
            var order = _order++;
            long? near = null;
            if (_minHash is not null && ((string?[])column.Values)[r] is { } text)
            {
                var signature = _minHash.Signature(text);
                var matches = _lsh!.Query(signature);
                if (matches.Count > 0)
                {
                    near = matches[0].Id;
                }
                else
                {
                    _lsh.Add(id, signature);
                }
            }
            else if (_hamming is not null && Hash(column, r) is { } hash)
            {
                var matches = _hamming.Query(hash);
                if (matches.Count > 0)
                {
                    near = matches[0].Id;
                }
                else
                {
                    _hamming.Add(id, hash);
                }
            }
            if (near is not { } kept)
            {
                if (labels is not null && Cells.Get(labels, r) is { } own)
                {
                    _votes[id] = [(own, order)];
                }
                continue;
            }
            _dropped.Add(id);
            _groupOf[id] = kept;
            if (labels is not null && Cells.Get(labels, r) is { } label)
            {
                if (!_votes.TryGetValue(kept, out var list))
                {
                    _votes[kept] = list = [];
                }
                list.Add((label, order));
            }
        }
    }

    public override void EndFit(StepTally tally)
    {
        var groups = _groupOf.Values.Distinct().Count();
        tally.Found.Clear();
        tally.Count("groups", groups);
        if (!_merge)
        {
            _votes.Clear();
            return;
        }
        foreach (var kept in _groupOf.Values.Distinct())
        {
            if (_votes.TryGetValue(kept, out var votes) && votes.Count > 0)
            {
                // The most common label; ties go to the label seen first.
                _mergedLabel[kept] = votes.GroupBy(v => v.Label).OrderByDescending(g => g.Count()).ThenBy(g => g.Min(v => v.Order)).First().Key;
            }
        }
        _votes.Clear();
    }

    public override Table Apply(Table rows, StepTally tally)
    {
        var kept = new List<int>(rows.Rows);
        for (var r = 0; r < rows.Rows; r++)
        {
            if (!_dropped.Contains(rows.RowIds[r]))
            {
                kept.Add(r);
            }
        }
        var result = Keep(rows, kept);
        if (_merge && _label is not null && _mergedLabel.Count > 0)
        {
            if (ReferenceEquals(result, rows))
            {
                result = rows.Select([.. Enumerable.Range(0, rows.Rows)]);
            }
            var labels = result[_label];
            for (var r = 0; r < result.Rows; r++)
            {
                if (_mergedLabel.TryGetValue(result.RowIds[r], out var label) && !Equals(Cells.Get(labels, r), label))
                {
                    Cells.Set(labels, r, label);
                    tally.CellsChanged++;
                }
            }
        }
        return result;
    }

    private ulong? Hash(Column column, int row) => column.Values switch
    {
        byte[]?[] v => v[row] is { } bytes ? PerceptualHash.OfEncoded(bytes) : null,
        float[] v => PerceptualHash.OfTensor(v.AsSpan(row * column.Schema.Width, column.Schema.Width), column.Schema.Shape!),
        _ => null,
    };
}

/// <summary>Drops the rows where a column is null, or fills its nulls with a statistic of the step's input or a constant.</summary>
internal sealed class MissingValuesStep(int index, ColumnSchema column, string action, object? constant) : CleaningStep(index, "missing_values")
{
    public const int SampleSize = 100_000;
    private double _sum;
    private long _count;
    private Reservoir<double>? _sample;
    private readonly Dictionary<object, (long Count, long First)> _counts = [];
    private long _order;
    private object? _fill = constant;

    public override bool NeedsFit => action is "mean" or "median" or "mode";

    public override void BeginPass()
    {
        if (NeedsFit && _fill is null)
        {
            _sample = new Reservoir<double>(SampleSize, seed: 17);
        }
    }

    public override void Fit(Table rows)
    {
        var values = rows[column.Name];
        for (var r = 0; r < rows.Rows; r++)
        {
            if (action == "mode")
            {
                if (Cells.Get(values, r) is { } value)
                {
                    var (n, first) = _counts.GetValueOrDefault(value, (0, _order));
                    _counts[value] = (n + 1, first);
                    _order++;
                }
            }
            else if (Cells.Number(values, r) is { } number)
            {
                _sum += number;
                _count++;
                _sample!.Add(number);
            }
        }
    }

    public override void EndFit(StepTally tally)
    {
        tally.Bounds.Clear();
        switch (action)
        {
            case "mean" when _count > 0:
                _fill = Typed(_sum / _count);
                tally.Bounds.Add(_sum / _count);
                break;
            case "median" when _count > 0:
                var sorted = _sample!.Items.ToArray();
                Array.Sort(sorted);
                var median = DriftStatistics.Quantile(sorted, 0.5);
                _fill = Typed(median);
                tally.Bounds.Add(median);
                break;
            case "mode" when _counts.Count > 0:
                _fill = _counts.OrderByDescending(c => c.Value.Count).ThenBy(c => c.Value.First).First().Key;
                break;
        }
        _counts.Clear();
        _sample = null;
    }

    public override Table Apply(Table rows, StepTally tally)
    {
        var values = rows[column.Name];
        if (action == "drop_row")
        {
            var kept = new List<int>(rows.Rows);
            for (var r = 0; r < rows.Rows; r++)
            {
                if (!values.IsNull(r))
                {
                    kept.Add(r);
                }
            }
            return Keep(rows, kept);
        }
        if (_fill is null)
        {
            return rows; // the column has no value to take a statistic of: its nulls stay
        }
        for (var r = 0; r < rows.Rows; r++)
        {
            if (values.IsNull(r))
            {
                Cells.Set(values, r, _fill);
                tally.CellsChanged++;
            }
        }
        return rows;
    }

    private object Typed(double value) => column.Type == ColumnType.Int64 ? (long)Math.Round(value, MidpointRounding.AwayFromZero) : (object)value;
}

/// <summary>Clips one numeric column to quantile or IQR bounds of the step's input (a seeded sample of its values).</summary>
internal sealed class ClipOutliersStep(int index, ColumnSchema column, string method, double lower, double upper, double factor) : CleaningStep(index, "clip_outliers")
{
    private Reservoir<double>? _sample;
    private (double Low, double High)? _bounds;

    public override bool NeedsFit => true;

    public override void BeginPass() => _sample ??= new Reservoir<double>(MissingValuesStep.SampleSize, seed: 23);

    public override void Fit(Table rows)
    {
        var values = rows[column.Name];
        for (var r = 0; r < rows.Rows; r++)
        {
            if (Cells.Number(values, r) is { } number)
            {
                _sample!.Add(number);
            }
        }
    }

    public override void EndFit(StepTally tally)
    {
        var sorted = _sample!.Items.ToArray();
        _sample = null;
        tally.Bounds.Clear();
        if (sorted.Length == 0)
        {
            return;
        }
        Array.Sort(sorted);
        double low, high;
        if (method == "quantile")
        {
            low = DriftStatistics.Quantile(sorted, lower);
            high = DriftStatistics.Quantile(sorted, upper);
        }
        else
        {
            var q1 = DriftStatistics.Quantile(sorted, 0.25);
            var q3 = DriftStatistics.Quantile(sorted, 0.75);
            low = q1 - factor * (q3 - q1);
            high = q3 + factor * (q3 - q1);
        }
        if (column.Type == ColumnType.Int64)
        {
            (low, high) = (Math.Ceiling(low), Math.Floor(high));
        }
        _bounds = (low, high);
        tally.Bounds.AddRange([low, high]);
    }

    public override Table Apply(Table rows, StepTally tally)
    {
        if (_bounds is not var (low, high))
        {
            return rows;
        }
        switch (rows[column.Name].Values)
        {
            case long?[] v:
                for (var r = 0; r < v.Length; r++)
                {
                    if (v[r] is { } x && (x < low || x > high))
                    {
                        v[r] = (long)Math.Clamp(x, low, high);
                        tally.CellsChanged++;
                    }
                }
                break;
            case double?[] v:
                for (var r = 0; r < v.Length; r++)
                {
                    if (v[r] is { } x && (x < low || x > high))
                    {
                        v[r] = Math.Clamp(x, low, high);
                        tally.CellsChanged++;
                    }
                }
                break;
        }
        return rows;
    }
}

/// <summary>Unicode NFC, runs of white space as one space, trimmed, in string columns.</summary>
internal sealed class NormalizeTextStep(int index, IReadOnlyList<string> columns) : CleaningStep(index, "normalize_text")
{
    public override Table Apply(Table rows, StepTally tally)
    {
        foreach (var name in columns)
        {
            var values = (string?[])rows[name].Values;
            for (var r = 0; r < values.Length; r++)
            {
                if (values[r] is { } text)
                {
                    var normalized = Normalize(text);
                    if (!string.Equals(normalized, text, StringComparison.Ordinal))
                    {
                        values[r] = normalized;
                        tally.CellsChanged++;
                    }
                }
            }
        }
        return rows;
    }

    public static string Normalize(string text)
    {
        var nfc = IcuNormalizer.Nfc(text);
        var result = new StringBuilder(nfc.Length);
        var space = false;
        foreach (var ch in nfc)
        {
            if (char.IsWhiteSpace(ch))
            {
                space = result.Length > 0;
                continue;
            }
            if (space)
            {
                result.Append(' ');
                space = false;
            }
            result.Append(ch);
        }
        return result.ToString();
    }
}

/// <summary>Masks or hashes personal data in string columns (<see cref="PiiScrubber"/>), counting it per kind.</summary>
internal sealed class ScrubPiiStep(int index, IReadOnlyList<string> columns, PiiScrubber scrubber) : CleaningStep(index, "scrub_pii")
{
    public override Table Apply(Table rows, StepTally tally)
    {
        var found = new Dictionary<PiiKind, long>();
        foreach (var name in columns)
        {
            var values = (string?[])rows[name].Values;
            for (var r = 0; r < values.Length; r++)
            {
                if (values[r] is { } text)
                {
                    var scrubbed = scrubber.Scrub(text, found);
                    if (!ReferenceEquals(scrubbed, text))
                    {
                        values[r] = scrubbed;
                        tally.CellsChanged++;
                    }
                }
            }
        }
        foreach (var (kind, n) in found)
        {
            tally.Count(kind.ToString().ToLowerInvariant(), n);
        }
        return rows;
    }
}
