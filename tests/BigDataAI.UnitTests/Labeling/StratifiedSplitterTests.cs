using BigDataAI.Labeling.Services;

namespace BigDataAI.UnitTests.Labeling;

public sealed class StratifiedSplitterTests
{
    /// <summary>Uneven classes, interleaved: class c holds <c>counts[c]</c> rows.</summary>
    private static long[] Labels(params int[] counts)
    {
        var labels = new List<long>();
        var left = (int[])counts.Clone();
        while (left.Any(n => n > 0))
        {
            for (var c = 0; c < left.Length; c++)
            {
                if (left[c]-- > 0)
                {
                    labels.Add(c);
                }
            }
        }
        return [.. labels];
    }

    private static readonly long[] Mnistish = Labels(101, 113, 99, 103, 98, 86, 101, 107, 94, 98);

    [Fact]
    public void Split_SameSeed_GivesTheIdenticalSplit()
    {
        var a = StratifiedSplitter.Split(Mnistish, 10, SplitFractions.Default, seed: 42);
        var b = StratifiedSplitter.Split(Mnistish, 10, SplitFractions.Default, seed: 42);

        Assert.Equal(a.Train, b.Train);
        Assert.Equal(a.Validation, b.Validation);
        Assert.Equal(a.Test, b.Test);
    }

    [Fact]
    public void Split_IsAFixedFunctionOfTheSeed_NotOfTheProcess()
    {
        // Recorded once: a split must be the same on every machine and in every process, or a labeled version
        // made twice would differ.
        var split = StratifiedSplitter.Split(Labels(5, 5), 2, new SplitFractions(0.6, 0.2, 0.2), seed: 42);

        Assert.Equal(Expected.Train, split.Train);
        Assert.Equal(Expected.Validation, split.Validation);
        Assert.Equal(Expected.Test, split.Test);
    }

    private static readonly StratifiedSplitter.Result Expected = new(Train: [0, 1, 9, 6, 8, 5], Validation: [3, 2], Test: [4, 7]);

    [Fact]
    public void Split_OtherSeed_GivesAnotherSplit()
    {
        var a = StratifiedSplitter.Split(Mnistish, 10, SplitFractions.Default, seed: 1);
        var b = StratifiedSplitter.Split(Mnistish, 10, SplitFractions.Default, seed: 2);

        Assert.NotEqual(a.Test.Order(), b.Test.Order());
        Assert.NotEqual(a.Train, b.Train);
    }

    [Theory]
    [InlineData(0.8, 0.1, 0.1, 42)]
    [InlineData(0.7, 0.15, 0.15, 7)]
    [InlineData(0.5, 0.0, 0.5, 3)]
    [InlineData(0.34, 0.33, 0.33, -5)]
    public void Split_SplitsAreDisjointAndCoverEveryRowOnce(double train, double validation, double test, int seed)
    {
        var split = StratifiedSplitter.Split(Mnistish, 10, new SplitFractions(train, validation, test), seed);

        int[] all = [.. split.Train, .. split.Validation, .. split.Test];
        Assert.Equal(Enumerable.Range(0, Mnistish.Length), all.Order());
    }

    [Theory]
    [InlineData(0.8, 0.1, 0.1)]
    [InlineData(0.7, 0.15, 0.15)]
    [InlineData(0.5, 0.0, 0.5)]
    [InlineData(0.6, 0.25, 0.15)]
    public void Split_EachClassIsCutWithinOneRowOfTheFractions(double train, double validation, double test)
    {
        int[] counts = [101, 113, 99, 103, 98, 86, 101, 107, 94, 98, 1, 2, 3, 7];
        var labels = Labels(counts);

        var split = StratifiedSplitter.Split(labels, counts.Length, new SplitFractions(train, validation, test), seed: 11);

        for (var c = 0; c < counts.Length; c++)
        {
            var n = counts[c];
            var inTrain = split.Train.Count(i => labels[i] == c);
            var inValidation = split.Validation.Count(i => labels[i] == c);
            var inTest = split.Test.Count(i => labels[i] == c);
            Assert.Equal(n, inTrain + inValidation + inTest);
            Assert.InRange(inTrain, n * train - 1, n * train + 1);
            Assert.InRange(inValidation, n * validation - 1, n * validation + 1);
            Assert.InRange(inTest, n * test - 1, n * test + 1);
        }
    }

    [Fact]
    public void Split_ClassesWithOneOrTwoRows_KeepEveryRowInTrain()
    {
        // 0.1 of 1 or 2 rows rounds to none: a tiny class is never dropped, and trains.
        var labels = Labels(50, 1, 2);

        var split = StratifiedSplitter.Split(labels, 3, SplitFractions.Default, seed: 9);

        Assert.Single(split.Train, i => labels[i] == 1);
        Assert.Equal(2, split.Train.Count(i => labels[i] == 2));
        Assert.DoesNotContain(split.Test.Concat(split.Validation), i => labels[i] != 0);
        Assert.Equal(5, split.Test.Length);
        Assert.Equal(5, split.Validation.Length);
        Assert.Equal(43, split.Train.Length);
    }

    [Fact]
    public void Split_ClassWithNoRows_AndNoRowsAtAll_AreFine()
    {
        var split = StratifiedSplitter.Split(Labels(0, 10, 0), 3, SplitFractions.Default, seed: 1);
        Assert.Equal(10, split.Train.Length + split.Validation.Length + split.Test.Length);

        var none = StratifiedSplitter.Split([], 2, SplitFractions.Default, seed: 1);
        Assert.Empty(none.Train);
        Assert.Empty(none.Validation);
        Assert.Empty(none.Test);
    }

    [Fact]
    public void Split_InterleavesTheClasses()
    {
        var labels = Labels(200, 200);

        var split = StratifiedSplitter.Split(labels, 2, SplitFractions.Default, seed: 5);

        // Class blocks would put every class-0 row first and every class-1 row last.
        var half = split.Train.Length / 2;
        Assert.Contains(split.Train[..half], i => labels[i] == 1);
        Assert.Contains(split.Train[half..], i => labels[i] == 0);
    }

    [Theory]
    [InlineData(0.0, 0.5, 0.5)]
    [InlineData(0.8, 0.2, 0.0)]
    [InlineData(-0.1, 0.6, 0.5)]
    [InlineData(0.8, -0.1, 0.3)]
    [InlineData(0.8, 0.1, 0.2)]
    [InlineData(0.5, 0.1, 0.1)]
    [InlineData(double.NaN, 0.1, 0.1)]
    [InlineData(0.8, double.NaN, 0.1)]
    [InlineData(0.8, 0.1, double.NaN)]
    [InlineData(double.PositiveInfinity, 0.1, 0.1)]
    public void Split_InvalidFractions_AreRejectedNamingThem(double train, double validation, double test)
    {
        var fractions = new SplitFractions(train, validation, test);

        var e = Assert.Throws<ArgumentException>(() => StratifiedSplitter.Split(Mnistish, 10, fractions, seed: 1));

        Assert.Contains($"Split fractions {train}/{validation}/{test}", e.Message);
        Assert.Contains("sum to 1", e.Message);
        Assert.Throws<ArgumentException>(fractions.Validate);
    }

    [Fact]
    public void Fractions_Default_Is80_10_10AndValid()
    {
        Assert.Equal(new SplitFractions(0.8, 0.1, 0.1), SplitFractions.Default);
        SplitFractions.Default.Validate();
        new SplitFractions(0.7, 0.2, 0.1).Validate();
    }
}
