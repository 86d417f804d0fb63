using MassTransit;

namespace BigDataAI.Hosting;

/// <summary>
/// The platform's one way to publish: it never waits on the broker without bound. A bus that is not connected fails at
/// once, and one that does not confirm the message within <c>Messaging:PublishTimeout</c> fails then, both with
/// <see cref="MessagingUnavailableException"/> (UNAVAILABLE to gRPC callers). Background loops catch it and try again
/// at their next tick: a publish caught by a broker crash can otherwise wait for ever.
/// </summary>
public sealed class BoundedPublisher(IBus bus, IBusControl control, MessagingSettings settings)
{
    private string Broker => settings.Broker?.ToString() ?? "the in-memory bus";

    /// <summary>Whether the bus and every receive endpoint are connected now.</summary>
    public bool IsConnected => control.CheckHealth().Status == BusHealthStatus.Healthy;

    /// <summary>Throws <see cref="MessagingUnavailableException"/> unless the bus is connected: check before taking work that ends in a publish.</summary>
    public void EnsureConnected()
    {
        var health = control.CheckHealth();
        if (health.Status != BusHealthStatus.Healthy)
        {
            throw new MessagingUnavailableException($"the message broker ({Broker}) is not connected; retry once it is back", health.Exception);
        }
    }

    /// <summary>Publishes <paramref name="message"/>, or throws <see cref="MessagingUnavailableException"/> within the bound.</summary>
    public Task PublishAsync<T>(T message, CancellationToken cancellationToken) where T : class =>
        BoundedAsync<T>(token => bus.Publish(message, token), cancellationToken);

    /// <summary>
    /// Sends <paramref name="message"/> to the one endpoint at <paramref name="address"/> (a receive endpoint's input
    /// address), or throws <see cref="MessagingUnavailableException"/> within the bound.
    /// </summary>
    public Task SendAsync<T>(Uri address, T message, CancellationToken cancellationToken) where T : class =>
        BoundedAsync<T>(async token =>
        {
            var endpoint = await bus.GetSendEndpoint(address).ConfigureAwait(false);
            await endpoint.Send(message, token).ConfigureAwait(false);
        }, cancellationToken);

    private async Task BoundedAsync<T>(Func<CancellationToken, Task> send, CancellationToken cancellationToken)
    {
        EnsureConnected();
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(settings.PublishTimeout);
        try
        {
            await send(bounded.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new MessagingUnavailableException(
                $"the message broker ({Broker}) did not take {typeof(T).Name} within {settings.PublishTimeout.TotalSeconds:0.#} s (Messaging:PublishTimeout)", e);
        }
    }
}
