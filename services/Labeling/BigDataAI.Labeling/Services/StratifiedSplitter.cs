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
            // Largest share rounding: test and validation get their rounded share, train the rest.
            var testCount = (int)Math.Round(rows.Length * fractions.Test, MidpointRounding.AwayFromZero);
            var validationCount = (int)Math.Round(rows.Length * fractions.Validation, MidpointRounding.AwayFromZero);
            if (testCount + validationCount > rows.Length)
            {
                validationCount = Math.Max(0, rows.Length - testCount);
            }
            test.AddRange(rows.AsSpan(0, testCount));
            validation.AddRange(rows.AsSpan(testCount, validationCount));
            train.AddRange(rows.AsSpan(testCount + validationCount));
        }
        // Interleave the classes again: a fixed, seeded order rather than class blocks.
        return new Result(Shuffle(train, seed, 1), Shuffle(validation, seed, 2), Shuffle(test, seed, 3));
    }

    // Not HashCode.Combine: that is randomised per process, and a split must be the same everywhere.
    private static int Mix(int seed, int stream) => (int)(((uint)seed * 2654435761u) ^ ((uint)stream * 40503u + 0x9E3779B9u)) & int.MaxValue;

    private static int[] Shuffle(List<int> rows, int seed, int salt)
    {
        var array = rows.ToArray();
        new Random(Mix(seed, 1000 + salt)).Shuffle(array);
        return array;
    }
}
