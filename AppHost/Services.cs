namespace Aspire.Hosting;

internal static class Services
{
    /// <summary>Configuration key: the catalog model (mlp, logreg, cnn, fasttext, minilm) the training service trains every labeled version with; empty is off.</summary>
    public const string AutoTrainModelKey = "BIGDATAAI_AUTOTRAIN_MODEL";

    /// <summary>
    /// A BigDataAI service host: references the broker and the blob store, waits until both are healthy, and is made
    /// ready for the publish target (<see cref="Publishing.ConfigureForPublishing"/>).
    /// </summary>
#pragma warning disable ASPIRECERTIFICATES001 // WithoutHttpsCertificate is experimental in Aspire 13.
    public static IResourceBuilder<ProjectResource> AddService<TProject>(this IDistributedApplicationBuilder builder, string name, Infrastructure infrastructure)
        where TProject : IProjectMetadata, new() =>
        builder.AddProject<TProject>(name)
            // The hosts serve cleartext HTTP/2 and HTTP/1.1 (TLS is a separate piece of work): no development certificate
            // is handed to them, and the dashboard does not warn that none is trusted.
            .WithoutHttpsCertificate()
            .WithReference(infrastructure.Messaging).WaitFor(infrastructure.Messaging)
            .WithReference(infrastructure.Blobs).WaitFor(infrastructure.Blobs)
            .ConfigureForPublishing();
#pragma warning restore ASPIRECERTIFICATES001
}
