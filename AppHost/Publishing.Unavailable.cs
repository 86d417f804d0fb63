namespace Aspire.Hosting;

/// <summary>
/// The publish targets when the AppHost is built without its deployment file set (the default: the packages it needs,
/// Aspire.Hosting.Azure.* and Aspire.Hosting.Kubernetes, are not served on every machine). A local run needs none of
/// it; a publish says how to get it. Deploy/Publishing.cs replaces this file with -p:BigDataAIDeploy=true.
/// </summary>
internal static class Publishing
{
    public const string NotBuiltMessage =
        "This AppHost was built without its deployment file set, so it cannot publish. Build it with -p:BigDataAIDeploy=true " +
        "(or set the environment variable BigDataAIDeploy=true for azd) on a machine whose NuGet feed serves Aspire.Hosting.Azure.Storage, " +
        "Aspire.Hosting.Azure.AppContainers and Aspire.Hosting.Kubernetes; see AppHost/README.md.";

    public static Infrastructure AddPublishedInfrastructure(IDistributedApplicationBuilder builder) =>
        throw new DistributedApplicationException(NotBuiltMessage);

    public static IResourceBuilder<ProjectResource> ConfigureForPublishing(this IResourceBuilder<ProjectResource> project) => project;

    public static IResourceBuilder<ProjectResource> PublishOnGpus(this IResourceBuilder<ProjectResource> worker, IResourceBuilder<ProjectResource> controlPlane) => worker;
}
