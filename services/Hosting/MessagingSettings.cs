using Microsoft.Extensions.Configuration;

namespace BigDataAI.Hosting;

/// <summary>Which message transport a host uses.</summary>
public enum MessagingTransport
{
    /// <summary>A RabbitMQ broker, from <c>ConnectionStrings:messaging</c>.</summary>
    RabbitMq,

    /// <summary>MassTransit's in-memory transport: every module in one process (the embedded mode).</summary>
    InMemory,
}

/// <summary>
/// The messaging configuration of a host, read once from configuration:
/// <list type="bullet">
/// <item><c>ConnectionStrings:messaging</c>: an AMQP URI <c>amqp://user:pass@host:port[/vhost]</c> (Aspire's convention) selects RabbitMQ;</item>
/// <item>otherwise <c>Messaging:Transport</c> = <c>InMemory</c> selects the in-memory transport;</item>
/// <item><c>Messaging:RetryIntervals</c> (optional, e.g. <c>Messaging__RetryIntervals__0=00:00:01</c>): waits between redeliveries of a failed message;</item>
/// <item><c>Messaging:StartTimeout</c> (optional, default 60 s): how long a host waits for the broker before it fails to start;</item>
/// <item><c>Messaging:PublishTimeout</c> (optional, default 10 s): how long a gRPC call waits for the broker to take a message
/// (<see cref="BoundedPublisher"/>) before it answers UNAVAILABLE.</item>
/// </list>
/// </summary>
public sealed record MessagingSettings(
    MessagingTransport Transport,
    AmqpEndpoint? Broker,
    IReadOnlyList<TimeSpan> RetryIntervals,
    TimeSpan StartTimeout,
    TimeSpan PublishTimeout)
{
    public const string ConnectionName = "messaging";
    public const string SectionName = "Messaging";

    /// <summary>Retries after 1 s, 5 s and 15 s; then the message goes to the endpoint's <c>_error</c> queue.</summary>
    public static readonly IReadOnlyList<TimeSpan> DefaultRetryIntervals = [TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(15)];

    public static readonly TimeSpan DefaultStartTimeout = TimeSpan.FromSeconds(60);

    public static readonly TimeSpan DefaultPublishTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Reads the settings, or throws <see cref="InvalidOperationException"/> saying which setting to fix.</summary>
    public static MessagingSettings FromConfiguration(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var section = configuration.GetSection(SectionName);
        var retryIntervals = ReadRetryIntervals(section);
        var startTimeout = ReadTimeSpan(section, "StartTimeout") ?? DefaultStartTimeout;
        if (startTimeout <= TimeSpan.Zero)
        {
            throw new InvalidOperationException($"Messaging:StartTimeout must be positive, got '{section["StartTimeout"]}'.");
        }
        var publishTimeout = ReadTimeSpan(section, "PublishTimeout") ?? DefaultPublishTimeout;
        if (publishTimeout <= TimeSpan.Zero)
        {
            throw new InvalidOperationException($"Messaging:PublishTimeout must be positive, got '{section["PublishTimeout"]}'.");
        }

        var connection = configuration.GetConnectionString(ConnectionName);
        if (!string.IsNullOrWhiteSpace(connection))
        {
            return new MessagingSettings(MessagingTransport.RabbitMq, AmqpEndpoint.Parse(connection), retryIntervals, startTimeout, publishTimeout);
        }

        var transport = section["Transport"];
        if (string.Equals(transport, "InMemory", StringComparison.OrdinalIgnoreCase))
        {
            return new MessagingSettings(MessagingTransport.InMemory, null, retryIntervals, startTimeout, publishTimeout);
        }

        var what = string.IsNullOrWhiteSpace(transport)
            ? "No message transport is configured."
            : string.Equals(transport, "RabbitMQ", StringComparison.OrdinalIgnoreCase)
                ? "Messaging:Transport is 'RabbitMQ' but ConnectionStrings:messaging is not set."
                : $"Messaging:Transport is '{transport}'; the transports are RabbitMQ (from ConnectionStrings:messaging) and InMemory.";
        throw new InvalidOperationException(
            what + " Set ConnectionStrings:messaging (env ConnectionStrings__messaging) to an AMQP URI such as " +
            "amqp://guest:guest@localhost:5672 to use RabbitMQ, or Messaging:Transport (env Messaging__Transport) to " +
            "InMemory to run every module in one process.");
    }

    private static IReadOnlyList<TimeSpan> ReadRetryIntervals(IConfigurationSection section)
    {
        var entries = section.GetSection("RetryIntervals").GetChildren().ToList();
        if (entries.Count == 0)
        {
            return DefaultRetryIntervals;
        }
        // Children of an array section come back ordered by key as strings ("10" before "2"): order by index.
        var intervals = new List<TimeSpan>(entries.Count);
        foreach (var entry in entries.OrderBy(e => int.TryParse(e.Key, out var i) ? i : int.MaxValue))
        {
            if (!TimeSpan.TryParse(entry.Value, System.Globalization.CultureInfo.InvariantCulture, out var interval) || interval < TimeSpan.Zero)
            {
                throw new InvalidOperationException(
                    $"Messaging:RetryIntervals:{entry.Key} is '{entry.Value}': expected a non-negative time span such as 00:00:05.");
            }
            intervals.Add(interval);
        }
        return intervals;
    }

    private static TimeSpan? ReadTimeSpan(IConfigurationSection section, string key)
    {
        var text = section[key];
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }
        if (!TimeSpan.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out var value))
        {
            throw new InvalidOperationException($"Messaging:{key} is '{text}': expected a time span such as 00:01:00.");
        }
        return value;
    }
}
