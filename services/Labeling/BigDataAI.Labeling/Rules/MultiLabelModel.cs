namespace BigDataAI.Labeling.Rules;

/// <summary>
/// Multi-label: a row may belong to any set of the classes, and each labeling function votes for its class or abstains.
/// One binary label model per class decides that class on its own. For class <c>c</c> the evidence is which of the
/// functions that ever vote <c>c</c> fired on the row; a function that voted some other class says nothing about <c>c</c>
/// (the classes are not exclusive, so a vote for "urgent" is no vote against "spam"), and functions that never vote
/// <c>c</c> are left out of its model. Unlike the multi-class <see cref="LabelModel"/>, an abstention is evidence here:
/// with only positive votes there is nothing else to learn from. Each function <c>j</c> of class <c>c</c> fires with
/// probability <c>alpha_j</c> on rows of the class and <c>beta_j</c> on the others, independently given the class (a
/// latent class model, fitted by EM, with Beta(2, 2)-smoothed estimates so that no function becomes certain);
/// the class's prevalence is learned too.
/// </summary>
public sealed class MultiLabelModel
{
    private readonly ClassModel[] _models;

    private MultiLabelModel(ClassModel[] models) => _models = models;

    public int Classes => _models.Length;

    /// <summary>The learned share of rows in each class.</summary>
    public IReadOnlyList<double> Prevalence => [.. _models.Select(m => m.Prior)];

    /// <summary>
    /// For each function, the learned probability that a row it votes for is of that class (its precision: <c>P(c | fired)</c>),
    /// averaged over the classes it voted for, weighted by its votes; NaN for a function that never voted.
    /// </summary>
    public IReadOnlyList<double> Accuracies { get; private init; } = [];

    /// <summary>Per class: each member function's firing rate on rows of the class and on other rows.</summary>
    public IReadOnlyList<(int[] Functions, double[] Alpha, double[] Beta, double Prior)> Parameters =>
        [.. _models.Select(m => (m.Functions, m.Alpha, m.Beta, m.Prior))];

    /// <summary>Fits one binary model per class to <paramref name="votes"/> (rows by functions; a class index or <see cref="LabelModel.Abstain"/>).</summary>
    public static MultiLabelModel Fit(VoteMatrix votes, int classes, int maxIterations = 200, double tolerance = 1e-6)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(classes, 1);
        var rows = votes.Rows;
        var functions = votes.Functions;
        var voted = new long[functions, classes];
        for (var i = 0; i < rows; i++)
        {
            for (var j = 0; j < functions; j++)
            {
                var v = votes[i, j];
                if (v < LabelModel.Abstain || v >= classes)
                {
                    throw new ArgumentException($"row {i}, function {j}: vote {v} is neither {LabelModel.Abstain} (abstain) nor a class in [0, {classes})");
                }
                if (v != LabelModel.Abstain)
                {
                    voted[j, v]++;
                }
            }
        }
        var models = new ClassModel[classes];
        for (var c = 0; c < classes; c++)
        {
            var members = Enumerable.Range(0, functions).Where(j => voted[j, c] > 0).ToArray();
            models[c] = ClassModel.Fit(votes, c, members, maxIterations, tolerance);
        }
        var accuracies = new double[functions];
        for (var j = 0; j < functions; j++)
        {
            double weighted = 0, total = 0;
            for (var c = 0; c < classes; c++)
            {
                if (voted[j, c] > 0)
                {
                    weighted += voted[j, c] * models[c].Precision(j);
                    total += voted[j, c];
                }
            }
            accuracies[j] = total == 0 ? double.NaN : weighted / total;
        }
        return new MultiLabelModel(models) { Accuracies = accuracies };
    }

    /// <summary>Each row's probability of each class (rows by classes; the classes are decided independently, so a row's probabilities need not add to 1).</summary>
    public double[,] Predict(VoteMatrix votes)
    {
        var rows = votes.Rows;
        var result = new double[rows, Classes];
        for (var i = 0; i < rows; i++)
        {
            for (var c = 0; c < Classes; c++)
            {
                result[i, c] = _models[c].Posterior(votes, i);
            }
        }
        return result;
    }

    /// <summary>Row <paramref name="row"/>'s probability of each class (what <see cref="Predict"/> gives for it), written into <paramref name="into"/>.</summary>
    public void Posterior(VoteMatrix votes, int row, Span<double> into)
    {
        for (var c = 0; c < Classes; c++)
        {
            into[c] = _models[c].Posterior(votes, row);
        }
    }

    /// <summary>The baseline: a row has every class that at least one function voted for.</summary>
    public static bool[,] AnyVote(VoteMatrix votes, int classes)
    {
        var rows = votes.Rows;
        var result = new bool[rows, classes];
        for (var i = 0; i < rows; i++)
        {
            for (var j = 0; j < votes.Functions; j++)
            {
                if (votes[i, j] != LabelModel.Abstain)
                {
                    result[i, votes[i, j]] = true;
                }
            }
        }
        return result;
    }

    private sealed class ClassModel(int label, int[] functions, double[] alpha, double[] beta, double prior)
    {
        public int[] Functions { get; } = functions;
        public double[] Alpha { get; } = alpha;
        public double[] Beta { get; } = beta;
        public double Prior { get; } = prior;

        public static ClassModel Fit(VoteMatrix votes, int label, int[] functions, int maxIterations, double tolerance)
        {
            var rows = votes.Rows;
            // A function is written to fire on its class: start it at 70 % of the class's rows and 5 % of the others.
            var alpha = Enumerable.Repeat(0.7, functions.Length).ToArray();
            var beta = Enumerable.Repeat(0.05, functions.Length).ToArray();
            var prior = 0.3;
            var model = new ClassModel(label, functions, alpha, beta, prior);
            if (functions.Length == 0)
            {
                return new ClassModel(label, functions, alpha, beta, 1e-6);
            }
            for (var iteration = 0; iteration < maxIterations; iteration++)
            {
                var firedIn = new double[functions.Length];
                var firedOut = new double[functions.Length];
                double mass = 0;
                for (var i = 0; i < rows; i++)
                {
                    var p = model.Posterior(votes, i);
                    mass += p;
                    for (var k = 0; k < functions.Length; k++)
                    {
                        if (votes[i, functions[k]] == label)
                        {
                            firedIn[k] += p;
                            firedOut[k] += 1 - p;
                        }
                    }
                }
                var moved = 0.0;
                var nextAlpha = new double[functions.Length];
                var nextBeta = new double[functions.Length];
                for (var k = 0; k < functions.Length; k++)
                {
                    nextAlpha[k] = (firedIn[k] + 1) / (mass + 2);
                    nextBeta[k] = (firedOut[k] + 1) / (rows - mass + 2);
                    moved = Math.Max(moved, Math.Max(Math.Abs(nextAlpha[k] - model.Alpha[k]), Math.Abs(nextBeta[k] - model.Beta[k])));
                }
                var nextPrior = Math.Clamp(mass / rows, 1e-6, 1 - 1e-6);
                moved = Math.Max(moved, Math.Abs(nextPrior - model.Prior));
                model = new ClassModel(label, functions, nextAlpha, nextBeta, nextPrior);
                if (moved < tolerance)
                {
                    break;
                }
            }
            // EM's two fixed points are mirror images (class and not-class swapped): a function fires more often on its own class.
            if (model.Alpha.Sum() < model.Beta.Sum())
            {
                model = new ClassModel(label, functions, model.Beta, model.Alpha, 1 - model.Prior);
            }
            return model;
        }

        /// <summary>P(row has the class | which member functions fired).</summary>
        public double Posterior(VoteMatrix votes, int row)
        {
            double logIn = Math.Log(Prior), logOut = Math.Log(1 - Prior);
            for (var k = 0; k < Functions.Length; k++)
            {
                var fired = votes[row, Functions[k]] == label;
                logIn += Math.Log(fired ? Alpha[k] : 1 - Alpha[k]);
                logOut += Math.Log(fired ? Beta[k] : 1 - Beta[k]);
            }
            return 1 / (1 + Math.Exp(logOut - logIn));
        }

        /// <summary>P(class | function <paramref name="function"/> fired).</summary>
        public double Precision(int function)
        {
            var k = Array.IndexOf(Functions, function);
            return k < 0 ? double.NaN : Prior * Alpha[k] / (Prior * Alpha[k] + (1 - Prior) * Beta[k]);
        }
    }
}
