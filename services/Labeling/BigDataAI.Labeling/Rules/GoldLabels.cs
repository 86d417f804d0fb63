namespace BigDataAI.Labeling.Rules;

/// <summary>
/// Each row's gold classes (the labels rules are measured and anchored against), added row by row in version order and
/// held compactly: an end offset per row and the class indices of the rows that have gold, distinct and ascending. A
/// row without gold holds no classes (a gold set is never empty).
/// </summary>
public sealed class GoldLabels
{
    private readonly int[] _ends;
    private readonly List<short> _classes = [];

    public GoldLabels(int rows)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        _ends = new int[rows];
    }

    /// <summary>Rows added so far.</summary>
    public int Rows { get; private set; }

    /// <summary>Adds the next row: its gold class indices, or null (or none) when it has no gold.</summary>
    public void Add(IEnumerable<int>? classes)
    {
        if (classes is not null)
        {
            foreach (var c in classes.Distinct().Order())
            {
                _classes.Add(checked((short)c));
            }
        }
        _ends[Rows] = _classes.Count;
        Rows++;
    }

    /// <summary>The gold classes of <paramref name="row"/>, ascending; empty when it has none.</summary>
    public ReadOnlySpan<short> Of(int row)
    {
        var start = row == 0 ? 0 : _ends[row - 1];
        return System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_classes)[start.._ends[row]];
    }

    public bool Has(int row) => !Of(row).IsEmpty;

    /// <summary>Whether <paramref name="row"/>'s gold classes include <paramref name="class"/>.</summary>
    public bool Contains(int row, int @class) => Of(row).Contains(checked((short)@class));

    /// <summary>Whether <paramref name="row"/> has gold and it is exactly the ascending <paramref name="classes"/>.</summary>
    public bool IsExactly(int row, ReadOnlySpan<int> classes)
    {
        var gold = Of(row);
        if (gold.IsEmpty || gold.Length != classes.Length)
        {
            return false;
        }
        for (var i = 0; i < gold.Length; i++)
        {
            if (gold[i] != classes[i])
            {
                return false;
            }
        }
        return true;
    }
}
