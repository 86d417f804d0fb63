using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using BigDataAI.Datasets;
using Proto = BigDataAI.Protos.Quality.V1;

namespace BigDataAI.Ingestion.Quality;

/// <summary>One step of a recipe as recorded in the lineage: its kind and the settings it ran with (defaults filled in).</summary>
public sealed record CleaningStepSpec(string Step)
{
    public string? Column { get; init; }
    public IReadOnlyList<string>? Columns { get; init; }
    public string? Action { get; init; }
    public double? Threshold { get; init; }
    public int? MaxDistance { get; init; }
    public string? Constant { get; init; }
    public string? Method { get; init; }
    public double? Lower { get; init; }
    public double? Upper { get; init; }
    public double? Factor { get; init; }
    public IReadOnlyList<string>? Kinds { get; init; }
    public string? KeyFingerprint { get; init; }
}

/// <summary>
/// A cleaning as recorded: the parent version and the steps with every default made explicit (an empty column list
/// becomes the columns it meant), so equal requests give equal JSON, and the same parent cleaned the same way is found
/// by its lineage.
/// </summary>
public sealed record CleaningRecipe(int Parent, IReadOnlyList<CleaningStepSpec> Steps)
{
    public const int MaxSteps = 32;
    public const int MinHashKeyLength = 16;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public string Sha256() => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("clean\n" + ToJson())));

    /// <summary>
    /// Checks the request's steps against the parent's schema and returns the recipe and the runnable steps. Every
    /// problem is a <see cref="QualityRequestException"/> naming the step and field.
    /// </summary>
    internal static (CleaningRecipe Recipe, IReadOnlyList<CleaningStep> Steps) Resolve(IReadOnlyList<Proto.CleaningStep> steps, DatasetSchema schema, int parent)
    {
        if (steps.Count == 0)
        {
            throw new QualityRequestException("steps", "give at least one step.");
        }
        if (steps.Count > MaxSteps)
        {
            throw new QualityRequestException("steps", $"{steps.Count} steps, at most {MaxSteps} are allowed.");
        }
        var specs = new List<CleaningStepSpec>();
        var runners = new List<CleaningStep>();
        for (var i = 0; i < steps.Count; i++)
        {
            var (spec, runner) = ResolveStep(i, steps[i], schema);
            specs.Add(spec);
            runners.Add(runner);
        }
        return (new CleaningRecipe(parent, specs), runners);
    }

    private static (CleaningStepSpec, CleaningStep) ResolveStep(int i, Proto.CleaningStep step, DatasetSchema schema)
    {
        var at = $"steps[{i}]";
        switch (step.StepCase)
        {
            case Proto.CleaningStep.StepOneofCase.DropDuplicates:
                return (new CleaningStepSpec("drop_duplicates"), new DropDuplicatesStep(i));

            case Proto.CleaningStep.StepOneofCase.NearDuplicates:
            {
                var s = step.NearDuplicates;
                var field = $"{at}.near_duplicates";
                var column = Column(schema, s.Column, $"{field}.column");
                var isText = column.Type == ColumnType.String;
                var isImage = column.Type == ColumnType.Binary || (column.Type == ColumnType.Tensor && Datasets.Similarity.PerceptualHash.IsImageShape(column.Shape));
                if (!isText && !isImage)
                {
                    throw new QualityRequestException($"{field}.column", $"column '{column.Name}' is {column.TypeName}; near-duplicates need a string column (text) or a binary image column or image tensor ([h, w], [h, w, c], [c, h, w]).");
                }
                var merge = s.Action switch
                {
                    Proto.NearDuplicateAction.Unspecified or Proto.NearDuplicateAction.Drop => false,
                    Proto.NearDuplicateAction.Merge => true,
                    _ => throw new QualityRequestException($"{field}.action", $"unknown action {(int)s.Action}."),
                };
                if (merge && schema.Label is null)
                {
                    throw new QualityRequestException($"{field}.action", "merge keeps the group's most common label, but the dataset has no label column; use drop.");
                }
                var threshold = s.TextThreshold == 0 ? 0.8 : s.TextThreshold;
                if (!(threshold > 0 && threshold <= 1))
                {
                    throw new QualityRequestException($"{field}.text_threshold", $"{s.TextThreshold} is outside (0, 1].");
                }
                var distance = s.ImageMaxDistance == 0 ? 4 : s.ImageMaxDistance;
                if (distance is < 1 or > 16)
                {
                    throw new QualityRequestException($"{field}.image_max_distance", $"{s.ImageMaxDistance} is outside 1-16 bits.");
                }
                var spec = new CleaningStepSpec("near_duplicates")
                {
                    Column = column.Name,
                    Action = merge ? "merge" : "drop",
                    Threshold = isText ? threshold : null,
                    MaxDistance = isText ? null : distance,
                };
                return (spec, new NearDuplicatesStep(i, column, merge, threshold, distance, schema.Label?.Name));
            }

            case Proto.CleaningStep.StepOneofCase.MissingValues:
            {
                var s = step.MissingValues;
                var field = $"{at}.missing_values";
                var column = Column(schema, s.Column, $"{field}.column");
                var action = s.Action switch
                {
                    Proto.MissingAction.DropRow => "drop_row",
                    Proto.MissingAction.Mean => "mean",
                    Proto.MissingAction.Median => "median",
                    Proto.MissingAction.Mode => "mode",
                    Proto.MissingAction.Constant => "constant",
                    _ => throw new QualityRequestException($"{field}.action", "choose drop_row, mean, median, mode or constant."),
                };
                if (column.Type == ColumnType.Tensor)
                {
                    throw new QualityRequestException($"{field}.column", $"column '{column.Name}' is {column.TypeName}: tensor columns hold no nulls.");
                }
                if (action != "drop_row" && column.Role == ColumnRole.Label)
                {
                    throw new QualityRequestException($"{field}.action", $"column '{column.Name}' is the label: its nulls are unlabeled rows, label them or use drop_row.");
                }
                if (action is "mean" or "median" && column.Type is not (ColumnType.Int64 or ColumnType.Double))
                {
                    throw new QualityRequestException($"{field}.action", $"a {action} needs an int64 or double column; '{column.Name}' is {column.TypeName} (use mode or constant).");
                }
                if (action == "mode" && column.Type == ColumnType.Binary)
                {
                    throw new QualityRequestException($"{field}.action", $"column '{column.Name}' is binary: a mode of binary values is not offered (use drop_row).");
                }
                object? constant = null;
                if (action == "constant")
                {
                    if (column.Type == ColumnType.Binary)
                    {
                        throw new QualityRequestException($"{field}.action", $"column '{column.Name}' is binary: a constant cannot be given as text (use drop_row).");
                    }
                    constant = Cells.Parse(column, s.Constant)
                        ?? throw new QualityRequestException($"{field}.constant", $"'{s.Constant}' is not a {column.TypeName} value for column '{column.Name}'.");
                }
                var spec = new CleaningStepSpec("missing_values") { Column = column.Name, Action = action, Constant = action == "constant" ? s.Constant : null };
                return (spec, new MissingValuesStep(i, column, action, constant));
            }

            case Proto.CleaningStep.StepOneofCase.ClipOutliers:
            {
                var s = step.ClipOutliers;
                var field = $"{at}.clip_outliers";
                var column = Column(schema, s.Column, $"{field}.column");
                if (column.Type is not (ColumnType.Int64 or ColumnType.Double))
                {
                    throw new QualityRequestException($"{field}.column", $"column '{column.Name}' is {column.TypeName}; clipping needs an int64 or double column.");
                }
                if (column.Role == ColumnRole.Label)
                {
                    throw new QualityRequestException($"{field}.column", $"column '{column.Name}' is the label; clipping a target changes what is learned.");
                }
                CleaningStepSpec spec;
                switch (s.Method)
                {
                    case Proto.ClipMethod.Quantile:
                        var (lower, upper) = s.LowerQuantile == 0 && s.UpperQuantile == 0 ? (0.01, 0.99) : (s.LowerQuantile, s.UpperQuantile);
                        if (!(lower >= 0 && lower < upper && upper <= 1))
                        {
                            throw new QualityRequestException($"{field}.lower_quantile", $"{lower} and upper_quantile {upper} must satisfy 0 <= lower < upper <= 1.");
                        }
                        spec = new CleaningStepSpec("clip_outliers") { Column = column.Name, Method = "quantile", Lower = lower, Upper = upper };
                        return (spec, new ClipOutliersStep(i, column, "quantile", lower, upper, 0));
                    case Proto.ClipMethod.Iqr:
                        var factor = s.IqrFactor == 0 ? 1.5 : s.IqrFactor;
                        if (!(factor > 0) || double.IsInfinity(factor))
                        {
                            throw new QualityRequestException($"{field}.iqr_factor", $"{s.IqrFactor} must be above 0.");
                        }
                        spec = new CleaningStepSpec("clip_outliers") { Column = column.Name, Method = "iqr", Factor = factor };
                        return (spec, new ClipOutliersStep(i, column, "iqr", 0, 0, factor));
                    default:
                        throw new QualityRequestException($"{field}.method", "choose quantile or iqr.");
                }
            }

            case Proto.CleaningStep.StepOneofCase.NormalizeText:
            {
                var columns = StringColumns(schema, step.NormalizeText.Columns, $"{at}.normalize_text.columns");
                if (!IcuNormalizer.IsAvailable)
                {
                    throw new QualityPreconditionException($"{at}.normalize_text: Unicode NFC needs ICU (libicuuc) on the service's host, and none was found; install libicu.");
                }
                return (new CleaningStepSpec("normalize_text") { Columns = columns }, new NormalizeTextStep(i, columns));
            }

            case Proto.CleaningStep.StepOneofCase.ScrubPii:
            {
                var s = step.ScrubPii;
                var field = $"{at}.scrub_pii";
                var columns = StringColumns(schema, s.Columns, $"{field}.columns");
                var kinds = new SortedSet<PiiKind>();
                for (var k = 0; k < s.Kinds.Count; k++)
                {
                    kinds.Add(s.Kinds[k] switch
                    {
                        Proto.PiiKind.Email => PiiKind.Email,
                        Proto.PiiKind.Phone => PiiKind.Phone,
                        Proto.PiiKind.Card => PiiKind.Card,
                        Proto.PiiKind.Iban => PiiKind.Iban,
                        Proto.PiiKind.Ip => PiiKind.Ip,
                        _ => throw new QualityRequestException($"{field}.kinds[{k}]", "choose email, phone, card, iban or ip."),
                    });
                }
                if (kinds.Count == 0)
                {
                    kinds.UnionWith(Enum.GetValues<PiiKind>());
                }
                var hash = s.Action switch
                {
                    Proto.PiiAction.Unspecified or Proto.PiiAction.Mask => false,
                    Proto.PiiAction.Hash => true,
                    _ => throw new QualityRequestException($"{field}.action", $"unknown action {(int)s.Action}."),
                };
                if (hash && s.HashKey.Length < MinHashKeyLength)
                {
                    throw new QualityRequestException($"{field}.hash_key", $"hashing needs a key of at least {MinHashKeyLength} characters (it has {s.HashKey.Length}).");
                }
                var spec = new CleaningStepSpec("scrub_pii")
                {
                    Columns = columns,
                    Action = hash ? "hash" : "mask",
                    Kinds = [.. kinds.Select(k => k.ToString().ToLowerInvariant())],
                    KeyFingerprint = hash ? PiiScrubber.KeyFingerprint(s.HashKey) : null,
                };
                return (spec, new ScrubPiiStep(i, columns, new PiiScrubber(kinds, hash ? s.HashKey : null)));
            }

            default:
                throw new QualityRequestException(at, "the step has no kind: set one of drop_duplicates, near_duplicates, missing_values, clip_outliers, normalize_text, scrub_pii.");
        }
    }

    private static ColumnSchema Column(DatasetSchema schema, string name, string field)
    {
        if (string.IsNullOrEmpty(name))
        {
            throw new QualityRequestException(field, "name a column.");
        }
        return schema.Find(name)
            ?? throw new QualityRequestException(field, $"the dataset has no column '{name}' (it has: {string.Join(", ", schema.Columns.Select(c => c.Name))}).");
    }

    private static IReadOnlyList<string> StringColumns(DatasetSchema schema, IReadOnlyList<string> names, string field)
    {
        if (names.Count == 0)
        {
            var all = schema.Columns.Where(c => c.Type == ColumnType.String).Select(c => c.Name).ToList();
            return all.Count > 0 ? all : throw new QualityRequestException(field, "the dataset has no string column.");
        }
        var result = new List<string>();
        for (var k = 0; k < names.Count; k++)
        {
            var column = Column(schema, names[k], $"{field}[{k}]");
            if (column.Type != ColumnType.String)
            {
                throw new QualityRequestException($"{field}[{k}]", $"column '{column.Name}' is {column.TypeName}; this step works on string columns.");
            }
            if (!result.Contains(column.Name))
            {
                result.Add(column.Name);
            }
        }
        return result;
    }
}
