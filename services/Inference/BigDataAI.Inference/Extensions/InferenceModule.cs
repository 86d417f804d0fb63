using BigDataAI.Hosting;
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

/// <summary>The inference module: serves every registered model over gRPC (InferenceService), swapping in new versions.</summary>
public sealed class InferenceModule : ServiceModule
{
    public override string Name => "inference";

    public override void AddServices(IHostApplicationBuilder builder)
    {
        builder.Services.AddGrpc();
        builder.Services.TryAddSingleton(sp => new ModelRegistry(sp.GetRequiredService<Storage.IObjectStore>()));
        builder.Services.AddSingleton<ModelHost>();
        builder.Services.AddOptions<InferenceOptions>().BindConfiguration(InferenceOptions.Section);
        builder.Services.AddSingleton<ModelLoader>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ModelLoader>());
        // The loader hears when receive endpoints (re)connect, to reconcile with the registry at once.
        builder.Services.AddReceiveEndpointObserver(sp => sp.GetRequiredService<ModelLoader>());
        builder.Services.AddHealthChecks().AddCheck<ModelReadinessCheck>(ModelReadinessCheck.Name);
    }

    public override void AddConsumers(IBusRegistrationConfigurator bus)
    {
        // Every inference replica must swap in a new model, so each gets its own temporary queue for ModelTrained
        // (a shared queue would hand each message to one replica only). A message lost on the way (the broker away, a
        // replica reconnecting) costs nothing lasting: ModelLoader reconciles with the registry on a timer.
        var replica = Guid.NewGuid().ToString("N")[..12];
        bus.AddConsumer<ModelTrainedConsumer, ModelTrainedConsumerDefinition>()
            .Endpoint(e =>
            {
                e.InstanceId = replica;
                e.Temporary = true;
            });
        // Alias moves likewise reach every replica (and the registry is read on the same timer if one is lost).
        bus.AddConsumer<ModelAliasMovedConsumer, ModelAliasMovedConsumerDefinition>()
            .Endpoint(e =>
            {
                e.InstanceId = replica;
                e.Temporary = true;
            });
    }

    public override void MapEndpoints(IEndpointRouteBuilder endpoints) => endpoints.MapGrpcService<InferenceApi>();
}
