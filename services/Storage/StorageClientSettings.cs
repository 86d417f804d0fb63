using System.Globalization;
using Azure.Core;
using Azure.Storage.Blobs;
using Microsoft.Extensions.Configuration;

namespace BigDataAI.Storage;

/// <summary>
/// How long the blob client waits and how often it retries, from the <c>Storage</c> section:
/// <c>Storage:NetworkTimeout</c> (default 20 s: one request, or one read of a response, that takes longer fails) and
/// <c>Storage:MaxRetries</c> (default 3, exponential backoff from 0.5 s to 4 s). The Azure SDK's own defaults
/// (100 s, 3 retries) let a call against an unresponsive store hang for more than five minutes; with these a call
/// fails within about (retries + 1) × timeout, and callers see UNAVAILABLE.
/// </summary>
public sealed record StorageClientSettings(TimeSpan NetworkTimeout, int MaxRetries)
{
    public static readonly StorageClientSettings Default = new(TimeSpan.FromSeconds(20), 3);

    /// <summary>Reads the settings, or throws <see cref="InvalidOperationException"/> naming the one to fix.</summary>
    public static StorageClientSettings FromConfiguration(IConfiguration configuration)
    {
        var section = configuration.GetSection("Storage");
        var timeout = Default.NetworkTimeout;
        if (section["NetworkTimeout"] is { Length: > 0 } text
            && (!TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out timeout) || timeout <= TimeSpan.Zero))
        {
            throw new InvalidOperationException($"Storage:NetworkTimeout is '{text}': expected a positive time span such as 00:00:20.");
        }
        var retries = Default.MaxRetries;
        if (section["MaxRetries"] is { Length: > 0 } count
            && (!int.TryParse(count, NumberStyles.Integer, CultureInfo.InvariantCulture, out retries) || retries is < 0 or > 10))
        {
            throw new InvalidOperationException($"Storage:MaxRetries is '{count}': expected a whole number from 0 to 10.");
        }
        return new StorageClientSettings(timeout, retries);
    }

    public BlobClientOptions ToClientOptions()
    {
        var options = new BlobClientOptions();
        options.Retry.Mode = RetryMode.Exponential;
        options.Retry.MaxRetries = MaxRetries;
        options.Retry.Delay = TimeSpan.FromSeconds(0.5);
        options.Retry.MaxDelay = TimeSpan.FromSeconds(4);
        options.Retry.NetworkTimeout = NetworkTimeout;
        // The SDK's distributed-tracing and logging stay on (they go where the host's OpenTelemetry sends them); it
        // has no usage telemetry that calls out: the only address it ever reaches is the configured account.
        return options;
    }
}
