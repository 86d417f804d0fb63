using System.CommandLine;
using System.Globalization;
using BigDataAI.Protos.Training.V1;
using Grpc.Net.Client;

namespace BigDataAI.Cli;

/// <summary>
/// The model registry from the command line, over TrainingService: <c>models</c> and <c>runs</c> (search),
/// <c>promote</c>, <c>rollback</c> and <c>alias</c> (an alias and its history), and <c>tag</c>. docs/registry.md.
/// </summary>
public static class RegistryCommands
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>The commands, given how to open the training channel and the options every command shares.</summary>
    public static IEnumerable<Command> Create(Func<ParseResult, GrpcChannel> training, Func<Func<Task<int>>, Task<int>> run, params Option[] connection)
    {
        TrainingService.TrainingServiceClient Client(ParseResult r) => new(training(r));
        Command WithConnection(Command command)
        {
            foreach (var option in connection)
            {
                command.Options.Add(option);
            }
            return command;
        }

        var name = new Option<string>("--name") { Description = "The model name (by default a model is named after its dataset)", Required = true };
        var alias = new Option<string>("--alias") { Description = "The alias, e.g. production or staging", Required = true };
        var reason = new Option<string?>("--reason") { Description = "Free text kept with the move" };
        var tags = new Option<string[]>("--tag") { Description = "KEY=VALUE; repeat for several", AllowMultipleArgumentsPerToken = false };
        var limit = new Option<int>("--limit") { Description = "The most rows shown (0 = 100)" };
        var minScore = new Option<double>("--min-score") { Description = "Test score (accuracy, or R² for a regression) at least this" };
        var maxScore = new Option<double>("--max-score") { Description = "Test score at most this (0 = no upper bound)" };
        var datasetFilter = new Option<string?>("--dataset") { Description = "Only this dataset" };
        var versionFilter = new Option<int>("--dataset-version") { Description = "Only this dataset version" };

        var modelAlias = new Option<string?>("--alias") { Description = "Only models this alias points at (* = any alias)" };
        var architecture = new Option<string?>("--architecture") { Description = "Only this architecture (mlp, cnn, ...)" };
        var modelName = new Option<string?>("--name") { Description = "Only this model name" };
        var models = WithConnection(new Command("models", "Search registered models by name, dataset, architecture, test score, tags and alias") { modelName, datasetFilter, versionFilter, architecture, minScore, maxScore, tags, modelAlias, limit });
        models.SetAction((r, ct) => run(async () =>
        {
            var request = new SearchModelsRequest
            {
                Name = r.GetValue(modelName) ?? "",
                Dataset = r.GetValue(datasetFilter) ?? "",
                DatasetVersion = r.GetValue(versionFilter),
                Architecture = r.GetValue(architecture) ?? "",
                MinTestAccuracy = r.GetValue(minScore),
                MaxTestAccuracy = r.GetValue(maxScore),
                Alias = r.GetValue(modelAlias) ?? "",
                Limit = r.GetValue(limit),
            };
            request.Tags.Add(ParseTags(r.GetValue(tags) ?? []));
            var reply = await Client(r).SearchModelsAsync(request, cancellationToken: ct);
            Console.Out.Write(DescribeModels(reply.Models));
            return 0;
        }));

        var state = new Option<string?>("--state") { Description = "Only jobs in this state: queued, running, succeeded, failed, stopped" };
        var jobModel = new Option<string?>("--model") { Description = "Only jobs of this catalog model (mlp, cnn, ...)" };
        var jobModelName = new Option<string?>("--model-name") { Description = "Only jobs registering under this model name" };
        var runs = WithConnection(new Command("runs", "Search training runs (jobs) by dataset, model, state, test score and tags") { datasetFilter, versionFilter, jobModel, jobModelName, state, minScore, maxScore, tags, limit });
        runs.SetAction((r, ct) => run(async () =>
        {
            var request = new SearchJobsRequest
            {
                Dataset = r.GetValue(datasetFilter) ?? "",
                DatasetVersion = r.GetValue(versionFilter),
                Model = r.GetValue(jobModel) ?? "",
                ModelName = r.GetValue(jobModelName) ?? "",
                State = ParseState(r.GetValue(state)),
                MinTestAccuracy = r.GetValue(minScore),
                MaxTestAccuracy = r.GetValue(maxScore),
                Limit = r.GetValue(limit),
            };
            request.Tags.Add(ParseTags(r.GetValue(tags) ?? []));
            var reply = await Client(r).SearchJobsAsync(request, cancellationToken: ct);
            Console.Out.Write(DescribeJobs(reply.Jobs));
            return 0;
        }));

        var promoteVersion = new Option<int>("--version") { Description = "The model version to promote", Required = true };
        var margin = new Option<double>("--min-improvement") { Description = "The least amount (0-1) by which its test score must beat the alias holder's on the same split (0 = at least equal)" };
        var force = new Option<bool>("--force") { Description = "Skip the gate (recorded as force)" };
        var promote = WithConnection(new Command("promote", "Move an alias to a model version, if it beats the alias's holder on the same test split") { name, promoteVersion, alias, margin, force, reason });
        promote.SetAction((r, ct) => run(async () =>
        {
            var move = await Client(r).PromoteModelAsync(new PromoteModelRequest
            {
                Name = r.GetValue(name)!,
                Version = r.GetValue(promoteVersion),
                Alias = r.GetValue(alias)!,
                MinImprovement = r.GetValue(margin),
                Force = r.GetValue(force),
                Reason = r.GetValue(reason) ?? "",
            }, cancellationToken: ct);
            Console.Out.WriteLine(DescribeMove(move));
            return 0;
        }));

        var rollback = WithConnection(new Command("rollback", "Move an alias back to the version it pointed at before its last move") { name, alias, reason });
        rollback.SetAction((r, ct) => run(async () =>
        {
            var move = await Client(r).RollbackAliasAsync(new RollbackAliasRequest { Name = r.GetValue(name)!, Alias = r.GetValue(alias)!, Reason = r.GetValue(reason) ?? "" }, cancellationToken: ct);
            Console.Out.WriteLine(DescribeMove(move));
            return 0;
        }));

        var aliasCommand = WithConnection(new Command("alias", "Show where an alias points and every move it made") { name, alias });
        aliasCommand.SetAction((r, ct) => run(async () =>
        {
            var reply = await Client(r).GetAliasAsync(new GetAliasRequest { Name = r.GetValue(name)!, Alias = r.GetValue(alias)! }, cancellationToken: ct);
            Console.Out.Write(DescribeHistory(reply.Moves));
            return 0;
        }));

        var tagVersion = new Option<int>("--version") { Description = "The model version", Required = true };
        var remove = new Option<string[]>("--remove") { Description = "A tag key to remove; repeat for several" };
        var tag = WithConnection(new Command("tag", "Set or remove a model version's tags") { name, tagVersion, tags, remove });
        tag.SetAction((r, ct) => run(async () =>
        {
            var request = new SetModelTagsRequest { Name = r.GetValue(name)!, Version = r.GetValue(tagVersion) };
            request.Set.Add(ParseTags(r.GetValue(tags) ?? []));
            request.Remove.AddRange(r.GetValue(remove) ?? []);
            var model = await Client(r).SetModelTagsAsync(request, cancellationToken: ct);
            Console.Out.Write(DescribeModels([model]));
            return 0;
        }));

        return [models, runs, promote, rollback, aliasCommand, tag];
    }

    /// <summary>KEY=VALUE pairs; a malformed one is an ArgumentException naming it.</summary>
    public static Dictionary<string, string> ParseTags(IEnumerable<string> pairs)
    {
        var tags = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in pairs)
        {
            var eq = pair.IndexOf('=');
            if (eq <= 0)
            {
                throw new ArgumentException($"--tag '{pair}': write KEY=VALUE.");
            }
            tags[pair[..eq]] = pair[(eq + 1)..];
        }
        return tags;
    }

    /// <summary>A job state by its name (queued, running, succeeded, failed), or unspecified for none.</summary>
    public static JobState ParseState(string? state) => (state ?? "").Trim().ToLowerInvariant() switch
    {
        "" => JobState.Unspecified,
        "queued" => JobState.Queued,
        "running" => JobState.Running,
        "succeeded" => JobState.Succeeded,
        "failed" => JobState.Failed,
        "stopped" => JobState.Stopped,
        _ => throw new ArgumentException($"--state '{state}': use queued, running, succeeded, failed or stopped."),
    };

    public static string DescribeModels(IReadOnlyCollection<ModelInfo> models)
    {
        if (models.Count == 0)
        {
            return "no models match\n";
        }
        var rows = models.Select(m => new[]
        {
            $"{m.Name}@{m.ModelVersion}", m.Architecture, $"{m.Dataset} v{m.Version}", m.TestAccuracy.ToString("F4", Inv),
            m.BestEpoch == 0 ? "last" : m.BestEpoch.ToString(Inv) + (m.StoppedEarly ? " (early stop)" : ""),
            string.Join(",", m.Aliases), string.Join(",", m.Tags.OrderBy(t => t.Key, StringComparer.Ordinal).Select(t => $"{t.Key}={t.Value}")), m.JobId,
        });
        return Table(["model", "architecture", "trained on", "test score", "epoch", "aliases", "tags", "job"], rows);
    }

    public static string DescribeJobs(IReadOnlyCollection<Job> jobs)
    {
        if (jobs.Count == 0)
        {
            return "no runs match\n";
        }
        var rows = jobs.Select(j => new[]
        {
            j.JobId, j.State.ToString().ToLowerInvariant(), $"{j.Dataset} v{j.Version}", j.Model,
            j.TestMetrics is null ? "" : j.TestMetrics.Accuracy.ToString("F4", Inv), j.ModelId,
            string.Join(",", j.Tags.OrderBy(t => t.Key, StringComparer.Ordinal).Select(t => $"{t.Key}={t.Value}")),
        });
        return Table(["job", "state", "dataset", "model", "test score", "registered", "tags"], rows);
    }

    public static string DescribeMove(AliasMove move)
    {
        var gate = move.Action == "promote"
            ? $": {move.CandidateScore:F4} beats the holder's {move.HolderScore:F4} on the same split by at least {move.MinImprovement:F4}"
            : "";
        var from = move.PreviousVersion == 0 ? "" : $" (was v{move.PreviousVersion})";
        return $"{move.Name}@{move.Alias} -> v{move.ModelVersion}{from}, move {move.Sequence}, {move.Action}{gate}{(move.Reason.Length > 0 ? $"; {move.Reason}" : "")}";
    }

    public static string DescribeHistory(IReadOnlyCollection<AliasMove> moves)
    {
        if (moves.Count == 0)
        {
            return "the alias has never been set\n";
        }
        var rows = moves.Select(m => new[]
        {
            m.Sequence.ToString(Inv), m.MovedAt, m.Action, m.PreviousVersion == 0 ? "-" : $"v{m.PreviousVersion}", $"v{m.ModelVersion}",
            m.Action == "promote" ? $"{m.CandidateScore:F4} vs {m.HolderScore:F4}" : "", m.Reason,
        });
        var last = moves.MaxBy(m => m.Sequence)!;
        return $"{last.Name}@{last.Alias} points at v{last.ModelVersion} ({last.ModelId})\n"
            + Table(["move", "at", "action", "from", "to", "gate", "reason"], rows);
    }

    private static string Table(string[] header, IEnumerable<string[]> rows)
    {
        var all = rows.Prepend(header).ToList();
        var widths = Enumerable.Range(0, header.Length).Select(c => all.Max(r => r[c].Length)).ToArray();
        var text = new System.Text.StringBuilder();
        foreach (var row in all)
        {
            text.AppendLine(string.Join("  ", row.Select((cell, c) => cell.PadRight(widths[c]))).TrimEnd());
        }
        return text.ToString();
    }
}
