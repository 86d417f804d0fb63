namespace BigDataAI.Labeling.Agreement;

/// <summary>One annotator's label for one item (a row of a labeling project): classes are indices into the project's classes.</summary>
public readonly record struct Rating(long Item, string Annotator, int Class);

/// <summary>
/// Agreement between annotators, overall and per class. <see cref="Value"/> is null when it is undefined: every rating
/// falls in one class (chance agreement is 1), or no item has two ratings.
/// </summary>
/// <param name="Method">"cohen" (exactly two annotators, each rating every item), "fleiss" (the same number, three or
/// more, of ratings on every item) or "krippendorff" (any number per item, missing ratings allowed; nominal).</param>
/// <param name="PerClass">The same measure with each class against all the others (one-vs-rest), indexed by class.</param>
/// <param name="Items">Items that entered the measure (with at least two ratings).</param>
public sealed record AgreementResult(string Method, double? Value, IReadOnlyList<double?> PerClass, int Items, int Annotators);

/// <summary>
/// Inter-annotator agreement for nominal labels: Cohen's kappa (Cohen 1960), Fleiss' kappa (Fleiss 1971) and
/// Krippendorff's alpha (Krippendorff 2011, "Computing Krippendorff's Alpha-Reliability"). Written here rather than
/// taken from a library: no maintained .NET package computes them, and each is a few sums over a count table.
/// </summary>
public static class InterAnnotatorAgreement
{
    /// <summary>
    /// The measure the ratings fit: Cohen's kappa for two annotators who both rated every item, Fleiss' kappa when every
    /// item has the same number (three or more) of ratings, Krippendorff's alpha otherwise. Per class, one-vs-rest.
    /// </summary>
    /// <exception cref="ArgumentException">A class outside [0, classes), or one annotator rating an item twice.</exception>
    public static AgreementResult Compute(IEnumerable<Rating> ratings, int classes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(classes, 2);
        var byItem = Group(ratings, classes);
        var annotators = byItem.Values.SelectMany(r => r.Keys).Distinct(StringComparer.Ordinal).Count();
        var rated = byItem.Where(kv => kv.Value.Count >= 2).ToList();
        var sizes = rated.Select(kv => kv.Value.Count).Distinct().ToList();

        if (annotators == 2 && rated.Count == byItem.Count && sizes is [2])
        {
            var names = byItem.Values.SelectMany(r => r.Keys).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
            var a = rated.Select(kv => kv.Value[names[0]]).ToArray();
            var b = rated.Select(kv => kv.Value[names[1]]).ToArray();
            return new AgreementResult("cohen", CohenKappa(a, b, classes),
                [.. Enumerable.Range(0, classes).Select(c => CohenKappa(Binarize(a, c), Binarize(b, c), 2))], rated.Count, annotators);
        }

        if (sizes is [>= 3] && rated.Count == byItem.Count)
        {
            var counts = Counts(rated.Select(kv => kv.Value.Values), classes);
            var (overall, perClass) = FleissKappa(counts);
            return new AgreementResult("fleiss", overall, perClass, rated.Count, annotators);
        }

        var units = rated.Select(kv => kv.Value.Values.ToArray()).ToList();
        return new AgreementResult("krippendorff", KrippendorffAlpha(units, classes),
            [.. Enumerable.Range(0, classes).Select(c => KrippendorffAlpha([.. units.Select(u => Binarize(u, c))], 2))], rated.Count, annotators);
    }

    /// <summary>Cohen's kappa of two raters' labels of the same items: (p_o − p_e) / (1 − p_e).</summary>
    public static double? CohenKappa(IReadOnlyList<int> a, IReadOnlyList<int> b, int classes)
    {
        if (a.Count != b.Count)
        {
            throw new ArgumentException($"the two raters labeled {a.Count} and {b.Count} items; Cohen's kappa needs the same items");
        }
        if (a.Count == 0)
        {
            return null;
        }
        var n = (double)a.Count;
        var rowTotals = new double[classes];
        var columnTotals = new double[classes];
        var agree = 0;
        for (var i = 0; i < a.Count; i++)
        {
            rowTotals[a[i]]++;
            columnTotals[b[i]]++;
            agree += a[i] == b[i] ? 1 : 0;
        }
        var observed = agree / n;
        var chance = Enumerable.Range(0, classes).Sum(c => rowTotals[c] / n * (columnTotals[c] / n));
        return chance >= 1 ? null : (observed - chance) / (1 - chance);
    }

    /// <summary>
    /// Fleiss' kappa of a table whose row i counts, per class, the raters who put item i in that class (the same number
    /// of raters per item), with each class's kappa (Fleiss 1971, eq. 12: κ_j = 1 − Σ n_ij(n − n_ij) / (N n (n − 1) p_j q_j)).
    /// </summary>
    public static (double? Overall, IReadOnlyList<double?> PerClass) FleissKappa(int[,] counts)
    {
        var items = counts.GetLength(0);
        var classes = counts.GetLength(1);
        if (items == 0)
        {
            return (null, [.. Enumerable.Repeat<double?>(null, classes)]);
        }
        var raters = Enumerable.Range(0, classes).Sum(c => counts[0, c]);
        if (raters < 2)
        {
            throw new ArgumentException("Fleiss' kappa needs at least two ratings per item");
        }
        var p = new double[classes];
        var meanAgreement = 0.0;
        for (var i = 0; i < items; i++)
        {
            var sum = 0;
            var squares = 0.0;
            for (var c = 0; c < classes; c++)
            {
                sum += counts[i, c];
                squares += (double)counts[i, c] * counts[i, c];
                p[c] += counts[i, c];
            }
            if (sum != raters)
            {
                throw new ArgumentException($"item {i} has {sum} ratings and item 0 has {raters}; Fleiss' kappa needs the same number on every item");
            }
            meanAgreement += (squares - raters) / (raters * (raters - 1.0));
        }
        meanAgreement /= items;
        for (var c = 0; c < classes; c++)
        {
            p[c] /= items * (double)raters;
        }
        var chance = p.Sum(x => x * x);
        double? overall = chance >= 1 ? null : (meanAgreement - chance) / (1 - chance);

        var perClass = new double?[classes];
        for (var c = 0; c < classes; c++)
        {
            var spread = p[c] * (1 - p[c]);
            if (spread <= 0)
            {
                continue; // every rating is in this class, or none is
            }
            var disagreement = 0.0;
            for (var i = 0; i < items; i++)
            {
                disagreement += counts[i, c] * (double)(raters - counts[i, c]);
            }
            perClass[c] = 1 - disagreement / (items * (double)raters * (raters - 1) * spread);
        }
        return (overall, perClass);
    }

    /// <summary>
    /// Krippendorff's alpha for nominal data: each unit holds the values it received (any number; units with fewer than
    /// two are not pairable and are skipped). α = 1 − D_o / D_e from the coincidence matrix.
    /// </summary>
    public static double? KrippendorffAlpha(IReadOnlyList<int[]> units, int classes)
    {
        var coincidences = new double[classes, classes];
        foreach (var unit in units)
        {
            if (unit.Length < 2)
            {
                continue;
            }
            var weight = 1.0 / (unit.Length - 1);
            for (var i = 0; i < unit.Length; i++)
            {
                for (var j = 0; j < unit.Length; j++)
                {
                    if (i != j)
                    {
                        coincidences[unit[i], unit[j]] += weight;
                    }
                }
            }
        }
        var totals = new double[classes];
        for (var c = 0; c < classes; c++)
        {
            for (var k = 0; k < classes; k++)
            {
                totals[c] += coincidences[c, k];
            }
        }
        var n = totals.Sum();
        if (n < 2)
        {
            return null;
        }
        double observed = 0, expected = 0;
        for (var c = 0; c < classes; c++)
        {
            for (var k = 0; k < classes; k++)
            {
                if (c != k)
                {
                    observed += coincidences[c, k];
                    expected += totals[c] * totals[k];
                }
            }
        }
        return expected <= 0 ? null : 1 - (n - 1) * observed / expected;
    }

    private static Dictionary<long, Dictionary<string, int>> Group(IEnumerable<Rating> ratings, int classes)
    {
        var byItem = new Dictionary<long, Dictionary<string, int>>();
        foreach (var rating in ratings)
        {
            if (rating.Class < 0 || rating.Class >= classes)
            {
                throw new ArgumentException($"item {rating.Item}: annotator '{rating.Annotator}' gave class {rating.Class}, outside the project's {classes} classes");
            }
            if (!byItem.TryGetValue(rating.Item, out var item))
            {
                byItem[rating.Item] = item = new Dictionary<string, int>(StringComparer.Ordinal);
            }
            if (!item.TryAdd(rating.Annotator, rating.Class))
            {
                throw new ArgumentException($"item {rating.Item}: annotator '{rating.Annotator}' rated it twice");
            }
        }
        return byItem;
    }

    private static int[,] Counts(IEnumerable<IEnumerable<int>> items, int classes)
    {
        var list = items.Select(i => i.ToArray()).ToList();
        var counts = new int[list.Count, classes];
        for (var i = 0; i < list.Count; i++)
        {
            foreach (var c in list[i])
            {
                counts[i, c]++;
            }
        }
        return counts;
    }

    private static int[] Binarize(IReadOnlyList<int> labels, int positive) => [.. labels.Select(l => l == positive ? 1 : 0)];
}
