using BigDataAI.Datasets;
using BigDataAI.Labeling.Rules;
using BigDataAI.Protos.Labeling.V1;
using Xunit.Abstractions;
using LabelingFunction = BigDataAI.Protos.Labeling.V1.LabelingFunction;
using Task = System.Threading.Tasks.Task;

namespace BigDataAI.UnitTests.Labeling;

public sealed class LabelingFunctionsTests(ITestOutputHelper output)
{
    private static readonly string[] Classes = ["ham", "spam"];

    private static Table Mail()
    {
        var text = new ColumnSchema("text", ColumnType.String, ColumnRole.Text);
        var links = new ColumnSchema("links", ColumnType.Int64, ColumnRole.Feature);
        var sender = new ColumnSchema("sender", ColumnType.String, ColumnRole.Feature);
        var votes = new ColumnSchema("crowd", ColumnType.String, ColumnRole.Ignored);
        var columns = new[]
        {
            new Column(text, new string?[] { "FREE money now", "meeting notes attached", "Freedom of speech", null }),
            new Column(links, new long?[] { 9, 0, 2, null }),
            new Column(sender, new string?[] { "Promo.biz", "work.org", "news.com", "promo.biz" }),
            new Column(votes, new string?[] { "spam", null, "ham", null }),
        };
        return new Table(new DatasetSchema([.. columns.Select(c => c.Schema)]), columns, [10, 11, 12, 13]);
    }

    private static LabelingFunction Keyword(string name, string column, string label, params string[] words) =>
        new() { Name = name, Keyword = new KeywordFunction { Column = column, Label = label, Words = { words } } };

    [Fact]
    public async Task Keywords_regexes_thresholds_lookups_and_vote_columns_vote_or_abstain()
    {
        var table = Mail();
        LabelingFunction[] functions =
        [
            Keyword("free", "text", "spam", "free"),
            new() { Name = "notes", Regex = new RegexFunction { Column = "text", Pattern = @"\bnotes?\b", Label = "ham" } },
            new() { Name = "links", Threshold = new ThresholdFunction { Column = "links", Op = ">=", Value = 5, Label = "spam" } },
            new() { Name = "senders", Lookup = new LookupFunction { Column = "sender", Labels = { ["promo.biz"] = "spam", ["work.org"] = "ham" } } },
        ];
        var compiled = LabelingFunctions.Compile(functions, table.Schema, Classes);
        var votes = await LabelingFunctions.ApplyAsync(compiled, ["crowd"], table, Classes);

        int[][] expected =
        [
            [1, -1, 1, 1, 1],   // "FREE" matches case-insensitively as a whole word; 9 links; promo.biz in any case
            [-1, 0, -1, 0, -1],
            [-1, -1, -1, -1, 0], // "Freedom" is not the word "free"
            [-1, -1, -1, 1, -1], // null text and null links abstain
        ];
        for (var r = 0; r < expected.Length; r++)
        {
            Assert.Equal(expected[r], Enumerable.Range(0, 5).Select(j => votes[r, j]));
        }
        Assert.Equal(1, compiled[0].Label);
        Assert.Null(compiled[3].Label);
    }

    [Fact]
    public async Task A_model_function_votes_the_served_models_class_where_its_confidence_reaches_the_threshold()
    {
        var table = Mail();
        var asked = new List<(string Model, int Rows)>();
        PredictRows predict = (model, rows, _) =>
        {
            asked.Add((model, rows.Rows));
            IReadOnlyList<(string, double)> answers = [("spam", 0.95), ("ham", 0.6), ("ham", 0.99), ("spam", 0.5)];
            return Task.FromResult(answers);
        };
        var function = new LabelingFunction { Name = "classifier", Model = new ModelFunction { ModelName = "mail@3", MinConfidence = 0.9 } };
        var votes = await LabelingFunctions.ApplyAsync(LabelingFunctions.Compile([function], table.Schema, Classes, predict), [], table, Classes);

        Assert.Equal([1, -1, 0, -1], Enumerable.Range(0, 4).Select(r => votes[r, 0]));
        Assert.Equal([("mail@3", 4)], asked);

        PredictRows alien = (_, rows, _) => Task.FromResult<IReadOnlyList<(string, double)>>([.. Enumerable.Repeat(("eggs", 1.0), rows.Rows)]);
        var e = await Assert.ThrowsAsync<RulesException>(() => LabelingFunctions.ApplyAsync(LabelingFunctions.Compile([function], table.Schema, Classes, alien), [], table, Classes));
        Assert.StartsWith("Labeling function 'classifier': model 'mail@3' predicts class 'eggs'", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("regex", "Labeling function 'bad-regex': the regex '(unclosed' is invalid")]
    [InlineData("backreference", "Labeling function 'bad-regex': the regex '(a)\\1' uses a construct that is not supported")]
    [InlineData("column", "Labeling function 'bad-column': column 'subject' is not a column of the dataset")]
    [InlineData("type", "Labeling function 'bad-type': column 'links' is int64, not a text (string) column")]
    [InlineData("threshold-type", "Labeling function 'bad-type': column 'text' is string, not a numeric")]
    [InlineData("label", "Labeling function 'bad-label' votes 'eggs', which is not one of the classes (ham, spam)")]
    [InlineData("op", "Labeling function 'bad-op': op '==' is none of >, >=, <, <=")]
    [InlineData("twice", "Labeling function 'free' is declared twice")]
    public void An_invalid_function_is_refused_naming_it_and_what_is_wrong(string what, string message)
    {
        LabelingFunction bad = what switch
        {
            "regex" => new() { Name = "bad-regex", Regex = new RegexFunction { Column = "text", Pattern = "(unclosed", Label = "spam" } },
            "backreference" => new() { Name = "bad-regex", Regex = new RegexFunction { Column = "text", Pattern = @"(a)\1", Label = "spam" } },
            "column" => Keyword("bad-column", "subject", "spam", "free"),
            "type" => Keyword("bad-type", "links", "spam", "free"),
            "threshold-type" => new() { Name = "bad-type", Threshold = new ThresholdFunction { Column = "text", Op = ">", Value = 1, Label = "spam" } },
            "label" => Keyword("bad-label", "text", "eggs", "free"),
            "op" => new() { Name = "bad-op", Threshold = new ThresholdFunction { Column = "links", Op = "==", Value = 1, Label = "spam" } },
            _ => Keyword("free", "text", "spam", "money"),
        };
        var e = Assert.Throws<RulesException>(() => LabelingFunctions.Compile([Keyword("free", "text", "spam", "free"), bad], Mail().Schema, Classes));
        output.WriteLine(e.Message);
        Assert.StartsWith(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_vote_column_value_outside_the_classes_is_refused_naming_row_and_column()
    {
        var table = Mail();
        var e = await Assert.ThrowsAsync<RulesException>(() => LabelingFunctions.ApplyAsync([], ["sender"], table, Classes));
        Assert.StartsWith("Vote column 'sender', row 10: 'Promo.biz' is not one of the classes", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_catastrophic_pattern_runs_in_linear_time()
    {
        // (a+)+$ backtracks exponentially on "aaaa...b" with the classic engine; NonBacktracking answers at once.
        var text = new ColumnSchema("text", ColumnType.String, ColumnRole.Text);
        var column = new Column(text, new string?[] { new string('a', 50_000) + "b" });
        var table = new Table(new DatasetSchema([text]), [column], [0]);
        var compiled = LabelingFunctions.Compile([new() { Name = "evil", Regex = new RegexFunction { Column = "text", Pattern = "^(a+)+$", Label = "spam" } }], table.Schema, Classes);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var votes = await LabelingFunctions.ApplyAsync(compiled, [], table, Classes);
        Assert.Equal(LabelModel.Abstain, votes[0, 0]);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), $"took {watch.Elapsed}");
    }

    /// <summary>
    /// Multi-label truth planted per class; each class has a precise rare function, a broad noisy one and a middling one.
    /// "Every class anyone voted" (the baseline) takes every noisy vote; the per-class models weigh them.
    /// </summary>
    [Fact]
    public void The_multi_label_model_recovers_label_sets_better_than_any_vote()
    {
        const int rows = 4000, classes = 3;
        var random = new Random(11);
        // Per class: (fires on its rows, fires on other rows) of three functions.
        (double Alpha, double Beta)[] kinds = [(0.45, 0.01), (0.90, 0.35), (0.60, 0.10)];
        var truth = new bool[rows, classes];
        var votes = new int[rows, classes * kinds.Length];
        for (var i = 0; i < rows; i++)
        {
            for (var c = 0; c < classes; c++)
            {
                truth[i, c] = random.NextDouble() < 0.3 + 0.1 * c;
                for (var f = 0; f < kinds.Length; f++)
                {
                    var p = truth[i, c] ? kinds[f].Alpha : kinds[f].Beta;
                    votes[i, c * kinds.Length + f] = random.NextDouble() < p ? c : LabelModel.Abstain;
                }
            }
        }
        var model = MultiLabelModel.Fit(votes, classes);
        var probs = model.Predict(votes);
        var baseline = MultiLabelModel.AnyVote(votes, classes);
        int exact = 0, baselineExact = 0, decisions = 0, baselineDecisions = 0;
        for (var i = 0; i < rows; i++)
        {
            bool same = true, baselineSame = true;
            for (var c = 0; c < classes; c++)
            {
                same &= (probs[i, c] >= 0.5) == truth[i, c];
                baselineSame &= baseline[i, c] == truth[i, c];
                decisions += (probs[i, c] >= 0.5) == truth[i, c] ? 1 : 0;
                baselineDecisions += baseline[i, c] == truth[i, c] ? 1 : 0;
            }
            exact += same ? 1 : 0;
            baselineExact += baselineSame ? 1 : 0;
        }
        output.WriteLine($"exact label sets: model {exact / (double)rows:P1}, any vote {baselineExact / (double)rows:P1}; per-class decisions {decisions / (double)(rows * classes):P1} vs {baselineDecisions / (double)(rows * classes):P1}");
        output.WriteLine($"prevalence {string.Join(", ", model.Prevalence.Select(p => p.ToString("F3", System.Globalization.CultureInfo.InvariantCulture)))} (planted 0.3, 0.4, 0.5)");
        Assert.True(exact > baselineExact + rows / 10, $"model {exact} vs any vote {baselineExact} exact sets of {rows}");
        for (var c = 0; c < classes; c++)
        {
            Assert.InRange(model.Prevalence[c], 0.3 + 0.1 * c - 0.05, 0.3 + 0.1 * c + 0.05);
            var (functions, alpha, beta, _) = model.Parameters[c];
            Assert.Equal([c * 3, c * 3 + 1, c * 3 + 2], functions);
            for (var f = 0; f < kinds.Length; f++)
            {
                Assert.InRange(alpha[f], kinds[f].Alpha - 0.06, kinds[f].Alpha + 0.06);
                Assert.InRange(beta[f], kinds[f].Beta - 0.06, kinds[f].Beta + 0.06);
            }
        }
        // The precise functions are learned as the most precise.
        Assert.True(model.Accuracies[0] > model.Accuracies[1]);
    }
}
