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
    /// Adds a shard's column. <paramref name="labels"/> is each row's class (null: unlabeled) when leakage is tracked;
    /// <paramref name="rowHashes"/> gets this column's cell hash folded in.
    /// </summary>
    public void Observe(Column column, long[] rowIds, string?[]? labels, ulong[] rowHashes)
    {
        var rows = column.Rows;
        Rows += rows;
        switch (column.Values)
        {
            case long?[] v:
                for (var r = 0; r < rows; r++)
                {
                    if (v[r] is not { } x)
                    {
                        Null(r, rowHashes);
                        continue;
                    }
                    var text = x.ToString(CultureInfo.InvariantCulture);
                    Number(x, rowIds[r], labels?[r]);
                    Category(text, labels?[r]);
                    var h = StableHash.Of(x);
                    Distinct!.Add(h);
                    rowHashes[r] = StableHash.Combine(rowHashes[r], h);
                }
                break;
            case double?[] v:
                for (var r = 0; r < rows; r++)
                {
                    if (v[r] is not { } x)
                    {
                        Null(r, rowHashes);
                        continue;
                    }
                    var h = StableHash.Of(x);
                    Distinct!.Add(h);
                    rowHashes[r] = StableHash.Combine(rowHashes[r], h);
                    Top!.Add(x.ToString("R", CultureInfo.InvariantCulture));
                    if (double.IsFinite(x))
                    {
                        Number(x, rowIds[r], labels?[r]);
                    }
                    else
                    {
                        NonFinite++;
                    }
                }
                break;
            case bool?[] v:
                for (var r = 0; r < rows; r++)
                {
                    if (v[r] is not { } x)
                    {
                        Null(r, rowHashes);
                        continue;
                    }
                    var text = x ? "true" : "false";
                    Category(text, labels?[r]);
                    var h = StableHash.Of(x ? 1L : 0L);
                    Distinct!.Add(h);
                    rowHashes[r] = StableHash.Combine(rowHashes[r], h);
                }
                break;
            case string?[] v:
                for (var r = 0; r < rows; r++)
                {
                    if (v[r] is not { } x)
                    {
                        Null(r, rowHashes);
                        continue;
                    }
                    Moments.Add(x.Length);
                    Sketch.Add(x.Length);
                    Category(x, labels?[r]);
                    var h = StableHash.Of(x);
                    Distinct!.Add(h);
                    rowHashes[r] = StableHash.Combine(rowHashes[r], h);
                }
                break;
            case DateTime?[] v:
                for (var r = 0; r < rows; r++)
                {
                    if (v[r] is not { } x)
                    {
                        Null(r, rowHashes);
                        continue;
                    }
                    var micros = (x.ToUniversalTime() - DateTime.UnixEpoch).Ticks / 10;
                    Number(micros, rowIds[r], labels?[r]);
                    var h = StableHash.Of(micros);
                    Distinct!.Add(h);
                    rowHashes[r] = StableHash.Combine(rowHashes[r], h);
                }
                break;
            case byte[]?[] v:
                for (var r = 0; r < rows; r++)
                {
                    if (v[r] is not { } x)
                    {
                        Null(r, rowHashes);
                        continue;
                    }
                    Moments.Add(x.Length);
                    Sketch.Add(x.Length);
                    var h = StableHash.Of(x);
                    Distinct!.Add(h);
                    rowHashes[r] = StableHash.Combine(rowHashes[r], h);
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

    private void Null(int r, ulong[] rowHashes)
    {
        Nulls++;
        rowHashes[r] = StableHash.Combine(rowHashes[r], 0x6E756C6CUL);
    }

    private void Number(double x, long row, string? label)
    {
        Moments.Add(x);
        Sketch.Add(x);
        Extremes?.Add(x, row);
        if (ByClass is not null && label is not null)
        {
            if (!ByClass.TryGetValue(label, out var sketch))
            {
                ByClass[label] = sketch = new KllSketch();
            }
            sketch.Add(x);
        }
    }

    private void Category(string text, string? label)
    {
        Top?.Add(text);
        if (ValueByClass is null || label is null)
        {
            return;
        }
        if (!ValueByClass.TryGetValue(text, out var byClass))
        {
            if (ValueByClass.Count >= MaxCategoricalValues)
            {
                ValueByClass = null;
                return;
            }
            ValueByClass[text] = byClass = new(StringComparer.Ordinal);
        }
        byClass[label] = byClass.GetValueOrDefault(label) + 1;
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
