using System.Text.Json;
using System.Threading.Channels;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace BigDataAI.IntegrationTests.EndToEnd;

/// <summary>An event the services published, as the test saw it on the broker.</summary>
internal sealed record BusEvent(string Exchange, JsonElement Message, DateTimeOffset ReceivedAt)
{
    public string Dataset => Message.GetProperty("dataset").GetString() ?? "";
    public int Version => Message.GetProperty("version").GetInt32();
    public string? ModelId => Message.TryGetProperty("modelId", out var id) ? id.GetString() : null;

    public override string ToString() => $"{Exchange}: {Message.GetRawText()}";
}

/// <summary>
/// Listens, beside the services, to events they publish on RabbitMQ: a private, exclusive queue bound to the
/// exchanges MassTransit publishes those message types to (one fanout exchange per type, named
/// <c>Namespace:TypeName</c>). The test uses them as signals: "labeling announced the version", "a model was trained",
/// instead of polling the services.
/// </summary>
internal sealed class BusEvents : IAsyncDisposable
{
    /// <summary>MassTransit's exchange for <c>BigDataAI.Contracts.Labeling.DatasetLabeled</c>.</summary>
    public const string DatasetLabeled = "BigDataAI.Contracts.Labeling:DatasetLabeled";

    /// <summary>MassTransit's exchange for <c>BigDataAI.Contracts.Training.ModelTrained</c>.</summary>
    public const string ModelTrained = "BigDataAI.Contracts.Training:ModelTrained";

    private readonly IConnection _connection;
    private readonly IChannel _channel;
    private readonly Channel<BusEvent> _arrivals = System.Threading.Channels.Channel.CreateUnbounded<BusEvent>();
    private readonly List<BusEvent> _seen = [];

    private BusEvents(IConnection connection, IChannel channel)
    {
        _connection = connection;
        _channel = channel;
    }

    /// <summary>Every event read so far by <see cref="WaitForAsync"/> or <see cref="Drain"/>, in arrival order.</summary>
    public IReadOnlyList<BusEvent> Seen => _seen;

    /// <summary>
    /// Subscribes to <paramref name="exchanges"/>. They must exist: the services declare them when their buses start
    /// (a consumer's endpoint binds the exchange of each message type it consumes).
    /// </summary>
    public static async Task<BusEvents> SubscribeAsync(ConnectionFactory factory, IReadOnlyList<string> exchanges, CancellationToken cancellationToken)
    {
        var connection = await factory.CreateConnectionAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            var events = new BusEvents(connection, channel);
            var queue = await channel.QueueDeclareAsync(queue: "", durable: false, exclusive: true, autoDelete: true, cancellationToken: cancellationToken).ConfigureAwait(false);
            foreach (var exchange in exchanges)
            {
                await channel.ExchangeDeclarePassiveAsync(exchange, cancellationToken).ConfigureAwait(false);
                await channel.QueueBindAsync(queue.QueueName, exchange, routingKey: "", cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            var consumer = new AsyncEventingBasicConsumer(channel);
            consumer.ReceivedAsync += (_, delivery) =>
            {
                // MassTransit's JSON envelope: the message itself is under "message", in camelCase.
                using var envelope = JsonDocument.Parse(delivery.Body);
                var message = envelope.RootElement.GetProperty("message").Clone();
                events._arrivals.Writer.TryWrite(new BusEvent(delivery.Exchange, message, DateTimeOffset.UtcNow));
                return Task.CompletedTask;
            };
            await channel.BasicConsumeAsync(queue.QueueName, autoAck: true, consumer, cancellationToken).ConfigureAwait(false);
            return events;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Waits until <paramref name="count"/> events matching <paramref name="match"/> have arrived (counting those
    /// seen before) and returns the last of them; throws naming <paramref name="what"/> after <paramref name="timeout"/>.
    /// </summary>
    public async Task<BusEvent> WaitForAsync(string what, Func<BusEvent, bool> match, TimeSpan timeout, CancellationToken cancellationToken, int count = 1)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        Drain();
        while (_seen.Count(match) < count)
        {
            try
            {
                _seen.Add(await _arrivals.Reader.ReadAsync(deadline.Token).ConfigureAwait(false));
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException(
                    $"No {what} within {timeout.TotalSeconds} s ({_seen.Count(match)} of {count} seen). Events seen: " +
                    (_seen.Count == 0 ? "none" : string.Join("; ", _seen)));
            }
        }
        return _seen.Where(match).ElementAt(count - 1);
    }

    /// <summary>Moves every event that has arrived into <see cref="Seen"/> without waiting.</summary>
    public IReadOnlyList<BusEvent> Drain()
    {
        while (_arrivals.Reader.TryRead(out var e))
        {
            _seen.Add(e);
        }
        return _seen;
    }

    public async ValueTask DisposeAsync()
    {
        await _channel.DisposeAsync().ConfigureAwait(false);
        await _connection.DisposeAsync().ConfigureAwait(false);
    }
}
