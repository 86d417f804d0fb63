namespace BigDataAI.Labeling.Services;

/// <summary>Fractions of each class that go to the train, validation and test splits.</summary>
public sealed record SplitFractions(double Train, double Validation, double Test)
{
    public static readonly SplitFractions Default = new(0.8, 0.1, 0.1);

    public void Validate()
    {
        // Written so that NaN fails too: every comparison with NaN is false.
        if (!(Train > 0 && Validation >= 0 && Test > 0 && Math.Abs(Train + Validation + Test - 1.0) <= 1e-9))
        {
            throw new ArgumentException($"Split fractions {Train}/{Validation}/{Test} must be positive for train and test, non-negative for validation, and sum to 1.");
        }
    }
}

/// <summary>
/// A seeded, stratified split: every class is shuffled with its own seeded generator and cut by the fractions,
/// so each split holds the classes in the same proportions, and the same seed always gives the same split.
/// </summary>
public static class StratifiedSplitter
{
    public sealed record Result(int[] Train, int[] Validation, int[] Test);

    public static Result Split(ReadOnlySpan<long> labels, int classes, SplitFractions fractions, int seed)
    {
        fractions.Validate();
        var byClass = new List<int>[classes];
        for (var c = 0; c < classes; c++)
        {
            byClass[c] = [];
        }
        for (var i = 0; i < labels.Length; i++)
        {
            byClass[labels[i]].Add(i);
        }
        var train = new List<int>();
        var validation = new List<int>();
        var test = new List<int>();
        for (var c = 0; c < classes; c++)
        {
            var rows = byClass[c].ToArray();
            new Random(Mix(seed, c)).Shuffle(rows);
            var (testQuota, validationQuota) = Quotas(rows.Length, fractions);
            var (testCount, validationCount) = ((int)testQuota, (int)validationQuota);
            test.AddRange(rows.AsSpan(0, testCount));
            validation.AddRange(rows.AsSpan(testCount, validationCount));
            train.AddRange(rows.AsSpan(testCount + validationCount));
        }
        // Interleave the classes again: a fixed, seeded order rather than class blocks.
        return new Result(Shuffle(train, seed, 1), Shuffle(validation, seed, 2), Shuffle(test, seed, 3));
    }

    /// <summary>
    /// How many of a class's <paramref name="rows"/> go to test and to validation (train takes the rest): each rounded
    /// half away from zero, validation cut back when the two would exceed the class.
    /// </summary>
    public static (long Test, long Validation) Quotas(long rows, SplitFractions fractions)
    {
        var test = (long)Math.Round(rows * fractions.Test, MidpointRounding.AwayFromZero);
        var validation = (long)Math.Round(rows * fractions.Validation, MidpointRounding.AwayFromZero);
        if (test + validation > rows)
        {
            validation = Math.Max(0, rows - test);
        }
        return (test, validation);
    }

    // Not HashCode.Combine: that is randomised per process, and a split must be the same everywhere.
    internal static int Mix(int seed, int stream) => (int)(((uint)seed * 2654435761u) ^ ((uint)stream * 40503u + 0x9E3779B9u)) & int.MaxValue;

    private static int[] Shuffle(List<int> rows, int seed, int salt)
    {
        var array = rows.ToArray();
        new Random(Mix(seed, 1000 + salt)).Shuffle(array);
        return array;
    }
}

/// <summary>
/// A stratified split for rows that stream past once (a version read shard by shard), in memory that does not grow with
/// the rows: given each class's row count in advance, every row is assigned as it arrives by selection sampling (Knuth's
/// algorithm S, one category per split): with <c>t</c> test and <c>v</c> validation places left among the class's
/// <c>n</c> remaining rows, a draw <c>u</c> in [0, n) from the class's own <c>System.Random(Mix(seed, class))</c> sends
/// the row to test when <c>u &lt; t</c>, to validation when <c>u &lt; t + v</c>, to train otherwise. Every class ends
/// with exactly <see cref="StratifiedSplitter.Quotas"/> rows in test and validation (the counts the in-memory
/// <see cref="StratifiedSplitter.Split"/> gives), each such choice of rows equally likely, and the same rows in the same
/// order always get the same splits.
/// </summary>
public sealed class StreamedStratifiedSplit
{
    /// <summary>What <see cref="Assign"/> returns.</summary>
    public const int Train = 0, Validation = 1, Test = 2;

    private readonly long[] _remaining;
    private readonly long[] _testLeft;
    private readonly long[] _validationLeft;
    private readonly Random[] _random;

    /// <param name="classCounts">Rows of each class the stream will hold (labeled rows only).</param>
    /// <param name="fractions">The split fractions (validated).</param>
    /// <param name="seed">The split seed.</param>
    public StreamedStratifiedSplit(IReadOnlyList<long> classCounts, SplitFractions fractions, int seed)
    {
        ArgumentNullException.ThrowIfNull(classCounts);
        fractions.Validate();
        var classes = classCounts.Count;
        _remaining = new long[classes];
        _testLeft = new long[classes];
        _validationLeft = new long[classes];
        _random = new Random[classes];
        for (var c = 0; c < classes; c++)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(classCounts[c]);
            _remaining[c] = classCounts[c];
            (_testLeft[c], _validationLeft[c]) = StratifiedSplitter.Quotas(classCounts[c], fractions);
            _random[c] = new Random(StratifiedSplitter.Mix(seed, c));
        }
    }

    /// <summary>The split of the next row of class <paramref name="classIndex"/>: <see cref="Train"/>, <see cref="Validation"/> or <see cref="Test"/>.</summary>
    /// <exception cref="InvalidDataException">The stream holds more rows of the class than it was said to.</exception>
    public int Assign(long classIndex)
    {
        var c = checked((int)classIndex);
        if (_remaining[c] == 0)
        {
            throw new InvalidDataException($"Class {c} has more rows than the {_remaining.Length}-class counts the split was planned with.");
        }
        var u = _random[c].NextInt64(_remaining[c]);
        _remaining[c]--;
        if (u < _testLeft[c])
        {
            _testLeft[c]--;
            return Test;
        }
        if (u < _testLeft[c] + _validationLeft[c])
        {
            _validationLeft[c]--;
            return Validation;
        }
        return Train;
    }

    /// <summary>Throws an <see cref="InvalidDataException"/> naming the first class that had fewer rows than planned.</summary>
    public void EnsureComplete()
    {
        for (var c = 0; c < _remaining.Length; c++)
        {
            if (_remaining[c] != 0)
            {
                throw new InvalidDataException($"Class {c} had {_remaining[c]} rows fewer than the counts the split was planned with.");
            }
        }
    }
}
