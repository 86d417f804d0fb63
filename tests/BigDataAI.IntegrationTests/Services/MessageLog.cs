using BigDataAI.Contracts.Ingestion;
using BigDataAI.Contracts.Labeling;
using BigDataAI.Contracts.Training;
using MassTransit;

namespace BigDataAI.IntegrationTests.Services;

/// <summary>
/// What a test host's bus saw, as signals: every message the test's own consumer received (<see cref="Published{T}"/>)
/// and every message a module's consumer finished consuming (<see cref="Consumed{T}"/>). Waits complete on arrival,
/// never by polling; a timeout says what was awaited and what did arrive.
/// </summary>
public sealed class MessageLog
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    private readonly object _gate = new();
    private readonly List<Entry> _entries = [];
    private readonly List<Waiter> _waiters = [];

    /// <summary>The endpoint (queue) name of the test's recorder, so its deliveries are not counted as a module's.</summary>
    public string RecorderEndpoint { get; } = "bigdataai-tests-recorder-" + Guid.NewGuid().ToString("N");

    /// <summary>Waits until the test's recorder has received <paramref name="count"/> messages of type <typeparamref name="T"/> matching <paramref name="match"/>; returns the last of them.</summary>
    public async Task<T> Published<T>(Func<T, bool> match, int count = 1, TimeSpan? timeout = null) where T : class =>
        (T)await WaitAsync(e => e.ConsumedBy is null && e.Message is T m && match(m), count, timeout, $"{count} published {typeof(T).Name}").ConfigureAwait(false);

    /// <summary>Waits until a module consumer on an endpoint whose name contains <paramref name="endpoint"/> has consumed a matching message without fault.</summary>
    public async Task<T> Consumed<T>(string endpoint, Func<T, bool> match, TimeSpan? timeout = null) where T : class =>
        (T)await WaitAsync(e => e.ConsumedBy is { } by && by.Contains(endpoint, StringComparison.Ordinal) && e.Message is T m && match(m), 1, timeout,
            $"{typeof(T).Name} consumed on an endpoint named like '{endpoint}'").ConfigureAwait(false);

    /// <summary>The messages of type <typeparamref name="T"/> the recorder has received so far that match.</summary>
    public IReadOnlyList<T> PublishedSoFar<T>(Func<T, bool> match) where T : class
    {
        lock (_gate)
        {
            return [.. _entries.Where(e => e.ConsumedBy is null).Select(e => e.Message).OfType<T>().Where(match)];
        }
    }

    internal void Add(object message, string? consumedBy)
    {
        List<Waiter> done = [];
        lock (_gate)
        {
            _entries.Add(new Entry(message, consumedBy));
            foreach (var waiter in _waiters)
            {
                if (_entries.Count(waiter.Match) >= waiter.Count)
                {
                    done.Add(waiter);
                }
            }
            _waiters.RemoveAll(done.Contains);
        }
        foreach (var waiter in done)
        {
            waiter.Signal.TrySetResult(message);
        }
    }

    private async Task<object> WaitAsync(Func<Entry, bool> match, int count, TimeSpan? timeout, string what)
    {
        var waiter = new Waiter(match, count, new TaskCompletionSource<object>(TaskCreationOptions.RunContinuationsAsynchronously));
        lock (_gate)
        {
            var matching = _entries.Where(match).ToList();
            if (matching.Count >= count)
            {
                return matching[count - 1].Message;
            }
            _waiters.Add(waiter);
        }
        var limit = timeout ?? DefaultTimeout;
        try
        {
            return await waiter.Signal.Task.WaitAsync(limit).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            string seen;
            lock (_gate)
            {
                _waiters.Remove(waiter);
                seen = string.Join("\n  ", _entries.Select(e => $"{(e.ConsumedBy is null ? "published" : "consumed on " + e.ConsumedBy)}: {e.Message}"));
            }
            throw new TimeoutException($"Waited {limit.TotalSeconds} s for {what}; the bus saw:\n  {(seen.Length == 0 ? "nothing" : seen)}");
        }
    }

    private sealed record Entry(object Message, string? ConsumedBy);

    private sealed record Waiter(Func<Entry, bool> Match, int Count, TaskCompletionSource<object> Signal);
}

/// <summary>
/// The test's own consumer: records each platform event it receives on its temporary queue, and the faults MassTransit
/// publishes when an appended batch from the bus is refused for good.
/// </summary>
public sealed class MessageRecorder(MessageLog log) : IConsumer<DatasetIngested>, IConsumer<DatasetLabeled>, IConsumer<ModelTrained>, IConsumer<DatasetProfiled>,
    IConsumer<Fault<AppendRowsBatch>>
{
    public Task Consume(ConsumeContext<Fault<AppendRowsBatch>> context) => Record(context.Message);

    public Task Consume(ConsumeContext<DatasetProfiled> context) => Record(context.Message);

    public Task Consume(ConsumeContext<DatasetIngested> context) => Record(context.Message);

    public Task Consume(ConsumeContext<DatasetLabeled> context) => Record(context.Message);

    public Task Consume(ConsumeContext<ModelTrained> context) => Record(context.Message);

    private Task Record(object message)
    {
        log.Add(message, consumedBy: null);
        return Task.CompletedTask;
    }
}

/// <summary>Records each message a module consumer in the host finished without fault, with its endpoint's name.</summary>
public sealed class ConsumeRecorder(MessageLog log) : IConsumeObserver
{
    public Task PreConsume<T>(ConsumeContext<T> context) where T : class => Task.CompletedTask;

    public Task PostConsume<T>(ConsumeContext<T> context) where T : class
    {
        var endpoint = context.ReceiveContext.InputAddress?.AbsolutePath.Trim('/') ?? "";
        if (!endpoint.Contains(log.RecorderEndpoint, StringComparison.Ordinal))
        {
            log.Add(context.Message, endpoint);
        }
        return Task.CompletedTask;
    }

    public Task ConsumeFault<T>(ConsumeContext<T> context, Exception exception) where T : class => Task.CompletedTask;
}
