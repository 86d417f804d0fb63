using BigDataAI.Datasets;
using BigDataAI.Labeling.Apis;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using BigDataAI.Hosting;
using BigDataAI.Labeling.IntegrationEvents.EventHandling;
using BigDataAI.Labeling.Page;
using BigDataAI.Labeling.Services;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace BigDataAI.Labeling;

/// <summary>The labeling module: labels and splits every ingested version.</summary>
public sealed class LabelingModule : ServiceModule
{
    public override string Name => "labeling";

    public override void AddServices(IHostApplicationBuilder builder)
    {
        builder.Services.TryAddSingleton(sp => new DatasetStore(sp.GetRequiredService<Storage.IObjectStore>()));
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddOptions<LabelingOptions>().BindConfiguration(LabelingOptions.Section).Validate(o =>
        {
            o.Fractions.Validate();
            return true;
        }).ValidateOnStart();
        builder.Services.AddSingleton<DatasetLabeler>();
        builder.Services.AddHostedService<LabelingReconciler>();
        builder.Services.AddGrpc();
        builder.Services.TryAddSingleton<PlatformClients>();
    }

    public override void MapEndpoints(IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGrpcService<LabelingApi>();
        endpoints.MapLabelingPage();
    }

    public override void AddConsumers(IBusRegistrationConfigurator bus) =>
        bus.AddConsumer<DatasetIngestedConsumer, DatasetIngestedConsumerDefinition>();
}
