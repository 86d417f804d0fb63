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
using MassTransit;

namespace BigDataAI.Ingestion;

/// <summary>
/// The ingestion module: uploads and imports over gRPC (IngestionService), streaming appends (gRPC and the bus), data
/// quality (DataQualityService: profiles, cleaning, drift) and the profile of every new version.
/// </summary>
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
        builder.AddAppends();
        // Data quality: cleaning into derived versions and drift between versions (DataQualityApi.Cleaning.cs).
        builder.Services.AddSingleton<Quality.DatasetCleaner>();
        builder.Services.AddSingleton<Quality.DriftAnalyzer>();
        // validation (ingest): each dataset's expectations, checked on every new version
        builder.Services.TryAddSingleton(sp => new Datasets.Expectations.ExpectationStore(sp.GetRequiredService<Storage.IObjectStore>()));
        // Profiles of every new version (a DatasetIngested consumer; large versions in parts, on any replica).
        builder.Services.AddOptions<ProfilingOptions>().BindConfiguration(ProfilingOptions.Section)
            .Validate(o => o.ShardsPerTask > 0, "Profiling:ShardsPerTask must be at least 1.")
            .ValidateOnStart();
        builder.Services.TryAddSingleton(sp => new Datasets.Profiling.ProfileStore(sp.GetRequiredService<DatasetStore>()));
        builder.Services.AddSingleton<ProfilerIdentity>();
        builder.Services.AddSingleton<DatasetProfiler>();
    }

    public override void AddConsumers(IBusRegistrationConfigurator bus)
    {
        bus.AddConsumer<IntegrationEvents.EventHandling.DatasetIngestedConsumer, IntegrationEvents.EventHandling.DatasetIngestedConsumerDefinition>();
        bus.AddConsumer<IntegrationEvents.EventHandling.ProfileShardsConsumer, IntegrationEvents.EventHandling.ProfileShardsConsumerDefinition>();
        bus.AddAppendConsumers();
    }

    public override void MapEndpoints(IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGrpcService<IngestionApi>();
        endpoints.MapGrpcService<DataQualityApi>();
    }
}
