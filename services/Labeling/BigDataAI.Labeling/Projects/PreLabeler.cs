using System.Diagnostics;
using BigDataAI.Datasets;
using BigDataAI.Labeling.Services;
using BigDataAI.Protos.Labeling.V1;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Inference = BigDataAI.Protos.Inference.V1;

namespace BigDataAI.Labeling.Projects;

/// <summary>
/// Pre-labels a project's open tasks with a served model, through the inference service's Predict on the rows' own
/// cells (the same call any client makes), in batches; the probabilities are mapped onto the project's classes by name.
/// </summary>
public sealed class PreLabeler(ProjectService projects, DatasetStore datasets, PlatformClients clients, ILogger<PreLabeler> logger)
{
    private const int Batch = 256;

    public async Task<PreLabelReply> PreLabelAsync(string projectId, string? modelName, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var project = await projects.GetAsync(projectId, cancellationToken).ConfigureAwait(false);
        var model = string.IsNullOrEmpty(modelName) ? project.ModelName : modelName;
        if (string.IsNullOrEmpty(model))
        {
            throw ProjectService.Invalid("model_name: the project has no model; name the served model to pre-label with.");
        }
        using var activity = ProjectService.Source.StartActivity("pre-label");
        activity?.SetTag("bigdataai.project", projectId);
        activity?.SetTag("bigdataai.model", model);
        var manifest = await projects.ManifestAsync(project.Dataset, project.Version, cancellationToken).ConfigureAwait(false);
        var rows = projects.TaskRowsOf(projectId, all: false);
        var preLabels = new Dictionary<long, PreLabel>(rows.Count);
        var modelId = "";
        foreach (var shardRows in rows.GroupBy(r => r.Shard))
        {
            var table = await datasets.ReadShardAsync(manifest, shardRows.Key, cancellationToken).ConfigureAwait(false);
            var index = new Dictionary<long, int>(table.Rows);
            for (var i = 0; i < table.Rows; i++)
            {
                index[table.RowIds[i]] = i;
            }
            foreach (var chunk in shardRows.Chunk(Batch))
            {
                var request = new Inference.PredictRequest { Model = model };
                request.Rows.AddRange(chunk.Select(r => ToRow(table, index[r.Row])));
                Inference.PredictReply reply;
                try
                {
                    reply = await clients.Inference.PredictAsync(request, cancellationToken: cancellationToken).ConfigureAwait(false);
                }
                catch (RpcException e) when (e.StatusCode is StatusCode.NotFound or StatusCode.InvalidArgument or StatusCode.FailedPrecondition)
                {
                    throw new RpcException(new Status(e.StatusCode, $"Pre-labeling project '{projectId}' with model '{model}': {e.Status.Detail}"));
                }
                modelId = reply.ModelId;
                var served = await ClassesAsync(model, cancellationToken).ConfigureAwait(false);
                for (var i = 0; i < chunk.Length; i++)
                {
                    preLabels[chunk[i].Row] = ToPreLabel(project, served, reply.Predictions[i], reply.ModelId);
                }
            }
        }
        await projects.SetPreLabelsAsync(projectId, modelId, preLabels, cancellationToken).ConfigureAwait(false);
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        logger.LogInformation("Pre-labeled {Rows} tasks of {Project} with {Model} ({ModelId}) in {Seconds:F2} s", preLabels.Count, projectId, model, modelId, seconds);
        return new PreLabelReply { Rows = preLabels.Count, ModelId = modelId, Seconds = seconds };
    }

    private readonly Dictionary<string, string[]> _classes = new(StringComparer.Ordinal);

    private async Task<string[]> ClassesAsync(string model, CancellationToken cancellationToken)
    {
        lock (_classes)
        {
            if (_classes.TryGetValue(model, out var known))
            {
                return known;
            }
        }
        var served = await clients.Inference.GetModelAsync(new Inference.GetModelRequest { Model = model }, cancellationToken: cancellationToken).ConfigureAwait(false);
        var classes = served.Classes.ToArray();
        lock (_classes)
        {
            _classes[model] = classes;
        }
        return classes;
    }

    /// <summary>Forgets a model's classes (a new version may have others).</summary>
    public void Forget(string model)
    {
        lock (_classes)
        {
            _classes.Remove(model);
        }
    }

    private static PreLabel ToPreLabel(Project project, string[] modelClasses, Inference.Prediction prediction, string modelId)
    {
        var probabilities = new double[project.Classes.Count];
        for (var i = 0; i < modelClasses.Length && i < prediction.Probabilities.Count; i++)
        {
            var at = project.Classes.IndexOf(modelClasses[i]);
            if (at >= 0)
            {
                probabilities[at] = prediction.Probabilities[i];
            }
        }
        var best = probabilities.Length == 0 ? -1 : Array.IndexOf(probabilities, probabilities.Max());
        var label = new PreLabel
        {
            Label = best >= 0 && probabilities[best] > 0 ? project.Classes[best] : prediction.ClassName,
            Confidence = best >= 0 ? probabilities[best] : 0,
            ModelId = modelId,
        };
        label.Probabilities.AddRange(probabilities);
        return label;
    }

    /// <summary>A stored row as Predict's cells by column name (label, ids and the platform's columns left out).</summary>
    public static Inference.Row ToRow(Table table, int index)
    {
        var row = new Inference.Row();
        foreach (var column in table.Columns)
        {
            var schema = column.Schema;
            if (schema.Role is ColumnRole.Label or ColumnRole.Id or ColumnRole.Ignored || TaskRenderer.IsPlatformColumn(schema.Name))
            {
                continue;
            }
            row.Cells[schema.Name] = ToValue(column, index);
        }
        return row;
    }

    private static Inference.Value ToValue(Column column, int index)
    {
        if (column.IsNull(index))
        {
            return new Inference.Value { Null = Google.Protobuf.WellKnownTypes.NullValue.NullValue };
        }
        return column.Values switch
        {
            long?[] v => new Inference.Value { Integer = v[index]!.Value },
            double?[] v => new Inference.Value { Number = v[index]!.Value },
            bool?[] v => new Inference.Value { Flag = v[index]!.Value },
            string?[] v => new Inference.Value { Text = v[index] },
            DateTime?[] v => new Inference.Value { Text = v[index]!.Value.ToString("O", System.Globalization.CultureInfo.InvariantCulture) },
            byte[]?[] v => new Inference.Value { Data = ByteString.CopyFrom(v[index]) },
            float[] v => Tensor(v, index, column.Schema.Width),
            _ => throw new InvalidOperationException($"Column '{column.Name}' has an unknown type."),
        };
    }

    private static Inference.Value Tensor(float[] values, int index, int width)
    {
        var list = new Inference.FloatList();
        list.Values.AddRange(values.AsSpan(index * width, width).ToArray());
        return new Inference.Value { Tensor = list };
    }
}
