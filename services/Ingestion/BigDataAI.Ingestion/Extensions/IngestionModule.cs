using BigDataAI.Datasets;
using BigDataAI.Hosting;
using BigDataAI.Ingestion.Apis;
using BigDataAI.Ingestion.Appends;
using BigDataAI.Ingestion.Services;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace BigDataAI.Ingestion;

/// <summary>The ingestion module: uploads and imports over gRPC (IngestionService), and streaming appends (gRPC and the bus).</summary>
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
        // --- appends (begin) ---
        builder.AddAppends();
        // --- appends (end) ---
        // Data quality: cleaning into derived versions and drift between versions (DataQualityApi.Cleaning.cs).
        builder.Services.AddSingleton<Quality.DatasetCleaner>();
        builder.Services.AddSingleton<Quality.DriftAnalyzer>();
        // validation (ingest): each dataset's expectations, checked on every new version
        builder.Services.TryAddSingleton(sp => new Datasets.Expectations.ExpectationStore(sp.GetRequiredService<Storage.IObjectStore>()));
    }

    // --- appends (begin) ---
    public override void AddConsumers(MassTransit.IBusRegistrationConfigurator bus) => bus.AddAppendConsumers();
    // --- appends (end) ---

    public override void MapEndpoints(IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGrpcService<IngestionApi>();
        endpoints.MapGrpcService<DataQualityApi>();
    }
}
