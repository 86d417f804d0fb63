namespace Aspire.Hosting;

/// <summary>
/// The two endpoints of every BigDataAI host: <c>grpc</c> (HTTP/2 only) for the API and <c>http</c> (HTTP/1.1 only) for
/// <c>/alive</c> and <c>/health</c>, which probes speak. Kestrel cannot offer both protocols on one cleartext port (no TLS,
/// so no ALPN).
/// </summary>
internal static class Endpoints
{
    public const string GrpcEndpointName = "grpc";
    public const string HttpEndpointName = "http";

    /// <summary>Container ports when published; locally Aspire picks free ports.</summary>
    public const int HttpContainerPort = 8080;
    public const int GrpcContainerPort = 8081;

    /// <summary>The host's gRPC endpoint, named "grpc", HTTP/2 only: clients find it as <c>http://_grpc.&lt;resource name&gt;</c>.</summary>
    public static IResourceBuilder<ProjectResource> WithGrpcEndpoint(this IResourceBuilder<ProjectResource> project) =>
        project.WithKestrelEndpoint(GrpcEndpointName, http2: true, GrpcContainerPort);

    /// <summary>
    /// The host's HTTP/1.1 endpoint, named "http", with a liveness probe on /alive and a readiness probe on /health. Aspire
    /// turns both probes into the resource's health checks locally (the dashboard's Healthy, and what WaitFor waits on),
    /// and into Kubernetes and Container Apps probes when published.
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithProbeEndpoint(this IResourceBuilder<ProjectResource> project)
    {
#pragma warning disable ASPIREPROBES001 // Probes are marked experimental in Aspire 13.
        return project
            .WithKestrelEndpoint(HttpEndpointName, http2: false, HttpContainerPort)
            .WithHttpProbe(ProbeType.Liveness, "/alive", initialDelaySeconds: 10, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 6, endpointName: HttpEndpointName)
            .WithHttpProbe(ProbeType.Readiness, "/health", initialDelaySeconds: 5, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3, endpointName: HttpEndpointName);
#pragma warning restore ASPIREPROBES001
    }

    /// <summary>
    /// Adds a cleartext Kestrel endpoint with this name that speaks only HTTP/2 or only HTTP/1.1, described to Kestrel
    /// endpoint by endpoint (<c>Kestrel__Endpoints__{name}__Url</c> and <c>__Protocols</c>), which overrides the hosts'
    /// appsettings.json default <c>Kestrel:EndpointDefaults:Protocols=Http2</c> for that endpoint. Aspire's own
    /// ASPNETCORE_URLS / HTTP_PORTS, which cannot carry a protocol, are dropped.
    /// </summary>
    /// <exception cref="DistributedApplicationException">The host declares the endpoint itself with the other protocol.</exception>
    private static IResourceBuilder<ProjectResource> WithKestrelEndpoint(this IResourceBuilder<ProjectResource> project, string name, bool http2, int containerPort)
    {
        var protocols = http2 ? "Http2" : "Http1";
        var declared = project.GetEndpoint(name);
        if (declared.Exists)
        {
            if ((declared.EndpointAnnotation.Transport == "http2") != http2)
            {
                throw new DistributedApplicationException(
                    $"Project '{project.Resource.Name}': its endpoint '{name}' (from its appsettings.json or launchSettings.json) must speak " +
                    $"{protocols} only; set Kestrel:Endpoints:{name}:Protocols to \"{protocols}\".");
            }
            return project;
        }

        var publishing = project.ApplicationBuilder.ExecutionContext.IsPublishMode;
        project.WithHttpEndpoint(targetPort: publishing ? containerPort : null, name: name);
        if (http2)
        {
            project.WithEndpoint(name, e => e.Transport = "http2", createIfNotExists: false);
        }

        var endpoint = project.GetEndpoint(name);
        var host = publishing ? "*" : "localhost";
        return project.WithEnvironment(context =>
        {
            context.EnvironmentVariables[$"Kestrel__Endpoints__{name}__Url"] =
                ReferenceExpression.Create($"http://{host}:{endpoint.Property(EndpointProperty.TargetPort)}");
            context.EnvironmentVariables[$"Kestrel__Endpoints__{name}__Protocols"] = protocols;
            context.EnvironmentVariables.Remove("ASPNETCORE_URLS");
            context.EnvironmentVariables.Remove("HTTP_PORTS");
        });
    }
}
