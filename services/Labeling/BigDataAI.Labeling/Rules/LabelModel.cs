namespace BigDataAI.Labeling.Rules;

/// <summary>What one labeling function did over a vote matrix: the share of rows it voted on, voted on with another function, and voted on against another.</summary>
public sealed record FunctionSummary(int Function, double Coverage, double Overlap, double Conflict, double LearnedAccuracy);

/// <summary>
/// Turns the votes of labeling functions into probabilistic labels by learning how often each function is right, without
/// any true label: a generative model in the manner of Snorkel's label model (Ratner et al. 2017), fitted by
/// expectation-maximization. The model is Dawid and Skene's (1979) with one accuracy per function: a function that
/// votes is right with probability <c>a_j</c> and otherwise names one of the other classes uniformly; votes are
/// independent given the true class, whose prior is learned too. Written here rather than taken from a library: Snorkel
/// is Python (and in maintenance mode), and no .NET package fits one.
/// </summary>
public sealed class LabelModel
{
    /// <summary>A vote matrix's entry for "this function abstained on this row".</summary>
    public const int Abstain = -1;

    private LabelModel(int classes, double[] accuracies, double[] prior, int iterations)
    {
        Classes = classes;
        Accuracies = accuracies;
        Prior = prior;
        Iterations = iterations;
    }

    public int Classes { get; }

    /// <summary>Each function's learned probability of being right when it votes.</summary>
    public IReadOnlyList<double> Accuracies { get; }

    /// <summary>The learned class balance.</summary>
    public IReadOnlyList<double> Prior { get; }

    /// <summary>EM iterations until the accuracies moved less than the tolerance (or the limit).</summary>
    public int Iterations { get; }

    /// <summary>
    /// Fits the model to <paramref name="votes"/> (rows by functions; <see cref="Abstain"/> or a class index).
    /// Accuracies start at 0.7 (better than chance, as a labeling function is written to be) and are kept within
    /// [0.01, 0.99] so that no single function becomes certain.
    /// </summary>
    /// <exception cref="ArgumentException">A vote outside [-1, classes).</exception>
    public static LabelModel Fit(VoteMatrix votes, int classes, int maxIterations = 200, double tolerance = 1e-6)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(classes, 2);
        var rows = votes.Rows;
        var functions = votes.Functions;
        for (var i = 0; i < rows; i++)
        {
            for (var j = 0; j < functions; j++)
            {
                if (votes[i, j] < Abstain || votes[i, j] >= classes)
                {
                    throw new ArgumentException($"row {i}, function {j}: vote {votes[i, j]} is neither {Abstain} (abstain) nor a class in [0, {classes})");
                }
            }
        }

        var accuracies = Enumerable.Repeat(0.7, functions).ToArray();
        var prior = Enumerable.Repeat(1.0 / classes, classes).ToArray();
        var posterior = new double[classes];
        var iterations = 0;
        while (iterations < maxIterations)
        {
            iterations++;
            var correct = new double[functions];
            var cast = new double[functions];
            var classMass = new double[classes];
            var model = new LabelModel(classes, accuracies, prior, iterations);
            for (var i = 0; i < rows; i++)
            {
                model.Posterior(votes, i, posterior);
                for (var c = 0; c < classes; c++)
                {
                    classMass[c] += posterior[c];
                }
                for (var j = 0; j < functions; j++)
                {
                    if (votes[i, j] != Abstain)
                    {
                        cast[j]++;
                        correct[j] += posterior[votes[i, j]];
                    }
                }
            }
            var moved = 0.0;
            var next = new double[functions];
            for (var j = 0; j < functions; j++)
            {
                next[j] = cast[j] == 0 ? accuracies[j] : Math.Clamp(correct[j] / cast[j], 0.01, 0.99);
                moved = Math.Max(moved, Math.Abs(next[j] - accuracies[j]));
            }
            accuracies = next;
            prior = [.. classMass.Select(m => Math.Max(m / rows, 1e-6))];
            if (moved < tolerance)
            {
                break;
            }
        }
        return new LabelModel(classes, accuracies, prior, iterations);
    }

    /// <summary>The probability of each class for row <paramref name="row"/> of <paramref name="votes"/>, written into <paramref name="into"/>.</summary>
    public void Posterior(VoteMatrix votes, int row, Span<double> into)
    {
        var functions = votes.Functions;
        for (var c = 0; c < Classes; c++)
        {
            var log = Math.Log(Prior[c]);
            for (var j = 0; j < functions; j++)
            {
                var vote = votes[row, j];
                if (vote != Abstain)
                {
                    log += vote == c ? Math.Log(Accuracies[j]) : Math.Log((1 - Accuracies[j]) / (Classes - 1));
                }
            }
            into[c] = log;
        }
        var max = double.NegativeInfinity;
        foreach (var v in into[..Classes])
        {
            max = Math.Max(max, v);
        }
        var sum = 0.0;
        for (var c = 0; c < Classes; c++)
        {
            into[c] = Math.Exp(into[c] - max);
            sum += into[c];
        }
        for (var c = 0; c < Classes; c++)
        {
            into[c] /= sum;
        }
    }

    /// <summary>Every row's most probable class and its probability.</summary>
    public (int Class, double Probability)[] Predict(VoteMatrix votes)
    {
        var rows = votes.Rows;
        var result = new (int, double)[rows];
        var posterior = new double[Classes];
        for (var i = 0; i < rows; i++)
        {
            Posterior(votes, i, posterior);
            var best = 0;
            for (var c = 1; c < Classes; c++)
            {
                best = posterior[c] > posterior[best] ? c : best;
            }
            result[i] = (best, posterior[best]);
        }
        return result;
    }

    /// <summary>
    /// Majority vote, the baseline a label model must beat: the most voted class; ties and rows without a vote go to the
    /// lowest class index among the tied (or to class 0).
    /// </summary>
    public static int[] MajorityVote(VoteMatrix votes, int classes)
    {
        var rows = votes.Rows;
        var functions = votes.Functions;
        var result = new int[rows];
        var tally = new int[classes];
        for (var i = 0; i < rows; i++)
        {
            Array.Clear(tally);
            for (var j = 0; j < functions; j++)
            {
                if (votes[i, j] != Abstain)
                {
                    tally[votes[i, j]]++;
                }
            }
            var best = 0;
            for (var c = 1; c < classes; c++)
            {
                best = tally[c] > tally[best] ? c : best;
            }
            result[i] = best;
        }
        return result;
    }

    /// <summary>Per function: coverage, overlap and conflict over the rows, and the accuracy this model learned for it.</summary>
    public IReadOnlyList<FunctionSummary> Summarize(VoteMatrix votes) => Summarize(votes, Accuracies);

    /// <summary>Per function: coverage, overlap and conflict over the rows, beside the accuracy a label model learned for it (<paramref name="learned"/>).</summary>
    public static IReadOnlyList<FunctionSummary> Summarize(VoteMatrix votes, IReadOnlyList<double> learned)
    {
        var rows = votes.Rows;
        var functions = votes.Functions;
        var summaries = new List<FunctionSummary>(functions);
        for (var j = 0; j < functions; j++)
        {
            int covered = 0, overlapped = 0, conflicted = 0;
            for (var i = 0; i < rows; i++)
            {
                if (votes[i, j] == Abstain)
                {
                    continue;
                }
                covered++;
                bool other = false, against = false;
                for (var k = 0; k < functions; k++)
                {
                    if (k != j && votes[i, k] != Abstain)
                    {
                        other = true;
                        against |= votes[i, k] != votes[i, j];
                    }
                }
                overlapped += other ? 1 : 0;
                conflicted += against ? 1 : 0;
            }
            summaries.Add(new FunctionSummary(j, (double)covered / rows, (double)overlapped / rows, (double)conflicted / rows, learned[j]));
        }
        return summaries;
    }
}
