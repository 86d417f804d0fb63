using System.Diagnostics;
using System.Globalization;
using BigDataAI.Inference.Services;
using BigDataAI.Models;
using BigDataAI.Models.Features;
using BigDataAI.Models.Registry;
using BigDataAI.Protos.Inference.V1;
using Grpc.Core;

namespace BigDataAI.Inference.Apis;

internal sealed class InferenceApi(ModelHost host) : InferenceService.InferenceServiceBase
{
    public override async Task<PredictReply> Predict(PredictRequest request, ServerCallContext context)
    {
        var started = Stopwatch.GetTimestamp();
        if (request.Inputs.Count == 0 && request.Rows.Count == 0)
        {
            throw Invalid("Fields 'rows' and 'inputs' are both empty: send at least one row (or dense input).");
        }
        if (request.Inputs.Count > 0 && request.Rows.Count > 0)
        {
            throw Invalid("Send either 'rows' or 'inputs' in one call, not both.");
        }
        using var model = await AcquireAsync(request.Model, context.CancellationToken).ConfigureAwait(false);
        var record = model.Record;
        using var activity = ModelHost.Source.StartActivity("predict");
        activity?.SetTag("bigdataai.model_id", record.ModelId);
        activity?.SetTag("bigdataai.model", record.Reference);
        var count = Math.Max(request.Inputs.Count, request.Rows.Count);
        activity?.SetTag("bigdataai.inputs", count);

        var features = request.Rows.Count > 0 ? FromRows(record, request.Rows) : FromDense(record, request.Inputs);
        var classes = record.Spec.Regression ? 1 : record.Classes.Length;
        var probabilities = model.Predictor.Predict(features, count);
        var reply = new PredictReply { ModelId = record.ModelId, Model = record.ServedName, ModelVersion = record.ModelVersion };
        for (var i = 0; i < count && record.Spec.Regression; i++)
        {
            reply.Predictions.Add(new Prediction { Value = probabilities[i] });
        }
        for (var i = 0; i < count && !record.Spec.Regression; i++)
        {
            var row = probabilities.AsSpan(i * classes, classes);
            var best = 0;
            for (var c = 1; c < classes; c++)
            {
                if (row[c] > row[best])
                {
                    best = c;
                }
            }
            var prediction = new Prediction { ClassIndex = best, ClassName = record.Classes[best] };
            prediction.Probabilities.AddRange(row.ToArray());
            reply.Predictions.Add(prediction);
        }
        ModelHost.Predictions.Add(count);
        ModelHost.Latency.Record(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        return reply;
    }

    public override async Task<ExplainReply> Explain(ExplainRequest request, ServerCallContext context)
    {
        if (request.InputCase == ExplainRequest.InputOneofCase.None)
        {
            throw Invalid("Field 'input': send one 'row' (raw cells) or one 'dense' input to explain.");
        }
        using var model = await AcquireAsync(request.Model, context.CancellationToken).ConfigureAwait(false);
        var record = model.Record;
        using var activity = ModelHost.Source.StartActivity("explain");
        activity?.SetTag("bigdataai.model_id", record.ModelId);
        var features = request.InputCase == ExplainRequest.InputOneofCase.Row ? FromRows(record, [request.Row]) : FromDense(record, [request.Dense]);
        int target;
        if (request.HasTargetClass)
        {
            target = request.TargetClass;
        }
        else if (record.Spec.Regression)
        {
            target = 0;
        }
        else
        {
            var probabilities = model.Predictor.Predict(features, 1);
            target = Array.IndexOf(probabilities, probabilities.Max());
        }
        var outputs = record.Spec.Regression ? 1 : record.Classes.Length;
        if (target < 0 || target >= outputs)
        {
            throw Invalid($"Field 'target_class': {target} is not a class of model {record.Reference}; its classes are 0-{outputs - 1} ({string.Join(", ", record.Classes.Take(10))}{(record.Classes.Length > 10 ? ", ..." : "")}).");
        }
        if (request.Steps is < 0 or > 1024)
        {
            throw Invalid($"Field 'steps': {request.Steps} is out of range; use 0 (64) to 1024.");
        }
        Explanation explanation;
        try
        {
            explanation = await Task.Run(() => model.Predictor.Explain(features, target, request.Steps == 0 ? 64 : request.Steps), context.CancellationToken).ConfigureAwait(false);
        }
        catch (NotSupportedException e)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, $"Model {record.Reference}: {e.Message}"));
        }
        var reply = new ExplainReply
        {
            ModelId = record.ModelId,
            Model = record.ServedName,
            ModelVersion = record.ModelVersion,
            TargetClass = target,
            ClassName = record.Spec.Regression ? "" : record.Classes[target],
            Output = explanation.Output,
            BaselineOutput = explanation.BaselineOutput,
            CompletenessGap = explanation.CompletenessGap,
        };
        reply.Columns.AddRange(Attribute(record, explanation.Attributions).OrderByDescending(c => Math.Abs(c.Attribution)));
        return reply;
    }

    /// <summary>The attributions of the model's input floats, summed per column (per pixel for image and tensor columns).</summary>
    private static IEnumerable<ColumnAttribution> Attribute(ModelRecord record, float[] attributions)
    {
        if (record.Features is not { } pipeline)
        {
            var whole = new ColumnAttribution { Column = "features", Attribution = attributions.Sum(), Values = { attributions }, Shape = { record.FeatureShape } };
            yield return whole;
            yield break;
        }
        var at = 0;
        var columns = new Dictionary<string, ColumnAttribution>(StringComparer.Ordinal);
        foreach (var step in pipeline.Steps)
        {
            var slice = attributions.AsSpan(at, step.Size);
            at += step.Size;
            if (!columns.TryGetValue(step.Column, out var column))
            {
                columns[step.Column] = column = new ColumnAttribution { Column = step.Column };
            }
            double sum = 0;
            foreach (var v in slice)
            {
                sum += v;
            }
            column.Attribution += sum;
            switch (step)
            {
                case ImageFeature image:
                    var pixels = new float[image.Height * image.Width];
                    for (var c = 0; c < image.Channels; c++)
                    {
                        for (var p = 0; p < pixels.Length; p++)
                        {
                            pixels[p] += slice[c * pixels.Length + p];
                        }
                    }
                    column.Values.AddRange(pixels);
                    column.Shape.AddRange([image.Height, image.Width]);
                    break;
                case TensorFeature tensor:
                    column.Values.AddRange(slice.ToArray());
                    column.Shape.AddRange(tensor.Shape);
                    break;
            }
        }
        foreach (var column in columns.Values)
        {
            yield return column;
        }
    }

    /// <summary>Raw rows through the model's own feature pipeline (the code training ran).</summary>
    private static float[] FromRows(ModelRecord record, IList<Row> rows)
    {
        if (record.Features is not { } pipeline)
        {
            throw Invalid($"Model {record.Reference} was registered before typed datasets and takes only dense 'inputs' ({record.FeatureShape.Aggregate(1, (a, d) => a * d)} floats each).");
        }
        var cells = new List<IReadOnlyDictionary<string, Cell>>(rows.Count);
        for (var r = 0; r < rows.Count; r++)
        {
            var row = new Dictionary<string, Cell>(rows[r].Cells.Count, StringComparer.Ordinal);
            foreach (var (name, value) in rows[r].Cells)
            {
                row[name] = value.KindCase switch
                {
                    Value.KindOneofCase.Number => double.IsNaN(value.Number) ? Cell.Null : Cell.Of(value.Number),
                    Value.KindOneofCase.Integer => Cell.Of(value.Integer),
                    Value.KindOneofCase.Text => Cell.Of(value.Text),
                    Value.KindOneofCase.Flag => Cell.Of(value.Flag),
                    Value.KindOneofCase.Data => new Cell(CellKind.Bytes, Bytes: value.Data.ToByteArray()),
                    Value.KindOneofCase.Tensor => Cell.Of([.. value.Tensor.Values]),
                    _ => Cell.Null,
                };
            }
            cells.Add(row);
        }
        try
        {
            return pipeline.Transform(pipeline.FromCells(cells));
        }
        catch (ArgumentException e)
        {
            throw Invalid($"Model {record.Reference}: {e.Message}");
        }
    }

    /// <summary>Dense inputs: for models over one tensor column (or registered before typed datasets).</summary>
    private static float[] FromDense(ModelRecord record, IList<Input> inputs)
    {
        if (record.Features is { } pipeline && pipeline.Steps is not [TensorFeature])
        {
            throw Invalid($"Model {record.Reference} reads the columns {string.Join(", ", pipeline.InputColumns.Select(c => c.Name))}: send 'rows' with those cells, not dense 'inputs'.");
        }
        var features = record.Features?.Width ?? record.FeatureShape.Aggregate(1, (a, d) => a * d);
        var batch = new float[checked(inputs.Count * features)];
        for (var i = 0; i < inputs.Count; i++)
        {
            var input = inputs[i].Features;
            if (input.Count != features)
            {
                throw Invalid($"Input {i} has {input.Count} features; model {record.Reference} expects {features} (shape [{string.Join(", ", record.FeatureShape)}]).");
            }
            for (var j = 0; j < features; j++)
            {
                var v = input[j];
                if (!float.IsFinite(v))
                {
                    throw Invalid($"Input {i}, feature {j}: {v.ToString(CultureInfo.InvariantCulture)} is not a finite number.");
                }
                batch[i * features + j] = v;
            }
        }
        return batch;
    }

    public override Task<ServedModel> GetModel(GetModelRequest request, ServerCallContext context)
    {
        var record = Resolve(request.Model);
        return Task.FromResult(ToProto(record, host.Loaded(record.ModelId)));
    }

    public override Task<ListModelsReply> ListModels(ListModelsRequest request, ServerCallContext context)
    {
        var reply = new ListModelsReply();
        var name = string.IsNullOrWhiteSpace(request.Name) ? null : request.Name.Trim();
        foreach (var record in host.Records.Where(r => name is null || r.ServedName == name))
        {
            reply.Models.Add(ToProto(record, host.Loaded(record.ModelId)));
        }
        return Task.FromResult(reply);
    }

    private static ServedModel ToProto(ModelRecord r, LoadedModel? loaded)
    {
        var reply = new ServedModel
        {
            ModelId = r.ModelId,
            Architecture = r.Spec.Architecture,
            Dataset = r.Dataset,
            Version = r.DatasetVersion,
            TestAccuracy = r.TestAccuracy,
            Features = r.Features?.Width ?? r.FeatureShape.Aggregate(1, (a, d) => a * d),
            LoadedAt = loaded?.LoadedAt.ToString("O", CultureInfo.InvariantCulture) ?? "",
            Name = r.ServedName,
            ModelVersion = r.ModelVersion,
        };
        reply.Classes.AddRange(r.Classes);
        foreach (var (column, type) in r.Features?.InputColumns ?? [])
        {
            var step = r.Features!.Steps.First(s => s.Column == column);
            reply.Inputs.Add(new InputColumn
            {
                Name = column,
                Type = step is TensorFeature t ? $"tensor[{string.Join("x", t.Shape)}]" : type.ToString().ToLowerInvariant(),
            });
        }
        return reply;
    }

    private ModelRecord Resolve(string reference)
    {
        try
        {
            return host.Resolve(reference);
        }
        catch (Exception e) when (Map(e) is { } status)
        {
            throw new RpcException(status);
        }
    }

    private async Task<LoadedModel> AcquireAsync(string reference, CancellationToken cancellationToken)
    {
        try
        {
            return await host.AcquireAsync(reference, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (Map(e) is { } status)
        {
            throw new RpcException(status);
        }
    }

    private static Status? Map(Exception e) => e switch
    {
        ModelNotFoundException => new Status(StatusCode.NotFound, e.Message),
        ModelNotChosenException => new Status(StatusCode.InvalidArgument, e.Message),
        ModelUnavailableException => new Status(StatusCode.Unavailable, e.Message),
        _ => null,
    };

    private static RpcException Invalid(string message) => new(new Status(StatusCode.InvalidArgument, message));
}
