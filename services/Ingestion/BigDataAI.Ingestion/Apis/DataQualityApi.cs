using BigDataAI.Datasets;
using BigDataAI.Protos.Quality.V1;
using Microsoft.Extensions.Logging;

namespace BigDataAI.Ingestion.Apis;

/// <summary>
/// gRPC face of data quality (protos/quality.proto): profiles, drift and cleaning over the versions in the dataset store.
/// Each capability lives in its own part of this class (DataQualityApi.*.cs).
/// </summary>
internal sealed partial class DataQualityApi(DatasetStore datasets, IServiceProvider services, ILogger<DataQualityApi> logger)
    : DataQualityService.DataQualityServiceBase
{
    private DatasetStore Datasets => datasets;
    private IServiceProvider Services => services;
    private ILogger Logger => logger;
}
