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
    /// <param name="pageUrl">When set, a second, HTTP/1.1 listener for browsers (the labeling page at /labeling/); gRPC stays on <paramref name="url"/>.</param>
    public static WebApplication Build(string dataDirectory, string url, bool quiet, IReadOnlyDictionary<string, string?>? settings = null, string? pageUrl = null)
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
        if (pageUrl is null)
        {
            builder.WebHost.UseUrls(url);
        }
        else
        {
            // Browsers speak HTTP/1.1 to a cleartext port and gRPC clients HTTP/2 with prior knowledge; one cleartext port
            // cannot serve both (docs/labeling-page.md). The gRPC listener comes first: "self" addresses are the first one.
            var grpc = new Uri(url);
            var page = new Uri(pageUrl);
            builder.WebHost.ConfigureKestrel(kestrel =>
            {
                kestrel.Listen(System.Net.IPAddress.Parse(grpc.Host), grpc.Port, l => l.Protocols = Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http2);
                kestrel.Listen(System.Net.IPAddress.Parse(page.Host), page.Port, l => l.Protocols = Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http1);
            });
        }

        builder.AddServiceDefaults();
        builder.AddModules(new IngestionModule(), new LabelingModule(), new TrainingControlPlaneModule(), new TrainingWorkerModule(), new InferenceModule());

        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapModules();
        return app;
    }
}
