namespace BigDataAI.Hosting;

/// <summary>A RabbitMQ broker address parsed from an AMQP URI <c>amqp[s]://user:pass@host[:port][/vhost]</c>.</summary>
public sealed record AmqpEndpoint(string Host, ushort Port, string VirtualHost, string Username, string Password, bool UseSsl)
{
    /// <summary>Parses an AMQP URI; throws <see cref="InvalidOperationException"/> naming <c>ConnectionStrings:messaging</c> when it is not one.</summary>
    public static AmqpEndpoint Parse(string connection)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connection);
        if (!Uri.TryCreate(connection.Trim(), UriKind.Absolute, out var uri) || uri.Scheme is not ("amqp" or "amqps") || string.IsNullOrEmpty(uri.Host))
        {
            throw new InvalidOperationException(
                $"ConnectionStrings:{MessagingSettings.ConnectionName} is '{Redact(connection)}': expected an AMQP URI such as " +
                "amqp://user:password@host:5672 or amqp://user:password@host:5672/vhost.");
        }
        var useSsl = uri.Scheme == "amqps";
        var port = uri.IsDefaultPort || uri.Port < 0 ? (useSsl ? 5671 : 5672) : uri.Port;
        string username = "guest", password = "guest";
        if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            var colon = uri.UserInfo.IndexOf(':');
            username = Uri.UnescapeDataString(colon < 0 ? uri.UserInfo : uri.UserInfo[..colon]);
            password = colon < 0 ? string.Empty : Uri.UnescapeDataString(uri.UserInfo[(colon + 1)..]);
        }
        // AMQP URI spec: the path is the vhost, percent-encoded ("/%2F" or "/" means the default "/").
        var path = uri.AbsolutePath.TrimStart('/');
        var virtualHost = path.Length == 0 ? "/" : Uri.UnescapeDataString(path);
        return new AmqpEndpoint(uri.Host, (ushort)port, virtualHost, username, password, useSsl);
    }

    /// <summary>The address without the password, for logs and error messages.</summary>
    public override string ToString() =>
        $"{(UseSsl ? "amqps" : "amqp")}://{Username}@{Host}:{Port}/{(VirtualHost == "/" ? string.Empty : Uri.EscapeDataString(VirtualHost))}";

    private static string Redact(string connection)
    {
        var at = connection.IndexOf('@');
        var scheme = connection.IndexOf("://", StringComparison.Ordinal);
        if (at < 0 || scheme < 0 || scheme > at)
        {
            return connection;
        }
        var colon = connection.IndexOf(':', scheme + 3);
        return colon >= 0 && colon < at ? connection[..(colon + 1)] + "***" + connection[at..] : connection;
    }
}
