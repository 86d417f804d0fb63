namespace BigDataAI.IntegrationTests.Infrastructure;

/// <summary>
/// One RabbitMQ broker and one Azurite per test run, shared by every test class in the "servers" collection.
/// Tests isolate themselves with unique names (queues, consumers, containers, dataset names).
/// </summary>
public sealed class ServersFixture : IAsyncLifetime
{
    public RabbitMqServer RabbitMq { get; } = new();

    public AzuriteServer Azurite { get; } = new();

    public async Task InitializeAsync()
    {
        var rabbit = RabbitMq.InitializeAsync();
        var azurite = Azurite.InitializeAsync();
        try
        {
            await Task.WhenAll(rabbit, azurite).ConfigureAwait(false);
        }
        catch
        {
            // xunit does not dispose a fixture whose initialization failed: stop whichever server did start.
            await DisposeAsync().ConfigureAwait(false);
            if (rabbit.Exception is not null && azurite.Exception is not null)
            {
                throw new AggregateException(rabbit.Exception.InnerExceptions.Concat(azurite.Exception.InnerExceptions));
            }
            throw;
        }
    }

    public async Task DisposeAsync()
    {
        await Task.WhenAll(RabbitMq.DisposeAsync(), Azurite.DisposeAsync()).ConfigureAwait(false);
    }
}

/// <summary>Test classes marked <c>[Collection(ServersCollection.Name)]</c> get the shared <see cref="ServersFixture"/>.</summary>
[CollectionDefinition(Name)]
public sealed class ServersCollection : ICollectionFixture<ServersFixture>
{
    public const string Name = "servers";
}
