using BigDataAI.Datasets;
using BigDataAI.Storage;

namespace BigDataAI.Labeling.LabelErrors;

/// <summary>A row confident learning flags as likely mislabeled.</summary>
/// <param name="Row">The row's index in its source (<c>_row</c>).</param>
/// <param name="Given">The class index of its label.</param>
/// <param name="Suggested">The class believed instead: the most probable class whose probability reaches its threshold
/// (the most probable class overall when none does).</param>
/// <param name="SelfConfidence">The out-of-fold probability of the given label: the ranking, lowest first.</param>
/// <param name="SuggestedProbability">The out-of-fold probability of <paramref name="Suggested"/>.</param>
public sealed record LabelIssueRow(long Row, int Given, int Suggested, double SelfConfidence, double SuggestedProbability);

/// <summary>What <see cref="ConfidentLearning"/> found.</summary>
/// <param name="Issues">The most suspect flagged rows, lowest self-confidence first (ties by row), at most the requested number.</param>
/// <param name="Flagged">Rows flagged in all.</param>
/// <param name="Rows">Rows examined (rows of the out-of-fold files).</param>
/// <param name="Thresholds">Per class: the mean probability of that class over the rows labeled with it (NaN for a class no row has).</param>
/// <param name="ConfidentJoint">The confident joint as counted (not calibrated), row-major <c>[given * classes + believed]</c>.</param>
public sealed record ConfidentLearningResult(IReadOnlyList<LabelIssueRow> Issues, long Flagged, long Rows, double[] Thresholds, long[] ConfidentJoint);

/// <summary>
/// Confident learning (Northcutt, Jiang and Chuang, "Confident Learning: Estimating Uncertainty in Dataset Labels",
/// JAIR 2021) over out-of-fold predicted probabilities, streamed from Parquet files (<c>_row</c> int64, <c>probs</c>
/// list&lt;float&gt;) one at a time: only per-class sums, the k x k joint and the candidates for flagging stay in memory,
/// never the probabilities of every row.
/// </summary>
/// <remarks>
/// Three passes, each over the files in turn:
/// <list type="number">
/// <item>Thresholds: <c>t_j</c> = mean of <c>p_j</c> over the rows labeled <c>j</c> (cleanlab's
/// <c>get_confident_thresholds</c>).</item>
/// <item>The confident joint <c>C[given][believed]</c>: a row counts when some class reaches its threshold
/// (<c>p_j &gt;= t_j - 1e-6</c>, cleanlab's tolerance), believed being the most probable such class. (cleanlab 2.x's
/// <c>compute_confident_joint</c> takes the overall argmax when exactly one class is confident; we take the confident
/// class, which is what the rule says.) It is then calibrated as in cleanlab's <c>calibrate_confident_joint</c>: each
/// row scaled to its class's label count, the whole to the row count, rounded preserving row totals.</item>
/// <item>Flags, as cleanlab's <c>find_label_issues</c> does by default (<c>filter_by="prune_by_noise_rate"</c>,
/// <c>min_examples_per_class=1</c>, <c>frac_noise=1</c>): for each given class <c>i</c> and each other class
/// <c>j</c>, the <c>n(i, j)</c> rows labeled <c>i</c> with the largest margin <c>p_j - p_i</c>, where <c>n</c> is the
/// calibrated joint's off-diagonal count after <c>_keep_at_least_n_per_class</c> (at least one row of each class stays
/// unflagged). A bounded heap of <c>n(i, j)</c> candidates per pair holds them. Rows whose most probable class is their
/// given label are then unflagged, as cleanlab does (after the choice: they still take their places in the heaps).</item>
/// </list>
/// Flagged rows are ranked by self-confidence (the probability of the given label), lowest first (cleanlab's
/// <c>rank_by_kind="self_confidence"</c>).
/// </remarks>
public sealed class ConfidentLearning(IObjectStore store)
{
    /// <summary>The column of probabilities in an out-of-fold file.</summary>
    public const string ProbabilitiesColumn = "probs";

    /// <summary>cleanlab's tolerance when comparing a probability with its class's threshold.</summary>
    public const double ThresholdTolerance = 1e-6;

    /// <summary>
    /// Runs the three passes over <paramref name="shards"/>. <paramref name="given"/> maps each row to the class index
    /// of its label; every row of the files must have one.
    /// </summary>
    /// <exception cref="InvalidDataException">A file is missing, is not an out-of-fold file of <paramref name="classes"/> classes, or holds a row without a given label.</exception>
    public async Task<ConfidentLearningResult> FindAsync(IReadOnlyList<string> shards, IReadOnlyDictionary<long, int> given, int classes, int maxRows, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(shards);
        ArgumentNullException.ThrowIfNull(given);
        var search = new Counts(classes);
        foreach (var pass in new[] { 1, 2, 3 })
        {
            foreach (var path in shards)
            {
                var (rows, probabilities) = await ReadAsync(path, classes, cancellationToken).ConfigureAwait(false);
                var labels = new int[rows.Length];
                for (var r = 0; r < rows.Length; r++)
                {
                    labels[r] = given.TryGetValue(rows[r], out var label)
                        ? label
                        : throw new InvalidDataException($"Out-of-fold file '{path}' holds row {rows[r]}, which has no label in the labeled version.");
                }
                search.Add(pass, rows, labels, probabilities);
            }
            search.EndPass(pass);
        }
        return search.Result(maxRows);
    }

    private async Task<(long[] Rows, float[] Probabilities)> ReadAsync(string path, int classes, CancellationToken cancellationToken)
    {
        await using var stream = await store.OpenReadAsync(path, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidDataException($"Out-of-fold file '{path}' is missing from storage.");
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
        buffer.Position = 0;
        var column = new ColumnSchema(ProbabilitiesColumn, ColumnType.Tensor, ColumnRole.Ignored, Nullable: false, Shape: [classes]);
        var table = await ParquetShards.DecodeAsync(buffer, path, new DatasetSchema([column]), cancellationToken).ConfigureAwait(false);
        var values = (float[])table[ProbabilitiesColumn].Values;
        if (values.LongLength != (long)table.Rows * classes)
        {
            throw new InvalidDataException($"Out-of-fold file '{path}' holds {values.LongLength} probabilities for {table.Rows} rows; {classes} classes need {(long)table.Rows * classes}.");
        }
        return (table.RowIds, values);
    }

    /// <summary>
    /// The arithmetic of the three passes, fed batch by batch (pure: no storage). Call <see cref="Add"/> for every batch
    /// of pass 1, then <see cref="EndPass"/>(1), the same batches for pass 2 and 3, then <see cref="Result"/>.
    /// </summary>
    internal sealed class Counts(int classes)
    {
        private readonly int _k = classes >= 2 ? classes : throw new ArgumentOutOfRangeException(nameof(classes), classes, "Confident learning needs at least 2 classes.");
        private readonly double[] _sums = new double[classes];
        private readonly long[] _labelCounts = new long[classes];
        private readonly long[] _joint = new long[classes * classes];
        private double[] _thresholds = [];
        private long[] _prune = [];
        private long _rows;
        // Per (given i, believed j): a min-heap (by margin) of the n(i, j) largest-margin candidates seen so far.
        // Rows whose prediction is their label compete for a place like any other (cleanlab picks the n(i, j) largest
        // margins among all rows labeled i) and are dropped only at the end.
        private readonly Dictionary<int, PriorityQueue<(LabelIssueRow Issue, bool PredictedGiven), (double Margin, long NegativeRow)>> _candidates = [];

        public void Add(int pass, ReadOnlySpan<long> rows, ReadOnlySpan<int> given, ReadOnlySpan<float> probabilities)
        {
            for (var r = 0; r < rows.Length; r++)
            {
                var p = probabilities.Slice(r * _k, _k);
                var g = given[r];
                if ((uint)g >= (uint)_k)
                {
                    throw new InvalidDataException($"Row {rows[r]} has class index {g}, outside 0..{_k - 1}.");
                }
                switch (pass)
                {
                    case 1:
                        _sums[g] += p[g];
                        _labelCounts[g]++;
                        _rows++;
                        break;
                    case 2:
                        if (Believed(p) is { } believed)
                        {
                            _joint[g * _k + believed]++;
                        }
                        break;
                    default:
                        Consider(rows[r], g, p);
                        break;
                }
            }
        }

        public void EndPass(int pass)
        {
            if (pass == 1)
            {
                _thresholds = [.. _sums.Select((s, j) => _labelCounts[j] == 0 ? double.NaN : s / _labelCounts[j])];
            }
            else if (pass == 2)
            {
                _prune = PruneCounts(_joint, _labelCounts, _k);
            }
        }

        public ConfidentLearningResult Result(int maxRows)
        {
            var flagged = new Dictionary<long, LabelIssueRow>();
            foreach (var heap in _candidates.Values)
            {
                foreach (var ((issue, predictedGiven), _) in heap.UnorderedItems)
                {
                    if (!predictedGiven)
                    {
                        flagged.TryAdd(issue.Row, issue);
                    }
                }
            }
            var issues = flagged.Values
                .OrderBy(i => i.SelfConfidence)
                .ThenBy(i => i.Row)
                .Take(maxRows)
                .ToArray();
            return new ConfidentLearningResult(issues, flagged.Count, _rows, _thresholds, [.. _joint]);
        }

        /// <summary>The most probable class whose probability reaches its threshold; null when none does.</summary>
        private int? Believed(ReadOnlySpan<float> p)
        {
            int? best = null;
            for (var j = 0; j < _k; j++)
            {
                if (p[j] >= _thresholds[j] - ThresholdTolerance && (best is null || p[j] > p[best.Value]))
                {
                    best = j;
                }
            }
            return best;
        }

        private void Consider(long row, int given, ReadOnlySpan<float> p)
        {
            var argmax = 0;
            for (var j = 1; j < _k; j++)
            {
                if (p[j] > p[argmax])
                {
                    argmax = j;
                }
            }
            // cleanlab never flags a row whose prediction is its label, but only after choosing the n(i, j) rows.
            var predictedGiven = argmax == given;
            var suggested = Believed(p) ?? argmax;
            for (var j = 0; j < _k; j++)
            {
                var n = j == given ? 0 : _prune[j * _k + given];
                if (n <= 0)
                {
                    continue;
                }
                var key = given * _k + j;
                if (!_candidates.TryGetValue(key, out var heap))
                {
                    _candidates[key] = heap = new PriorityQueue<(LabelIssueRow, bool), (double, long)>();
                }
                var priority = ((double)p[j] - p[given], -row);
                if (heap.Count < n)
                {
                    heap.Enqueue((new LabelIssueRow(row, given, suggested, p[given], p[suggested]), predictedGiven), priority);
                }
                else if (heap.TryPeek(out _, out var smallest) && priority.CompareTo(smallest) > 0)
                {
                    heap.EnqueueDequeue((new LabelIssueRow(row, given, suggested, p[given], p[suggested]), predictedGiven), priority);
                }
            }
        }
    }

    /// <summary>
    /// cleanlab's prune count matrix, <c>[true j * k + given i]</c>: the joint calibrated (<c>calibrate_confident_joint</c>),
    /// transposed, then <c>_keep_at_least_n_per_class</c> with n = 1 and <c>frac_noise</c> = 1.
    /// </summary>
    internal static long[] PruneCounts(long[] joint, long[] labelCounts, int k)
    {
        // calibrate_confident_joint: each given row scaled to its label count, the whole to the number of labeled rows.
        var calibrated = new double[k * k];
        for (var i = 0; i < k; i++)
        {
            var rowSum = 0L;
            for (var j = 0; j < k; j++)
            {
                rowSum += joint[i * k + j];
            }
            for (var j = 0; j < k; j++)
            {
                calibrated[i * k + j] = joint[i * k + j] / Math.Max(rowSum, 1e-12) * labelCounts[i];
            }
        }
        var total = calibrated.Sum();
        var n = labelCounts.Sum();
        for (var c = 0; c < calibrated.Length; c++)
        {
            calibrated[c] = calibrated[c] / Math.Max(total, 1e-12) * n;
        }
        var rounded = RoundPreservingRowTotals(calibrated, k);

        // Transpose: m[true j][given i].
        var m = new double[k * k];
        for (var i = 0; i < k; i++)
        {
            for (var j = 0; j < k; j++)
            {
                m[j * k + i] = rounded[i * k + j];
            }
        }
        // _keep_at_least_n_per_class(n=1): raise each diagonal to at least 1, taking the difference evenly from the
        // non-zero noise counts of its column (given class).
        for (var i = 0; i < k; i++)
        {
            var diagonal = m[i * k + i];
            var raised = Math.Max(diagonal, 1);
            var diff = raised - diagonal;
            var nonZero = 0;
            for (var j = 0; j < k; j++)
            {
                nonZero += m[j * k + i] != 0 ? 1 : 0;
            }
            var share = diff / Math.Max(nonZero - 1.0, 1.0);
            for (var j = 0; j < k; j++)
            {
                m[j * k + i] = j == i ? raised : Math.Max(m[j * k + i] - share, 0);
            }
        }
        return [.. RoundPreservingRowTotals(m, k).Select(v => (long)v)];
    }

    /// <summary>cleanlab's <c>round_preserving_row_totals</c>: floors, then the largest remainders of each row get the units its rounded total still needs.</summary>
    internal static double[] RoundPreservingRowTotals(double[] matrix, int k)
    {
        var result = new double[matrix.Length];
        for (var i = 0; i < k; i++)
        {
            var row = matrix[(i * k)..(i * k + k)];
            var target = Math.Round(row.Sum(), MidpointRounding.ToEven);
            var floors = 0.0;
            for (var j = 0; j < k; j++)
            {
                result[i * k + j] = Math.Floor(row[j]);
                floors += result[i * k + j];
            }
            var missing = (int)(target - floors);
            foreach (var j in Enumerable.Range(0, k).OrderByDescending(j => row[j] - Math.Floor(row[j])).ThenBy(j => j).Take(Math.Max(missing, 0)))
            {
                result[i * k + j] += 1;
            }
        }
        return result;
    }
}
