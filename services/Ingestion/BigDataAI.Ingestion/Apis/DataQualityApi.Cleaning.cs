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
        var result = await QualityStatus.GuardAsync(() => cleaner.CleanAsync(request.Dataset, request.Version, request.Steps, context.CancellationToken)).ConfigureAwait(false);
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
        QualityStatus.GuardAsync(() => Services.GetRequiredService<DriftAnalyzer>().AnalyzeAsync(request, context.CancellationToken));
}
