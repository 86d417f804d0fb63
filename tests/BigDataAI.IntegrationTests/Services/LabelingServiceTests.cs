using System.Text.Json;
using BigDataAI.Contracts.Ingestion;
using BigDataAI.Contracts.Labeling;
using BigDataAI.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace BigDataAI.IntegrationTests.Services;

/// <summary>Ingestion and labeling in one host, talking over RabbitMQ as they do when deployed.</summary>
[Collection(ServersCollection.Name)]
public sealed class LabelingServiceTests(ServersFixture servers, ITestOutputHelper output)
{
    [Fact]
    public async Task An_upload_is_labeled_and_split_and_a_repeated_DatasetIngested_is_announced_again_without_relabeling()
    {
        await using var host = await ServiceHost.StartAsync(servers, output, Modules.Ingestion | Modules.Labeling);
        using var files = new TempFolder();
        var name = "labels-" + Guid.NewGuid().ToString("N")[..8];

        var upload = await host.Ingestion.UploadIdxAsync(files, name, TestData.Idx(300, seed: 3));
        var labeled = await host.Messages.Published<DatasetLabeled>(m => m.Dataset == name && m.Version == 1);

        var path = $"datasets/{name}/v000001/labeled/manifest.json";
        Assert.Equal(path, labeled.LabeledManifestPath);
        Assert.Equal(upload.Dataset.Rows, labeled.TrainRows + labeled.ValidationRows + labeled.TestRows);
        Assert.True(labeled.TrainRows > labeled.ValidationRows && labeled.ValidationRows > 0 && labeled.TestRows > 0, $"split {labeled}");

        var first = await host.Blobs.GetBlobClient(path).GetPropertiesAsync();
        var manifestBytes = await host.ReadBlobAsync(path);
        DateTimeOffset createdAt;
        using (var manifest = JsonDocument.Parse(manifestBytes))
        {
            var root = manifest.RootElement;
            createdAt = root.GetProperty("createdAt").GetDateTimeOffset();
            Assert.Equal(upload.Dataset.ManifestPath, root.GetProperty("sourceManifestPath").GetString());
            var splits = root.GetProperty("splits");
            long rows = 0;
            foreach (var (split, expected) in new[] { ("train", labeled.TrainRows), ("validation", labeled.ValidationRows), ("test", labeled.TestRows) })
            {
                var info = splits.GetProperty(split);
                Assert.Equal(expected, info.GetProperty("rows").GetInt64());
                // Stratified: every class is in every split, and the class counts add up to the split.
                var classCounts = info.GetProperty("classCounts").EnumerateArray().Select(c => c.GetInt64()).ToList();
                Assert.Equal(TestData.Classes, classCounts.Count);
                Assert.All(classCounts, c => Assert.True(c > 0));
                Assert.Equal(expected, classCounts.Sum());
                foreach (var shard in info.GetProperty("shards").EnumerateArray())
                {
                    Assert.True(await host.BlobExistsAsync(shard.GetProperty("path").GetString()!));
                }
                rows += expected;
            }
            Assert.Equal(upload.Dataset.Rows, rows);
        }
        Assert.Equal(createdAt, labeled.LabeledAt);
        var labeledBlobs = await host.ListBlobsAsync($"datasets/{name}/v000001/labeled/");

        // The same DatasetIngested again (a redelivery, or a second publisher): announced again, labeled once.
        var ingested = await host.Messages.Published<DatasetIngested>(m => m.Dataset == name && m.Version == 1);
        await host.Bus.Publish(ingested);
        var again = await host.Messages.Published<DatasetLabeled>(m => m.Dataset == name && m.Version == 1, count: 2);

        Assert.Equal(labeled, again);
        Assert.Equal(labeledBlobs, await host.ListBlobsAsync($"datasets/{name}/v000001/labeled/"));
        Assert.Single(await host.ListBlobsAsync($"datasets/{name}/"), p => p.EndsWith("labeled/manifest.json", StringComparison.Ordinal));
        var second = await host.Blobs.GetBlobClient(path).GetPropertiesAsync();
        Assert.Equal(first.Value.ETag, second.Value.ETag);
        Assert.Equal(manifestBytes, await host.ReadBlobAsync(path));
    }
}
