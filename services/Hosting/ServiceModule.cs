using MassTransit;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace BigDataAI.Hosting;

/// <summary>
/// One module of the platform (ingestion, labeling, the training control plane, a training worker, inference): its
/// services, its message consumers and its endpoints, declared once. Every host (the service hosts, the embedded host,
/// the test host) composes modules through <see cref="ServiceModuleExtensions.AddModules"/> and
/// <see cref="ServiceModuleExtensions.MapModules"/>, so a module that gains an endpoint or a consumer changes no host.
/// </summary>
public abstract class ServiceModule
{
    /// <summary>A short name for logs and errors, e.g. "labeling".</summary>
    public abstract string Name { get; }

    /// <summary>Registers the module's services and options.</summary>
    public abstract void AddServices(IHostApplicationBuilder builder);

    /// <summary>Registers the module's message consumers on the host's one bus.</summary>
    public virtual void AddConsumers(IBusRegistrationConfigurator bus)
    {
    }

    /// <summary>Maps the module's gRPC services and HTTP endpoints.</summary>
    public virtual void MapEndpoints(IEndpointRouteBuilder endpoints)
    {
    }

    public override string ToString() => Name;
}

public static class ServiceModuleExtensions
{
    /// <summary>
    /// The platform (object store, bus; <see cref="PlatformHostingExtensions.AddPlatform"/>) with every module's
    /// consumers on the one bus, then every module's services. <paramref name="extraConsumers"/> adds consumers that
    /// belong to no module (a test's recorder).
    /// </summary>
    public static IHostApplicationBuilder AddModules(this IHostApplicationBuilder builder, IReadOnlyList<ServiceModule> modules, Action<IBusRegistrationConfigurator>? extraConsumers = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(modules);
        // One of each kind: a module composed twice would register its consumers twice.
        var distinct = modules.DistinctBy(m => m.GetType()).ToList();
        var repeated = distinct.GroupBy(m => m.Name).FirstOrDefault(g => g.Count() > 1);
        if (repeated is not null)
        {
            throw new InvalidOperationException($"Two different modules are named '{repeated.Key}'.");
        }
        builder.AddPlatform(bus =>
        {
            foreach (var module in distinct)
            {
                module.AddConsumers(bus);
            }
            extraConsumers?.Invoke(bus);
        });
        foreach (var module in distinct)
        {
            module.AddServices(builder);
            builder.Services.AddSingleton(new ComposedModule(module));
        }
        return builder;
    }

    /// <inheritdoc cref="AddModules(IHostApplicationBuilder, IReadOnlyList{ServiceModule}, Action{IBusRegistrationConfigurator}?)"/>
    public static IHostApplicationBuilder AddModules(this IHostApplicationBuilder builder, params ServiceModule[] modules) =>
        builder.AddModules((IReadOnlyList<ServiceModule>)modules);

    /// <summary>Maps the endpoints of every module <see cref="AddModules(IHostApplicationBuilder, ServiceModule[])"/> added, in that order.</summary>
    public static IEndpointRouteBuilder MapModules(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        foreach (var composed in endpoints.ServiceProvider.GetServices<ComposedModule>())
        {
            composed.Module.MapEndpoints(endpoints);
        }
        return endpoints;
    }

    private sealed record ComposedModule(ServiceModule Module);
}
