using Azure.Identity;
using Azure.Storage.Blobs;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace BigDataAI.Storage;

/// <summary>How a host picks the object-store backend. Modules only ever ask for <see cref="IObjectStore"/>.</summary>
public static class StorageRegistration
{
    /// <summary>The container every service shares unless <c>Storage:Container</c> says otherwise.</summary>
    public const string DefaultContainer = "bigdataai";

    /// <summary>
    /// Registers <see cref="IObjectStore"/> from configuration, in Aspire's conventions:
    /// <c>ConnectionStrings:blobs</c> is either a storage connection string (the emulator, Azurite) or a
    /// service URI such as <c>https://account.blob.core.windows.net/</c> (identity from DefaultAzureCredential).
    /// Without it, <c>Storage:Directory</c> selects a local folder (the embedded mode).
    /// </summary>
    public static IHostApplicationBuilder AddObjectStore(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<IObjectStore>(_ => Create(builder.Configuration));
        // Readiness (/health) includes a cheap round trip to the store; liveness (/alive) does not.
        builder.Services.AddHealthChecks().AddCheck<ObjectStoreHealthCheck>(ObjectStoreHealthCheck.Name);
        return builder;
    }

    public static IObjectStore Create(IConfiguration configuration)
    {
        var container = configuration["Storage:Container"] ?? DefaultContainer;
        var connection = configuration.GetConnectionString("blobs");
        if (!string.IsNullOrWhiteSpace(connection))
        {
            return new AzureBlobObjectStore(CreateServiceClient(connection, StorageClientSettings.FromConfiguration(configuration)).GetBlobContainerClient(container));
        }
        var directory = configuration["Storage:Directory"];
        if (!string.IsNullOrWhiteSpace(directory))
        {
            return new FileSystemObjectStore(directory);
        }
        throw new InvalidOperationException(
            "No blob storage is configured. Set ConnectionStrings:blobs (env ConnectionStrings__blobs) to an Azure Storage " +
            "connection string or a blob service URI, or Storage:Directory (env Storage__Directory) to a local folder.");
    }

    /// <summary>
    /// A blob service client for <c>ConnectionStrings:blobs</c>, whose every request gives up after
    /// <see cref="StorageClientSettings.NetworkTimeout"/> and is retried <see cref="StorageClientSettings.MaxRetries"/>
    /// times, so an outage surfaces as an error within a bound instead of a call that hangs.
    /// </summary>
    public static BlobServiceClient CreateServiceClient(string connection, StorageClientSettings? settings = null)
    {
        var options = (settings ?? StorageClientSettings.Default).ToClientOptions();
        if (Uri.TryCreate(connection, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp))
        {
            return new BlobServiceClient(uri, new DefaultAzureCredential(), options);
        }
        try
        {
            return new BlobServiceClient(connection, options);
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            throw new InvalidOperationException(
                "ConnectionStrings:blobs is neither a blob service URI nor a valid Azure Storage connection string: " + e.Message, e);
        }
    }
}
