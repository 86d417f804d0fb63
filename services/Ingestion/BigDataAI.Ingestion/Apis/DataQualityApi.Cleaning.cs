using BigDataAI.Datasets;
using BigDataAI.Ingestion.Quality;
using BigDataAI.Protos.Quality.V1;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;

namespace BigDataAI.Ingestion.Apis;

// CleanDataset and GetDrift (protos/quality.proto).
internal sealed partial class DataQualityApi
{
    public override async Task<CleanDatasetReply> CleanDataset(CleanDatasetRequest request, ServerCallContext context)
    {
        var cleaner = Services.GetRequiredService<DatasetCleaner>();
        if (request.Version < 0)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"version: {request.Version} is below 0 (0 = the newest)."));
        }
        var result = await GuardCleaningAndDrift(() => cleaner.CleanAsync(request.Dataset, request.Version, request.Steps, context.CancellationToken)).ConfigureAwait(false);
        var reply = new CleanDatasetReply
        {
            Dataset = result.Version.Dataset,
            Version = result.Version.Version,
            ParentVersion = result.Parent.Version,
            Rows = result.Version.Rows,
            ParentRows = result.Parent.Rows,
            Existing = result.Existing,
            Recipe = result.Recipe,
        };
        for (var i = 0; i < result.Steps.Count; i++)
        {
            var step = result.Steps[i];
            var report = new CleaningStepReport { Index = i, Step = step.Step, RowsIn = step.RowsIn, RowsDropped = step.RowsDropped, CellsChanged = step.CellsChanged };
            foreach (var (what, n) in step.Found ?? new Dictionary<string, long>())
            {
                report.Found[what] = n;
            }
            report.Bounds.AddRange(step.Bounds ?? []);
            reply.Steps.Add(report);
        }
        return reply;
    }

    public override Task<GetDriftReply> GetDrift(GetDriftRequest request, ServerCallContext context) =>
        GuardCleaningAndDrift(() => Services.GetRequiredService<DriftAnalyzer>().AnalyzeAsync(request, context.CancellationToken));

    /// <summary>Maps what cleaning and drift refuse to gRPC statuses; infrastructure failures go on to the interceptor.</summary>
    private static async Task<T> GuardCleaningAndDrift<T>(Func<Task<T>> action)
    {
        try
        {
            return await action().ConfigureAwait(false);
        }
        catch (QualityRequestException e)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, e.Message));
        }
        catch (QualityPreconditionException e)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, e.Message));
        }
        catch (DatasetNotFoundException e)
        {
            throw new RpcException(new Status(StatusCode.NotFound, e.Message));
        }
        catch (ArgumentException e) when (e.Message.StartsWith("Dataset name", StringComparison.Ordinal))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"dataset: {e.Message}"));
        }
    }
}
