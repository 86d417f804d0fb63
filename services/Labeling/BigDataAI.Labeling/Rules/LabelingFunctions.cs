using System.Globalization;
using System.Text.RegularExpressions;
using BigDataAI.Datasets;
using BigDataAI.Protos.Labeling.V1;
using Task = System.Threading.Tasks.Task;

namespace BigDataAI.Labeling.Rules;

/// <summary>A labeling function or a rules request that cannot run as declared; the message names the function, column or row.</summary>
public sealed class RulesException(string message) : ArgumentException(message);

/// <summary>
/// One compiled labeling function: its name, the class it votes for (null when it votes several, as a model or a lookup
/// list can), and how it votes on one row of a table: a class index or <see cref="LabelModel.Abstain"/>.
/// </summary>
public abstract class LabelingFunction(string name, int? label)
{
    public string Name { get; } = name;

    /// <summary>The one class this function votes for, or null when it can vote for several.</summary>
    public int? Label { get; } = label;

    /// <summary>The vote of every row of <paramref name="table"/>, written into column <paramref name="function"/> of <paramref name="votes"/>.</summary>
    public abstract Task VoteAsync(Table table, int[,] votes, int function, CancellationToken cancellationToken);
}

/// <summary>A function whose vote depends on one row's cells only: evaluated here, no caller's code runs.</summary>
internal sealed class RowFunction(string name, int? label, Func<Table, Func<int, int>> bind) : LabelingFunction(name, label)
{
    public override Task VoteAsync(Table table, int[,] votes, int function, CancellationToken cancellationToken)
    {
        var vote = bind(table);
        for (var r = 0; r < table.Rows; r++)
        {
            votes[r, function] = vote(r);
        }
        return Task.CompletedTask;
    }
}

/// <summary>What a model function asks of the inference service: each row's predicted class name and confidence.</summary>
public delegate Task<IReadOnlyList<(string Class, double Confidence)>> PredictRows(string model, Table table, CancellationToken cancellationToken);

/// <summary>Votes a served model's class where its confidence reaches the threshold.</summary>
internal sealed class ModelVoteFunction(string name, string model, double minConfidence, IReadOnlyList<string> classes, PredictRows predict) : LabelingFunction(name, null)
{
    public override async Task VoteAsync(Table table, int[,] votes, int function, CancellationToken cancellationToken)
    {
        var predictions = await predict(model, table, cancellationToken).ConfigureAwait(false);
        for (var r = 0; r < table.Rows; r++)
        {
            var (name, confidence) = predictions[r];
            var index = IndexOf(classes, name);
            votes[r, function] = confidence < minConfidence ? LabelModel.Abstain
                : index >= 0 ? index
                : throw new RulesException($"Labeling function '{Name}': model '{model}' predicts class '{name}', which is not one of the classes ({string.Join(", ", classes)}).");
        }
    }

    private static int IndexOf(IReadOnlyList<string> classes, string name)
    {
        for (var i = 0; i < classes.Count; i++)
        {
            if (classes[i] == name)
            {
                return i;
            }
        }
        return -1;
    }
}

/// <summary>
/// Compiles labeling functions declared as data (protos/labeling.proto: keyword, regex, threshold, model, lookup) against
/// a dataset's schema and classes, and applies them over a <see cref="Table"/> into a vote matrix (rows by functions,
/// <see cref="LabelModel.Abstain"/> = -1). Nothing a caller sends is code: keywords and lookup keys are compared as text,
/// and regular expressions run with <see cref="RegexOptions.NonBacktracking"/> (linear time in the input, so no pattern
/// can hang the server) and a match time-out besides.
/// </summary>
public static class LabelingFunctions
{
    /// <summary>The longest any one regex match may take.</summary>
    public static readonly TimeSpan MatchTimeout = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Validates and compiles <paramref name="functions"/>. A <see cref="RulesException"/> names the function and what is
    /// wrong: an empty or repeated name, no kind, an invalid regex (with the parser's error), an unknown column or one of
    /// the wrong type (with its type), a label outside <paramref name="classes"/>, an unknown comparison.
    /// </summary>
    public static IReadOnlyList<LabelingFunction> Compile(IReadOnlyList<Protos.Labeling.V1.LabelingFunction> functions, DatasetSchema schema, IReadOnlyList<string> classes, PredictRows? predict = null)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var compiled = new List<LabelingFunction>(functions.Count);
        foreach (var f in functions)
        {
            if (string.IsNullOrWhiteSpace(f.Name))
            {
                throw new RulesException($"Labeling function {compiled.Count + 1} has no name.");
            }
            if (!seen.Add(f.Name))
            {
                throw new RulesException($"Labeling function '{f.Name}' is declared twice; names must be unique.");
            }
            compiled.Add(f.KindCase switch
            {
                Protos.Labeling.V1.LabelingFunction.KindOneofCase.Keyword => CompileKeyword(f.Name, f.Keyword, schema, classes),
                Protos.Labeling.V1.LabelingFunction.KindOneofCase.Regex => CompileRegex(f.Name, f.Regex, schema, classes),
                Protos.Labeling.V1.LabelingFunction.KindOneofCase.Threshold => CompileThreshold(f.Name, f.Threshold, schema, classes),
                Protos.Labeling.V1.LabelingFunction.KindOneofCase.Lookup => CompileLookup(f.Name, f.Lookup, schema, classes),
                Protos.Labeling.V1.LabelingFunction.KindOneofCase.Model => CompileModel(f.Name, f.Model, classes, predict),
                _ => throw new RulesException($"Labeling function '{f.Name}' declares no kind (keyword, regex, threshold, model or lookup)."),
            });
        }
        return compiled;
    }

    /// <summary>
    /// The vote matrix: one column per function, then one per vote column (<paramref name="voteColumns"/>: string columns
    /// of class names, null abstains). A vote column value outside the classes is a <see cref="RulesException"/> naming
    /// the row (its id) and the column.
    /// </summary>
    public static async Task<int[,]> ApplyAsync(IReadOnlyList<LabelingFunction> functions, IReadOnlyList<string> voteColumns, Table table, IReadOnlyList<string> classes, CancellationToken cancellationToken = default)
    {
        var votes = new int[table.Rows, functions.Count + voteColumns.Count];
        for (var j = 0; j < functions.Count; j++)
        {
            await functions[j].VoteAsync(table, votes, j, cancellationToken).ConfigureAwait(false);
        }
        var index = ClassIndex(classes);
        for (var k = 0; k < voteColumns.Count; k++)
        {
            var column = table.Find(voteColumns[k])
                ?? throw new RulesException($"Vote column '{voteColumns[k]}' is not a column of the dataset (it has: {string.Join(", ", table.Columns.Select(c => c.Name))}).");
            if (column.Schema.Type is ColumnType.Binary or ColumnType.Tensor)
            {
                throw new RulesException($"Vote column '{column.Name}' is {column.Schema.TypeName}; votes are class names.");
            }
            for (var r = 0; r < table.Rows; r++)
            {
                var text = column.Format(r);
                votes[r, functions.Count + k] = text is null ? LabelModel.Abstain
                    : index.TryGetValue(text, out var c) ? c
                    : throw new RulesException($"Vote column '{column.Name}', row {table.RowIds[r]}: '{text}' is not one of the classes ({string.Join(", ", classes)}).");
            }
        }
        return votes;
    }

    private static Dictionary<string, int> ClassIndex(IReadOnlyList<string> classes)
    {
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < classes.Count; i++)
        {
            index[classes[i]] = i;
        }
        return index;
    }

    private static int Label(string function, string label, IReadOnlyList<string> classes)
    {
        for (var i = 0; i < classes.Count; i++)
        {
            if (classes[i] == label)
            {
                return i;
            }
        }
        throw new RulesException($"Labeling function '{function}' votes '{label}', which is not one of the classes ({string.Join(", ", classes)}).");
    }

    private static ColumnSchema RequireColumn(string function, string column, DatasetSchema schema, string wanted, params ColumnType[] types)
    {
        if (string.IsNullOrEmpty(column))
        {
            throw new RulesException($"Labeling function '{function}' names no column.");
        }
        var found = schema.Find(column)
            ?? throw new RulesException($"Labeling function '{function}': column '{column}' is not a column of the dataset (it has: {string.Join(", ", schema.Columns.Select(c => $"{c.Name} ({c.TypeName})"))}).");
        if (!types.Contains(found.Type))
        {
            throw new RulesException($"Labeling function '{function}': column '{column}' is {found.TypeName}, not {wanted}.");
        }
        return found;
    }

    private static LabelingFunction CompileKeyword(string name, KeywordFunction f, DatasetSchema schema, IReadOnlyList<string> classes)
    {
        var column = RequireColumn(name, f.Column, schema, "a text (string) column", ColumnType.String).Name;
        var label = Label(name, f.Label, classes);
        var words = f.Words.Where(w => !string.IsNullOrWhiteSpace(w)).Select(w => w.Trim()).ToArray();
        if (words.Length == 0)
        {
            throw new RulesException($"Labeling function '{name}' lists no words.");
        }
        // Whole words: each keyword escaped (it is text, not a pattern) between word boundaries, all in one alternation.
        var pattern = $@"\b(?:{string.Join("|", words.Select(Regex.Escape))})\b";
        var regex = new Regex(pattern, Options(f.CaseSensitive), MatchTimeout);
        return new RowFunction(name, label, table => Matcher(name, table[column], regex, label));
    }

    private static LabelingFunction CompileRegex(string name, RegexFunction f, DatasetSchema schema, IReadOnlyList<string> classes)
    {
        var column = RequireColumn(name, f.Column, schema, "a text (string) column", ColumnType.String).Name;
        var label = Label(name, f.Label, classes);
        Regex regex;
        try
        {
            regex = new Regex(f.Pattern, Options(f.CaseSensitive), MatchTimeout);
        }
        catch (ArgumentException e)
        {
            throw new RulesException($"Labeling function '{name}': the regex '{f.Pattern}' is invalid: {e.Message}");
        }
        catch (NotSupportedException e)
        {
            // NonBacktracking refuses constructs it cannot run in linear time (backreferences, lookarounds, atomic groups).
            throw new RulesException($"Labeling function '{name}': the regex '{f.Pattern}' uses a construct that is not supported (no backreferences, lookarounds or atomic groups): {e.Message}");
        }
        return new RowFunction(name, label, table => Matcher(name, table[column], regex, label));
    }

    private static RegexOptions Options(bool caseSensitive) =>
        RegexOptions.NonBacktracking | RegexOptions.CultureInvariant | (caseSensitive ? RegexOptions.None : RegexOptions.IgnoreCase);

    private static Func<int, int> Matcher(string function, Column column, Regex regex, int label)
    {
        var values = (string?[])column.Values;
        return r =>
        {
            if (values[r] is not { } text)
            {
                return LabelModel.Abstain;
            }
            try
            {
                return regex.IsMatch(text) ? label : LabelModel.Abstain;
            }
            catch (RegexMatchTimeoutException)
            {
                throw new RulesException($"Labeling function '{function}': matching column '{column.Name}' took longer than {MatchTimeout.TotalSeconds:0.#} s on one row.");
            }
        };
    }

    private static LabelingFunction CompileThreshold(string name, ThresholdFunction f, DatasetSchema schema, IReadOnlyList<string> classes)
    {
        var column = RequireColumn(name, f.Column, schema, "a numeric (int64 or double) column", ColumnType.Int64, ColumnType.Double, ColumnType.Bool).Name;
        var label = Label(name, f.Label, classes);
        Func<double, bool> test = f.Op switch
        {
            ">" => v => v > f.Value,
            ">=" => v => v >= f.Value,
            "<" => v => v < f.Value,
            "<=" => v => v <= f.Value,
            _ => throw new RulesException($"Labeling function '{name}': op '{f.Op}' is none of >, >=, <, <=."),
        };
        return new RowFunction(name, label, table =>
        {
            var values = table[column].Values;
            return r =>
            {
                double? v = values switch
                {
                    long?[] l => l[r],
                    double?[] d => d[r],
                    bool?[] b => b[r] is { } flag ? (flag ? 1 : 0) : null,
                    _ => null,
                };
                return v is { } x && !double.IsNaN(x) && test(x) ? label : LabelModel.Abstain;
            };
        });
    }

    private static LabelingFunction CompileLookup(string name, LookupFunction f, DatasetSchema schema, IReadOnlyList<string> classes)
    {
        var column = RequireColumn(name, f.Column, schema, "a column of text, whole numbers or flags", ColumnType.String, ColumnType.Int64, ColumnType.Bool).Name;
        if (f.Labels.Count == 0)
        {
            throw new RulesException($"Labeling function '{name}' has an empty lookup list.");
        }
        var comparer = f.CaseSensitive ? StringComparer.Ordinal : StringComparer.OrdinalIgnoreCase;
        var map = new Dictionary<string, int>(comparer);
        foreach (var (key, value) in f.Labels)
        {
            map[key] = Label(name, value, classes);
        }
        var only = map.Values.Distinct().ToArray();
        return new RowFunction(name, only.Length == 1 ? only[0] : null, table =>
        {
            var values = table[column];
            return r => values.Format(r) is { } text && map.TryGetValue(text.Trim(), out var label) ? label : LabelModel.Abstain;
        });
    }

    private static LabelingFunction CompileModel(string name, ModelFunction f, IReadOnlyList<string> classes, PredictRows? predict)
    {
        if (string.IsNullOrWhiteSpace(f.ModelName))
        {
            throw new RulesException($"Labeling function '{name}' names no model.");
        }
        if (f.MinConfidence is < 0 or > 1 || double.IsNaN(f.MinConfidence))
        {
            throw new RulesException($"Labeling function '{name}': min_confidence {f.MinConfidence.ToString(CultureInfo.InvariantCulture)} is not in [0, 1].");
        }
        return new ModelVoteFunction(name, f.ModelName, f.MinConfidence, classes,
            predict ?? throw new RulesException($"Labeling function '{name}' needs the inference service, which this host does not reach."));
    }
}
