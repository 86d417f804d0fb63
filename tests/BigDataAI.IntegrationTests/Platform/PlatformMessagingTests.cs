using System.Collections.Concurrent;
using System.Diagnostics;
using BigDataAI.Contracts.Ingestion;
using BigDataAI.Hosting;
using BigDataAI.IntegrationTests.Infrastructure;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit.Abstractions;

namespace BigDataAI.IntegrationTests.Platform
{
    /// <summary>AddPlatformMessaging over the real broker of the shared fixture.</summary>
    [Collection(ServersCollection.Name)]
    public sealed class PlatformMessagingTests(ServersFixture servers, ITestOutputHelper output)
    {
        private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

        [Fact]
        public async Task A_published_record_reaches_its_consumer_over_RabbitMQ()
        {
            var probe = new MessageProbe();
            using var host = BuildHost(RabbitMq(), probe, x => x.AddConsumer<IngestedRecorder>());
            await host.StartAsync();

            var sent = Ingested();
            await host.Services.GetRequiredService<IPublishEndpoint>().Publish(sent);

            var received = await probe.Received(sent.Dataset).WaitAsync(Patience);
            Assert.Equal(sent, received);
            await host.StopAsync();
        }

        [Fact]
        public async Task Equal_consumer_names_in_two_namespaces_get_their_own_queues()
        {
            var probe = new MessageProbe();
            using var host = BuildHost(RabbitMq(), probe, x =>
            {
                x.AddConsumer<ModuleA.DatasetIngestedConsumer>();
                x.AddConsumer<ModuleB.DatasetIngestedConsumer>();
            });
            await host.StartAsync();

            var sent = Ingested();
            await host.Services.GetRequiredService<IPublishEndpoint>().Publish(sent);

            // Sharing one queue would make them competing consumers: only one would see the message.
            await probe.Received("A:" + sent.Dataset).WaitAsync(Patience);
            await probe.Received("B:" + sent.Dataset).WaitAsync(Patience);
            await host.StopAsync();

            await using var connection = await servers.RabbitMq.CreateConnectionFactory().CreateConnectionAsync();
            await using var channel = await connection.CreateChannelAsync();
            await channel.QueueDeclarePassiveAsync("big-data-ai.integration-tests.platform.module-a.dataset-ingested");
            await channel.QueueDeclarePassiveAsync("big-data-ai.integration-tests.platform.module-b.dataset-ingested");
        }

        [Fact]
        public async Task A_consumer_that_always_fails_is_retried_then_its_message_lands_in_the_error_queue()
        {
            var probe = new MessageProbe();
            var queue = PlatformEndpointNameFormatter.Instance.Consumer<AlwaysFailingConsumer>();
            using var host = BuildHost(
                RabbitMq(("Messaging:RetryIntervals:0", "00:00:00.050"), ("Messaging:RetryIntervals:1", "00:00:00.100"), ("Messaging:RetryIntervals:2", "00:00:00.150")),
                probe,
                x =>
                {
                    x.AddConsumer<AlwaysFailingConsumer>();
                    // A second consumer reads the error queue itself; it must not subscribe to the message type.
                    x.AddConsumer<ErrorQueueReader>().Endpoint(e =>
                    {
                        e.Name = queue + "_error";
                        e.ConfigureConsumeTopology = false;
                    });
                });
            await host.StartAsync();

            var sent = Ingested();
            await host.Services.GetRequiredService<IPublishEndpoint>().Publish(sent);

            var dead = await probe.Received("error:" + sent.Dataset).WaitAsync(Patience);
            Assert.Equal(sent, dead);
            Assert.Equal(4, probe.Attempts(sent.Dataset)); // the first delivery and three retries
            var headers = probe.Headers("error:" + sent.Dataset);
            output.WriteLine(string.Join('\n', headers.Select(h => $"{h.Key}: {h.Value}")));
            Assert.Equal("fault", headers["MT-Reason"]);
            Assert.Contains(AlwaysFailingConsumer.Failure, headers["MT-Fault-Message"], StringComparison.Ordinal);
            Assert.Equal("3", headers["MT-Fault-RetryCount"]);
            await host.StopAsync();
        }

        [Fact]
        public async Task A_host_whose_broker_is_down_fails_to_start_within_the_start_timeout()
        {
            var closedPort = ServerTools.FreeLoopbackPort();
            using var host = BuildHost(
                [("ConnectionStrings:messaging", $"amqp://guest:guest@127.0.0.1:{closedPort}"), ("Messaging:StartTimeout", "00:00:03")],
                new MessageProbe(),
                x => x.AddConsumer<IngestedRecorder>());

            var watch = Stopwatch.StartNew();
            // MassTransit gives up when the timeout passes, and the host fails to start instead of waiting forever.
            var error = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync());
            Assert.True(error is RabbitMqConnectionException or OperationCanceledException, $"unexpected {error}");
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), $"start gave up after {watch.Elapsed}, not about 3 s");
            await host.StopAsync();
        }

        [Fact]
        public async Task The_in_memory_transport_delivers_within_one_process()
        {
            var probe = new MessageProbe();
            using var host = BuildHost([("Messaging:Transport", "InMemory")], probe, x => x.AddConsumer<IngestedRecorder>());
            await host.StartAsync();

            var sent = Ingested();
            await host.Services.GetRequiredService<IPublishEndpoint>().Publish(sent);

            Assert.Equal(sent, await probe.Received(sent.Dataset).WaitAsync(Patience));
            Assert.Equal(MessagingTransport.InMemory, host.Services.GetRequiredService<MessagingSettings>().Transport);
            await host.StopAsync();
        }

        private (string, string)[] RabbitMq(params (string, string)[] more) =>
            [("ConnectionStrings:messaging", servers.RabbitMq.ConnectionString), .. more];

        private IHost BuildHost((string Key, string Value)[] settings, MessageProbe probe, Action<IBusRegistrationConfigurator> consumers)
        {
            var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { ApplicationName = "BigDataAI.IntegrationTests" });
            builder.Configuration.AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value)));
            builder.Logging.AddTestOutput(output);
            builder.Services.AddSingleton(probe);
            builder.AddPlatformMessaging(consumers);
            return builder.Build();
        }

        private static DatasetIngested Ingested() =>
            new("probe-" + Guid.NewGuid().ToString("N"), 1, "datasets/probe/v1/manifest.json", 10, new string('0', 64), DateTimeOffset.UnixEpoch);
    }

    /// <summary>Signals from consumers to the test: a message per key, attempts, and the headers it arrived with.</summary>
    public sealed class MessageProbe
    {
        private readonly ConcurrentDictionary<string, TaskCompletionSource<DatasetIngested>> _received = new();
        private readonly ConcurrentDictionary<string, int> _attempts = new();
        private readonly ConcurrentDictionary<string, IReadOnlyDictionary<string, string>> _headers = new();

        public Task<DatasetIngested> Received(string key) => Signal(key).Task;

        public void Receive(string key, ConsumeContext<DatasetIngested> context)
        {
            // The fault details travel as transport headers (AMQP basic properties), not in the message envelope.
            _headers[key] = context.ReceiveContext.TransportHeaders.GetAll().ToDictionary(h => h.Key, h => h.Value?.ToString() ?? string.Empty);
            Signal(key).TrySetResult(context.Message);
        }

        public void Attempt(string key) => _attempts.AddOrUpdate(key, 1, (_, n) => n + 1);

        public int Attempts(string key) => _attempts.GetValueOrDefault(key);

        public IReadOnlyDictionary<string, string> Headers(string key) => _headers[key];

        private TaskCompletionSource<DatasetIngested> Signal(string key) =>
            _received.GetOrAdd(key, _ => new TaskCompletionSource<DatasetIngested>(TaskCreationOptions.RunContinuationsAsynchronously));
    }

    public sealed class IngestedRecorder(MessageProbe probe) : IConsumer<DatasetIngested>
    {
        public Task Consume(ConsumeContext<DatasetIngested> context)
        {
            probe.Receive(context.Message.Dataset, context);
            return Task.CompletedTask;
        }
    }

    public sealed class AlwaysFailingConsumer(MessageProbe probe) : IConsumer<DatasetIngested>
    {
        public const string Failure = "This consumer always fails (test)";

        public Task Consume(ConsumeContext<DatasetIngested> context)
        {
            probe.Attempt(context.Message.Dataset);
            throw new InvalidOperationException(Failure);
        }
    }

    public sealed class ErrorQueueReader(MessageProbe probe) : IConsumer<DatasetIngested>
    {
        public Task Consume(ConsumeContext<DatasetIngested> context)
        {
            probe.Receive("error:" + context.Message.Dataset, context);
            return Task.CompletedTask;
        }
    }
}

namespace BigDataAI.IntegrationTests.Platform.ModuleA
{
    public sealed class DatasetIngestedConsumer(MessageProbe probe) : IConsumer<DatasetIngested>
    {
        public Task Consume(ConsumeContext<DatasetIngested> context)
        {
            probe.Receive("A:" + context.Message.Dataset, context);
            return Task.CompletedTask;
        }
    }
}

namespace BigDataAI.IntegrationTests.Platform.ModuleB
{
    public sealed class DatasetIngestedConsumer(MessageProbe probe) : IConsumer<DatasetIngested>
    {
        public Task Consume(ConsumeContext<DatasetIngested> context)
        {
            probe.Receive("B:" + context.Message.Dataset, context);
            return Task.CompletedTask;
        }
    }
}
