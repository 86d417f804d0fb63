using System.Diagnostics;
using BigDataAI.Client;
using BigDataAI.Datasets;
using BigDataAI.Ingestion.Appends;
using BigDataAI.IntegrationTests.EndToEnd;
using BigDataAI.IntegrationTests.Infrastructure;
using BigDataAI.IntegrationTests.Services;
using BigDataAI.Protos.Ingestion.V1;
using BigDataAI.Storage;
using Grpc.Core;
using Xunit.Abstractions;

namespace BigDataAI.IntegrationTests.Appends;

/// <summary>The ingestion host as its own process, SIGKILLed in the middle of an append, then a host started again on its storage.</summary>
[Collection(ServersCollection.Name)]
public sealed class AppendCrashTests(ServersFixture servers, ITestOutputHelper output)
{
    private const int RowsPerBatch = 5;

    [Fact]
    public async Task An_ingestion_host_killed_mid_append_loses_no_acknowledged_batch_and_shows_no_partial_version()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        var ct = timeout.Token;
        var container = $"append-{Guid.NewGuid():N}"[..24];
        var dll = HostBuilds.Dlls(["Ingestion"])["Ingestion"];
        var environment = new Dictionary<string, string>
        {
            ["ConnectionStrings__messaging"] = servers.RabbitMq.ConnectionString,
            ["ConnectionStrings__blobs"] = servers.Azurite.ConnectionString,
            ["Storage__Container"] = container,
            ["DOTNET_ENVIRONMENT"] = "Production",
            // Before the kill nothing is committed: the acknowledged batches exist only as staged files.
            ["Appends__MaxDelay"] = "01:00:00",
        };
        var blobs = servers.Azurite.CreateServiceClient().GetBlobContainerClient(container);
        var store = new DatasetStore(new AzureBlobObjectStore(blobs));
        const string name = "appended";
        var watch = Stopwatch.StartNew();
        var first = HostProcess.Start("Ingestion", dll, ServerTools.FreeLoopbackPort(), environment);
        ServiceHost? second = null;
        try
        {
            await first.WaitUntilServingAsync(TimeSpan.FromSeconds(60), ct);
            var client = new IngestionService.IngestionServiceClient(first.Channel);
            await AppendTestData.UploadFirstVersionAsync(client, name);
            output.WriteLine($"[{watch.Elapsed.TotalSeconds:F1}s] first host serving, v1 uploaded");

            var session = await client.StartAppendAsync(name, "crashy", ct);
            for (var s = 1; s <= 5; s++)
            {
                Assert.False((await session.AppendAsync(AppendTestData.Batch(s, RowsPerBatch), cancellationToken: ct)).Duplicate);
            }
            // Batch 6 is on its way (maybe staged, never acknowledged) when the host dies.
            var unacknowledged = session.AppendAsync(AppendTestData.Batch(6, RowsPerBatch), cancellationToken: ct);
            await first.KillAsync();
            try
            {
                await unacknowledged;
                output.WriteLine("batch 6 was acknowledged just before the kill");
            }
            catch (Exception e) when (e is RpcException or InvalidOperationException or IOException)
            {
            }
            session.Dispose();
            output.WriteLine($"[{watch.Elapsed.TotalSeconds:F1}s] host killed after 5 acknowledged batches");

            // No version but the upload is visible; the acknowledged batches are all staged.
            Assert.Equal([1], (await store.ListAsync(name, ct)).Select(m => m.Version));
            var staged = new List<string>();
            await foreach (var path in store.Objects.ListAsync(AppendPaths.StagedRoot(name), ct))
            {
                staged.Add(path);
            }
            Assert.Equal([1L, 2, 3, 4, 5], staged.Select(p => AppendPaths.TryParseStaged(p, out _, out var s) ? s : 0).Where(s => s <= 5));

            // Started again (in this process, to keep the test short) with quick commits: it finds the staged batches by
            // itself; the producer resumes where the service says.
            second = await ServiceHost.StartAsync(servers, output, Modules.Ingestion, container: container,
                settings: new Dictionary<string, string?> { ["Appends:MaxDelay"] = "00:00:00.500" });
            client = second.Ingestion;
            using (var resumed = await client.StartAppendAsync(name, "crashy", ct))
            {
                Assert.InRange(resumed.Started.NextSequence, 6, 7);
                // The producer resends what was not acknowledged (batch 6), then goes on.
                for (var s = 6L; s <= 8; s++)
                {
                    var ack = await resumed.AppendAsync(AppendTestData.Batch(s, RowsPerBatch), sequence: s, cancellationToken: ct);
                    Assert.Equal(s, ack.Sequence);
                }
                await resumed.CompleteAsync(ct);
            }
            DatasetManifest newest;
            while ((newest = await store.GetRequiredAsync(name, 0, ct)).AppendSequences?.GetValueOrDefault("crashy") != 8)
            {
                await Task.Delay(100, ct);
            }
            output.WriteLine($"[{watch.Elapsed.TotalSeconds:F1}s] v{newest.Version} holds batches 1-8");

            // Every batch exactly once, row ids 0..n-1, and every visible version complete (all shards readable).
            Assert.Equal(AppendTestData.FirstRows + 8 * RowsPerBatch, newest.Rows);
            var table = await store.ReadAsync(newest, ct);
            Assert.Equal(Enumerable.Range(0, (int)newest.Rows).Select(i => (long)i), table.RowIds);
            var names = ((string?[])table["name"].Values).Skip(AppendTestData.FirstRows).ToList();
            Assert.Equal(Enumerable.Range(1, 8).SelectMany(s => Enumerable.Range(0, RowsPerBatch).Select(i => $"b{s}-{i}")).Order(), names.Order());
            foreach (var version in await store.ListAsync(name, ct))
            {
                Assert.Equal(version.Rows, (await store.ReadAsync(version, ct)).Rows);
            }
        }
        catch
        {
            output.WriteLine("--- first host ---\n" + first.Output);
            throw;
        }
        finally
        {
            await first.DisposeAsync();
            if (second is not null)
            {
                await second.DisposeAsync();
            }
            await blobs.DeleteIfExistsAsync();
        }
    }
}
