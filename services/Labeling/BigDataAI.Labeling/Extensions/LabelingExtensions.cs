using BigDataAI.Datasets;
using BigDataAI.Labeling.IntegrationEvents.EventHandling;
using BigDataAI.Labeling.Services;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace BigDataAI.Labeling;

/// <summary>The labeling module: what a host calls to include it.</summary>
public static class LabelingExtensions
{
    public static IHostApplicationBuilder AddLabeling(this IHostApplicationBuilder builder)
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
        return builder;
    }

    public static IBusRegistrationConfigurator AddLabelingConsumers(this IBusRegistrationConfigurator bus)
    {
        bus.AddConsumer<DatasetIngestedConsumer, DatasetIngestedConsumerDefinition>();
        return bus;
    }
}
