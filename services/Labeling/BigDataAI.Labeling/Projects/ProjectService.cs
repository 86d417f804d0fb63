using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Security.Cryptography;
using System.Text;
using BigDataAI.Contracts.Ingestion;
using BigDataAI.Datasets;
using BigDataAI.Hosting;
using BigDataAI.Labeling.Agreement;
using BigDataAI.Labeling.Auth;
using BigDataAI.Protos.Labeling.V1;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;


namespace BigDataAI.Labeling.Projects;

/// <summary>
/// Labeling projects: tasks over a dataset version's rows, labels from people with who, when and how long, conflicts
/// resolved by majority or an adjudicator, agreement, and the export of the labels as a new dataset version whose
/// rows each say where their label came from. Errors are <see cref="RpcException"/>s with the status and a message
/// naming the field, row or class, for the gRPC service and the page's JSON API alike.
/// </summary>
public sealed class ProjectService(ProjectDatabase database, DatasetStore datasets, TaskRenderer renderer, AnnotatorDirectory annotators,
    BoundedPublisher bus, TimeProvider time, ILogger<ProjectService> logger)
{
    public const string LabelSourceColumn = "_label_source";
    internal static readonly ActivitySource Source = new("BigDataAI.Labeling.Projects");
    private static readonly Meter Meter = new("BigDataAI.Labeling.Projects");
    private static readonly Counter<long> LabelsCounter = Meter.CreateCounter<long>("bigdataai.labeling.labels", description: "Labels submitted by people");
    private static readonly Histogram<double> LabelSeconds = Meter.CreateHistogram<double>("bigdataai.labeling.label_duration", "s", "Time people took per label");

    /// <summary>Raised after a label when the project's retrain_every count is reached (the automation retrains).</summary>
    public event Action<string>? RetrainDue;

    public async Task<Project> CreateAsync(CreateProjectRequest request, string user, CancellationToken cancellationToken)
    {
        if (!DatasetPaths.IsValidName(request.Dataset))
        {
            throw Invalid($"dataset: '{request.Dataset}' is not a dataset name (1-64 characters of [a-z0-9-], starting with a letter).");
        }
        if (request.Version < 0)
        {
            throw Invalid($"version: {request.Version} is negative; 0 means the newest.");
        }
        var manifest = await ManifestAsync(request.Dataset, request.Version, cancellationToken).ConfigureAwait(false);
        var classes = request.Classes.Count > 0 ? request.Classes.ToArray() : manifest.Classes;
        if (classes.Length < 2 && !request.MultiLabel)
        {
            throw Invalid($"classes: a project needs at least two classes; dataset '{manifest.Dataset}' v{manifest.Version} has {manifest.Classes.Length}, so name them.");
        }
        if (classes.Length == 0)
        {
            throw Invalid("classes: a multi-label project needs at least one class.");
        }
        if (classes.FirstOrDefault(c => string.IsNullOrEmpty(c) || c.Contains('|', StringComparison.Ordinal)) is { } badClass)
        {
            throw Invalid($"classes: '{badClass}' is not a class name (non-empty, no '|').");
        }
        if (classes.Distinct(StringComparer.Ordinal).Count() != classes.Length)
        {
            throw Invalid("classes: a class is named twice.");
        }
        if (manifest.EffectiveSchema.IsRegression)
        {
            throw Invalid($"dataset: '{manifest.Dataset}' v{manifest.Version} has a numeric target (regression); a labeling project labels classes.");
        }
        if (request.AnnotatorsPerRow < 0 || request.AnnotatorsPerRow > 100)
        {
            throw Invalid($"annotators_per_row: {request.AnnotatorsPerRow} is outside 1-100 (0 means 1).");
        }
        if (!Enum.IsDefined(request.Order))
        {
            throw Invalid($"order: {(int)request.Order} is not a queue order.");
        }
        if (!Enum.IsDefined(request.Conflict))
        {
            throw Invalid($"conflict: {(int)request.Conflict} is not a conflict rule.");
        }
        if (!Enum.IsDefined(request.Rows))
        {
            throw Invalid($"rows: {(int)request.Rows} is not a row selection.");
        }
        var conflict = request.Conflict == ConflictRule.Unspecified ? ConflictRule.Majority : request.Conflict;
        if (conflict == ConflictRule.Adjudicator && string.IsNullOrEmpty(request.Adjudicator))
        {
            throw Invalid("adjudicator: CONFLICT_RULE_ADJUDICATOR needs the user who decides conflicts.");
        }
        if (conflict == ConflictRule.Adjudicator && !annotators.HasRole(request.Adjudicator, LabelingRoles.Admin) && !annotators.HasRole(request.Adjudicator, LabelingRoles.Annotator))
        {
            throw Invalid($"adjudicator: '{request.Adjudicator}' is not a user with the annotator or admin role.");
        }
        if (request.RetrainEvery < 0)
        {
            throw Invalid($"retrain_every: {request.RetrainEvery} is negative.");
        }
        if (request.RetrainEvery > 0 && string.IsNullOrEmpty(request.ModelName))
        {
            throw Invalid("model_name: retrain_every needs the model to retrain.");
        }
        if (!string.IsNullOrEmpty(request.ModelName) && !DatasetPaths.IsValidName(request.ModelName))
        {
            throw Invalid($"model_name: '{request.ModelName}' is not a model name.");
        }

        var project = new Project
        {
            ProjectId = "p" + Convert.ToHexString(RandomNumberGenerator.GetBytes(6)).ToLowerInvariant(),
            Name = request.Name,
            Dataset = manifest.Dataset,
            Version = manifest.Version,
            Rows = request.Rows == TaskRows.Unspecified ? TaskRows.Unlabeled : request.Rows,
            MultiLabel = request.MultiLabel,
            Order = request.Order == QueueOrder.Unspecified ? QueueOrder.Random : request.Order,
            AnnotatorsPerRow = request.AnnotatorsPerRow == 0 ? 1 : request.AnnotatorsPerRow,
            Conflict = conflict,
            Adjudicator = request.Adjudicator,
            ModelName = request.ModelName,
            RetrainEvery = request.RetrainEvery,
            Seed = request.Seed == 0 ? 1 : request.Seed,
            CreatedBy = user,
            CreatedAt = time.GetUtcNow().ToUnixTimeMilliseconds(),
        };
        project.Classes.AddRange(classes);

        using var activity = Source.StartActivity("create-project");
        activity?.SetTag("bigdataai.dataset", manifest.Dataset);
        // Tasks, shard by shard: the version is never held whole.
        var tasks = new List<(long Row, int Shard, string? Current)>();
        var label = manifest.EffectiveSchema.Label;
        for (var s = 0; s < manifest.Shards.Count; s++)
        {
            var shard = await datasets.ReadShardAsync(manifest, s, cancellationToken).ConfigureAwait(false);
            var labels = label is null ? null : shard[label.Name];
            for (var r = 0; r < shard.Rows; r++)
            {
                var current = labels?.Format(r);
                if (project.Rows == TaskRows.All || current is null)
                {
                    tasks.Add((shard.RowIds[r], s, current));
                }
            }
        }
        if (tasks.Count == 0)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition,
                $"Dataset '{manifest.Dataset}' v{manifest.Version} has no unlabeled rows; use rows TASK_ROWS_ALL to review its labels."));
        }
        // The random order: a seeded permutation of positions 1..n.
        var positions = Enumerable.Range(1, tasks.Count).ToArray();
        new Random(unchecked((int)project.Seed)).Shuffle(positions);
        var definition = JsonFormatter.Default.Format(project);
        await database.WriteAsync((c, t) =>
        {
            ProjectDatabase.Execute(c, "INSERT INTO projects (id, dataset, created_at, definition, tasks, waiting) VALUES ($id, $d, $at, $def, $n, $n)", t,
                ("$id", project.ProjectId), ("$d", project.Dataset), ("$at", project.CreatedAt), ("$def", definition), ("$n", (long)tasks.Count));
            using var insert = ProjectDatabase.Command(c, "INSERT INTO tasks (project_id, row, shard, position, needed, current_label) VALUES ($p, $r, $s, $pos, $k, $cur)", t,
                ("$p", project.ProjectId), ("$r", 0L), ("$s", 0), ("$pos", 0L), ("$k", project.AnnotatorsPerRow), ("$cur", null));
            insert.Prepare();
            for (var i = 0; i < tasks.Count; i++)
            {
                insert.Parameters["$r"].Value = tasks[i].Row;
                insert.Parameters["$s"].Value = tasks[i].Shard;
                insert.Parameters["$pos"].Value = (long)positions[i];
                insert.Parameters["$cur"].Value = (object?)tasks[i].Current ?? DBNull.Value;
                insert.ExecuteNonQuery();
            }
            return 0;
        }, cancellationToken).ConfigureAwait(false);
        logger.LogInformation("Project {Project} ({Name}) over {Dataset} v{Version}: {Tasks} tasks, {Classes} classes, k={K}, {Order}, {Conflict}, by {User}",
            project.ProjectId, project.Name, project.Dataset, project.Version, tasks.Count, classes.Length, project.AnnotatorsPerRow, project.Order, project.Conflict, user);
        return await GetAsync(project.ProjectId, cancellationToken).ConfigureAwait(false);
    }

    public Task<Project> GetAsync(string projectId, CancellationToken cancellationToken)
    {
        _ = cancellationToken;
        using var connection = database.Open();
        return Task.FromResult(Load(connection, null, projectId));
    }

    public Task<ListProjectsReply> ListAsync(string? dataset, CancellationToken cancellationToken)
    {
        _ = cancellationToken;
        using var connection = database.Open();
        var ids = new List<string>();
        using (var command = ProjectDatabase.Command(connection, "SELECT id FROM projects WHERE $d = '' OR dataset = $d ORDER BY created_at, id", null, ("$d", dataset ?? "")))
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                ids.Add(reader.GetString(0));
            }
        }
        var reply = new ListProjectsReply();
        reply.Projects.AddRange(ids.Select(id => Load(connection, null, id)));
        return Task.FromResult(reply);
    }

    /// <summary>The project with its counts. NOT_FOUND for an unknown id.</summary>
    internal static Project Load(SqliteConnection connection, SqliteTransaction? transaction, string projectId)
    {
        using var command = ProjectDatabase.Command(connection,
            "SELECT definition, labels, pre_label_model_id, last_exported_version, tasks, completed FROM projects WHERE id = $id", transaction, ("$id", projectId));
        using var reader = command.ExecuteReader();
        if (!reader.Read())
        {
            throw new RpcException(new Status(StatusCode.NotFound, $"No labeling project '{projectId}'."));
        }
        var project = JsonParser.Default.Parse<Project>(reader.GetString(0));
        project.Labels = reader.GetInt64(1);
        project.PreLabelModelId = reader.GetString(2);
        project.LastExportedVersion = reader.GetInt32(3);
        project.Tasks = reader.GetInt64(4);
        project.Completed = reader.GetInt64(5);
        return project;
    }

    /// <summary>
    /// The caller's next tasks after <paramref name="afterPosition"/> in queue order: open rows it has not labeled that
    /// still need labels; for the adjudicator of an adjudicated project, the rows in conflict. Indexed: (project, open,
    /// position) walks the queue in order and the caller's labels are a primary-key probe per row.
    /// </summary>
    public async Task<NextTasksReply> NextTasksAsync(string projectId, string user, int count, long afterPosition, CancellationToken cancellationToken)
    {
        if (count < 0 || count > 100)
        {
            throw Invalid($"count: {count} is outside 1-100 (0 means 10).");
        }
        count = count == 0 ? 10 : count;
        Project project;
        var rows = new List<(long Row, long Position, int Shard, int Labels, int Needed, string? Current, string? PreLabel)>();
        long remaining;
        bool adjudicating;
        using (var connection = database.Open())
        {
            project = Load(connection, null, projectId);
            adjudicating = project.Conflict == ConflictRule.Adjudicator && project.Adjudicator == user;
            var filter = adjudicating
                ? "t.project_id = $p AND t.open = 1 AND t.conflict = 1"
                : "t.project_id = $p AND t.open = 1 AND t.conflict = 0 AND t.labels < t.needed AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.project_id = $p AND l.row = t.row AND l.annotator = $u)";
            using (var command = ProjectDatabase.Command(connection,
                $"SELECT t.row, t.position, t.shard, t.labels, t.needed, t.current_label, t.pre_label FROM tasks t WHERE {filter} AND t.position > $after ORDER BY t.position LIMIT $n",
                null, ("$p", projectId), ("$u", user), ("$after", afterPosition), ("$n", count)))
            using (var reader = command.ExecuteReader())
            {
                while (reader.Read())
                {
                    rows.Add((reader.GetInt64(0), reader.GetInt64(1), reader.GetInt32(2), reader.GetInt32(3), reader.GetInt32(4),
                        reader.IsDBNull(5) ? null : reader.GetString(5), reader.IsDBNull(6) ? null : reader.GetString(6)));
                }
            }
            // Counted without walking the queue: the project's waiting counter, less the waiting rows the caller labeled
            // (k > 1), found from the caller's own labels (CROSS JOIN makes SQLite start from them, by the
            // labels_by_annotator index); for the adjudicator, the rows in conflict (few).
            remaining = adjudicating
                ? (long)ProjectDatabase.Scalar(connection, "SELECT COUNT(*) FROM tasks WHERE project_id = $p AND conflict = 1 AND open = 1", null, ("$p", projectId))!
                : (long)ProjectDatabase.Scalar(connection, "SELECT waiting FROM projects WHERE id = $p", null, ("$p", projectId))!
                  - (long)ProjectDatabase.Scalar(connection,
                      "SELECT COUNT(*) FROM labels l CROSS JOIN tasks t ON t.project_id = l.project_id AND t.row = l.row WHERE l.project_id = $p AND l.annotator = $u AND t.open = 1 AND t.conflict = 0 AND t.labels < t.needed",
                      null, ("$p", projectId), ("$u", user))!;
        }
        var manifest = await ManifestAsync(project.Dataset, project.Version, cancellationToken).ConfigureAwait(false);
        var reply = new NextTasksReply { Remaining = remaining };
        foreach (var r in rows)
        {
            var (table, index) = await renderer.RowAsync(manifest, r.Shard, r.Row, cancellationToken).ConfigureAwait(false);
            var task = new LabelingTask
            {
                Row = r.Row,
                Position = r.Position,
                Labels = r.Labels,
                Needed = r.Needed,
                CurrentLabel = r.Current ?? "",
                PreLabel = r.PreLabel is null ? null : JsonParser.Default.Parse<PreLabel>(r.PreLabel),
            };
            task.Cells.AddRange(TaskRenderer.Cells(table, index));
            if (adjudicating)
            {
                task.Conflicting.AddRange(LabelsOf(projectId, r.Row).Select(ToProto));
            }
            reply.Tasks.Add(task);
        }
        return reply;
    }

    public async Task<SubmitLabelReply> SubmitAsync(string projectId, string user, SubmitLabelRequest request, CancellationToken cancellationToken)
    {
        if (request.DurationMs < 0)
        {
            throw Invalid($"duration_ms: {request.DurationMs} is negative.");
        }
        var (project, reply) = await database.WriteAsync((c, t) =>
        {
            var project = Load(c, t, projectId);
            var classes = ValidateClasses(project, request.Classes);
            var task = TaskRow(c, t, projectId, request.Row);
            var adjudication = project.Conflict == ConflictRule.Adjudicator && project.Adjudicator == user && task.Conflict;
            var existing = ProjectDatabase.Scalar(c, "SELECT 1 FROM labels WHERE project_id = $p AND row = $r AND annotator = $u", t,
                ("$p", projectId), ("$r", request.Row), ("$u", user));
            if (existing is not null)
            {
                throw new RpcException(new Status(StatusCode.AlreadyExists,
                    $"User '{user}' already labeled row {request.Row} of project '{projectId}'; undo that label first to change it."));
            }
            var at = time.GetUtcNow().ToUnixTimeMilliseconds();
            ProjectDatabase.Execute(c, "INSERT INTO labels (project_id, row, annotator, classes, at, duration_ms, adjudication) VALUES ($p, $r, $u, $c, $at, $d, $adj)", t,
                ("$p", projectId), ("$r", request.Row), ("$u", user), ("$c", TaskResolution.Key(classes)), ("$at", at), ("$d", request.DurationMs), ("$adj", adjudication ? 1 : 0));
            var state = Update(c, t, project, request.Row);
            ProjectDatabase.Execute(c, "UPDATE projects SET labels = labels + 1 WHERE id = $p", t, ("$p", projectId));
            var retrain = false;
            if (project.RetrainEvery > 0)
            {
                var (labels, atRetrain) = ((long)ProjectDatabase.Scalar(c, "SELECT labels FROM projects WHERE id = $p", t, ("$p", projectId))!,
                    (long)ProjectDatabase.Scalar(c, "SELECT labels_at_retrain FROM projects WHERE id = $p", t, ("$p", projectId))!);
                if (labels - atRetrain >= project.RetrainEvery)
                {
                    ProjectDatabase.Execute(c, "UPDATE projects SET labels_at_retrain = labels WHERE id = $p", t, ("$p", projectId));
                    retrain = true;
                }
            }
            var reply = new SubmitLabelReply
            {
                Label = ToProto(new StoredLabel(request.Row, user, classes, at, request.DurationMs, adjudication)),
                Resolved = !state.Open,
                RetrainingStarted = retrain,
            };
            if (state.Resolved is { } resolved)
            {
                reply.ResolvedClasses.AddRange(resolved);
            }
            return (project, reply);
        }, cancellationToken).ConfigureAwait(false);
        LabelsCounter.Add(1, new KeyValuePair<string, object?>("bigdataai.project", projectId));
        LabelSeconds.Record(request.DurationMs / 1000.0);
        logger.LogInformation("Label {Classes} for row {Row} of {Project} by {User} in {DurationMs} ms", string.Join('|', request.Classes), request.Row, projectId, user, request.DurationMs);
        if (reply.RetrainingStarted)
        {
            RetrainDue?.Invoke(project.ProjectId);
        }
        return reply;
    }

    public Task<UndoLabelReply> UndoAsync(string projectId, string user, long row, CancellationToken cancellationToken) =>
        database.WriteAsync((c, t) =>
        {
            var project = Load(c, t, projectId);
            _ = TaskRow(c, t, projectId, row);
            var label = LabelsOf(c, t, projectId, row).FirstOrDefault(l => l.Annotator == user)
                ?? throw new RpcException(new Status(StatusCode.NotFound, $"User '{user}' has no label on row {row} of project '{projectId}' to undo."));
            ProjectDatabase.Execute(c, "DELETE FROM labels WHERE project_id = $p AND row = $r AND annotator = $u", t, ("$p", projectId), ("$r", row), ("$u", user));
            ProjectDatabase.Execute(c, "UPDATE projects SET labels = labels - 1 WHERE id = $p", t, ("$p", projectId));
            Update(c, t, project, row);
            return new UndoLabelReply { Label = ToProto(label) };
        }, cancellationToken);

    /// <summary>Puts <paramref name="rows"/> at the head of the project's queue, open for one more label each (a review).</summary>
    public Task<int> QueueForReviewAsync(string projectId, IReadOnlyList<long> rows, CancellationToken cancellationToken) =>
        database.WriteAsync((c, t) =>
        {
            _ = Load(c, t, projectId);
            // Positions stay positive (after_position 0 means the start): every task moves back by the rows reviewed,
            // and those take positions 1..n, most suspect first.
            ProjectDatabase.Execute(c, "UPDATE tasks SET position = position + $n WHERE project_id = $p", t, ("$n", (long)rows.Count), ("$p", projectId));
            var queued = 0;
            for (var i = 0; i < rows.Count; i++)
            {
                var (wasOpen, wasWaiting) = Counted(c, t, projectId, rows[i]);
                using var command = ProjectDatabase.Command(c, "UPDATE tasks SET position = $pos, open = 1, conflict = 0, needed = labels + 1 WHERE project_id = $p AND row = $r", t,
                    ("$pos", (long)(i + 1)), ("$p", projectId), ("$r", rows[i]));
                if (command.ExecuteNonQuery() == 1)
                {
                    queued++;
                    AdjustCounters(c, t, projectId, wasOpen, wasWaiting, isOpen: true, isWaiting: true);
                }
            }
            return queued;
        }, cancellationToken);

    public Task<AgreementReport> AgreementAsync(string projectId, CancellationToken cancellationToken)
    {
        _ = cancellationToken;
        using var connection = database.Open();
        var project = Load(connection, null, projectId);
        var labels = new List<StoredLabel>();
        using (var command = ProjectDatabase.Command(connection, "SELECT row, annotator, classes, at, duration_ms, adjudication FROM labels WHERE project_id = $p AND adjudication = 0", null, ("$p", projectId)))
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                labels.Add(Read(reader));
            }
        }
        var classIndex = project.Classes.Select((c, i) => (c, i)).ToDictionary(x => x.c, x => x.i, StringComparer.Ordinal);
        var report = new AgreementReport();
        report.Annotators.AddRange(labels.Select(l => l.Annotator).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal));
        if (!project.MultiLabel)
        {
            var ratings = labels.Select(l => new Rating(l.Row, l.Annotator, classIndex[l.Classes[0]])).ToList();
            if (ratings.Count > 0)
            {
                var result = InterAnnotatorAgreement.Compute(ratings, Math.Max(2, project.Classes.Count));
                report.Overall = Fill(result, ratings, Math.Max(2, project.Classes.Count));
                for (var c = 0; c < project.Classes.Count; c++)
                {
                    var binary = ratings.Select(r => r with { Class = r.Class == c ? 1 : 0 }).ToList();
                    report.PerClass.Add(new ClassAgreement { Class = project.Classes[c], Agreement = Fill(InterAnnotatorAgreement.Compute(binary, 2), binary, 2) });
                }
            }
        }
        else
        {
            // Multi-label: each (row, class) is an item rated present or absent.
            var all = new List<Rating>();
            for (var c = 0; c < project.Classes.Count; c++)
            {
                var name = project.Classes[c];
                var binary = labels.Select(l => new Rating(l.Row, l.Annotator, l.Classes.Contains(name, StringComparer.Ordinal) ? 1 : 0)).ToList();
                if (binary.Count > 0)
                {
                    report.PerClass.Add(new ClassAgreement { Class = name, Agreement = Fill(InterAnnotatorAgreement.Compute(binary, 2), binary, 2) });
                }
                all.AddRange(binary.Select(r => r with { Item = (r.Item * project.Classes.Count) + c }));
            }
            if (all.Count > 0)
            {
                report.Overall = Fill(InterAnnotatorAgreement.Compute(all, 2), all, 2);
            }
        }
        report.Overall ??= new Protos.Labeling.V1.Agreement { CohenKappa = double.NaN, FleissKappa = double.NaN, KrippendorffAlpha = double.NaN };
        return Task.FromResult(report);
    }

    private static Protos.Labeling.V1.Agreement Fill(AgreementResult result, IReadOnlyList<Rating> ratings, int classes)
    {
        var units = ratings.GroupBy(r => r.Item).Where(g => g.Count() >= 2).Select(g => g.Select(r => r.Class).ToArray()).ToList();
        return new Protos.Labeling.V1.Agreement
        {
            CohenKappa = result.Method == "cohen" ? result.Value ?? double.NaN : double.NaN,
            FleissKappa = result.Method == "fleiss" ? result.Value ?? double.NaN : double.NaN,
            KrippendorffAlpha = (result.Method == "krippendorff" ? result.Value : InterAnnotatorAgreement.KrippendorffAlpha(units, classes)) ?? double.NaN,
            Rows = units.Count,
            Ratings = units.Sum(u => u.Length),
        };
    }

    /// <summary>
    /// Commits the project's labels as the next version of its dataset: every row of the project's version, the label
    /// each ends with, and <c>_label_source</c> per row. Announced like an upload, so it is split and trained as usual.
    /// Read and written shard by shard: memory holds one shard and the project's labels (one entry per labeled row).
    /// </summary>
    /// <param name="acceptPreLabelsMinConfidence">0: labels from people only. Else a task row with no final label from
    /// people and no earlier label takes its pre-label when the pre-label's confidence reaches this.</param>
    public async Task<ExportReply> ExportAsync(string projectId, string user, double acceptPreLabelsMinConfidence, CancellationToken cancellationToken)
    {
        if (double.IsNaN(acceptPreLabelsMinConfidence) || acceptPreLabelsMinConfidence is < 0 or > 1)
        {
            throw Invalid($"accept_pre_labels_min_confidence: {acceptPreLabelsMinConfidence.ToString(System.Globalization.CultureInfo.InvariantCulture)} is outside 0-1 (0 means people's labels only).");
        }
        using var activity = Source.StartActivity("export-project");
        Project project;
        var resolved = new Dictionary<long, (string[] Classes, string Source)>();
        var preLabels = new Dictionary<long, (string Class, string Source)>();
        using (var connection = database.Open())
        {
            project = Load(connection, null, projectId);
            if (acceptPreLabelsMinConfidence > 0 && project.MultiLabel)
            {
                throw Invalid($"accept_pre_labels_min_confidence: project '{projectId}' is multi-label, and a pre-label is one class, not a label set.");
            }
            var byRow = new Dictionary<long, List<StoredLabel>>();
            using (var command = ProjectDatabase.Command(connection, "SELECT row, annotator, classes, at, duration_ms, adjudication FROM labels WHERE project_id = $p", null, ("$p", projectId)))
            using (var reader = command.ExecuteReader())
            {
                while (reader.Read())
                {
                    var label = Read(reader);
                    (byRow.TryGetValue(label.Row, out var list) ? list : byRow[label.Row] = []).Add(label);
                }
            }
            foreach (var (row, labels) in byRow)
            {
                var state = TaskResolution.Resolve(labels, project.AnnotatorsPerRow, project.Conflict, project.MultiLabel);
                if (state.Resolved is { } classes)
                {
                    resolved[row] = (classes, "human:" + string.Join('+', state.Deciders.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)));
                }
            }
            if (acceptPreLabelsMinConfidence > 0)
            {
                // Rows people have not decided and that had no label of their own: a confident pre-label is their label.
                using var command = ProjectDatabase.Command(connection,
                    "SELECT row, pre_label FROM tasks WHERE project_id = $p AND pre_label IS NOT NULL AND current_label IS NULL", null, ("$p", projectId));
                using var reader = command.ExecuteReader();
                while (reader.Read())
                {
                    var row = reader.GetInt64(0);
                    var preLabel = JsonParser.Default.Parse<PreLabel>(reader.GetString(1));
                    if (!resolved.ContainsKey(row) && preLabel.Confidence >= acceptPreLabelsMinConfidence && project.Classes.Contains(preLabel.Label))
                    {
                        preLabels[row] = (preLabel.Label, "model:" + preLabel.ModelId);
                    }
                }
            }
        }
        if (resolved.Count == 0 && preLabels.Count == 0)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, acceptPreLabelsMinConfidence > 0
                ? $"Project '{projectId}' has no row with a final label from people yet, nor a pre-label of confidence {acceptPreLabelsMinConfidence.ToString(System.Globalization.CultureInfo.InvariantCulture)} or more."
                : $"Project '{projectId}' has no row with a final label from people yet."));
        }
        var manifest = await ManifestAsync(project.Dataset, project.Version, cancellationToken).ConfigureAwait(false);
        var parentPath = DatasetPaths.Manifest(manifest.Dataset, manifest.Version);
        var sha = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes($"{projectId}/{project.Labels}/{time.GetUtcNow().UtcTicks}"))).ToLowerInvariant();
        VersionWriter? writer = null;
        long humanRows = 0, modelRows = 0, rows = 0;
        await foreach (var shard in datasets.StreamAsync(manifest, cancellationToken).ConfigureAwait(false))
        {
            var labeled = WithLabels(shard, project, resolved, preLabels, ref humanRows, ref modelRows);
            writer ??= datasets.BeginVersion(manifest.Dataset, labeled.Schema, sha);
            await writer.AppendAsync(labeled, cancellationToken).ConfigureAwait(false);
            rows += shard.Rows;
        }
        var description = $"Labels of project {projectId} ({project.Name}), exported by {user}"
            + (acceptPreLabelsMinConfidence > 0 ? $", pre-labels of confidence {acceptPreLabelsMinConfidence.ToString(System.Globalization.CultureInfo.InvariantCulture)} or more accepted" : "");
        var committed = await (writer ?? throw new InvalidDataException($"Dataset '{manifest.Dataset}' v{manifest.Version} has no shards.")).CommitAsync(
            new DatasetSource("labeling", [parentPath, $"labeling-project:{projectId}"], sha, description),
            new DatasetLineage("labeling", [parentPath, $"labeling-project:{projectId}"], manifest.Version), cancellationToken: cancellationToken).ConfigureAwait(false);
        await database.WriteAsync((c, t) =>
        {
            ProjectDatabase.Execute(c, "UPDATE projects SET last_exported_version = $v WHERE id = $p", t, ("$v", committed.Version), ("$p", projectId));
            return 0;
        }, cancellationToken).ConfigureAwait(false);
        try
        {
            await bus.PublishAsync(new DatasetIngested(committed.Dataset, committed.Version, DatasetPaths.Manifest(committed.Dataset, committed.Version),
                committed.Rows, committed.Source.Sha256, committed.CreatedAt), cancellationToken).ConfigureAwait(false);
        }
        catch (MessagingUnavailableException e)
        {
            logger.LogWarning("{Dataset} v{Version} is committed but could not be announced ({Reason}); the labeling reconciler will find it", committed.Dataset, committed.Version, e.Message);
        }
        logger.LogInformation("Exported project {Project} as {Dataset} v{Version}: {Human} rows labeled by people, {Model} by accepted pre-labels, {Other} others",
            projectId, committed.Dataset, committed.Version, humanRows, modelRows, rows - humanRows - modelRows);
        return new ExportReply { Dataset = committed.Dataset, Version = committed.Version, HumanRows = humanRows, ModelRows = modelRows, OtherRows = rows - humanRows - modelRows };
    }

    /// <summary>
    /// One shard with the resolved labels in its label column (added as a string column "label" when it has none) and
    /// <c>_label_source</c>: people's label, else the row's earlier label, else an accepted pre-label. Every shard of a
    /// version gets the same schema.
    /// </summary>
    private static Table WithLabels(Table table, Project project, Dictionary<long, (string[] Classes, string Source)> resolved,
        Dictionary<long, (string Class, string Source)> preLabels, ref long humanRows, ref long modelRows)
    {
        var schema = table.Schema;
        var label = schema.Label;
        var columns = new List<Column>();
        var schemas = new List<ColumnSchema>();
        Column? previousSource = table.Find(LabelSourceColumn);
        // A multi-label project's classes are stored joined by '|' in a string label column.
        var labelSchema = label is null || project.MultiLabel
            ? new ColumnSchema(label?.Name ?? "label", ColumnType.String, ColumnRole.Label)
            : label with { Nullable = true };
        var labelValues = Column.Allocate(labelSchema, table.Rows);
        var sources = new string?[table.Rows];
        var oldLabel = label is null ? null : table[label.Name];
        for (var r = 0; r < table.Rows; r++)
        {
            var id = table.RowIds[r];
            if (resolved.TryGetValue(id, out var found))
            {
                SetLabel(labelValues, r, TaskResolution.Key(found.Classes));
                sources[r] = found.Source;
                humanRows++;
            }
            else if (oldLabel?.Format(r) is { } text)
            {
                SetLabel(labelValues, r, text);
                sources[r] = previousSource is null ? "source" : previousSource.Format(r) ?? "source";
            }
            else if (preLabels.TryGetValue(id, out var pre))
            {
                SetLabel(labelValues, r, pre.Class);
                sources[r] = pre.Source;
                modelRows++;
            }
        }
        foreach (var column in table.Columns)
        {
            if (column.Name == LabelSourceColumn)
            {
                continue;
            }
            if (label is not null && column.Name == label.Name)
            {
                schemas.Add(labelSchema);
                columns.Add(labelValues);
                continue;
            }
            schemas.Add(column.Schema);
            columns.Add(column);
        }
        if (label is null)
        {
            schemas.Add(labelSchema);
            columns.Add(labelValues);
        }
        var sourceSchema = new ColumnSchema(LabelSourceColumn, ColumnType.String, ColumnRole.Ignored);
        schemas.Add(sourceSchema);
        columns.Add(new Column(sourceSchema, sources));
        return new Table(new DatasetSchema(schemas), columns, table.RowIds);
    }

    private static void SetLabel(Column column, int row, string text)
    {
        switch (column.Values)
        {
            case string?[] s: s[row] = text; break;
            case long?[] l:
                l[row] = long.TryParse(text, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var v) ? v
                    : throw Invalid($"Class '{text}' cannot be stored in the integer label column '{column.Name}'.");
                break;
            case bool?[] b:
                b[row] = text switch { "true" => true, "false" => false, _ => throw Invalid($"Class '{text}' cannot be stored in the boolean label column '{column.Name}'.") };
                break;
            default:
                throw Invalid($"Label column '{column.Name}' has type {column.Schema.TypeName}, which a project cannot write.");
        }
    }

    /// <summary>Stores pre-labels and, for an uncertainty queue order, puts the least certain open tasks first.</summary>
    public Task SetPreLabelsAsync(string projectId, string modelId, IReadOnlyDictionary<long, PreLabel> preLabels, CancellationToken cancellationToken) =>
        database.WriteAsync((c, t) =>
        {
            var project = Load(c, t, projectId);
            using (var update = ProjectDatabase.Command(c, "UPDATE tasks SET pre_label = $l WHERE project_id = $p AND row = $r", t, ("$l", ""), ("$p", projectId), ("$r", 0L)))
            {
                update.Prepare();
                foreach (var (row, label) in preLabels)
                {
                    update.Parameters["$l"].Value = JsonFormatter.Default.Format(label);
                    update.Parameters["$r"].Value = row;
                    update.ExecuteNonQuery();
                }
            }
            if (project.Order is QueueOrder.LeastConfidence or QueueOrder.Margin or QueueOrder.Entropy)
            {
                // Every task gets a new position: the most uncertain first; tasks without a pre-label after them, in
                // their old order. Positions stay unique, so paging stays exact.
                var tasks = new List<(long Row, long Position)>();
                using (var command = ProjectDatabase.Command(c, "SELECT row, position FROM tasks WHERE project_id = $p", t, ("$p", projectId)))
                using (var reader = command.ExecuteReader())
                {
                    while (reader.Read())
                    {
                        tasks.Add((reader.GetInt64(0), reader.GetInt64(1)));
                    }
                }
                var ordered = tasks
                    .OrderByDescending(x => preLabels.TryGetValue(x.Row, out var p) ? Uncertainty.Score(project.Order, p.Probabilities) : double.NegativeInfinity)
                    .ThenBy(x => x.Position).ToList();
                using var reposition = ProjectDatabase.Command(c, "UPDATE tasks SET position = $pos WHERE project_id = $p AND row = $r", t, ("$pos", 0L), ("$p", projectId), ("$r", 0L));
                reposition.Prepare();
                for (var i = 0; i < ordered.Count; i++)
                {
                    reposition.Parameters["$pos"].Value = (long)(i + 1);
                    reposition.Parameters["$r"].Value = ordered[i].Row;
                    reposition.ExecuteNonQuery();
                }
            }
            ProjectDatabase.Execute(c, "UPDATE projects SET pre_label_model_id = $m WHERE id = $p", t, ("$m", modelId), ("$p", projectId));
            return 0;
        }, cancellationToken);

    /// <summary>The rows of the project's tasks with their shards (for pre-labeling), open ones only unless <paramref name="all"/>.</summary>
    public IReadOnlyList<(long Row, int Shard)> TaskRowsOf(string projectId, bool all)
    {
        using var connection = database.Open();
        _ = Load(connection, null, projectId);
        var rows = new List<(long, int)>();
        using var command = ProjectDatabase.Command(connection, $"SELECT row, shard FROM tasks WHERE project_id = $p {(all ? "" : "AND open = 1")} ORDER BY shard, row", null, ("$p", projectId));
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            rows.Add((reader.GetInt64(0), reader.GetInt32(1)));
        }
        return rows;
    }

    /// <summary>Every label people gave in the project, resolved per row (gold labels for rules and reviews).</summary>
    public IReadOnlyDictionary<long, string[]> ResolvedLabels(string projectId)
    {
        using var connection = database.Open();
        var project = Load(connection, null, projectId);
        var byRow = new Dictionary<long, List<StoredLabel>>();
        using var command = ProjectDatabase.Command(connection, "SELECT row, annotator, classes, at, duration_ms, adjudication FROM labels WHERE project_id = $p", null, ("$p", projectId));
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            var label = Read(reader);
            (byRow.TryGetValue(label.Row, out var list) ? list : byRow[label.Row] = []).Add(label);
        }
        var result = new Dictionary<long, string[]>();
        foreach (var (row, labels) in byRow)
        {
            if (TaskResolution.Resolve(labels, project.AnnotatorsPerRow, project.Conflict, project.MultiLabel).Resolved is { } classes)
            {
                result[row] = classes;
            }
        }
        return result;
    }

    // Versions are immutable: a manifest read once is the manifest.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string, int), DatasetManifest> _manifests = new();

    public async Task<DatasetManifest> ManifestAsync(string dataset, int version, CancellationToken cancellationToken)
    {
        if (version > 0 && _manifests.TryGetValue((dataset, version), out var known))
        {
            return known;
        }
        if (version == 0)
        {
            var all = await datasets.ListAsync(dataset, cancellationToken).ConfigureAwait(false);
            return all.Count == 0
                ? throw new RpcException(new Status(StatusCode.NotFound, $"Dataset '{dataset}' does not exist."))
                : all.MaxBy(m => m.Version)!;
        }
        var manifest = await datasets.GetAsync(dataset, version, cancellationToken).ConfigureAwait(false)
            ?? throw new RpcException(new Status(StatusCode.NotFound, $"Dataset '{dataset}' has no version {version}."));
        _manifests.TryAdd((dataset, version), manifest);
        return manifest;
    }

    private static string[] ValidateClasses(Project project, IReadOnlyList<string> classes)
    {
        foreach (var c in classes)
        {
            if (!project.Classes.Contains(c))
            {
                throw Invalid($"classes: '{c}' is not one of the project's classes ({string.Join(", ", project.Classes)}).");
            }
        }
        if (classes.Distinct(StringComparer.Ordinal).Count() != classes.Count)
        {
            throw Invalid("classes: a class is given twice.");
        }
        if (!project.MultiLabel && classes.Count != 1)
        {
            throw Invalid($"classes: a single-label project takes exactly one class per label, not {classes.Count}.");
        }
        return [.. classes.Order(StringComparer.Ordinal)];
    }

    private static (int Labels, bool Conflict) TaskRow(SqliteConnection c, SqliteTransaction t, string projectId, long row)
    {
        using var command = ProjectDatabase.Command(c, "SELECT labels, conflict FROM tasks WHERE project_id = $p AND row = $r", t, ("$p", projectId), ("$r", row));
        using var reader = command.ExecuteReader();
        return reader.Read()
            ? (reader.GetInt32(0), reader.GetInt32(1) == 1)
            : throw new RpcException(new Status(StatusCode.NotFound, $"Row {row} is not a task of project '{projectId}'."));
    }

    /// <summary>Recomputes a task's state from all its labels.</summary>
    private static TaskState Update(SqliteConnection c, SqliteTransaction t, Project project, long row)
    {
        var labels = LabelsOf(c, t, project.ProjectId, row);
        var state = TaskResolution.Resolve(labels, project.AnnotatorsPerRow, project.Conflict, project.MultiLabel);
        var (wasOpen, wasWaiting) = Counted(c, t, project.ProjectId, row);
        var count = labels.Count(l => !l.Adjudication);
        ProjectDatabase.Execute(c, "UPDATE tasks SET labels = $n, needed = $k, open = $o, conflict = $x, resolved = $res WHERE project_id = $p AND row = $r", t,
            ("$n", count), ("$k", state.Needed), ("$o", state.Open ? 1 : 0), ("$x", state.Conflict ? 1 : 0),
            ("$res", state.Resolved is null ? null : TaskResolution.Key(state.Resolved)), ("$p", project.ProjectId), ("$r", row));
        AdjustCounters(c, t, project.ProjectId, wasOpen, wasWaiting, state.Open, state.Open && !state.Conflict && count < state.Needed);
        return state;
    }

    /// <summary>Whether a task is open, and whether it is waiting (open, not in conflict, short of labels): what the counters count.</summary>
    private static (bool Open, bool Waiting) Counted(SqliteConnection c, SqliteTransaction t, string projectId, long row)
    {
        using var command = ProjectDatabase.Command(c, "SELECT open, open = 1 AND conflict = 0 AND labels < needed FROM tasks WHERE project_id = $p AND row = $r", t, ("$p", projectId), ("$r", row));
        using var reader = command.ExecuteReader();
        return reader.Read() ? (reader.GetInt32(0) == 1, reader.GetInt32(1) == 1) : (false, false);
    }

    private static void AdjustCounters(SqliteConnection c, SqliteTransaction t, string projectId, bool wasOpen, bool wasWaiting, bool isOpen, bool isWaiting)
    {
        var completed = (wasOpen ? 1 : 0) - (isOpen ? 1 : 0);
        var waiting = (isWaiting ? 1 : 0) - (wasWaiting ? 1 : 0);
        if (completed != 0 || waiting != 0)
        {
            ProjectDatabase.Execute(c, "UPDATE projects SET completed = completed + $c, waiting = waiting + $w WHERE id = $p", t, ("$c", completed), ("$w", waiting), ("$p", projectId));
        }
    }

    private List<StoredLabel> LabelsOf(string projectId, long row)
    {
        using var connection = database.Open();
        return LabelsOf(connection, null, projectId, row);
    }

    private static List<StoredLabel> LabelsOf(SqliteConnection c, SqliteTransaction? t, string projectId, long row)
    {
        var labels = new List<StoredLabel>();
        using var command = ProjectDatabase.Command(c, "SELECT row, annotator, classes, at, duration_ms, adjudication FROM labels WHERE project_id = $p AND row = $r ORDER BY at, annotator", t,
            ("$p", projectId), ("$r", row));
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            labels.Add(Read(reader));
        }
        return labels;
    }

    private static StoredLabel Read(SqliteDataReader reader) =>
        new(reader.GetInt64(0), reader.GetString(1), TaskResolution.Split(reader.GetString(2)), reader.GetInt64(3), reader.GetInt64(4), reader.GetInt32(5) == 1);

    private static Label ToProto(StoredLabel label)
    {
        var proto = new Label { Row = label.Row, Annotator = label.Annotator, At = label.At, DurationMs = label.DurationMs, Source = "human:" + label.Annotator };
        proto.Classes.AddRange(label.Classes);
        return proto;
    }

    internal static RpcException Invalid(string message) => new(new Status(StatusCode.InvalidArgument, message));
}

/// <summary>Uncertainty scores for active learning (higher: ask a person sooner).</summary>
public static class Uncertainty
{
    public static double Score(QueueOrder order, IReadOnlyList<double> p)
    {
        if (p.Count == 0)
        {
            return double.NegativeInfinity;
        }
        var sorted = p.OrderDescending().ToArray();
        return order switch
        {
            QueueOrder.LeastConfidence => 1 - sorted[0],
            QueueOrder.Margin => -(sorted[0] - (sorted.Length > 1 ? sorted[1] : 0)),
            QueueOrder.Entropy => -p.Where(x => x > 0).Sum(x => x * Math.Log(x)),
            _ => 0,
        };
    }
}
