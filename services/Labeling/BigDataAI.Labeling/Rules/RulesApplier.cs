using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using BigDataAI.Contracts.Ingestion;
using BigDataAI.Datasets;
using BigDataAI.Hosting;
using BigDataAI.Labeling.Services;
using BigDataAI.Protos.Inference.V1;
using BigDataAI.Protos.Labeling.V1;
using Task = System.Threading.Tasks.Task;
using Google.Protobuf;
using Microsoft.Extensions.Logging;

namespace BigDataAI.Labeling.Rules;

/// <summary>
/// ApplyRules: runs labeling functions over a dataset version, fits the label model to their votes, measures both
/// against the rows people (or the source) labeled, and commits the probabilistic labels as a new version.
/// </summary>
/// <remarks>
/// The committed version has the parent's columns, with:
/// <list type="bullet">
/// <item>the label column: a row's own gold label where it has one (people's labels win over rules), else the label
/// model's most probable class where the row has at least one vote and the confidence reaches <c>min_confidence</c>,
/// else null. Multi-label: the classes whose probability reaches <c>min_confidence</c>, in class order, joined by
/// <see cref="SetSeparator"/> (a label column holds one value; null when no class reaches it).</item>
/// <item><c>_label_probs</c> (tensor [K], role ignored): the label model's probabilities in class order; for a row no
/// function voted on, the learned class balance (multi-class) or each class's prevalence given that no function fired
/// (multi-label).</item>
/// <item><c>_label_source</c> (string, role ignored): <c>source</c> for a row that kept its own label, <c>human</c> for a
/// label from the gold labels the caller passed (a project's), <c>rules:&lt;label model id&gt;</c> for one the label
/// model gave, null for an unlabeled row.</item>
/// </list>
/// The label model: with at least <see cref="AnchoredLabelModel.MinimumGoldRows"/> gold rows of two or more classes,
/// <see cref="AnchoredLabelModel"/> fitted on them (its accuracy on the gold rows cross-fitted); else the unsupervised
/// <see cref="LabelModel"/>, whose learned accuracies are reported in either case (docs/decisions/0014).
/// The label model id hashes the parent version, the functions, vote columns, classes and mode: the same request over
/// the same version is the same model and (its source hash being the id) the same committed version, found again
/// instead of committed twice.
/// </remarks>
public sealed class RulesApplier(DatasetStore datasets, PlatformClients clients, BoundedPublisher publisher, ILogger<RulesApplier> logger)
{
    public const string ProbsColumn = "_label_probs";
    public const string SourceColumn = "_label_source";
    public const string SetSeparator = "|";
    private const int PredictBatch = 256;

    /// <summary>
    /// Applies <paramref name="request"/>. <paramref name="gold"/>: labels people gave, by row id (a project's; the caller
    /// looks them up when <c>project_id</c> is set); null means the version's own non-null labels.
    /// </summary>
    /// <exception cref="RulesException">A function, vote column, class list or confidence that cannot run as declared.</exception>
    /// <exception cref="DatasetNotFoundException">No such dataset or version.</exception>
    public async Task<ApplyRulesReply> ApplyAsync(ApplyRulesRequest request, IReadOnlyDictionary<long, string[]>? gold = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var manifest = await datasets.GetRequiredAsync(request.Dataset, request.Version, cancellationToken).ConfigureAwait(false);
        if (request.Functions.Count + request.VoteColumns.Count == 0)
        {
            throw new RulesException("No labeling functions and no vote columns: nothing votes.");
        }
        var minConfidence = request.MinConfidence == 0 ? 0.5 : request.MinConfidence;
        if (minConfidence is < 0 or > 1 || double.IsNaN(minConfidence))
        {
            throw new RulesException($"min_confidence {request.MinConfidence.ToString(CultureInfo.InvariantCulture)} is not in [0, 1].");
        }
        var classes = Classes(request, manifest);
        var schema = manifest.EffectiveSchema;
        var labelSchema = schema.Label;
        if (labelSchema is { Type: not (ColumnType.String or ColumnType.Int64) } && !request.DryRun)
        {
            throw new RulesException($"The label column '{labelSchema.Name}' is {labelSchema.TypeName}; rules write class names into a string or int64 label column.");
        }

        // First pass, shard by shard: the votes and each row's gold classes, both compact; the rows themselves are not kept.
        var functions = LabelingFunctions.Compile(request.Functions, schema, classes, PredictAsync);
        var names = functions.Select(f => f.Name).Concat(request.VoteColumns).ToArray();
        var rows = manifest.Rows <= Array.MaxLength ? (int)manifest.Rows
            : throw new RulesException($"Dataset '{manifest.Dataset}' v{manifest.Version} has {manifest.Rows} rows; rules run over at most {Array.MaxLength}.");
        var k = classes.Length;
        var votes = new VoteMatrix(rows, names.Length, k);
        var goldSets = new GoldLabels(rows);
        var goldSource = gold is null ? "source" : "human";
        var offset = 0;
        await foreach (var shard in datasets.StreamAsync(manifest, cancellationToken).ConfigureAwait(false))
        {
            if (offset + shard.Rows > rows)
            {
                throw new InvalidDataException($"Dataset '{manifest.Dataset}' v{manifest.Version}: its shards hold more rows than the manifest's {rows}.");
            }
            votes.CopyFrom(await LabelingFunctions.ApplyAsync(functions, request.VoteColumns, shard, classes, cancellationToken).ConfigureAwait(false), offset);
            AddGold(goldSets, shard, classes, request.MultiLabel, gold);
            offset += shard.Rows;
        }
        if (offset != rows)
        {
            throw new InvalidDataException($"Dataset '{manifest.Dataset}' v{manifest.Version}: its shards hold {offset} rows, the manifest says {rows}.");
        }
        var id = LabelModelId(manifest, request, classes);

        var reply = new ApplyRulesReply { LabelModelId = id };
        var coveredRows = 0;
        for (var i = 0; i < rows; i++)
        {
            coveredRows += Covered(votes, i) ? 1 : 0;
        }
        reply.CoveredRows = coveredRows;
        FittedRules decide;
        object fitted;
        var probs = new double[k];
        var labeledRows = 0;
        if (request.MultiLabel)
        {
            var model = MultiLabelModel.Fit(votes, k);
            decide = new FittedRules(votes, classes, minConfidence, multi: model);
            int right = 0, baselineRight = 0, counted = 0;
            var set = new List<int>(k);
            var any = new List<int>(k);
            for (var i = 0; i < rows; i++)
            {
                labeledRows += decide.Label(i, probs) is null ? 0 : 1;
                if (Covered(votes, i) && goldSets.Has(i))
                {
                    set.Clear();
                    any.Clear();
                    for (var c = 0; c < k; c++)
                    {
                        if (probs[c] >= minConfidence)
                        {
                            set.Add(c);
                        }
                        if (AnyVoteFor(votes, i, c))
                        {
                            any.Add(c);
                        }
                    }
                    counted++;
                    right += goldSets.IsExactly(i, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(set)) ? 1 : 0;
                    baselineRight += goldSets.IsExactly(i, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(any)) ? 1 : 0;
                }
            }
            Score(reply, right, baselineRight, counted);
            AddStats(reply, names, votes, LabelModel.Summarize(votes, model.Accuracies), model.Accuracies, goldSets);
            fitted = new { mode = "multi-label", prevalence = model.Prevalence, perClass = model.Parameters.Select((m, c) => new { @class = classes[c], functions = m.Functions.Select(j => names[j]), alpha = m.Alpha, beta = m.Beta, prior = m.Prior }) };
        }
        else
        {
            // Unsupervised (Dawid-Skene over the votes alone): the learned accuracies reported, and the labels when
            // too few rows have gold labels. With enough gold rows the labels come from the gold-anchored model, and
            // its accuracy on the gold rows is cross-fitted (each row scored by a fit that did not see it).
            var model = LabelModel.Fit(votes, k);
            var majority = LabelModel.MajorityVote(votes, k);
            var goldRows = Enumerable.Range(0, rows).Where(i => goldSets.Of(i).Length == 1).ToArray();
            var goldTruth = goldRows.Select(i => (int)goldSets.Of(i)[0]).ToArray();
            var anchored = goldRows.Length >= AnchoredLabelModel.MinimumGoldRows && goldTruth.Distinct().Count() >= 2
                ? AnchoredLabelModel.Fit(votes, k, goldRows, goldTruth) : null;
            var heldOut = anchored is null ? null : AnchoredLabelModel.CrossFitted(votes, k, goldRows, goldTruth);
            decide = new FittedRules(votes, classes, minConfidence, model: model, anchored: anchored);
            int right = 0, baselineRight = 0, counted = 0;
            for (var i = 0; i < rows; i++)
            {
                labeledRows += decide.Label(i, probs) is null ? 0 : 1;
                if (Covered(votes, i) && goldSets.Of(i).Length == 1)
                {
                    var best = FittedRules.Best(probs, k);
                    counted++;
                    right += goldSets.Contains(i, heldOut is null ? best : heldOut[Array.BinarySearch(goldRows, i)]) ? 1 : 0;
                    baselineRight += goldSets.Contains(i, majority[i]) ? 1 : 0;
                }
            }
            Score(reply, right, baselineRight, counted);
            AddStats(reply, names, votes, model.Summarize(votes), model.Accuracies, goldSets);
            fitted = new
            {
                mode = "multi-class",
                fit = anchored is null ? "unsupervised" : "gold-anchored",
                goldRows = goldRows.Length,
                prior = anchored?.Prior ?? model.Prior,
                unsupervised = new { prior = model.Prior, accuracies = model.Accuracies, iterations = model.Iterations },
                anchored = anchored is null ? null : new
                {
                    accuracies = anchored.Accuracies,
                    emissions = names.Select((_, j) => Enumerable.Range(0, k).Select(c => Enumerable.Range(-1, k + 1).Select(v => anchored.Emission(j, c, v)).ToArray()).ToArray()),
                },
            };
        }
        reply.LabeledRows = labeledRows;

        await StoreModelAsync(manifest, id, request, classes, names, fitted, cancellationToken).ConfigureAwait(false);
        logger.LogInformation("Rules {LabelModelId} over {Dataset} v{Version}: {Functions} functions, {Covered}/{Rows} rows covered, {Labeled} labeled; label model {ModelAccuracy:P1} vs majority vote {MajorityAccuracy:P1} on {GoldRows} gold rows; votes held in {VoteBytes} bytes",
            id, manifest.Dataset, manifest.Version, names.Length, reply.CoveredRows, rows, reply.LabeledRows, reply.LabelModelAccuracy, reply.MajorityVoteAccuracy, reply.GoldRows, votes.Bytes);
        if (request.DryRun)
        {
            return reply;
        }
        reply.Version = await CommitAsync(manifest, id, classes, decide, goldSets, goldSource, cancellationToken).ConfigureAwait(false);
        return reply;
    }

    private static bool Covered(VoteMatrix votes, int row)
    {
        for (var j = 0; j < votes.Functions; j++)
        {
            if (votes[row, j] != LabelModel.Abstain)
            {
                return true;
            }
        }
        return false;
    }

    private static bool AnyVoteFor(VoteMatrix votes, int row, int @class)
    {
        for (var j = 0; j < votes.Functions; j++)
        {
            if (votes[row, j] == @class)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// The fitted label model's decision for one row, the same in the measuring pass and the writing pass: its
    /// probabilities in class order, and its label (the most probable class, or the classes, reaching the confidence on a
    /// row some function voted on), or null.
    /// </summary>
    private sealed class FittedRules(VoteMatrix votes, string[] classes, double minConfidence, LabelModel? model = null, AnchoredLabelModel? anchored = null, MultiLabelModel? multi = null)
    {
        public string? Label(int row, Span<double> probs)
        {
            var k = classes.Length;
            if (multi is not null)
            {
                multi.Posterior(votes, row, probs);
                if (!Covered(votes, row))
                {
                    return null;
                }
                string? joined = null;
                for (var c = 0; c < k; c++)
                {
                    if (probs[c] >= minConfidence)
                    {
                        joined = joined is null ? classes[c] : joined + SetSeparator + classes[c];
                    }
                }
                return joined;
            }
            if (anchored is not null)
            {
                anchored.Posterior(votes, row, probs);
            }
            else
            {
                model!.Posterior(votes, row, probs);
            }
            var best = Best(probs, k);
            return Covered(votes, row) && probs[best] >= minConfidence ? classes[best] : null;
        }

        /// <summary>The most probable class (the first of equals).</summary>
        public static int Best(ReadOnlySpan<double> probs, int k)
        {
            var best = 0;
            for (var c = 0; c < k; c++)
            {
                best = probs[c] > probs[best] ? c : best;
            }
            return best;
        }
    }

    private static void Score(ApplyRulesReply reply, int right, int baselineRight, int counted)
    {
        reply.GoldRows = counted;
        reply.LabelModelAccuracy = counted == 0 ? double.NaN : (double)right / counted;
        reply.MajorityVoteAccuracy = counted == 0 ? double.NaN : (double)baselineRight / counted;
    }

    private static void AddStats(ApplyRulesReply reply, string[] names, VoteMatrix votes, IReadOnlyList<FunctionSummary> summaries, IReadOnlyList<double> learned, GoldLabels gold)
    {
        for (var j = 0; j < names.Length; j++)
        {
            int right = 0, counted = 0;
            for (var i = 0; i < votes.Rows; i++)
            {
                if (votes[i, j] != LabelModel.Abstain && gold.Has(i))
                {
                    counted++;
                    right += gold.Contains(i, votes[i, j]) ? 1 : 0;
                }
            }
            reply.Functions.Add(new FunctionStats
            {
                Name = names[j],
                Coverage = summaries[j].Coverage,
                Overlap = summaries[j].Overlap,
                Conflict = summaries[j].Conflict,
                Accuracy = counted == 0 ? double.NaN : (double)right / counted,
                GoldRows = counted,
                LearnedAccuracy = learned[j],
            });
        }
    }

    /// <summary>The request's classes, else the dataset's (multi-label: the distinct names in its '|'-joined label sets).</summary>
    private static string[] Classes(ApplyRulesRequest request, DatasetManifest manifest)
    {
        string[] classes = request.Classes.Count > 0 ? [.. request.Classes]
            : request.MultiLabel ? [.. manifest.Classes.SelectMany(c => c.Split(SetSeparator)).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)]
            : manifest.Classes;
        if (classes.Any(string.IsNullOrEmpty) || classes.Distinct(StringComparer.Ordinal).Count() != classes.Length)
        {
            throw new RulesException($"The classes ({string.Join(", ", classes)}) must be distinct and not empty.");
        }
        if (request.MultiLabel && classes.Any(c => c.Contains(SetSeparator, StringComparison.Ordinal)))
        {
            throw new RulesException($"Multi-label class names may not contain '{SetSeparator}', which joins a row's classes in the label column.");
        }
        if (classes.Length < (request.MultiLabel ? 1 : 2))
        {
            throw new RulesException(request.Classes.Count > 0
                ? $"A label model needs at least {(request.MultiLabel ? 1 : 2)} classes; the request names {classes.Length}."
                : $"Dataset '{manifest.Dataset}' v{manifest.Version} has {classes.Length} classes; name the classes in the request.");
        }
        return classes;
    }

    /// <summary>Adds each row of <paramref name="shard"/>'s gold classes (none when it has none): the caller's, else the version's own labels; labels outside the classes are not gold.</summary>
    private static void AddGold(GoldLabels into, Table shard, IReadOnlyList<string> classes, bool multiLabel, IReadOnlyDictionary<long, string[]>? gold)
    {
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var c = 0; c < classes.Count; c++)
        {
            index[classes[c]] = c;
        }
        Column? own = shard.Schema.Label is { } label ? shard[label.Name] : null;
        for (var r = 0; r < shard.Rows; r++)
        {
            IEnumerable<string>? names = gold is not null
                ? gold.TryGetValue(shard.RowIds[r], out var given) ? given : null
                : own?.Format(r) is { } text ? (multiLabel ? text.Split(SetSeparator) : [text]) : null;
            if (names is null)
            {
                into.Add(null);
                continue;
            }
            var set = new HashSet<int>();
            var known = true;
            foreach (var name in names)
            {
                known &= index.TryGetValue(name, out var c);
                set.Add(c);
            }
            into.Add(known && set.Count > 0 && (multiLabel || set.Count == 1) ? set : null);
        }
    }

    private static string LabelModelId(DatasetManifest manifest, ApplyRulesRequest request, IReadOnlyList<string> classes)
    {
        var spec = new StringBuilder();
        spec.Append(manifest.Dataset).Append('\n').Append(manifest.Version.ToString(CultureInfo.InvariantCulture)).Append('\n');
        foreach (var f in request.Functions)
        {
            spec.Append(JsonFormatter.Default.Format(f)).Append('\n');
        }
        spec.Append(string.Join(",", request.VoteColumns)).Append('\n').Append(string.Join(",", classes)).Append('\n').Append(request.MultiLabel ? "multi" : "single");
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(spec.ToString())))[..12];
    }

    private async Task StoreModelAsync(DatasetManifest manifest, string id, ApplyRulesRequest request, IReadOnlyList<string> classes, string[] names, object fitted, CancellationToken cancellationToken)
    {
        var document = new
        {
            id,
            dataset = manifest.Dataset,
            parentVersion = manifest.Version,
            classes,
            voters = names,
            functions = request.Functions.Select(f => JsonDocument.Parse(JsonFormatter.Default.Format(f)).RootElement),
            voteColumns = request.VoteColumns,
            model = fitted,
        };
        var bytes = JsonSerializer.SerializeToUtf8Bytes(document, new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals });
        using var stream = new MemoryStream(bytes);
        await datasets.Objects.PutAsync(ModelPath(manifest.Dataset, id), stream, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Where the fitted label model of <paramref name="id"/> is stored.</summary>
    public static string ModelPath(string dataset, string id) => $"{DatasetPaths.Root}{dataset}/rules/{id}.json";

    /// <summary>
    /// Second pass, shard by shard: each shard of the parent with the label column, <see cref="ProbsColumn"/> and
    /// <see cref="SourceColumn"/> written from the fitted model, appended to the new version as it goes.
    /// </summary>
    private async Task<int> CommitAsync(DatasetManifest parent, string id, IReadOnlyList<string> classes, FittedRules decide, GoldLabels gold, string goldSource, CancellationToken cancellationToken)
    {
        var sha = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"rules:{id}")));
        if (await datasets.FindBySourceAsync(parent.Dataset, sha, cancellationToken).ConfigureAwait(false) is { } existing)
        {
            logger.LogInformation("Rules {LabelModelId} over {Dataset} v{Version} were committed before as v{Existing}", id, parent.Dataset, parent.Version, existing.Version);
            return existing.Version;
        }
        var label = parent.EffectiveSchema.Label ?? new ColumnSchema("label", ColumnType.String, ColumnRole.Label);
        var labelSchema = label with { Nullable = true };
        var k = classes.Count;
        var posterior = new double[k];
        VersionWriter? writer = null;
        var offset = 0;
        await foreach (var table in datasets.StreamAsync(parent, cancellationToken).ConfigureAwait(false))
        {
            var sources = new string?[table.Rows];
            var own = table.Find(label.Name);
            var values = new string?[table.Rows];
            var probs = new float[table.Rows * k];
            for (var r = 0; r < table.Rows; r++)
            {
                var i = offset + r;
                var given = decide.Label(i, posterior);
                for (var c = 0; c < k; c++)
                {
                    probs[r * k + c] = (float)posterior[c];
                }
                var set = gold.Of(i);
                if (!set.IsEmpty)
                {
                    var names = new string[set.Length];
                    for (var n = 0; n < set.Length; n++)
                    {
                        names[n] = classes[set[n]];
                    }
                    values[r] = string.Join(SetSeparator, names);
                    sources[r] = goldSource;
                }
                else if (given is not null)
                {
                    values[r] = given;
                    sources[r] = $"rules:{id}";
                }
                else if (goldSource == "human" && own?.Format(r) is { } kept)
                {
                    // Gold came from a project and this row had a label of its own that the project did not touch: it stays.
                    values[r] = kept;
                    sources[r] = "source";
                }
            }
            Column labelColumn = label.Type == ColumnType.Int64
                ? new Column(labelSchema, values.Select(v => v is null ? (long?)null
                    : long.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n
                    : throw new RulesException($"The label column '{label.Name}' is int64 but class '{v}' is not a whole number.")).ToArray())
                : new Column(labelSchema, values);
            var columns = new List<Column>();
            foreach (var column in table.Columns)
            {
                if (column.Name is ProbsColumn or SourceColumn)
                {
                    continue;
                }
                columns.Add(column.Name == label.Name ? labelColumn : column);
            }
            if (own is null)
            {
                columns.Add(labelColumn);
            }
            columns.Add(new Column(new ColumnSchema(ProbsColumn, ColumnType.Tensor, ColumnRole.Ignored, Nullable: false, Shape: [k]), probs));
            columns.Add(new Column(new ColumnSchema(SourceColumn, ColumnType.String, ColumnRole.Ignored), sources));
            var derived = new Table(new DatasetSchema([.. columns.Select(c => c.Schema)]), columns, table.RowIds);
            writer ??= datasets.BeginVersion(parent.Dataset, derived.Schema, sha);
            await writer.AppendAsync(derived, cancellationToken).ConfigureAwait(false);
            offset += table.Rows;
        }
        var parentPath = DatasetPaths.Manifest(parent.Dataset, parent.Version);
        var manifest = await (writer ?? throw new InvalidDataException($"Dataset '{parent.Dataset}' v{parent.Version} has no shards.")).CommitAsync(
            new DatasetSource("rules", [parentPath], sha, $"labels from label model {id} over v{parent.Version}"),
            new DatasetLineage("rules", [parentPath], parent.Version), cancellationToken: cancellationToken).ConfigureAwait(false);
        try
        {
            await publisher.PublishAsync(new DatasetIngested(manifest.Dataset, manifest.Version, DatasetPaths.Manifest(manifest.Dataset, manifest.Version),
                manifest.Rows, manifest.Source.Sha256, manifest.CreatedAt), cancellationToken).ConfigureAwait(false);
        }
        catch (MessagingUnavailableException e)
        {
            logger.LogWarning("{Dataset} v{Version} (rules {LabelModelId}) is committed but could not be announced ({Reason}); labeling's reconciler will find it",
                manifest.Dataset, manifest.Version, id, e.Message);
        }
        return manifest.Version;
    }

    /// <summary>A model function's votes: the rows through inference's Predict, <see cref="PredictBatch"/> rows a call, cells by column name.</summary>
    private async Task<IReadOnlyList<(string Class, double Confidence)>> PredictAsync(string model, Table table, CancellationToken cancellationToken)
    {
        var client = clients.Inference;
        var label = table.Schema.Label?.Name;
        var inputs = table.Columns.Where(c => c.Name != label && c.Schema.Role is not (ColumnRole.Ignored or ColumnRole.Id)).ToArray();
        var result = new List<(string, double)>(table.Rows);
        for (var start = 0; start < table.Rows; start += PredictBatch)
        {
            var request = new PredictRequest { Model = model };
            for (var r = start; r < Math.Min(table.Rows, start + PredictBatch); r++)
            {
                var row = new Row();
                foreach (var column in inputs)
                {
                    row.Cells[column.Name] = Cell(column, r);
                }
                request.Rows.Add(row);
            }
            var reply = await client.PredictAsync(request, cancellationToken: cancellationToken).ConfigureAwait(false);
            foreach (var p in reply.Predictions)
            {
                result.Add((p.ClassName, p.Probabilities.Count > p.ClassIndex && p.ClassIndex >= 0 ? p.Probabilities[p.ClassIndex] : 0));
            }
        }
        return result;
    }

    private static Value Cell(Column column, int row)
    {
        if (column.IsNull(row))
        {
            return new Value { Null = Google.Protobuf.WellKnownTypes.NullValue.NullValue };
        }
        switch (column.Values)
        {
            case long?[] v: return new Value { Integer = v[row]!.Value };
            case double?[] v: return new Value { Number = v[row]!.Value };
            case bool?[] v: return new Value { Flag = v[row]!.Value };
            case string?[] v: return new Value { Text = v[row] };
            case DateTime?[] v: return new Value { Text = v[row]!.Value.ToString("O", CultureInfo.InvariantCulture) };
            case byte[]?[] v: return new Value { Data = ByteString.CopyFrom(v[row]) };
            case float[] v:
                var list = new FloatList();
                list.Values.Add(v.AsSpan(row * column.Schema.Width, column.Schema.Width).ToArray());
                return new Value { Tensor = list };
            default: return new Value { Null = Google.Protobuf.WellKnownTypes.NullValue.NullValue };
        }
    }
}
