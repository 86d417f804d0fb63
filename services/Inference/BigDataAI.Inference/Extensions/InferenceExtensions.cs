using BigDataAI.Inference.Apis;
using BigDataAI.Inference.IntegrationEvents.EventHandling;
using BigDataAI.Inference.Services;
using BigDataAI.Models.Registry;
using MassTransit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace BigDataAI.Inference;

/// <summary>The inference module: what a host calls to include it.</summary>
public static class InferenceExtensions
{
    public static IHostApplicationBuilder AddInference(this IHostApplicationBuilder builder)
    {
        builder.Services.AddGrpc();
        builder.Services.TryAddSingleton(sp => new ModelRegistry(sp.GetRequiredService<Storage.IObjectStore>()));
        builder.Services.AddSingleton<ModelHost>();
        builder.Services.AddHostedService<ModelLoader>();
        return builder;
    }

    public static IBusRegistrationConfigurator AddInferenceConsumers(this IBusRegistrationConfigurator bus)
    {
        bus.AddConsumer<ModelTrainedConsumer, ModelTrainedConsumerDefinition>();
        return bus;
    }

    public static IEndpointRouteBuilder MapInference(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGrpcService<InferenceApi>();
        return endpoints;
    }
}
