using BigDataAI.Labeling.Agreement;

namespace BigDataAI.UnitTests.Labeling;

/// <summary>Each measure against the worked example of the paper or reference that defines it.</summary>
public sealed class AgreementTests
{
    [Fact]
    public void Cohens_kappa_matches_the_textbook_two_by_two_example()
    {
        // 50 items: both yes 20, A yes / B no 5, A no / B yes 10, both no 15: p_o = 0.70, p_e = 0.50, kappa = 0.40.
        var a = new List<int>();
        var b = new List<int>();
        void Add(int count, int x, int y)
        {
            a.AddRange(Enumerable.Repeat(x, count));
            b.AddRange(Enumerable.Repeat(y, count));
        }
        Add(20, 1, 1);
        Add(5, 1, 0);
        Add(10, 0, 1);
        Add(15, 0, 0);
        Assert.Equal(0.40, InterAnnotatorAgreement.CohenKappa(a, b, 2)!.Value, 10);

        var ratings = a.Select((x, i) => new Rating(i, "ann", x)).Concat(b.Select((y, i) => new Rating(i, "bob", y))).ToList();
        var result = InterAnnotatorAgreement.Compute(ratings, 2);
        Assert.Equal("cohen", result.Method);
        Assert.Equal(0.40, result.Value!.Value, 10);
        Assert.Equal(50, result.Items);
        // With two classes, each class against the rest is the same table.
        Assert.All(result.PerClass, k => Assert.Equal(0.40, k!.Value, 10));
    }

    [Fact]
    public void Fleiss_kappa_matches_fleiss_1971_worked_example()
    {
        // 10 subjects, 14 raters, 5 categories (the example in Fleiss 1971 as reproduced on Wikipedia):
        // P-bar = 0.378, P-bar_e = 0.213, kappa = 0.210.
        int[,] counts =
        {
            { 0, 0, 0, 0, 14 }, { 0, 2, 6, 4, 2 }, { 0, 0, 3, 5, 6 }, { 0, 3, 9, 2, 0 }, { 2, 2, 8, 1, 1 },
            { 7, 7, 0, 0, 0 }, { 3, 2, 6, 3, 0 }, { 2, 5, 3, 2, 2 }, { 6, 5, 2, 1, 0 }, { 0, 2, 2, 3, 7 },
        };
        var (overall, perClass) = InterAnnotatorAgreement.FleissKappa(counts);
        Assert.Equal(0.210, overall!.Value, 3);
        Assert.Equal(5, perClass.Count);
        Assert.All(perClass, k => Assert.InRange(k!.Value, -1, 1));

        // The same table given as ratings goes to Fleiss and gives the same figure.
        var ratings = new List<Rating>();
        for (var item = 0; item < 10; item++)
        {
            var rater = 0;
            for (var c = 0; c < 5; c++)
            {
                for (var k = 0; k < counts[item, c]; k++)
                {
                    ratings.Add(new Rating(item, $"r{rater++}", c));
                }
            }
        }
        var result = InterAnnotatorAgreement.Compute(ratings, 5);
        Assert.Equal("fleiss", result.Method);
        Assert.Equal(overall.Value, result.Value!.Value, 12);
    }

    [Fact]
    public void Fleiss_per_class_kappa_equals_the_overall_one_with_two_classes()
    {
        int[,] counts = { { 3, 0 }, { 2, 1 }, { 1, 2 }, { 0, 3 }, { 3, 0 }, { 1, 2 } };
        var (overall, perClass) = InterAnnotatorAgreement.FleissKappa(counts);
        Assert.Equal(overall!.Value, perClass[0]!.Value, 12);
        Assert.Equal(overall.Value, perClass[1]!.Value, 12);
    }

    [Fact]
    public void Krippendorffs_alpha_matches_krippendorffs_worked_example_with_missing_values()
    {
        // Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability": 4 observers, 12 units, missing values,
        // nominal alpha = 0.743. Unit 12 has one value and is not pairable.
        int?[][] observers =
        [
            [1, 2, 3, 3, 2, 1, 4, 1, 2, null, null, null],
            [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, null, 3],
            [null, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, null],
            [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, null],
        ];
        var ratings = new List<Rating>();
        for (var o = 0; o < observers.Length; o++)
        {
            for (var u = 0; u < 12; u++)
            {
                if (observers[o][u] is { } value)
                {
                    ratings.Add(new Rating(u, $"observer{o}", value - 1));
                }
            }
        }
        var result = InterAnnotatorAgreement.Compute(ratings, 5);
        Assert.Equal("krippendorff", result.Method);
        Assert.Equal(0.743, result.Value!.Value, 3);
        Assert.Equal(11, result.Items);
        Assert.Equal(4, result.Annotators);
    }

    [Fact]
    public void Perfect_agreement_is_one_and_agreement_on_a_single_class_is_undefined()
    {
        var perfect = Enumerable.Range(0, 6).SelectMany(i => new[] { new Rating(i, "a", i % 3), new Rating(i, "b", i % 3) });
        Assert.Equal(1.0, InterAnnotatorAgreement.Compute(perfect, 3).Value!.Value, 12);

        var oneClass = Enumerable.Range(0, 6).SelectMany(i => new[] { new Rating(i, "a", 1), new Rating(i, "b", 1), new Rating(i, "c", 1) });
        var result = InterAnnotatorAgreement.Compute(oneClass, 3);
        Assert.Null(result.Value);
        Assert.Null(result.PerClass[1]);
    }

    [Fact]
    public void Bad_ratings_are_refused_naming_the_item_and_the_annotator()
    {
        var outside = Assert.Throws<ArgumentException>(() => InterAnnotatorAgreement.Compute([new Rating(7, "ann", 3), new Rating(7, "bob", 0)], 3));
        Assert.Contains("item 7", outside.Message, StringComparison.Ordinal);
        Assert.Contains("'ann'", outside.Message, StringComparison.Ordinal);

        var twice = Assert.Throws<ArgumentException>(() => InterAnnotatorAgreement.Compute([new Rating(2, "ann", 0), new Rating(2, "ann", 1)], 2));
        Assert.Contains("rated it twice", twice.Message, StringComparison.Ordinal);
    }
}
