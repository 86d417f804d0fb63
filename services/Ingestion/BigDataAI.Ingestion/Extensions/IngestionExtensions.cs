using BigDataAI.Datasets;
using BigDataAI.Ingestion.Apis;
using BigDataAI.Ingestion.Services;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace BigDataAI.Ingestion;

/// <summary>The ingestion module: what a host calls to include it.</summary>
public static class IngestionExtensions
{
    /// <summary>Registers the ingestion services. Needs an <c>IObjectStore</c> and a MassTransit bus from the host.</summary>
    public static IHostApplicationBuilder AddIngestion(this IHostApplicationBuilder builder)
    {
        builder.Services.AddGrpc();
        builder.Services.TryAddSingleton(sp => new DatasetStore(sp.GetRequiredService<Storage.IObjectStore>()));
        builder.Services.AddOptions<IngestionOptions>().BindConfiguration(IngestionOptions.Section)
            .Validate(o => o.RowsPerShard > 0, "Ingestion:RowsPerShard must be at least 1.")
            .Validate(o => o.MaxUploadBytes > 0, "Ingestion:MaxUploadBytes must be at least 1.")
            .ValidateOnStart();
        builder.Services.AddSingleton<DatasetIngestor>();
        return builder;
    }

    public static IEndpointRouteBuilder MapIngestion(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGrpcService<IngestionApi>();
        return endpoints;
    }
}
