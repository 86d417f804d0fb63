using BigDataAI.Datasets;
using BigDataAI.Labeling.Apis;
using BigDataAI.Labeling.Auth;
using BigDataAI.Labeling.Projects;
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

/// <summary>
/// The labeling module: labels and splits every ingested version; projects where people label rows (gRPC and the page's
/// JSON API under /labeling), rules, label errors and augmentation (LabelingService).
/// </summary>
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
        builder.Services.AddSingleton<Rules.RulesApplier>();
        builder.Services.AddHostedService<LabelingReconciler>();
        builder.Services.AddGrpc();
        builder.Services.TryAddSingleton<PlatformClients>();
        // Projects: the database, people's log-in, tasks and labels, pre-labels and the retraining loop.
        builder.Services.AddSingleton<ProjectDatabase>();
        LabelingAuthentication.Add(builder);
        builder.Services.AddHostedService<AnnotatorSeeder>();
        builder.Services.AddSingleton<TaskRenderer>();
        builder.Services.AddSingleton<ProjectService>();
        builder.Services.AddSingleton<PreLabeler>();
        builder.Services.AddSingleton<ProjectAutomation>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ProjectAutomation>());
        builder.Services.TryAddSingleton<Augmentation.DatasetAugmenter>();
        builder.Services.AddSingleton(sp => new LabelErrors.ConfidentLearning(sp.GetRequiredService<Storage.IObjectStore>())).AddSingleton<LabelErrors.LabelErrorSearch>();
    }

    public override void MapEndpoints(IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGrpcService<LabelingApi>();
        LabelingHttpApi.Map(endpoints);
        endpoints.MapLabelingPage();
    }

    public override void AddConsumers(IBusRegistrationConfigurator bus) =>
        bus.AddConsumer<DatasetIngestedConsumer, DatasetIngestedConsumerDefinition>();
}
