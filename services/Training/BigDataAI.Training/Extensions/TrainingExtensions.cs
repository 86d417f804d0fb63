using BigDataAI.Datasets;
using BigDataAI.Models.Registry;
using BigDataAI.Training.Apis;
using BigDataAI.Training.IntegrationEvents.EventHandling;
using BigDataAI.Training.Services;
using MassTransit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace BigDataAI.Training;

/// <summary>The training module: what a host calls to include it.</summary>
public static class TrainingExtensions
{
    public static IHostApplicationBuilder AddTraining(this IHostApplicationBuilder builder)
    {
        builder.Services.AddGrpc();
        builder.Services.TryAddSingleton(sp => new DatasetStore(sp.GetRequiredService<Storage.IObjectStore>()));
        builder.Services.TryAddSingleton(sp => new ModelRegistry(sp.GetRequiredService<Storage.IObjectStore>()));
        builder.Services.AddOptions<TrainingOptions>().BindConfiguration(TrainingOptions.Section);
        builder.Services.AddSingleton<JobTracker>();
        builder.Services.AddSingleton<JobQueue>();
        builder.Services.AddSingleton<JobSubmitter>();
        builder.Services.AddSingleton<JobRunner>();
        builder.Services.AddHostedService<TrainingWorker>();
        return builder;
    }

    public static IBusRegistrationConfigurator AddTrainingConsumers(this IBusRegistrationConfigurator bus)
    {
        bus.AddConsumer<DatasetLabeledConsumer, DatasetLabeledConsumerDefinition>();
        return bus;
    }

    public static IEndpointRouteBuilder MapTraining(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGrpcService<TrainingApi>();
        return endpoints;
    }
}
