using BigDataAI.Storage;
using Microsoft.Extensions.Configuration;

namespace BigDataAI.UnitTests.Storage;

public sealed class StorageClientSettingsTests
{
    private static IConfiguration Config(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build();

    [Fact]
    public void Defaults_bound_a_call_against_an_unresponsive_store()
    {
        var settings = StorageClientSettings.FromConfiguration(Config());
        var options = settings.ToClientOptions();

        Assert.Equal(TimeSpan.FromSeconds(20), options.Retry.NetworkTimeout);
        Assert.Equal(3, options.Retry.MaxRetries);
    }

    [Fact]
    public void Settings_are_read_and_bad_ones_name_the_setting()
    {
        var settings = StorageClientSettings.FromConfiguration(Config(("Storage:NetworkTimeout", "00:00:02"), ("Storage:MaxRetries", "1")));
        Assert.Equal(new StorageClientSettings(TimeSpan.FromSeconds(2), 1), settings);

        var timeout = Assert.Throws<InvalidOperationException>(() => StorageClientSettings.FromConfiguration(Config(("Storage:NetworkTimeout", "soon"))));
        Assert.Contains("Storage:NetworkTimeout", timeout.Message, StringComparison.Ordinal);
        var retries = Assert.Throws<InvalidOperationException>(() => StorageClientSettings.FromConfiguration(Config(("Storage:MaxRetries", "-1"))));
        Assert.Contains("Storage:MaxRetries", retries.Message, StringComparison.Ordinal);
    }
}
