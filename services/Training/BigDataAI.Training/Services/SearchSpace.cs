using System.Globalization;
using BigDataAI.Models;
using BigDataAI.Training.Model;

namespace BigDataAI.Training.Services;

/// <summary>
/// A sweep's search space: which hyper-parameters it may set, their checks, and the trials a strategy draws from it.
/// Pure: the same space, strategy, count and seed give the same trials.
/// </summary>
public static class SearchSpace
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>The most trials a sweep may have.</summary>
    public const int MaxTrials = 1000;

    public static IReadOnlyList<string> Strategies { get; } = ["grid", "random", "asha"];

    private sealed record Kind(bool Integer, double Lowest, double Highest, bool ChoicesOnly = false);

    private static readonly Dictionary<string, Kind> Parameters = new(StringComparer.Ordinal)
    {
        ["learning_rate"] = new(false, double.Epsilon, 10),
        ["weight_decay"] = new(false, 0, 1),
        ["dropout"] = new(false, 0, 0.95),
        ["batch_size"] = new(true, 1, 65_536),
        ["epochs"] = new(true, 1, 10_000),
        ["warmup_epochs"] = new(true, 0, 10_000),
        ["max_grad_norm"] = new(false, 0, 1e6),
        ["step_gamma"] = new(false, double.Epsilon, 1),
        ["early_stopping_patience"] = new(true, 0, 10_000),
        ["optimizer"] = new(false, 0, 0, ChoicesOnly: true),
        ["lr_schedule"] = new(false, 0, 0, ChoicesOnly: true),
        ["model"] = new(false, 0, 0, ChoicesOnly: true),
        ["class_weights"] = new(false, 0, 0, ChoicesOnly: true),
    };

    /// <summary>The parameter names a space may use.</summary>
    public static IReadOnlyList<string> Names { get; } = [.. Parameters.Keys];

    /// <summary>Throws <see cref="ArgumentException"/> naming the field (<c>space[i].min</c>, ...) of the first bad dimension.</summary>
    public static void Check(IReadOnlyList<SearchParameter> space)
    {
        if (space.Count == 0)
        {
            throw new ArgumentException($"Field 'space': a sweep needs at least one parameter to vary; use one of {string.Join(", ", Names)}.");
        }
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < space.Count; i++)
        {
            var p = space[i];
            var field = $"space[{i}]";
            if (!Parameters.TryGetValue(p.Name, out var kind))
            {
                throw new ArgumentException($"Field '{field}.name': '{p.Name}' is not a parameter a sweep can vary; use one of {string.Join(", ", Names)}.");
            }
            if (!seen.Add(p.Name))
            {
                throw new ArgumentException($"Field '{field}.name': '{p.Name}' appears twice in the space.");
            }
            if (p.Choices.Count > 0)
            {
                if (p.Min != 0 || p.Max != 0 || p.LogScale)
                {
                    throw new ArgumentException($"Field '{field}': '{p.Name}' gives both choices and a range; give one.");
                }
                if (p.Choices.Distinct(StringComparer.Ordinal).Count() != p.Choices.Count)
                {
                    throw new ArgumentException($"Field '{field}.choices': '{p.Name}' lists a choice twice.");
                }
                foreach (var choice in p.Choices)
                {
                    CheckChoice(p.Name, choice, kind, field);
                }
                continue;
            }
            if (kind.ChoicesOnly)
            {
                throw new ArgumentException($"Field '{field}.choices': '{p.Name}' takes choices (e.g. {Example(p.Name)}), not a range.");
            }
            if (!double.IsFinite(p.Min) || !double.IsFinite(p.Max) || p.Min >= p.Max)
            {
                throw new ArgumentException($"Field '{field}': the range of '{p.Name}' is empty ([{p.Min.ToString(Inv)}, {p.Max.ToString(Inv)}]); give min < max, or choices.");
            }
            if (p.Min < kind.Lowest || p.Max > kind.Highest)
            {
                throw new ArgumentException($"Field '{field}': '{p.Name}' must stay within [{kind.Lowest.ToString(Inv)}, {kind.Highest.ToString(Inv)}]; the range given is [{p.Min.ToString(Inv)}, {p.Max.ToString(Inv)}].");
            }
            if (p.LogScale && p.Min <= 0)
            {
                throw new ArgumentException($"Field '{field}.min': a log-scale range of '{p.Name}' must start above 0 (it starts at {p.Min.ToString(Inv)}).");
            }
            if (kind.Integer && Math.Floor(p.Max) < Math.Ceiling(p.Min))
            {
                throw new ArgumentException($"Field '{field}': the range of '{p.Name}' holds no whole number.");
            }
            if (p.GridPoints is < 0 or > 100)
            {
                throw new ArgumentException($"Field '{field}.grid_points': {p.GridPoints} is out of range; use 0 (3) to 100.");
            }
        }
    }

    /// <summary>
    /// The trials of <paramref name="strategy"/>: "grid" every combination (ranges as <c>GridPoints</c> evenly spaced
    /// values, ends included), "random" and "asha" <paramref name="trials"/> draws (uniform, or log-uniform, within each
    /// range; a uniform choice), from <paramref name="seed"/>. Values are text, as a job states them.
    /// </summary>
    public static IReadOnlyList<IReadOnlyDictionary<string, string>> Trials(IReadOnlyList<SearchParameter> space, string strategy, int trials, long seed)
    {
        if (strategy == "grid")
        {
            IEnumerable<IReadOnlyDictionary<string, string>> combos = [new Dictionary<string, string>(StringComparer.Ordinal)];
            foreach (var p in space)
            {
                var values = GridValues(p);
                combos = combos.SelectMany(c => values.Select(v => (IReadOnlyDictionary<string, string>)new Dictionary<string, string>(c, StringComparer.Ordinal) { [p.Name] = v })).ToList();
                if (combos.Count() > MaxTrials)
                {
                    throw new ArgumentException($"Field 'space': the grid has more than {MaxTrials} combinations; use fewer grid_points or the random strategy.");
                }
            }
            return [.. combos];
        }
        // System.Random with a seed is the same sequence on every .NET version (its seeded algorithm is frozen).
        var random = new Random(unchecked((int)(seed ^ (seed >> 32))));
        var drawn = new List<IReadOnlyDictionary<string, string>>(trials);
        for (var t = 0; t < trials; t++)
        {
            var values = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var p in space)
            {
                values[p.Name] = p.Choices.Count > 0 ? p.Choices[random.Next(p.Choices.Count)] : Format(p, Draw(p, random.NextDouble()));
            }
            drawn.Add(values);
        }
        return drawn;
    }

    /// <summary><paramref name="request"/> with the hyper-parameters <paramref name="values"/> names set to their values.</summary>
    public static TrainingRequest Apply(TrainingRequest request, IReadOnlyDictionary<string, string> values)
    {
        foreach (var (name, text) in values)
        {
            double Number() => double.Parse(text, NumberStyles.Float, Inv);
            int Whole() => checked((int)Math.Round(Number()));
            request = name switch
            {
                "learning_rate" => request with { LearningRate = Number() },
                "weight_decay" => request with { WeightDecay = Number() },
                "dropout" => request with { Dropout = Number() },
                "batch_size" => request with { BatchSize = Whole() },
                "epochs" => request with { Epochs = Whole() },
                "warmup_epochs" => request with { WarmupEpochs = Whole() },
                "max_grad_norm" => request with { MaxGradNorm = Number() },
                "step_gamma" => request with { StepGamma = Number() },
                "early_stopping_patience" => request with { EarlyStoppingPatience = Whole() },
                "optimizer" => request with { Optimizer = text },
                "lr_schedule" => request with { LrSchedule = text },
                "model" => request with { Model = text },
                "class_weights" => request with { ClassWeights = text },
                _ => throw new ArgumentException($"'{name}' is not a parameter a sweep can vary."),
            };
        }
        return request;
    }

    private static IReadOnlyList<string> GridValues(SearchParameter p)
    {
        if (p.Choices.Count > 0)
        {
            return p.Choices;
        }
        var points = p.GridPoints == 0 ? 3 : p.GridPoints;
        return [.. Enumerable.Range(0, points).Select(i => Format(p, Draw(p, points == 1 ? 0.5 : i / (double)(points - 1)))).Distinct(StringComparer.Ordinal)];
    }

    /// <summary>The value at <paramref name="u"/> (0 to 1) along the range, evenly in linear or log space.</summary>
    private static double Draw(SearchParameter p, double u) => p.LogScale
        ? Math.Exp(Math.Log(p.Min) + u * (Math.Log(p.Max) - Math.Log(p.Min)))
        : p.Min + u * (p.Max - p.Min);

    private static string Format(SearchParameter p, double value)
    {
        if (Parameters[p.Name].Integer)
        {
            return Math.Clamp(Math.Round(value), Math.Ceiling(p.Min), Math.Floor(p.Max)).ToString("0", Inv);
        }
        // Six significant digits: a trial's values read as people write them, and equal draws are equal jobs.
        return double.Parse(value.ToString("G6", Inv), Inv).ToString("R", Inv);
    }

    private static void CheckChoice(string name, string choice, Kind kind, string field)
    {
        var ok = name switch
        {
            "optimizer" => ModelCatalog.Optimizers.Contains(choice),
            "lr_schedule" => ModelCatalog.Schedules.Contains(choice),
            "model" => ModelCatalog.Find(choice) is not null,
            "class_weights" => choice.Length > 0,
            _ => double.TryParse(choice, NumberStyles.Float, Inv, out var v) && double.IsFinite(v) && v >= kind.Lowest && v <= kind.Highest
                && (!kind.Integer || v == Math.Round(v)),
        };
        if (!ok)
        {
            throw new ArgumentException($"Field '{field}.choices': '{choice}' is not a value of '{name}' (e.g. {Example(name)}).");
        }
    }

    private static string Example(string name) => name switch
    {
        "optimizer" => string.Join(", ", ModelCatalog.Optimizers),
        "lr_schedule" => string.Join(", ", ModelCatalog.Schedules),
        "model" => string.Join(", ", ModelCatalog.Names),
        "class_weights" => "balanced",
        _ => "a number within its range",
    };
}

/// <summary>
/// Asynchronous successive halving (ASHA, Li et al. 2020, as in Ray Tune's ASHAScheduler): rungs at
/// <c>minEpochs * factor^k</c> epochs below the budget; a trial that reaches a rung goes on only if its score is in the
/// top 1/factor of the scores recorded at that rung so far (its own included), else it is stopped. Decisions are made
/// as trials arrive and never revisited, so no trial waits for another.
/// </summary>
public static class Asha
{
    /// <summary>The rungs, in epochs: minEpochs, minEpochs*factor, ... while below <paramref name="maxEpochs"/>.</summary>
    public static IReadOnlyList<int> Rungs(int minEpochs, int factor, int maxEpochs)
    {
        var rungs = new List<int>();
        for (long r = minEpochs; r < maxEpochs; r *= factor)
        {
            rungs.Add((int)r);
        }
        return rungs;
    }

    /// <summary>
    /// Whether a trial scoring <paramref name="score"/> at a rung goes on, given every score recorded at that rung so far
    /// (<paramref name="recorded"/>, its own included), and the cutoff: the k-th best score, k = max(1, n / factor).
    /// </summary>
    public static (bool GoesOn, double Cutoff) Decide(IReadOnlyCollection<double> recorded, double score, int factor)
    {
        var sorted = recorded.OrderByDescending(s => s).ToList();
        var k = Math.Max(1, sorted.Count / factor);
        var cutoff = sorted[k - 1];
        return (score >= cutoff, cutoff);
    }
}
