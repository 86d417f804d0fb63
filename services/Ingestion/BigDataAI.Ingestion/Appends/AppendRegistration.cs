using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace BigDataAI.Ingestion.Appends;

/// <summary>What the ingestion module adds for streaming appends.</summary>
public static class AppendRegistration
{
    public static IHostApplicationBuilder AddAppends(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<AppendOptions>().BindConfiguration(AppendOptions.Section).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<AppendOptions>, AppendOptionsValidation>();
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton(sp => new AppendPending(sp.GetRequiredService<TimeProvider>()));
        builder.Services.AddSingleton<AppendStager>();
        builder.Services.AddSingleton<AppendRowsCall>();
        builder.Services.AddSingleton<AppendGatherer>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<AppendGatherer>());
        return builder;
    }

    public static void AddAppendConsumers(this IBusRegistrationConfigurator bus) =>
        bus.AddConsumer<AppendRowsBatchConsumer, AppendRowsBatchConsumerDefinition>();

    /// <summary>Names every bad setting in the start-up failure.</summary>
    private sealed class AppendOptionsValidation : IValidateOptions<AppendOptions>
    {
        public ValidateOptionsResult Validate(string? name, AppendOptions options)
        {
            var problems = options.Problems().ToList();
            return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
        }
    }
}
