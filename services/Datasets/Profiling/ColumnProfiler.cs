using System.Globalization;
using System.Runtime.InteropServices;

namespace BigDataAI.Datasets.Profiling;

/// <summary>
/// The mergeable state of one column's profile: moments and a quantile sketch of its numeric measure, a distinct-count
/// sketch, heavy hitters, extremes with their rows, and what is needed for leakage hints (value-by-class counts for
/// categoricals, one quantile sketch per class for numbers). Serializable as it is (System.Text.Json), so a part's state
/// travels as JSON between replicas.
/// </summary>
public sealed class ColumnProfiler
{
    /// <summary>Distinct values kept per column for the categorical leakage hint; past it the column is not categorical.</summary>
    public const int MaxCategoricalValues = 1000;

    public ColumnSchema Column { get; set; } = null!;

    public long Rows { get; set; }

    public long Nulls { get; set; }

    public long NonFinite { get; set; }

    public Moments Moments { get; set; } = new();

    public KllSketch Sketch { get; set; } = new();

    public HyperLogLog? Distinct { get; set; }

    public HeavyHitters? Top { get; set; }

    public Extremes? Extremes { get; set; }

    /// <summary>Categorical leakage: per value, rows per class; null once the column had more than <see cref="MaxCategoricalValues"/> values.</summary>
    public Dictionary<string, Dictionary<string, long>>? ValueByClass { get; set; }

    /// <summary>Numeric leakage: per class, a quantile sketch of the column's values.</summary>
    public Dictionary<string, KllSketch>? ByClass { get; set; }

    public static ColumnProfiler For(ColumnSchema column, bool leakage)
    {
        var p = new ColumnProfiler { Column = column };
        var numeric = column.Type is ColumnType.Int64 or ColumnType.Double or ColumnType.Timestamp;
        if (column.Type != ColumnType.Tensor)
        {
            p.Distinct = new HyperLogLog();
        }
        if (column.Type is ColumnType.Int64 or ColumnType.Double or ColumnType.Bool or ColumnType.String)
        {
            p.Top = new HeavyHitters();
        }
        if (numeric)
        {
            p.Extremes = new Extremes();
        }
        if (leakage && column.Role is not (ColumnRole.Label or ColumnRole.Id or ColumnRole.Ignored))
        {
            if (column.Type is ColumnType.Bool or ColumnType.String or ColumnType.Int64)
            {
                p.ValueByClass = new(StringComparer.Ordinal);
            }
            if (numeric)
            {
                p.ByClass = new(StringComparer.Ordinal);
            }
        }
        return p;
    }

    /// <summary>
    /// Adds a shard's column. <paramref name="labels"/> gives each row's class when leakage is tracked (null otherwise);
    /// <paramref name="rowHashes"/> gets this column's cell hash folded in. Int64, double, bool and timestamp cells go
    /// through one typed loop (<see cref="ObserveKeyed"/>) that tallies distinct values in <paramref name="tally"/> and
    /// feeds the sketches once per distinct value; strings, binaries and tensors are measured by length or element.
    /// </summary>
    internal void Observe(Column column, long[] rowIds, ShardLabels? labels, ulong[] rowHashes, CellTally tally)
    {
        var rows = column.Rows;
        Rows += rows;
        switch (column.Values)
        {
            case long?[] v:
                ObserveKeyed(new Int64Cells(v), rows, rowIds, labels, rowHashes, tally);
                break;
            case double?[] v:
                ObserveKeyed(new DoubleCells(v), rows, rowIds, labels, rowHashes, tally);
                break;
            case bool?[] v:
                ObserveKeyed(new BoolCells(v), rows, rowIds, labels, rowHashes, tally);
                break;
            case DateTime?[] v:
                ObserveKeyed(new TimestampCells(v), rows, rowIds, labels, rowHashes, tally);
                break;
            case string?[] v:
                for (var r = 0; r < rows; r++)
                {
                    if (v[r] is not { } x)
                    {
                        Null(r, rowHashes);
                        continue;
                    }
                    Length(x.Length, StableHash.Of(x), r, rowHashes);
                    Category(x, labels?.Text[r]);
                }
                break;
            case byte[]?[] v:
                for (var r = 0; r < rows; r++)
                {
                    if (v[r] is { } x)
                    {
                        Length(x.Length, StableHash.Of(x), r, rowHashes);
                    }
                    else
                    {
                        Null(r, rowHashes);
                    }
                }
                break;
            case float[] v:
                var width = column.Schema.Width;
                for (var r = 0; r < rows; r++)
                {
                    var cells = v.AsSpan(r * width, width);
                    foreach (var x in cells)
                    {
                        if (float.IsFinite(x))
                        {
                            Moments.Add(x);
                            Sketch.Add(x);
                        }
                        else
                        {
                            NonFinite++;
                        }
                    }
                    rowHashes[r] = StableHash.Combine(rowHashes[r], StableHash.Of(MemoryMarshal.AsBytes(cells)));
                }
                break;
        }
    }

    /// <summary>
    /// One loop for every type whose cell is a 64-bit key (the value, a double's bits, 0/1, Unix microseconds). Per cell:
    /// the row hash, the extremes (they need the row) and a tally increment; per distinct value and flush: the distinct
    /// count, moments, quantile sketch, heavy hitters and the leakage counts, each with the value's count. The distinct
    /// registers, counts, extremes and leakage counts are what per-cell updates give; moments agree to rounding, and
    /// the quantile and heavy-hitter sketches stay within their bounds (they see a value's copies at once).
    /// </summary>
    private void ObserveKeyed<TCells>(TCells cells, int rows, long[] rowIds, ShardLabels? labels, ulong[] rowHashes, CellTally tally)
        where TCells : struct, IKeyedCells
    {
        var classes = labels is not null && (ValueByClass is not null || ByClass is not null) ? labels.Class : null;
        var extremes = Extremes;
        // Values strictly inside (low, high) cannot enter the kept extremes (a tie never displaces a kept value).
        var (low, high) = extremes?.Bounds() ?? (double.NegativeInfinity, double.PositiveInfinity);
        tally.Clear();
        for (var r = 0; r < rows; r++)
        {
            if (!cells.TryRead(r, out var key))
            {
                Null(r, rowHashes);
                continue;
            }
            var hash = cells.Hash(key);
            rowHashes[r] = StableHash.Combine(rowHashes[r], hash);
            if (extremes is not null && cells.IsNumber(key) && (cells.Number(key) is var x) && (x <= low || x >= high))
            {
                extremes.Add(x, rowIds[r]);
                (low, high) = extremes.Bounds();
            }
            var value = tally.Add(key, hash);
            if (classes is not null && classes[r] >= 0)
            {
                tally.AddPair(value, classes[r]);
            }
            if (tally.Full)
            {
                Flush(cells, labels, tally);
            }
        }
        Flush(cells, labels, tally);
    }

    private void Flush<TCells>(TCells cells, ShardLabels? labels, CellTally tally)
        where TCells : struct, IKeyedCells
    {
        // Per class of this shard, its quantile sketch, looked up once per flush rather than once per pair.
        var sketches = labels is not null && ByClass is not null ? new KllSketch?[labels.Names.Length] : null;
        for (var i = 0; i < tally.Values; i++)
        {
            var (key, count) = (tally.Keys[i], tally.Counts[i]);
            Distinct?.Add(tally.Hashes[i]);
            var number = cells.IsNumber(key);
            var x = number ? cells.Number(key) : 0;
            if (number)
            {
                Moments.Add(x, count);
                Sketch.Add(x, count);
            }
            else if (cells.IsNonFinite(key))
            {
                NonFinite += count;
            }
            string? text = null;
            if (Top is not null)
            {
                Top.Add(text = cells.Text(key), count);
            }
            if (labels is null || tally.FirstPair[i] < 0)
            {
                continue;
            }
            var byClass = ValueByClass is not null ? ClassCountsOf(text ?? cells.Text(key)) : null;
            for (var p = tally.FirstPair[i]; p >= 0; p = tally.NextPair[p])
            {
                var cls = tally.PairKeys[p] % CellTally.MaxClasses;
                var n = tally.PairCounts[p];
                if (sketches is not null && number)
                {
                    (sketches[cls] ??= SketchOf(labels.Names[cls])).Add(x, n);
                }
                if (byClass is not null)
                {
                    CollectionsMarshal.GetValueRefOrAddDefault(byClass, labels.Names[cls], out _) += n;
                }
            }
        }
        tally.Clear();
    }

    private KllSketch SketchOf(string label)
    {
        if (!ByClass!.TryGetValue(label, out var sketch))
        {
            ByClass[label] = sketch = new KllSketch();
        }
        return sketch;
    }

    private void Length(int length, ulong hash, int r, ulong[] rowHashes)
    {
        Moments.Add(length);
        Sketch.Add(length);
        Distinct!.Add(hash);
        rowHashes[r] = StableHash.Combine(rowHashes[r], hash);
    }

    private void Null(int r, ulong[] rowHashes)
    {
        Nulls++;
        rowHashes[r] = StableHash.Combine(rowHashes[r], 0x6E756C6CUL);
    }

    private void Category(string text, string? label)
    {
        Top?.Add(text);
        if (label is not null && ClassCountsOf(text) is { } byClass)
        {
            byClass[label] = byClass.GetValueOrDefault(label) + 1;
        }
    }

    /// <summary>Value <paramref name="text"/>'s rows per class for the categorical leakage hint; null once the column has too many values.</summary>
    private Dictionary<string, long>? ClassCountsOf(string text)
    {
        if (ValueByClass is null)
        {
            return null;
        }
        if (!ValueByClass.TryGetValue(text, out var byClass))
        {
            if (ValueByClass.Count >= MaxCategoricalValues)
            {
                ValueByClass = null;
                return null;
            }
            ValueByClass[text] = byClass = new(StringComparer.Ordinal);
        }
        return byClass;
    }

    public void Merge(ColumnProfiler other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (!other.Column.Equals(Column))
        {
            throw new ArgumentException($"Cannot merge the profile of column '{other.Column.Name}' ({other.Column.TypeName}) into '{Column.Name}' ({Column.TypeName}).", nameof(other));
        }
        Rows += other.Rows;
        Nulls += other.Nulls;
        NonFinite += other.NonFinite;
        Moments.Merge(other.Moments);
        Sketch.Merge(other.Sketch);
        if (Distinct is not null && other.Distinct is not null)
        {
            Distinct.Merge(other.Distinct);
        }
        if (Top is not null && other.Top is not null)
        {
            Top.Merge(other.Top);
        }
        if (Extremes is not null && other.Extremes is not null)
        {
            Extremes.Merge(other.Extremes);
        }
        if (ValueByClass is not null && other.ValueByClass is not null)
        {
            foreach (var (value, counts) in other.ValueByClass)
            {
                if (!ValueByClass.TryGetValue(value, out var mine))
                {
                    ValueByClass[value] = mine = new(StringComparer.Ordinal);
                }
                foreach (var (label, n) in counts)
                {
                    mine[label] = mine.GetValueOrDefault(label) + n;
                }
            }
            if (ValueByClass.Count > MaxCategoricalValues)
            {
                ValueByClass = null;
            }
        }
        else
        {
            ValueByClass = null;
        }
        if (ByClass is not null && other.ByClass is not null)
        {
            foreach (var (label, sketch) in other.ByClass)
            {
                if (!ByClass.TryGetValue(label, out var mine))
                {
                    ByClass[label] = mine = new KllSketch();
                }
                mine.Merge(sketch);
            }
        }
    }
}

/// <summary>A shard's labels for leakage: each row's text and class index (-1: unlabeled), and the classes' names.</summary>
internal sealed record ShardLabels(string?[] Text, int[] Class, string[] Names);

/// <summary>A column whose cells are 64-bit keys; implemented by structs so the loop over them is compiled per type.</summary>
internal interface IKeyedCells
{
    bool TryRead(int row, out long key);

    /// <summary>The cell's hash for the distinct count and the row hash (the same as every earlier build computed).</summary>
    ulong Hash(long key);

    /// <summary>Whether the cell counts as a number (moments, quantiles, extremes, numeric leakage).</summary>
    bool IsNumber(long key);

    double Number(long key);

    bool IsNonFinite(long key);

    /// <summary>The cell as the top values and categorical leakage show it.</summary>
    string Text(long key);
}

internal readonly struct Int64Cells(long?[] values) : IKeyedCells
{
    public bool TryRead(int row, out long key)
    {
        var v = values[row];
        key = v.GetValueOrDefault();
        return v.HasValue;
    }

    public ulong Hash(long key) => StableHash.Of(key);

    public bool IsNumber(long key) => true;

    public double Number(long key) => key;

    public bool IsNonFinite(long key) => false;

    public string Text(long key) => key.ToString(CultureInfo.InvariantCulture);
}

/// <summary>Keyed by the double's bits, so -0 and 0 (and NaN payloads) keep their own text.</summary>
internal readonly struct DoubleCells(double?[] values) : IKeyedCells
{
    public bool TryRead(int row, out long key)
    {
        var v = values[row];
        key = BitConverter.DoubleToInt64Bits(v.GetValueOrDefault());
        return v.HasValue;
    }

    public ulong Hash(long key) => StableHash.Of(BitConverter.Int64BitsToDouble(key));

    public bool IsNumber(long key) => double.IsFinite(BitConverter.Int64BitsToDouble(key));

    public double Number(long key) => BitConverter.Int64BitsToDouble(key);

    public bool IsNonFinite(long key) => !IsNumber(key);

    public string Text(long key) => BitConverter.Int64BitsToDouble(key).ToString("R", CultureInfo.InvariantCulture);
}

internal readonly struct BoolCells(bool?[] values) : IKeyedCells
{
    public bool TryRead(int row, out long key)
    {
        var v = values[row];
        key = v.GetValueOrDefault() ? 1 : 0;
        return v.HasValue;
    }

    public ulong Hash(long key) => StableHash.Of(key);

    public bool IsNumber(long key) => false;

    public double Number(long key) => key;

    public bool IsNonFinite(long key) => false;

    public string Text(long key) => key == 1 ? "true" : "false";
}

/// <summary>Unix microseconds (UTC).</summary>
internal readonly struct TimestampCells(DateTime?[] values) : IKeyedCells
{
    public bool TryRead(int row, out long key)
    {
        var v = values[row];
        key = v is { } x ? (x.ToUniversalTime() - DateTime.UnixEpoch).Ticks / 10 : 0;
        return v.HasValue;
    }

    public ulong Hash(long key) => StableHash.Of(key);

    public bool IsNumber(long key) => true;

    public double Number(long key) => key;

    public bool IsNonFinite(long key) => false;

    public string Text(long key) => key.ToString(CultureInfo.InvariantCulture);
}
