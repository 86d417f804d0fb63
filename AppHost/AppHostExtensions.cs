namespace Aspire.Hosting;

internal static class AppHostExtensions
{
    public const string GrpcEndpointName = "grpc";

    /// <summary>The host's gRPC endpoint, named "grpc": clients find it as <c>http://_grpc.&lt;resource name&gt;</c>.</summary>
    public static IResourceBuilder<ProjectResource> WithGrpcEndpoint(this IResourceBuilder<ProjectResource> project) =>
        project.WithHttp2Endpoint(GrpcEndpointName);

    /// <summary>
    /// Makes sure the host has a cleartext HTTP/2 endpoint with this name (gRPC without TLS needs HTTP/2-only Kestrel
    /// endpoints: Kestrel speaks only HTTP/1.1 on a cleartext endpoint that allows both).
    /// </summary>
    /// <remarks>
    /// Two ways a host can be set up, both handled:
    /// <list type="bullet">
    /// <item>The host declares no endpoint (no Kestrel:Endpoints, no launchSettings.json: Aspire then adds none). The
    /// endpoint is added here on a port Aspire picks (ASPNETCORE_URLS locally, HTTP_PORTS when published), with
    /// transport http2, and the host is told to serve HTTP/2 on its endpoints (<c>Kestrel__EndpointDefaults__Protocols</c>).</item>
    /// <item>The host declares it in appsettings.json, e.g. <c>"Kestrel": { "Endpoints": { "grpc": { "Url": "http://localhost:5102",
    /// "Protocols": "Http2" } } }</c> (possibly beside an HTTP/1.1 "http" endpoint for probes). Aspire has already turned
    /// it into an endpoint, with transport http2 because of Protocols, and overrides its Url; it is only checked here.</item>
    /// </list>
    /// </remarks>
    /// <exception cref="DistributedApplicationException">The host declares the endpoint, but not as HTTP/2-only.</exception>
    public static IResourceBuilder<ProjectResource> WithHttp2Endpoint(this IResourceBuilder<ProjectResource> project, string name)
    {
        var endpoint = project.GetEndpoint(name);
        if (!endpoint.Exists)
        {
            return project
                .WithHttpEndpoint(name: name)
                .WithEndpoint(name, e => e.Transport = "http2", createIfNotExists: false)
                .WithEnvironment("Kestrel__EndpointDefaults__Protocols", "Http2");
        }

        if (endpoint.EndpointAnnotation.Transport != "http2")
        {
            throw new DistributedApplicationException(
                $"Project '{project.Resource.Name}': its endpoint '{name}' (from its appsettings.json or launchSettings.json) " +
                $"is not HTTP/2-only; set Kestrel:Endpoints:{name}:Protocols (or Kestrel:EndpointDefaults:Protocols) to \"Http2\".");
        }
        return project;
    }
}
