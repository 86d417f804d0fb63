using BigDataAI.Datasets;
using BigDataAI.Hosting;
using BigDataAI.Ingestion.Apis;
using BigDataAI.Ingestion.Services;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace BigDataAI.Ingestion;

/// <summary>The ingestion module: uploads and imports over gRPC (IngestionService).</summary>
public sealed class IngestionModule : ServiceModule
{
    public override string Name => "ingestion";

    public override void AddServices(IHostApplicationBuilder builder)
    {
        builder.Services.AddGrpc();
        builder.Services.TryAddSingleton(sp => new DatasetStore(sp.GetRequiredService<Storage.IObjectStore>()));
        builder.Services.AddOptions<IngestionOptions>().BindConfiguration(IngestionOptions.Section)
            .Validate(o => o.RowsPerShard > 0, "Ingestion:RowsPerShard must be at least 1.")
            .Validate(o => o.MaxUploadBytes > 0, "Ingestion:MaxUploadBytes must be at least 1.")
            .ValidateOnStart();
        builder.Services.AddSingleton<DatasetIngestor>();
        // validation (ingest): each dataset's expectations, checked on every new version
        builder.Services.TryAddSingleton(sp => new Datasets.Expectations.ExpectationStore(sp.GetRequiredService<Storage.IObjectStore>()));
    }

    public override void MapEndpoints(IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGrpcService<IngestionApi>();
        endpoints.MapGrpcService<DataQualityApi>();
    }
}
