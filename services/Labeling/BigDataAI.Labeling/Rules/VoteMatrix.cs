namespace BigDataAI.Labeling.Rules;

/// <summary>
/// The votes of labeling functions over a version's rows (rows by functions; a class index or
/// <see cref="LabelModel.Abstain"/>), held compactly so that a large version's matrix fits where its rows would not: one
/// byte a cell when the votes fit in a signed byte (fewer than 128 classes), else two.
/// </summary>
public sealed class VoteMatrix
{
    private readonly sbyte[]? _narrow;
    private readonly short[]? _wide;

    /// <summary>An all-abstain matrix able to hold votes for up to <paramref name="classes"/> classes.</summary>
    public VoteMatrix(int rows, int functions, int classes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(functions);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(classes, short.MaxValue);
        Rows = rows;
        Functions = functions;
        var cells = checked(rows * functions);
        if (classes <= sbyte.MaxValue)
        {
            _narrow = new sbyte[cells];
            Array.Fill(_narrow, (sbyte)LabelModel.Abstain);
        }
        else
        {
            _wide = new short[cells];
            Array.Fill(_wide, (short)LabelModel.Abstain);
        }
    }

    public int Rows { get; }

    public int Functions { get; }

    /// <summary>Bytes held for the cells.</summary>
    public long Bytes => _narrow?.LongLength ?? _wide!.LongLength * sizeof(short);

    public int this[int row, int function]
    {
        get
        {
            var at = Index(row, function);
            return _narrow is { } narrow ? narrow[at] : _wide![at];
        }
        set
        {
            var at = Index(row, function);
            if (_narrow is { } narrow)
            {
                narrow[at] = value is >= sbyte.MinValue and <= sbyte.MaxValue ? (sbyte)value
                    : throw new ArgumentOutOfRangeException(nameof(value), value, $"row {row}, function {function}: vote {value} does not fit this matrix's classes");
            }
            else
            {
                _wide![at] = value is >= short.MinValue and <= short.MaxValue ? (short)value
                    : throw new ArgumentOutOfRangeException(nameof(value), value, $"row {row}, function {function}: vote {value} does not fit this matrix's classes");
            }
        }
    }

    /// <summary>Copies <paramref name="votes"/> (one shard's matrix, the same functions) into rows <paramref name="firstRow"/> on.</summary>
    public void CopyFrom(int[,] votes, int firstRow)
    {
        ArgumentNullException.ThrowIfNull(votes);
        ArgumentOutOfRangeException.ThrowIfNotEqual(votes.GetLength(1), Functions);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(firstRow + votes.GetLength(0), Rows);
        for (var i = 0; i < votes.GetLength(0); i++)
        {
            for (var j = 0; j < Functions; j++)
            {
                this[firstRow + i, j] = votes[i, j];
            }
        }
    }

    /// <summary>A copy of a plain matrix (for callers and tests that build one by hand); its values are checked by the models, not here.</summary>
    public static implicit operator VoteMatrix(int[,] votes)
    {
        ArgumentNullException.ThrowIfNull(votes);
        var widest = 0;
        foreach (var v in votes)
        {
            widest = Math.Max(widest, Math.Abs(v));
        }
        var matrix = new VoteMatrix(votes.GetLength(0), votes.GetLength(1), Math.Min(widest + 1, short.MaxValue));
        matrix.CopyFrom(votes, 0);
        return matrix;
    }

    private int Index(int row, int function)
    {
        if ((uint)row >= (uint)Rows || (uint)function >= (uint)Functions)
        {
            throw new ArgumentOutOfRangeException(nameof(row), $"Cell ({row}, {function}) is outside a {Rows} x {Functions} vote matrix.");
        }
        return (row * Functions) + function;
    }
}
