using System.Diagnostics;
using System.Text.Json;
using BigDataAI.Client;
using BigDataAI.Contracts.Ingestion;
using BigDataAI.Datasets;
using BigDataAI.Hosting;
using BigDataAI.Ingestion.Appends;
using BigDataAI.IntegrationTests.Infrastructure;
using BigDataAI.IntegrationTests.Services;
using BigDataAI.Protos.Ingestion.V1;
using Grpc.Core;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace BigDataAI.IntegrationTests.Appends;

/// <summary>Streaming appends (AppendRows over gRPC, AppendRowsBatch over the bus) in a real host, over RabbitMQ and Azurite.</summary>
[Collection(ServersCollection.Name)]
public sealed class AppendRowsTests(ServersFixture servers, ITestOutputHelper output)
{
    /// <summary>Versions are committed half a second after the first staged batch; big batches of rows never trigger one alone.</summary>
    private static readonly Dictionary<string, string?> FastCommits = new()
    {
        ["Appends:MaxDelay"] = "00:00:00.500",
        ["Appends:MaxRows"] = "100000",
    };

    [Fact]
    public async Task Batches_over_gRPC_become_a_version_listing_the_previous_shards_and_a_retried_batch_is_appended_once()
    {
        await using var host = await ServiceHost.StartAsync(servers, output, Modules.Ingestion, settings: FastCommits);
        var name = "append-" + Guid.NewGuid().ToString("N")[..8];
        var v1 = (await AppendTestData.UploadFirstVersionAsync(host.Ingestion, name)).Dataset;

        using (var session = await host.Ingestion.StartAppendAsync(name, "sensor-1"))
        {
            Assert.Equal(1, session.Started.Version);
            Assert.Equal(1, session.Started.NextSequence);
            Assert.Equal(["x", "name", "label"], session.Started.Columns.Select(c => c.Name));
            var first = await session.AppendAsync(AppendTestData.Batch(1, 3));
            Assert.Equal((1L, false, 3), (first.Sequence, first.Duplicate, first.Rows));
            Assert.False((await session.AppendAsync(AppendTestData.Batch(2, 2))).Duplicate);
            // A producer that did not see the ack sends batch 2 again: acknowledged, not stored again.
            var retried = await session.AppendAsync(AppendTestData.Batch(2, 2), sequence: 2);
            Assert.Equal((2L, true), (retried.Sequence, retried.Duplicate));
            await session.CompleteAsync();
        }

        // Half a second after the first batch: usually one version with both batches (two on a slow machine).
        var store = host.Services.GetRequiredService<DatasetStore>();
        var appended = await CommittedAsync(store, name, "sensor-1", 2);
        var ingested = await host.Messages.Published<DatasetIngested>(m => m.Dataset == name && m.Version == appended.Version);
        Assert.Equal(AppendTestData.FirstRows + 5, ingested.Rows);
        Assert.Equal(AppendTestData.FirstRows + 5, appended.Rows);
        var parent = await store.GetRequiredAsync(name, 1);
        // Delta Lake style: the parent's shards, as they are, then the new ones; row ids continue.
        Assert.Equal(parent.Shards, appended.Shards.Take(parent.Shards.Count));
        Assert.True(appended.Shards.Count > parent.Shards.Count);
        Assert.Equal(parent.EffectiveSchema, appended.EffectiveSchema);
        Assert.Equal(new Dictionary<string, long> { ["sensor-1"] = 2 }, appended.AppendSequences);
        Assert.Equal(("append", (int?)(appended.Version - 1)), (appended.Lineage!.Step, appended.Lineage.ParentVersion));
        Assert.Equal(["0", "1", "2"], appended.Classes);
        Assert.Equal([3 + 3, 3, 2], appended.ClassCounts); // v1: 3 and 3; the batches: 0,2,0 and 0,2
        var table = await store.ReadAsync(appended);
        Assert.Equal(Enumerable.Range(0, AppendTestData.FirstRows + 5).Select(i => (long)i), table.RowIds);
        Assert.Equal(["b1-0", "b1-1", "b1-2", "b2-0", "b2-1"], ((string?[])table["name"].Values).Skip(AppendTestData.FirstRows).Select(n => n!).ToList());

        // Committed batches are no longer staged; a new call resumes after them, and an old sequence stays a duplicate.
        Assert.Empty(await host.ListBlobsAsync(AppendPaths.StagedRoot(name)));
        using (var again = await host.Ingestion.StartAppendAsync(name, "sensor-1"))
        {
            Assert.Equal(appended.Version, again.Started.Version);
            Assert.Equal(3, again.Started.NextSequence);
            Assert.True((await again.AppendAsync(AppendTestData.Batch(1, 3), sequence: 1)).Duplicate);
            await again.CompleteAsync();
        }
        // Another producer counts from 1 on its own.
        using (var other = await host.Ingestion.StartAppendAsync(name, "sensor-2"))
        {
            Assert.Equal(1, other.Started.NextSequence);
            Assert.False((await other.AppendAsync(AppendTestData.Batch(1, 1))).Duplicate);
            await other.CompleteAsync();
        }
        var last = await CommittedAsync(store, name, "sensor-2", 1);
        Assert.Equal(new Dictionary<string, long> { ["sensor-1"] = 2, ["sensor-2"] = 1 }, last.AppendSequences);
        Assert.Equal(AppendTestData.FirstRows + 6, last.Rows);
        Assert.Equal(last.Version, (await host.Ingestion.ListDatasetsAsync(new ListDatasetsRequest { Dataset = name })).Datasets.Count);
        Assert.Equal(1, v1.Version);
    }

    [Fact]
    public async Task A_gap_an_unknown_dataset_and_bad_cells_are_refused_with_the_status_and_what_is_wrong()
    {
        await using var host = await ServiceHost.StartAsync(servers, output, Modules.Ingestion, settings: FastCommits);
        var name = "append-" + Guid.NewGuid().ToString("N")[..8];
        await AppendTestData.UploadFirstVersionAsync(host.Ingestion, name);

        var missing = await Assert.ThrowsAsync<RpcException>(() => host.Ingestion.StartAppendAsync("no-such-" + name, "p"));
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
        Assert.Contains("does not exist", missing.Status.Detail);

        var badProducer = await Assert.ThrowsAsync<RpcException>(() => host.Ingestion.StartAppendAsync(name, "../p"));
        Assert.Equal(StatusCode.InvalidArgument, badProducer.StatusCode);
        Assert.Contains("Producer '../p' is invalid", badProducer.Status.Detail);

        using (var session = await host.Ingestion.StartAppendAsync(name, "gappy"))
        {
            Assert.False((await session.AppendAsync(AppendTestData.Batch(1, 2))).Duplicate);
            var gap = await Assert.ThrowsAsync<RpcException>(() => session.AppendAsync(AppendTestData.Batch(3, 2), sequence: 3));
            Assert.Equal(StatusCode.FailedPrecondition, gap.StatusCode);
            Assert.Contains("expected batch 2, received 3", gap.Status.Detail);
        }

        async Task<RpcException> RefusedAsync(AppendRow row)
        {
            using var session = await host.Ingestion.StartAppendAsync(name, "bad-" + Guid.NewGuid().ToString("N")[..6]);
            return await Assert.ThrowsAsync<RpcException>(() => session.AppendAsync([row]));
        }
        var unknown = await RefusedAsync(AppendRowsClientExtensions.Row(("x", AppendRowsClientExtensions.Double(1)), ("colour", AppendRowsClientExtensions.String("red"))));
        Assert.Equal(StatusCode.InvalidArgument, unknown.StatusCode);
        Assert.Contains("Batch 1, row 0: 'colour' is not a column", unknown.Status.Detail);
        var wrongType = await RefusedAsync(AppendRowsClientExtensions.Row(("x", AppendRowsClientExtensions.String("high"))));
        Assert.Equal(StatusCode.InvalidArgument, wrongType.StatusCode);
        Assert.Contains("Batch 1, row 0, column 'x': a string_value cell does not fit a double column", wrongType.Status.Detail);
        using (var session = await host.Ingestion.StartAppendAsync(name, "empty"))
        {
            var empty = await Assert.ThrowsAsync<RpcException>(() => session.AppendAsync([]));
            Assert.Equal(StatusCode.InvalidArgument, empty.StatusCode);
            Assert.Contains("Batch 1 has no rows", empty.Status.Detail);
        }
        // Nothing refused was staged: only the one good batch of "gappy".
        var staged = await host.ListBlobsAsync(AppendPaths.StagedRoot(name));
        var committed = await host.Services.GetRequiredService<DatasetStore>().GetAsync(name, 2);
        Assert.True(staged.Count + (committed?.AppendSequences?.Count ?? 0) == 1, $"staged: {string.Join(", ", staged)}; v2: {committed?.Rows}");
    }

    [Fact]
    public async Task A_batch_with_a_row_that_breaks_an_expectation_is_refused_before_it_is_staged_over_gRPC_and_on_the_bus()
    {
        await using var host = await ServiceHost.StartAsync(servers, output, Modules.Ingestion, settings: FastCommits);
        var name = "append-" + Guid.NewGuid().ToString("N")[..8];
        await AppendTestData.UploadFirstVersionAsync(host.Ingestion, name);
        await host.Ingestion.SetExpectationsAsync(new SetExpectationsRequest
        {
            Dataset = name,
            Columns =
            {
                new ColumnExpectation { Column = "x", Min = 0, Max = 100 },
                new ColumnExpectation { Column = "name", Unique = true },
                new ColumnExpectation { Column = "label", AllowedValues = { "0", "1", "2" } },
            },
        });
        static AppendRow Row(double x, string name, long label) =>
            AppendRowsClientExtensions.Row(("x", AppendRowsClientExtensions.Double(x)), ("name", AppendRowsClientExtensions.String(name)), ("label", AppendRowsClientExtensions.Int64(label)));

        // Batch 1 passes; batch 2 breaks an expectation in its second row, so the call ends with it and stages nothing of it.
        async Task<RpcException> RefusedAsBatch2Async(IReadOnlyList<AppendRow> rows)
        {
            using var session = await host.Ingestion.StartAppendAsync(name, "sensor");
            Assert.Equal(2, session.Started.NextSequence);
            return await Assert.ThrowsAsync<RpcException>(() => session.AppendAsync(rows, sequence: 2));
        }
        using (var session = await host.Ingestion.StartAppendAsync(name, "sensor"))
        {
            Assert.False((await session.AppendAsync([Row(1, "a", 0), Row(2, "b", 1)])).Duplicate);
            var range = await Assert.ThrowsAsync<RpcException>(() => session.AppendAsync([Row(3, "c", 0), Row(-5.5, "d", 1)]));
            Assert.Equal(StatusCode.InvalidArgument, range.StatusCode);
            Assert.Equal("Batch 2, row 1, column 'x': -5.5 is below the expected minimum 0 (expectation min).", range.Status.Detail);
        }
        var allowed = await RefusedAsBatch2Async([Row(3, "c", 0), Row(4, "d", 1), Row(5, "e", 7)]);
        Assert.Equal(StatusCode.InvalidArgument, allowed.StatusCode);
        Assert.StartsWith("Batch 2, row 2, column 'label': '7' is not one of the expected values (0, 1, 2) (expectation allowed_values)", allowed.Status.Detail, StringComparison.Ordinal);
        var twice = await RefusedAsBatch2Async([Row(3, "c", 0), Row(4, "d", 1), Row(5, "c", 0)]);
        Assert.Equal("Batch 2, row 2, column 'name': 'c' appears in an earlier row; the column is expected to be unique (expectation unique).", twice.Status.Detail);
        // Uniqueness is checked within a batch only: "a" again, as in batch 1 (and not in v1), is taken.
        using (var session = await host.Ingestion.StartAppendAsync(name, "sensor"))
        {
            Assert.Equal(2, session.Started.NextSequence);
            Assert.False((await session.AppendAsync([Row(3, "a", 2)])).Duplicate);
            await session.CompleteAsync();
        }
        var store = host.Services.GetRequiredService<DatasetStore>();
        var committed = await CommittedAsync(store, name, "sensor", 2);
        Assert.Equal(AppendTestData.FirstRows + 3, committed.Rows);
        Assert.Equal([1d, 2, 3], ((double?[])(await store.ReadAsync(committed))["x"].Values).Skip(AppendTestData.FirstRows).Select(x => x!.Value));

        // On the bus: the same refusal, retried, then to the error queue; MassTransit's Fault carries the message.
        var bad = new AppendRowsBatch(name, "bus-producer", 1,
        [
            new Dictionary<string, JsonElement> { ["x"] = JsonSerializer.SerializeToElement(1.0), ["name"] = JsonSerializer.SerializeToElement("bus-0"), ["label"] = JsonSerializer.SerializeToElement(0) },
            new Dictionary<string, JsonElement> { ["x"] = JsonSerializer.SerializeToElement(500.0), ["name"] = JsonSerializer.SerializeToElement("bus-1"), ["label"] = JsonSerializer.SerializeToElement(0) },
        ]);
        await host.Bus.Publish(bad);
        var fault = await host.Messages.Published<Fault<AppendRowsBatch>>(f => f.Message.Dataset == name);
        const string Reason = "Batch 1, row 1, column 'x': 500 is above the expected maximum 100 (expectation max).";
        Assert.Equal(Reason, Assert.Single(fault.Exceptions).Message);
        Assert.Equal(typeof(AppendRejectedException).FullName, fault.Exceptions[0].ExceptionType);
        var queue = PlatformEndpointNameFormatter.Instance.Consumer<AppendRowsBatchConsumer>() + "_error";
        await using var connection = await servers.RabbitMq.CreateConnectionFactory().CreateConnectionAsync();
        // MassTransit publishes the Fault before it moves the message, and declares the error queue only when it moves
        // the first one: wait for the move. A get on a queue not declared yet is NOT_FOUND and closes its channel, so
        // each try has a channel of its own.
        RabbitMQ.Client.BasicGetResult? dead = null;
        await WaitForAsync(async () =>
        {
            await using var channel = await connection.CreateChannelAsync();
            try
            {
                return (dead = await channel.BasicGetAsync(queue, autoAck: true)) is not null;
            }
            catch (RabbitMQ.Client.Exceptions.OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == 404)
            {
                return false;
            }
        }, $"the refused batch in {queue}");
        Assert.Contains(name, System.Text.Encoding.UTF8.GetString(dead!.Body.Span), StringComparison.Ordinal);
        Assert.Equal(Reason, System.Text.Encoding.UTF8.GetString((byte[])dead.BasicProperties.Headers!["MT-Fault-Message"]!));
        Assert.Empty(await host.ListBlobsAsync(AppendPaths.StagedFolder(name, "bus-producer")));
        Assert.Equal(committed.Version, (await store.GetRequiredAsync(name, 0)).Version);
    }

    [Fact]
    public async Task Batches_on_the_bus_are_staged_exactly_once_and_committed()
    {
        await using var host = await ServiceHost.StartAsync(servers, output, Modules.Ingestion, settings: FastCommits);
        var name = "append-" + Guid.NewGuid().ToString("N")[..8];
        await AppendTestData.UploadFirstVersionAsync(host.Ingestion, name);

        static IReadOnlyDictionary<string, JsonElement> Row(long sequence, int i) => new Dictionary<string, JsonElement>
        {
            ["x"] = JsonSerializer.SerializeToElement(sequence + i / 10.0),
            ["name"] = JsonSerializer.SerializeToElement($"bus{sequence}-{i}"),
            ["label"] = JsonSerializer.SerializeToElement(1),
        };
        AppendRowsBatch Batch(long sequence) => new(name, "bus-producer", sequence, [.. Enumerable.Range(0, 4).Select(i => Row(sequence, i))]);

        // Out of order (as competing consumers may take them), then batch 2 again (a producer's retry): four deliveries, three batches.
        foreach (var sequence in new long[] { 3, 1, 2, 2 })
        {
            await host.Bus.Publish(Batch(sequence));
        }
        var version = await host.Messages.Published<DatasetIngested>(m => m.Dataset == name && m.Version >= 2);
        var store = host.Services.GetRequiredService<DatasetStore>();
        // Wait until every batch is committed (the duplicate may land before or after the first commit).
        var watch = Stopwatch.StartNew();
        DatasetManifest newest;
        while ((newest = await store.GetRequiredAsync(name, 0)).AppendSequences?.GetValueOrDefault("bus-producer") != 3)
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"batches 1-3 not all committed; newest v{newest.Version}, {newest.Rows} rows");
            await Task.Delay(100);
        }
        Assert.Equal(AppendTestData.FirstRows + 12, newest.Rows);
        var names = ((string?[])(await store.ReadAsync(newest))["name"].Values).Skip(AppendTestData.FirstRows).ToList();
        Assert.Equal(12, names.Distinct().Count());
        Assert.Equal(Enumerable.Range(1, 3).SelectMany(s => Enumerable.Range(0, 4).Select(i => $"bus{s}-{i}")).Order(), names.Order());
        _ = version;
    }

    [Fact]
    public async Task While_storage_is_frozen_acks_stop_and_the_call_stops_reading_then_every_batch_is_committed_once()
    {
        const int batches = 24;
        const int rowsPerBatch = 100;
        await using var host = await ServiceHost.StartAsync(servers, output, Modules.Ingestion, settings: new Dictionary<string, string?>(FastCommits)
        {
            ["Appends:MaxPendingBatches"] = "2",
            ["Appends:MaxPendingBytes"] = "1000000",
        });
        var name = "append-" + Guid.NewGuid().ToString("N")[..8];
        await AppendTestData.UploadFirstVersionAsync(host.Ingestion, name);
        var stager = host.Services.GetRequiredService<AppendStager>();

        using var call = host.Ingestion.AppendRows();
        await call.RequestStream.WriteAsync(new AppendRowsRequest { Start = new AppendStart { Dataset = name, Producer = "fast" } });
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        var acks = 0;
        var reader = Task.Run(async () =>
        {
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
                Interlocked.Increment(ref acks);
            }
        });
        // About 100 KB per batch (1 KB names): 2.4 MB in all, more than HTTP/2 lets a client send unread.
        var written = 0;
        var writer = Task.Run(async () =>
        {
            for (var s = 1; s <= batches; s++)
            {
                var batch = new AppendBatch { Sequence = s };
                batch.Rows.AddRange(AppendTestData.Batch(s, rowsPerBatch, padding: 1000));
                await call.RequestStream.WriteAsync(new AppendRowsRequest { Batch = batch });
                Interlocked.Increment(ref written);
            }
            await call.RequestStream.CompleteAsync();
        });
        await WaitForAsync(() => Volatile.Read(ref acks) >= 2, "the first acks");

        await servers.Azurite.PauseAsync();
        int acksWhileFrozen, writtenWhileFrozen;
        (int Batches, long Bytes, int Waiting) pendingWhileFrozen;
        var memoryBefore = GC.GetTotalMemory(forceFullCollection: true);
        long memoryFrozen;
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(1));
            acksWhileFrozen = Volatile.Read(ref acks);
            writtenWhileFrozen = Volatile.Read(ref written);
            await Task.Delay(TimeSpan.FromSeconds(2));
            pendingWhileFrozen = stager.Pending(name);
            memoryFrozen = GC.GetTotalMemory(forceFullCollection: true);
            // Frozen: not one more ack, and the writer is held back (the service stopped reading).
            Assert.Equal(acksWhileFrozen, Volatile.Read(ref acks));
            Assert.Equal(writtenWhileFrozen, Volatile.Read(ref written));
            Assert.True(writtenWhileFrozen < batches, $"all {batches} batches were written while storage was frozen");
            Assert.InRange(pendingWhileFrozen.Batches, 0, 2);
            Assert.InRange(pendingWhileFrozen.Bytes, 0, 1_000_000);
        }
        finally
        {
            await servers.Azurite.ResumeAsync();
        }
        output.WriteLine($"frozen 3 s: {acksWhileFrozen} acks, {writtenWhileFrozen}/{batches} batches written, staging {pendingWhileFrozen.Batches} batches / {pendingWhileFrozen.Bytes} bytes; managed heap {memoryBefore / 1e6:F1} -> {memoryFrozen / 1e6:F1} MB");
        Assert.InRange(memoryFrozen - memoryBefore, long.MinValue, 32L << 20);

        await writer.WaitAsync(TimeSpan.FromSeconds(60));
        await reader.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(batches, acks);
        var store = host.Services.GetRequiredService<DatasetStore>();
        await WaitForAsync(async () => (await store.GetRequiredAsync(name, 0)).AppendSequences?.GetValueOrDefault("fast") == batches, "every batch committed");
        var newest = await store.GetRequiredAsync(name, 0);
        Assert.Equal(AppendTestData.FirstRows + batches * rowsPerBatch, newest.Rows);
        var names = ((string?[])(await store.ReadAsync(newest))["name"].Values).Skip(AppendTestData.FirstRows).ToList();
        Assert.Equal(batches * rowsPerBatch, names.Distinct().Count());
    }

    /// <summary>The newest version once it holds <paramref name="producer"/>'s batches up to <paramref name="sequence"/>.</summary>
    internal static async Task<DatasetManifest> CommittedAsync(DatasetStore store, string dataset, string producer, long sequence)
    {
        DatasetManifest? newest = null;
        await WaitForAsync(async () => (newest = await store.GetRequiredAsync(dataset, 0)).AppendSequences?.GetValueOrDefault(producer) >= sequence,
            $"{producer}'s batch {sequence} committed to {dataset}");
        return newest!;
    }

    private static Task WaitForAsync(Func<bool> condition, string what) => WaitForAsync(() => Task.FromResult(condition()), what);

    private static async Task WaitForAsync(Func<Task<bool>> condition, string what)
    {
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), $"timed out waiting for {what}");
            await Task.Delay(50);
        }
    }
}
