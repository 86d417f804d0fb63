using BigDataAI.Datasets;
using System.Diagnostics;
using System.Globalization;
using BigDataAI.Client;
using BigDataAI.Protos.Inference.V1;
using BigDataAI.Protos.Ingestion.V1;
using BigDataAI.Protos.Training.V1;
using Grpc.Core;
using Grpc.Net.Client;

namespace BigDataAI.Cli;

/// <summary>The client side of each command, shared by the commands and the demo.</summary>
public sealed class Flows(GrpcChannel ingestion, GrpcChannel training, GrpcChannel inference, TextWriter output)
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <param name="quarantine">Tables: quarantine bad rows up to this fraction instead of refusing the file (null: strict).</param>
    /// <param name="allowSchemaChange">Tables: accept columns incompatible with the previous version.</param>
    public async Task<DatasetInfo> IngestAsync(string dataset, string? images, string? labels, string? csv, string labelColumn, string? source, CancellationToken ct, IReadOnlyList<ColumnOverride>? columns = null,
        double? quarantine = null, bool allowSchemaChange = false)
    {
        var client = new IngestionService.IngestionServiceClient(ingestion);
        var watch = Stopwatch.StartNew();
        UploadReply reply;
        if (csv is not null)
        {
            output.WriteLine($"Uploading {csv} as dataset '{dataset}'{(quarantine is { } q ? $" (bad rows quarantined up to {q.ToString(Inv)})" : "")} ...");
            var header = new UploadHeader { Dataset = dataset, Format = TableFormat(csv), LabelColumn = labelColumn, Source = source ?? "", Files = { "data" }, Columns = { columns ?? [] }, AllowSchemaChange = allowSchemaChange };
            if (quarantine is { } fraction)
            {
                header.Validation = ValidationMode.Quarantine;
                header.MaxBadFraction = fraction;
            }
            reply = await client.UploadAsync(header, [("data", csv)], ct);
        }
        else
        {
            output.WriteLine($"Uploading {images} and {labels} as dataset '{dataset}' ...");
            reply = await client.UploadIdxAsync(dataset, images!, labels!, source, ct);
        }
        Report(reply, watch);
        return reply.Dataset;
    }

    private void Report(UploadReply reply, Stopwatch watch)
    {
        var d = reply.Dataset;
        output.WriteLine(reply.Deduplicated
            ? $"Same content as {d.Dataset} v{d.Version}: nothing new stored ({watch.ElapsedMilliseconds} ms)."
            : $"Stored {d.Dataset} v{d.Version}: {d.Rows:N0} rows{(d.UnlabeledRows > 0 ? $" ({d.UnlabeledRows:N0} unlabeled)" : "")}, {d.Classes.Count} classes, {d.Shards} Parquet shards ({watch.ElapsedMilliseconds} ms).");
        if (reply.QuarantinedRows > 0)
        {
            output.WriteLine($"Quarantined {reply.QuarantinedRows:N0} bad rows ({string.Join(", ", reply.QuarantineReasons.Select(r => $"{r.Key} {r.Value}"))}); they are stored with their row and reason beside the version (docs/validation.md).");
        }
        if (!reply.Deduplicated)
        {
            output.WriteLine("Columns: " + string.Join(", ", d.Columns.Select(c => $"{c.Name} ({(c.Type == "tensor" ? $"tensor[{string.Join("x", c.Shape)}]" : c.Type)}{(c.Nullable ? ", nulls" : "")}{(c.Role == "feature" ? "" : ", " + c.Role)})")));
        }
    }

    /// <summary>
    /// Predicts the first <paramref name="count"/> rows of a stored version's test split from their raw input cells (text or
    /// image bytes; the model's pipeline runs on the server) and prints each beside its label.
    /// </summary>
    public async Task<PredictReply> PredictStoredAsync(DatasetStore store, string dataset, int version, int count, CancellationToken ct)
    {
        var labeled = await store.GetLabeledAsync(dataset, version, ct) ?? throw new InvalidOperationException($"{dataset} v{version} has no labeled version.");
        var test = await store.ReadSplitAsync(labeled, Splits.Test, ct);
        var rows = Enumerable.Range(0, Math.Min(count, test.Rows)).ToList();
        var request = new PredictRequest { Model = dataset };
        foreach (var r in rows)
        {
            var row = new Row();
            foreach (var column in test.Columns.Where(c => c.Schema.Role is ColumnRole.Text or ColumnRole.Image or ColumnRole.Feature))
            {
                row.Cells[column.Name] = column.Values switch
                {
                    _ when column.IsNull(r) => new Value { Null = Google.Protobuf.WellKnownTypes.NullValue.NullValue },
                    string?[] text => new Value { Text = text[r] },
                    byte[]?[] bytes => new Value { Data = Google.Protobuf.ByteString.CopyFrom(bytes[r]) },
                    _ => new Value { Text = column.Format(r) },
                };
            }
            request.Rows.Add(row);
        }
        var client = new InferenceService.InferenceServiceClient(inference);
        var watch = Stopwatch.StartNew();
        var reply = await client.PredictAsync(request, cancellationToken: ct);
        var ids = test.Find("path");
        var labels = test[labeled.EffectiveSchema.Label!.Name];
        var correct = 0;
        for (var i = 0; i < rows.Count; i++)
        {
            var p = reply.Predictions[i];
            var actual = labels.Format(rows[i]);
            if (p.Probabilities.Count == 0)
            {
                output.WriteLine($"{ids?.Format(rows[i]) ?? $"row {test.RowIds[rows[i]]}"}: predicted {p.Value.ToString("G6", Inv)}, labeled {actual}");
                continue;
            }
            correct += p.ClassName == actual ? 1 : 0;
            output.WriteLine($"{ids?.Format(rows[i]) ?? $"row {test.RowIds[rows[i]]}"}: predicted {p.ClassName} (p={p.Probabilities[p.ClassIndex].ToString("F3", Inv)}), labeled {actual}{(p.ClassName == actual ? "" : "  <- wrong")}");
        }
        output.WriteLine($"Predict: {reply.Predictions.Count} rows answered by model {reply.Model}@{reply.ModelVersion} ({reply.ModelId}) in {watch.Elapsed.TotalMilliseconds.ToString("F1", Inv)} ms; {correct}/{reply.Predictions.Count} match their labels.");
        return reply;
    }

    /// <summary>Uploads a zip or tar of images or text files in class folders as a new version of <paramref name="dataset"/>.</summary>
    public async Task<DatasetInfo> IngestArchiveAsync(string dataset, string archive, string? source, CancellationToken ct)
    {
        var client = new IngestionService.IngestionServiceClient(ingestion);
        var watch = Stopwatch.StartNew();
        output.WriteLine($"Uploading {archive} as dataset '{dataset}' ...");
        var reply = await client.UploadAsync(new UploadHeader { Dataset = dataset, Format = DatasetFormat.Archive, Files = { "archive" }, Source = source ?? "" }, [("archive", archive)], ct);
        Report(reply, watch);
        return reply.Dataset;
    }

    /// <summary>Starts a job, waiting up to <paramref name="labelWait"/> for labeling to finish first.</summary>
    public async Task<Job> StartTrainingAsync(StartTrainingRequest request, TimeSpan labelWait, CancellationToken ct)
    {
        var said = false;
        var job = await new TrainingService.TrainingServiceClient(training).StartTrainingWhenLabeledAsync(request, labelWait, notLabeledYet: _ =>
        {
            if (!said)
            {
                output.WriteLine("Waiting for labeling to finish ...");
                said = true;
            }
        }, cancellationToken: ct);
        output.WriteLine($"Job {job.JobId}: {job.Model} on {job.Dataset} v{job.Version}, {job.Epochs} epochs, batch {job.HyperParameters.BatchSize}, {job.HyperParameters.Optimizer} lr {job.HyperParameters.LearningRate.ToString(Inv)}, seed {job.HyperParameters.Seed}.");
        if (Recipe(job.HyperParameters) is { Length: > 0 } recipe)
        {
            output.WriteLine($"Recipe: {recipe}.");
        }
        return job;
    }

    /// <summary>The recipe fields that are not at their defaults, e.g. "cosine schedule, warmup 1, weight decay 0.0001".</summary>
    internal static string Recipe(HyperParameters h)
    {
        var parts = new List<string>();
        if (h.LrSchedule is { Length: > 0 } and not "constant")
        {
            parts.Add(h.LrSchedule == "step" ? $"step schedule (x{h.StepGamma.ToString(Inv)} every {h.StepEpochs} epochs)" : $"{h.LrSchedule} schedule");
        }
        if (h.WarmupEpochs > 0)
        {
            parts.Add($"warmup {h.WarmupEpochs} epochs");
        }
        if (h.WeightDecay > 0)
        {
            parts.Add($"weight decay {h.WeightDecay.ToString(Inv)}");
        }
        if (h.Dropout > 0)
        {
            parts.Add($"dropout {h.Dropout.ToString(Inv)}");
        }
        if (h.EarlyStoppingPatience > 0)
        {
            parts.Add($"early stopping after {h.EarlyStoppingPatience} epochs" + (h.EarlyStoppingMinDelta > 0 ? $" (min delta {h.EarlyStoppingMinDelta.ToString(Inv)})" : ""));
        }
        if (h.ClassWeights.Length > 0)
        {
            parts.Add($"class weights {h.ClassWeights}");
        }
        if (h.MaxGradNorm > 0)
        {
            parts.Add($"gradients clipped to norm {h.MaxGradNorm.ToString(Inv)}");
        }
        return string.Join(", ", parts);
    }

    /// <summary>Follows a job to its end; then writes its charts into <paramref name="charts"/> when given.</summary>
    public async Task<Job> WatchAsync(string jobId, string? charts, CancellationToken ct) => (await WatchAsync([jobId], charts, ct))[0];

    /// <summary>
    /// Follows several jobs at once (one progress stream each) until every one has ended, printing progress
    /// (<see cref="JobProgressView"/>), then each job's metrics or error and, with <paramref name="charts"/>, its charts.
    /// Returns the final states in the order of <paramref name="jobIds"/>.
    /// </summary>
    public async Task<IReadOnlyList<Job>> WatchAsync(IReadOnlyList<string> jobIds, string? charts, CancellationToken ct)
    {
        var client = new TrainingService.TrainingServiceClient(training);
        var view = JobProgressView.For(output, jobIds);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var follows = jobIds.Select(async id =>
        {
            try
            {
                return await client.WatchToEndAsync(id, view.Update, cancellationToken: stop.Token);
            }
            catch (Exception) when (!stop.IsCancellationRequested)
            {
                // One job's stream failed (e.g. NOT_FOUND): stop following the others, and report this one.
                await stop.CancelAsync();
                throw;
            }
        }).ToArray();
        Job[] finals;
        try
        {
            finals = await Task.WhenAll(follows);
        }
        catch when (follows.FirstOrDefault(t => t.IsFaulted && !IsCancellation(t.Exception!.InnerException)) is { } failed)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failed.Exception!.InnerException!);
            throw;
        }
        finally
        {
            view.Complete();
        }
        foreach (var last in finals)
        {
            var header = finals.Length > 1 ? $"Job {last.JobId}: " : "";
            if (last.State == JobState.Succeeded)
            {
                if (header.Length > 0)
                {
                    output.WriteLine($"{header}succeeded");
                }
                PrintMetrics(last);
            }
            else if (last.State == JobState.Failed)
            {
                output.WriteLine($"Job {last.JobId} failed: {last.Error}");
            }
            else if (last.State == JobState.Stopped)
            {
                output.WriteLine($"Job {last.JobId} stopped: {last.StopReason}");
            }
            if (charts is not null)
            {
                var history = Charts.HistoryFor(last, view.ObservedHistory(last.JobId));
                if (history.Count == 0 && last.EpochsCompleted > 0)
                {
                    output.WriteLine($"No curves for {last.JobId}: the server sent no epoch history, and this watch saw too few epochs complete.");
                }
                foreach (var path in Charts.Write(last, history, charts))
                {
                    output.WriteLine($"Chart: {path}");
                }
            }
        }
        if (charts is not null && Charts.FontFamily is null)
        {
            output.WriteLine("warning: no font found, so the charts have no text: install one under /usr/share/fonts (Debian: fonts-dejavu-core) or set BIGDATAAI_CHART_FONT to a .ttf file.");
        }
        return finals;
    }

    private static bool IsCancellation(Exception? e) =>
        e is OperationCanceledException || e is RpcException { StatusCode: StatusCode.Cancelled };

    public void PrintMetrics(Job job)
    {
        var m = job.TestMetrics;
        if (m is null)
        {
            return;
        }
        output.WriteLine($"Model {job.ModelId}" + (job.BestEpoch > 0 ? $": the weights of epoch {job.BestEpoch} of {job.EpochsCompleted} (best validation score{(job.StoppedEarly ? "; stopped early" : "")})" : ""));
        if (m.Regression)
        {
            output.WriteLine($"Held-out test: R² {m.R2.ToString("F4", Inv)}, MAE {m.Mae.ToString("G6", Inv)}, RMSE {m.Rmse.ToString("G6", Inv)} on {m.Samples:N0} samples");
            return;
        }
        output.WriteLine($"Held-out test accuracy: {m.Accuracy.ToString("P2", Inv)} on {m.Samples:N0} samples");
        output.WriteLine("class  precision  recall  f1");
        for (var c = 0; c < m.Classes; c++)
        {
            output.WriteLine($"{c,5}  {m.Precision[c].ToString("F4", Inv),9}  {m.Recall[c].ToString("F4", Inv),6}  {m.F1[c].ToString("F4", Inv),6}");
        }
        output.WriteLine("confusion matrix (row = actual, column = predicted):");
        for (var a = 0; a < m.Classes; a++)
        {
            output.WriteLine("  " + string.Join(" ", Enumerable.Range(0, m.Classes).Select(p => m.Confusion[a * m.Classes + p].ToString(Inv).PadLeft(4))));
        }
        if (m.Curves.Count > 0)
        {
            output.WriteLine($"ROC AUC (each class against the rest): macro {m.MacroRocAuc.ToString("F4", Inv)}; average precision: macro {m.MacroAveragePrecision.ToString("F4", Inv)}");
            output.WriteLine("  " + string.Join("  ", m.Curves.Select(c => $"{c.ClassIndex}: {c.RocAuc.ToString("F3", Inv)}/{c.AveragePrecision.ToString("F3", Inv)}")));
        }
        if (m.Calibration is { } cal)
        {
            output.WriteLine($"Calibration: expected calibration error {cal.ExpectedCalibrationError.ToString("F4", Inv)} over {cal.Rows.Count} bins of the top-class probability");
        }
        foreach (var slice in m.Slices)
        {
            output.WriteLine($"Slice by {slice.Column}{(slice.Sensitive ? " (sensitive)" : "")}: accuracy gap {slice.AccuracyGap.ToString("F4", Inv)}, F1 gap {slice.F1Gap.ToString("F4", Inv)}" +
                (slice.Sensitive ? $"; for class {slice.PositiveClass}: demographic-parity difference {slice.DemographicParityDifference.ToString("F4", Inv)}, equalized-odds difference {slice.EqualizedOddsDifference.ToString("F4", Inv)}" : ""));
            var width = Math.Max(5, slice.Groups.Max(g => g.Value.Length));
            output.WriteLine($"  {"value".PadRight(width)}  {"rows",6}  accuracy  recall  f1      predicted+  tpr     fpr");
            foreach (var g in slice.Groups)
            {
                output.WriteLine($"  {g.Value.PadRight(width)}  {g.Rows,6}  {g.Accuracy.ToString("F4", Inv),8}  {g.MacroRecall.ToString("F4", Inv)}  {g.MacroF1.ToString("F4", Inv)}  {g.PositiveRate.ToString("F4", Inv),10}  {g.TruePositiveRate.ToString("F4", Inv)}  {g.FalsePositiveRate.ToString("F4", Inv)}");
            }
        }
    }

    /// <summary>Classifies rows of an IDX or CSV file and prints each prediction beside the file's label.</summary>
    public async Task<PredictReply> PredictAsync(string? images, string? labels, string? csv, string labelColumn, int offset, int count, string? model, CancellationToken ct)
    {
        if (count < 1)
        {
            throw new ArgumentException($"--count {count}: give at least 1 row to classify.");
        }
        if (csv is not null && TableFormat(csv) is not (DatasetFormat.Csv or DatasetFormat.Tsv))
        {
            throw new ArgumentException($"predict reads rows from CSV or TSV files; {Path.GetFileName(csv)} is {TableFormat(csv)}. Send its rows through the API (Predict takes rows of cells by column name).");
        }
        var rows = csv is not null ? TableRows.Count(csv, Separator(csv)) : await CountIdxAsync(images!, labels!);
        if (offset < 0 || offset >= rows)
        {
            throw new ArgumentException($"--offset {offset} is outside the file's {rows} rows.");
        }
        count = Math.Min(count, rows - offset);
        return await PredictAsync(images, labels, csv, labelColumn, [.. Enumerable.Range(offset, count)], model, ct);
    }

    /// <summary>Classifies the given rows (indices into the file, in this order) and prints each prediction beside the file's label.</summary>
    /// <summary>Explains one row of a file (integrated gradients on the server) and prints each column's attribution; writes a chart if asked.</summary>
    public async Task<ExplainReply> ExplainAsync(string? images, string? labels, string? csv, string labelColumn, int row, string? model, int? targetClass, int steps, string? chart, CancellationToken ct)
    {
        var request = new ExplainRequest { Model = model ?? "", Steps = steps };
        if (targetClass is { } target)
        {
            request.TargetClass = target;
        }
        string? actual;
        if (csv is not null)
        {
            var (cells, fileLabels) = TableRows.Read(csv, [row], labelColumn, Separator(csv));
            (request.Row, actual) = (cells[0], fileLabels[0]);
        }
        else
        {
            var idx = IdxFiles.Read(images!, labels!);
            if (row < 0 || row >= idx.Rows)
            {
                throw new ArgumentException($"--offset {row} is outside the file's {idx.Rows} rows.");
            }
            request.Dense = new Input { Features = { idx.Pixels(row) } };
            actual = idx.Label(row);
        }
        var reply = await new InferenceService.InferenceServiceClient(inference).ExplainAsync(request, cancellationToken: ct);
        output.WriteLine($"Row {row} (labeled {actual ?? "(no label)"}): model {reply.Model}@{reply.ModelVersion} gives {(reply.ClassName.Length > 0 ? $"class {reply.ClassName} probability" : "the value")} " +
            $"{reply.Output.ToString("F4", Inv)}, against {reply.BaselineOutput.ToString("F4", Inv)} at the baseline (all-zero input); completeness gap {reply.CompletenessGap.ToString("E1", Inv)}");
        var largest = reply.Columns.Count == 0 ? 1 : Math.Max(1e-12, reply.Columns.Max(c => Math.Abs(c.Attribution)));
        var width = reply.Columns.Count == 0 ? 6 : Math.Max(6, reply.Columns.Max(c => c.Column.Length));
        foreach (var c in reply.Columns)
        {
            var bar = new string(c.Attribution >= 0 ? '+' : '-', (int)Math.Round(20 * Math.Abs(c.Attribution) / largest));
            output.WriteLine($"  {c.Column.PadRight(width)}  {c.Attribution.ToString("+0.0000;-0.0000", Inv),8}  {bar}");
        }
        if (chart is not null)
        {
            output.WriteLine($"Chart: {Charts.WriteExplanation(reply, chart)}");
        }
        return reply;
    }

    public async Task<PredictReply> PredictAsync(string? images, string? labels, string? csv, string labelColumn, IReadOnlyList<int> rows, string? model, CancellationToken ct)
    {
        if (rows.Count == 0)
        {
            throw new ArgumentException("Give at least 1 row to classify.", nameof(rows));
        }
        var request = new PredictRequest { Model = model ?? "" };
        IReadOnlyList<string?> actual;
        if (csv is not null)
        {
            // Raw cells as text: the model's own feature pipeline, on the server, turns them into its input.
            var (cells, fileLabels) = TableRows.Read(csv, rows, labelColumn, Separator(csv));
            request.Rows.AddRange(cells);
            actual = fileLabels;
        }
        else
        {
            var idx = IdxFiles.Read(images!, labels!);
            foreach (var row in rows)
            {
                if (row < 0 || row >= idx.Rows)
                {
                    throw new ArgumentException($"Row {row} is outside the file's {idx.Rows} rows.", nameof(rows));
                }
                var input = new Input();
                input.Features.AddRange(idx.Pixels(row));
                request.Inputs.Add(input);
            }
            actual = [.. rows.Select(idx.Label)];
        }
        var client = new InferenceService.InferenceServiceClient(inference);
        var watch = Stopwatch.StartNew();
        var reply = await client.PredictAsync(request, cancellationToken: ct);
        var elapsed = watch.Elapsed;
        var correct = 0;
        for (var i = 0; i < reply.Predictions.Count; i++)
        {
            var p = reply.Predictions[i];
            if (p.Probabilities.Count == 0)
            {
                output.WriteLine($"row {rows[i]}: predicted {p.Value.ToString("G6", Inv)}, labeled {actual[i] ?? "(no label)"}");
                continue;
            }
            correct += p.ClassName == actual[i] ? 1 : 0;
            output.WriteLine($"row {rows[i]}: predicted {p.ClassName} (p={p.Probabilities[p.ClassIndex].ToString("F3", Inv)}), labeled {actual[i] ?? "(no label)"}{(actual[i] is null || p.ClassName == actual[i] ? "" : "  <- wrong")}");
        }
        output.WriteLine($"Predict: {reply.Predictions.Count} rows answered by model {reply.Model}@{reply.ModelVersion} ({reply.ModelId}) in {elapsed.TotalMilliseconds.ToString("F1", Inv)} ms; {correct}/{reply.Predictions.Count} match the file's labels.");
        return reply;
    }

    /// <summary>A table file's format by its extension: .jsonl/.ndjson, .parquet, .tsv/.tab, else CSV.</summary>
    public static DatasetFormat TableFormat(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".jsonl" or ".ndjson" => DatasetFormat.Jsonl,
        ".parquet" => DatasetFormat.Parquet,
        ".tsv" or ".tab" => DatasetFormat.Tsv,
        _ => DatasetFormat.Csv,
    };

    /// <summary>Tab for .tsv and .tab files, else comma.</summary>
    public static char Separator(string path) =>
        path.EndsWith(".tsv", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".tab", StringComparison.OrdinalIgnoreCase) ? '\t' : ',';

    private static Task<int> CountIdxAsync(string images, string labels) => Task.FromResult(IdxFiles.Read(images, labels).Rows);
}
