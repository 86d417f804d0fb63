using BigDataAI.Hosting;
using BigDataAI.Inference;
using BigDataAI.Ingestion;
using BigDataAI.Labeling;
using BigDataAI.Training;

namespace BigDataAI.Cli;

/// <summary>
/// All four services in one process: the same modules the service hosts compose, over MassTransit's in-memory
/// transport and a folder-backed object store. Nothing here is wired differently from the distributed mode
/// except those two settings.
/// </summary>
public static class EmbeddedHost
{
    public static WebApplication Build(string dataDirectory, string url, bool quiet, IReadOnlyDictionary<string, string?>? settings = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        var defaults = new Dictionary<string, string?>
        {
            ["Storage:Directory"] = Path.GetFullPath(Path.Combine(dataDirectory, "store")),
            ["Messaging:Transport"] = "InMemory",
            ["Kestrel:EndpointDefaults:Protocols"] = "Http2",
            ["Ingestion:TempDirectory"] = Path.GetFullPath(Path.Combine(dataDirectory, "tmp")),
            // Labeling calls inference and training over gRPC; here they are in this process.
            ["Labeling:InferenceAddress"] = "self",
            ["Labeling:TrainingAddress"] = "self",
            // One person on this machine: loopback calls without a token are the local user, and projects live beside the store.
            ["Labeling:Authentication:LocalUser"] = "local",
            ["Labeling:Database"] = Path.GetFullPath(Path.Combine(dataDirectory, "labeling", "labeling.db")),
        };
        if (quiet)
        {
            defaults["Logging:LogLevel:Default"] = "Warning";
            defaults["Logging:LogLevel:BigDataAI"] = "Warning";
        }
        builder.Configuration.AddInMemoryCollection(defaults);
        if (settings is not null)
        {
            builder.Configuration.AddInMemoryCollection(settings);
        }
        Directory.CreateDirectory(defaults["Ingestion:TempDirectory"]!);
        builder.WebHost.UseUrls(url);

        builder.AddServiceDefaults();
        builder.AddModules(new IngestionModule(), new LabelingModule(), new TrainingControlPlaneModule(), new TrainingWorkerModule(), new InferenceModule());

        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapModules();
        return app;
    }
}
