using BigDataAI.Hosting;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

namespace BigDataAI.IntegrationTests.Platform;

/// <summary>How AddPlatformMessaging reads its settings, and the errors a person sees when they are wrong.</summary>
public sealed class MessagingConfigurationTests
{
    [Fact]
    public void Without_a_transport_the_host_fails_naming_the_settings_to_set()
    {
        var builder = Builder();

        var error = Assert.Throws<InvalidOperationException>(() => builder.AddPlatformMessaging(_ => { }));

        Assert.Contains("ConnectionStrings:messaging", error.Message, StringComparison.Ordinal);
        Assert.Contains("Messaging:Transport", error.Message, StringComparison.Ordinal);
        Assert.Contains("InMemory", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_transport_is_named_in_the_error()
    {
        var error = Assert.Throws<InvalidOperationException>(() => Builder(("Messaging:Transport", "Kafka")).AddPlatformMessaging(_ => { }));

        Assert.Contains("'Kafka'", error.Message, StringComparison.Ordinal);
        Assert.Contains("ConnectionStrings:messaging", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_connection_string_that_is_not_an_AMQP_URI_is_rejected_without_showing_the_password()
    {
        var error = Assert.Throws<InvalidOperationException>(
            () => Builder(("ConnectionStrings:messaging", "http://user:secret@host:5672")).AddPlatformMessaging(_ => { }));

        Assert.Contains("ConnectionStrings:messaging", error.Message, StringComparison.Ordinal);
        Assert.Contains("amqp://", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_bad_retry_interval_names_its_key()
    {
        var error = Assert.Throws<InvalidOperationException>(
            () => Builder(("Messaging:Transport", "InMemory"), ("Messaging:RetryIntervals:1", "soon")).AddPlatformMessaging(_ => { }));

        Assert.Contains("Messaging:RetryIntervals:1", error.Message, StringComparison.Ordinal);
        Assert.Contains("'soon'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_connection_string_wins_over_the_in_memory_transport()
    {
        var settings = MessagingSettings.FromConfiguration(Configuration(
            ("ConnectionStrings:messaging", "amqp://guest:guest@localhost:5672"), ("Messaging:Transport", "InMemory")));

        Assert.Equal(MessagingTransport.RabbitMq, settings.Transport);
        Assert.Equal(MessagingSettings.DefaultRetryIntervals, settings.RetryIntervals);
        Assert.Equal(MessagingSettings.DefaultStartTimeout, settings.StartTimeout);
    }

    [Fact]
    public void Retry_intervals_are_read_in_index_order()
    {
        var pairs = Enumerable.Range(0, 11).Select(i => ($"Messaging:RetryIntervals:{i}", TimeSpan.FromSeconds(i).ToString())).ToArray();
        var settings = MessagingSettings.FromConfiguration(Configuration([("Messaging:Transport", "InMemory"), .. pairs]));

        Assert.Equal(Enumerable.Range(0, 11).Select(i => TimeSpan.FromSeconds(i)), settings.RetryIntervals);
    }

    [Theory]
    [InlineData("amqp://guest:guest@127.0.0.1:5679", "127.0.0.1", 5679, "/", "guest", "guest", false)]
    [InlineData("amqp://user:p%40ss%3Aword@rabbit", "rabbit", 5672, "/", "user", "p@ss:word", false)]
    [InlineData("amqps://u:p@broker.example:5671/prod", "broker.example", 5671, "prod", "u", "p", true)]
    [InlineData("amqp://u:p@h:1234/%2Fteam", "h", 1234, "/team", "u", "p", false)]
    [InlineData("amqp://h", "h", 5672, "/", "guest", "guest", false)]
    public void Amqp_uris_are_parsed_in_Aspires_form(string uri, string host, int port, string vhost, string user, string password, bool ssl)
    {
        Assert.Equal(new AmqpEndpoint(host, (ushort)port, vhost, user, password, ssl), AmqpEndpoint.Parse(uri));
    }

    [Fact]
    public void An_amqp_endpoint_prints_without_its_password()
    {
        Assert.Equal("amqp://u@h:1234/", AmqpEndpoint.Parse("amqp://u:secret@h:1234").ToString());
    }

    [Fact]
    public void Endpoint_names_include_the_namespace()
    {
        var name = PlatformEndpointNameFormatter.Instance.Consumer<ModuleA.DatasetIngestedConsumer>();

        Assert.Equal("big-data-ai.integration-tests.platform.module-a.dataset-ingested", name);
    }

    private static HostApplicationBuilder Builder(params (string Key, string Value)[] settings)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value)));
        return builder;
    }

    private static IConfiguration Configuration(params (string Key, string Value)[] settings) =>
        new ConfigurationBuilder().AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value))).Build();
}
