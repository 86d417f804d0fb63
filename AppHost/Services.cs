namespace Aspire.Hosting;

internal static class Services
{
    /// <summary>Configuration key: the catalog model (mlp, logreg, cnn, fasttext, minilm) the training service trains every labeled version with; empty is off.</summary>
    public const string AutoTrainModelKey = "BIGDATAAI_AUTOTRAIN_MODEL";

    /// <summary>
    /// A BigDataAI service host: references the broker and the blob store, waits until both are healthy, and is made
    /// ready for the publish target (<see cref="Publishing.ConfigureService"/>).
    /// </summary>
    public static IResourceBuilder<ProjectResource> AddService<TProject>(this IDistributedApplicationBuilder builder, string name, Infrastructure infrastructure)
        where TProject : IProjectMetadata, new() =>
        builder.AddProject<TProject>(name)
            .WithReference(infrastructure.Messaging).WaitFor(infrastructure.Messaging)
            .WithReference(infrastructure.Blobs).WaitFor(infrastructure.Blobs)
            .ConfigureForPublishing();
}
