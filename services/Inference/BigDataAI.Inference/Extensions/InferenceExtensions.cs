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
        // Every inference replica must swap in a new model, so each gets its own temporary queue for ModelTrained
        // (a shared queue would hand each message to one replica only). A replica that is down misses nothing: it
        // loads the newest registered model when it starts.
        var replica = Guid.NewGuid().ToString("N")[..12];
        bus.AddConsumer<ModelTrainedConsumer, ModelTrainedConsumerDefinition>()
            .Endpoint(e =>
            {
                e.InstanceId = replica;
                e.Temporary = true;
            });
        return bus;
    }

    public static IEndpointRouteBuilder MapInference(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGrpcService<InferenceApi>();
        return endpoints;
    }
}
