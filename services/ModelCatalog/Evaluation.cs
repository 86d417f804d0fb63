using System.Globalization;

namespace BigDataAI.Models;

/// <summary>One class against the rest: ROC AUC, average precision, and both curves (at most 21 points each).</summary>
/// <param name="Class">The class index.</param>
/// <param name="RocAuc">Area under the ROC curve (the probability that a random positive scores above a random negative; ties count half). 0 when the class is absent or everything is it.</param>
/// <param name="AveragePrecision">Area under the precision-recall curve as scikit-learn's average_precision_score: the sum over thresholds of (recall step) x precision.</param>
/// <param name="RocFpr">ROC curve: false-positive rates, from (0, 0) up.</param>
/// <param name="RocTpr">ROC curve: true-positive rates.</param>
/// <param name="PrRecall">Precision-recall curve: recalls, by falling threshold.</param>
/// <param name="PrPrecision">Precision-recall curve: precisions.</param>
public sealed record ClassCurves(int Class, double RocAuc, double AveragePrecision, double[] RocFpr, double[] RocTpr, double[] PrRecall, double[] PrPrecision);

/// <summary>
/// Calibration of the top-class probability: <see cref="Bins"/> equal-width bins over [0, 1], each with its rows, mean
/// confidence and accuracy; the expected calibration error is the rows-weighted mean gap |accuracy - confidence|.
/// </summary>
public sealed record Calibration(double ExpectedCalibrationError, int Bins, long[] Rows, double[] Confidence, double[] Accuracy);

/// <summary>One group of a slice column: its rows and the model's figures on them.</summary>
/// <param name="Value">The value ("(null)" for nulls; "[a, b)" for a numeric bin).</param>
/// <param name="Rows">Test rows in the group.</param>
/// <param name="Accuracy">Share classified correctly.</param>
/// <param name="MacroRecall">Mean recall over the classes present in the group.</param>
/// <param name="MacroF1">Mean F1 over the classes present in the group.</param>
/// <param name="PositiveRate">Share of the group predicted as the slice's positive class (fairness).</param>
/// <param name="TruePositiveRate">Recall of the positive class in the group.</param>
/// <param name="FalsePositiveRate">Share of the group's negatives predicted positive.</param>
public sealed record SliceGroup(string Value, long Rows, double Accuracy, double MacroRecall, double MacroF1, double PositiveRate, double TruePositiveRate, double FalsePositiveRate);

/// <summary>
/// Metrics per value of one column. <see cref="AccuracyGap"/> and <see cref="F1Gap"/> are the largest differences
/// between groups. For a sensitive column, the demographic-parity difference (largest gap in the share predicted
/// positive) and the equalized-odds difference (the larger of the largest gaps in true- and false-positive rate, over
/// the groups that have positives, respectively negatives), for
/// the positive class <see cref="PositiveClass"/> (the second class of a binary label; for more classes, the class
/// where the gap is largest).
/// </summary>
public sealed record SliceMetrics(string Column, bool Sensitive, IReadOnlyList<SliceGroup> Groups, double AccuracyGap, double F1Gap, int PositiveClass, double DemographicParityDifference, double EqualizedOddsDifference);

/// <summary>
/// The figures beyond accuracy that a classifier's test evaluation gives: pure arithmetic over probabilities and classes,
/// without TorchSharp, so that the control plane's records can carry them.
/// </summary>
public static class Evaluation
{
    private const int CurvePoints = 21;

    /// <summary>Each class against the rest, from [rows, classes] probabilities and the true classes.</summary>
    public static IReadOnlyList<ClassCurves> Curves(ReadOnlySpan<float> probabilities, ReadOnlySpan<long> actual, int classes)
    {
        var rows = actual.Length;
        var result = new List<ClassCurves>(classes);
        var scores = new float[rows];
        var positive = new bool[rows];
        for (var c = 0; c < classes; c++)
        {
            for (var i = 0; i < rows; i++)
            {
                scores[i] = Finite(probabilities[i * classes + c]);
                positive[i] = actual[i] == c;
            }
            result.Add(OneVsRest(c, scores, positive));
        }
        return result;
    }

    private static ClassCurves OneVsRest(int c, float[] scores, bool[] positive)
    {
        var order = Enumerable.Range(0, scores.Length).OrderByDescending(i => scores[i]).ToArray();
        long positives = positive.Count(p => p), negatives = positive.Length - positives;
        if (positives == 0 || negatives == 0)
        {
            return new ClassCurves(c, 0, 0, [], [], [], []);
        }
        // Walk the thresholds from the highest score down, one step per distinct score (ties move together).
        var fpr = new List<double> { 0 };
        var tpr = new List<double> { 0 };
        var recall = new List<double>();
        var precision = new List<double>();
        long tp = 0, fp = 0;
        double auc = 0, ap = 0, lastRecall = 0;
        for (var k = 0; k < order.Length;)
        {
            var score = scores[order[k]];
            long tpStep = 0, fpStep = 0;
            for (; k < order.Length && scores[order[k]] == score; k++)
            {
                if (positive[order[k]])
                {
                    tpStep++;
                }
                else
                {
                    fpStep++;
                }
            }
            // Trapezoid: the ties' positives beat the negatives before them and tie (half) with their own.
            auc += fpStep * (tp + tpStep / 2.0);
            (tp, fp) = (tp + tpStep, fp + fpStep);
            var r = tp / (double)positives;
            var p = tp / (double)(tp + fp);
            ap += (r - lastRecall) * p;
            lastRecall = r;
            fpr.Add(fp / (double)negatives);
            tpr.Add(r);
            recall.Add(r);
            precision.Add(p);
        }
        return new ClassCurves(c, auc / (positives * (double)negatives), ap,
            Thin(fpr), Thin(tpr), Thin(recall), Thin(precision));
    }

    /// <summary>A probability a diverged model made NaN or infinite counts as 0, so the figures stay finite (and the walk over thresholds ends).</summary>
    private static float Finite(float p) => float.IsFinite(p) ? p : 0;

    /// <summary>At most <see cref="CurvePoints"/> points of a curve, evenly by index, ends kept.</summary>
    private static double[] Thin(List<double> curve)
    {
        if (curve.Count <= CurvePoints)
        {
            return [.. curve];
        }
        return [.. Enumerable.Range(0, CurvePoints).Select(i => curve[(int)Math.Round(i * (curve.Count - 1) / (double)(CurvePoints - 1))])];
    }

    /// <summary>The reliability of the top-class probability in <paramref name="bins"/> equal-width bins, and the ECE.</summary>
    public static Calibration Calibrate(ReadOnlySpan<float> probabilities, ReadOnlySpan<long> actual, int classes, int bins = 10)
    {
        var rows = new long[bins];
        var confidence = new double[bins];
        var correct = new double[bins];
        for (var i = 0; i < actual.Length; i++)
        {
            var row = probabilities.Slice(i * classes, classes);
            var top = 0;
            for (var c = 1; c < classes; c++)
            {
                if (Finite(row[c]) > Finite(row[top]))
                {
                    top = c;
                }
            }
            var p = Finite(row[top]);
            var bin = Math.Clamp((int)(p * bins), 0, bins - 1);
            rows[bin]++;
            confidence[bin] += p;
            correct[bin] += top == actual[i] ? 1 : 0;
        }
        double ece = 0;
        for (var b = 0; b < bins; b++)
        {
            if (rows[b] > 0)
            {
                confidence[b] /= rows[b];
                correct[b] /= rows[b];
                ece += rows[b] / (double)Math.Max(1, actual.Length) * Math.Abs(correct[b] - confidence[b]);
            }
        }
        return new Calibration(ece, bins, rows, confidence, correct);
    }

    /// <summary>
    /// Groups of a column's values for slicing: the text of each value (nulls "(null)"), or, for a numeric column with
    /// more than <paramref name="maxGroups"/> distinct values, its quartile bins ("[1.5, 3.2)").
    /// </summary>
    public static string[] Groups(IReadOnlyList<object?> values, bool numeric, int maxGroups = 20)
    {
        string Text(object? v) => v switch
        {
            null => "(null)",
            bool b => b ? "true" : "false",
            double d when double.IsNaN(d) => "(null)",
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            _ => v.ToString() ?? "(null)",
        };
        if (!numeric || values.Select(Text).Distinct().Count() <= maxGroups)
        {
            return [.. values.Select(Text)];
        }
        var numbers = values.Select(v => v is null ? double.NaN : Convert.ToDouble(v, CultureInfo.InvariantCulture)).ToArray();
        var sorted = numbers.Where(double.IsFinite).Order().ToArray();
        var edges = new[] { 0.25, 0.5, 0.75 }.Select(q => sorted[(int)Math.Min(sorted.Length - 1, Math.Floor(q * sorted.Length))]).Distinct().ToArray();
        string Bin(double x)
        {
            if (!double.IsFinite(x))
            {
                return "(null)";
            }
            var i = edges.Count(e => x >= e);
            var low = i == 0 ? sorted[0] : edges[i - 1];
            var high = i == edges.Length ? sorted[^1] : edges[i];
            var (from, to) = (low.ToString("G4", CultureInfo.InvariantCulture), high.ToString("G4", CultureInfo.InvariantCulture));
            return i == edges.Length ? $"[{from}, {to}]" : $"[{from}, {to})";
        }
        return [.. numbers.Select(Bin)];
    }

    /// <summary>Metrics per group (<paramref name="groups"/>: one group name per row), gaps, and (sensitive) fairness differences.</summary>
    public static SliceMetrics Slice(string column, bool sensitive, IReadOnlyList<string> groups, ReadOnlySpan<long> actual, ReadOnlySpan<long> predicted, int classes)
    {
        if (groups.Count != actual.Length)
        {
            throw new ArgumentException($"Column '{column}' has {groups.Count} values but the test split has {actual.Length} rows.", nameof(groups));
        }
        var byGroup = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        for (var i = 0; i < groups.Count; i++)
        {
            if (!byGroup.TryGetValue(groups[i], out var list))
            {
                byGroup[groups[i]] = list = [];
            }
            list.Add(i);
        }
        var names = byGroup.Keys.Order(StringComparer.Ordinal).ToList();
        var a = actual.ToArray();
        var p = predicted.ToArray();
        // The positive class: the second of two; else the class whose predicted-positive rate differs most across groups.
        var candidates = classes == 2 ? [1] : Enumerable.Range(0, classes).ToArray();
        (int Class, double Parity, double Odds) fairness = (candidates[0], 0, 0);
        foreach (var c in candidates)
        {
            var rates = names.Select(g => Rates(byGroup[g], a, p, c)).ToList();
            var parity = rates.Max(r => r.Positive) - rates.Min(r => r.Positive);
            // A group without positives has no true-positive rate (and one without negatives no false-positive rate):
            // it takes no part in that gap.
            static double Gap(IEnumerable<double> values) => values.DefaultIfEmpty(0).Max() - values.DefaultIfEmpty(0).Min();
            var odds = Math.Max(Gap(rates.Where(r => r.Positives > 0).Select(r => r.Tpr)), Gap(rates.Where(r => r.Negatives > 0).Select(r => r.Fpr)));
            if (c == candidates[0] || parity > fairness.Parity)
            {
                fairness = (c, parity, odds);
            }
        }
        var result = new List<SliceGroup>(names.Count);
        foreach (var g in names)
        {
            var rows = byGroup[g];
            var present = Enumerable.Range(0, classes).Where(c => rows.Any(i => a[i] == c)).ToList();
            var perClass = present.Select(c =>
            {
                long tp = rows.Count(i => a[i] == c && p[i] == c), predictedC = rows.Count(i => p[i] == c), actualC = rows.Count(i => a[i] == c);
                var precision = predictedC == 0 ? 0 : tp / (double)predictedC;
                var recall = actualC == 0 ? 0 : tp / (double)actualC;
                return (Recall: recall, F1: precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall));
            }).ToList();
            var rates = Rates(rows, a, p, fairness.Class);
            result.Add(new SliceGroup(g, rows.Count, rows.Count(i => a[i] == p[i]) / (double)rows.Count,
                perClass.Count == 0 ? 0 : perClass.Average(x => x.Recall),
                perClass.Count == 0 ? 0 : perClass.Average(x => x.F1),
                rates.Positive, rates.Tpr, rates.Fpr));
        }
        return new SliceMetrics(column, sensitive, result,
            result.Max(r => r.Accuracy) - result.Min(r => r.Accuracy),
            result.Max(r => r.MacroF1) - result.Min(r => r.MacroF1),
            fairness.Class, sensitive ? fairness.Parity : 0, sensitive ? fairness.Odds : 0);
    }

    private static (double Positive, double Tpr, double Fpr, long Positives, long Negatives) Rates(List<int> rows, long[] actual, long[] predicted, int c)
    {
        long predictedPositive = 0, positives = 0, truePositives = 0, negatives = 0, falsePositives = 0;
        foreach (var i in rows)
        {
            var isPositive = actual[i] == c;
            var saysPositive = predicted[i] == c;
            predictedPositive += saysPositive ? 1 : 0;
            if (isPositive)
            {
                positives++;
                truePositives += saysPositive ? 1 : 0;
            }
            else
            {
                negatives++;
                falsePositives += saysPositive ? 1 : 0;
            }
        }
        return (predictedPositive / (double)Math.Max(1, rows.Count), truePositives / (double)Math.Max(1, positives), falsePositives / (double)Math.Max(1, negatives), positives, negatives);
    }
}
