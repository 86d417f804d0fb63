using System.Diagnostics;
using System.Globalization;
using BigDataAI.Inference.Services;
using BigDataAI.Protos.Inference.V1;
using Grpc.Core;

namespace BigDataAI.Inference.Apis;

internal sealed class InferenceApi(ModelHost host) : InferenceService.InferenceServiceBase
{
    public override Task<PredictReply> Predict(PredictRequest request, ServerCallContext context)
    {
        var started = Stopwatch.GetTimestamp();
        if (request.Inputs.Count == 0)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "Field 'inputs' is empty: send at least one input."));
        }
        using var model = host.Acquire()
            ?? throw new RpcException(new Status(StatusCode.Unavailable, "No model is loaded yet: train one (it is served as soon as it is registered)."));
        using var activity = ModelHost.Source.StartActivity("predict");
        activity?.SetTag("bigdataai.model_id", model.Record.ModelId);
        activity?.SetTag("bigdataai.inputs", request.Inputs.Count);

        var features = model.Record.FeatureShape.Aggregate(1, (a, d) => a * d);
        var batch = new float[checked(request.Inputs.Count * features)];
        for (var i = 0; i < request.Inputs.Count; i++)
        {
            var input = request.Inputs[i].Features;
            if (input.Count != features)
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument,
                    $"Input {i} has {input.Count} features; model '{model.Record.ModelId}' expects {features} (shape [{string.Join(", ", model.Record.FeatureShape)}])."));
            }
            for (var j = 0; j < features; j++)
            {
                var v = input[j];
                if (!float.IsFinite(v))
                {
                    throw new RpcException(new Status(StatusCode.InvalidArgument, $"Input {i}, feature {j}: {v.ToString(CultureInfo.InvariantCulture)} is not a finite number."));
                }
                batch[i * features + j] = v;
            }
        }

        var classes = model.Record.Classes.Length;
        var probabilities = model.Predictor.Predict(batch, request.Inputs.Count);
        var reply = new PredictReply { ModelId = model.Record.ModelId };
        for (var i = 0; i < request.Inputs.Count; i++)
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
            var prediction = new Prediction { ClassIndex = best, ClassName = model.Record.Classes[best] };
            prediction.Probabilities.AddRange(row.ToArray());
            reply.Predictions.Add(prediction);
        }
        ModelHost.Predictions.Add(request.Inputs.Count);
        ModelHost.Latency.Record(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        return Task.FromResult(reply);
    }

    public override Task<Protos.Inference.V1.ServedModel> GetModel(GetModelRequest request, ServerCallContext context)
    {
        var current = host.Current
            ?? throw new RpcException(new Status(StatusCode.Unavailable, "No model is loaded yet."));
        var r = current.Record;
        var reply = new Protos.Inference.V1.ServedModel
        {
            ModelId = r.ModelId,
            Architecture = r.Spec.Architecture,
            Dataset = r.Dataset,
            Version = r.DatasetVersion,
            TestAccuracy = r.TestAccuracy,
            Features = r.FeatureShape.Aggregate(1, (a, d) => a * d),
            LoadedAt = current.LoadedAt.ToString("O", CultureInfo.InvariantCulture),
        };
        reply.Classes.AddRange(r.Classes);
        return Task.FromResult(reply);
    }
}
