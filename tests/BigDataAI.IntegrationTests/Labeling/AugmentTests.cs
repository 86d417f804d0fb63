using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using BigDataAI.Contracts.Labeling;
using BigDataAI.Datasets;
using BigDataAI.IntegrationTests.Infrastructure;
using BigDataAI.IntegrationTests.Services;
using BigDataAI.Protos.Ingestion.V1;
using BigDataAI.Protos.Labeling.V1;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;
using Task = System.Threading.Tasks.Task;
using LabelingClient = BigDataAI.Protos.Labeling.V1.LabelingService.LabelingServiceClient;

namespace BigDataAI.IntegrationTests.Labeling;

/// <summary>Augment over gRPC, with ingestion and labeling in one host on the real RabbitMQ and Azurite.</summary>
[Collection(ServersCollection.Name)]
public sealed class AugmentTests(ServersFixture servers, ITestOutputHelper output)
{
    /// <summary>The one place the test calls Augment (so call options, e.g. an auth header, are added here only).</summary>
    private static async Task<AugmentReply> AugmentAsync(ServiceHost host, AugmentRequest request)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        return await new LabelingClient(host.Channel).AugmentAsync(request, await LabelingLogin.HeadersAsync(host, LabelingLogin.Admin), cancellationToken: timeout.Token);
    }

    /// <summary>A CSV of two numeric features and 36 cats, 16 dogs and 8 birds.</summary>
    private static string ImbalancedCsv()
    {
        var text = new StringBuilder("x,n,label\n");
        var random = new Random(5);
        foreach (var (label, count, centre) in new[] { ("cat", 36, 0), ("dog", 16, 10), ("bird", 8, -10) })
        {
            for (var i = 0; i < count; i++)
            {
                text.Append(CultureInfo.InvariantCulture, $"{centre + random.NextDouble() * 2:0.000},{centre * 3 + random.Next(20)},{label}\n");
            }
        }
        return text.ToString();
    }

    [Fact]
    public async Task Smote_and_image_augmentation_commit_a_derived_version_whose_validation_and_test_are_the_parents()
    {
        await using var host = await ServiceHost.StartAsync(servers, output, Modules.Ingestion | Modules.Labeling, settings: LabelingLogin.Settings());
        var store = host.Services.GetRequiredService<DatasetStore>();
        using var files = new TempFolder();
        var tableName = "aug-table-" + Guid.NewGuid().ToString("N")[..8];
        var imagesName = "aug-images-" + Guid.NewGuid().ToString("N")[..8];

        await host.Ingestion.UploadRawAsync([
            new UploadRequest { Header = new UploadHeader { Dataset = tableName, Format = DatasetFormat.Csv, Files = { "data" } } },
            TestData.Chunk("data", ImbalancedCsv())]);
        await host.Ingestion.UploadIdxAsync(files, imagesName, TestData.Idx(120, seed: 4));
        await host.Messages.Published<DatasetLabeled>(m => m.Dataset == tableName && m.Version == 1);
        await host.Messages.Published<DatasetLabeled>(m => m.Dataset == imagesName && m.Version == 1);

        // Tables: SMOTE grows every smaller class to the largest.
        var smote = await AugmentAsync(host, new AugmentRequest { Dataset = tableName, Seed = 17, Table = new TableAugmentation { SmoteNeighbors = 3 } });
        output.WriteLine($"SMOTE: {smote.TrainRows} train rows, added {string.Join(", ", smote.Classes.Zip(smote.AddedPerClass, (c, n) => $"{c} {n}"))}");
        Assert.Equal((tableName, 2), (smote.Dataset, smote.Version));
        var parent = (await store.GetLabeledAsync(tableName, 1))!;
        var child = await CheckDerivedAsync(host, store, smote, parent, seed: 17);
        var largest = parent.Splits[Splits.Train].ClassCounts.Max();
        Assert.All(child.Splits[Splits.Train].ClassCounts, c => Assert.Equal(largest, c));
        Assert.Equal(0, smote.AddedPerClass[Array.IndexOf(parent.Classes, "cat")]);
        Assert.True(smote.AddedPerClass.All(n => n >= 0) && smote.AddedRows > 0);

        // Images: two seeded copies of every train image.
        var watch = Stopwatch.StartNew();
        var images = await AugmentAsync(host, new AugmentRequest
        {
            Dataset = imagesName, Seed = 3, Copies = 2,
            Image = new ImageAugmentation { MaxRotationDegrees = 15, MaxShiftPixels = 2, NoiseStddev = 0.05 },
        });
        output.WriteLine($"Images: {images.AddedRows} rows from {images.TrainRows} train images in {watch.ElapsedMilliseconds} ms");
        var imagesParent = (await store.GetLabeledAsync(imagesName, 1))!;
        await CheckDerivedAsync(host, store, images, imagesParent, seed: 3);
        Assert.Equal(2 * images.TrainRows, images.AddedRows);

        // The same request again is the same version, announced again; a recipe that does not fit, an unknown dataset.
        var again = await AugmentAsync(host, new AugmentRequest { Dataset = tableName, Version = 1, Seed = 17, Table = new TableAugmentation { SmoteNeighbors = 3 } });
        Assert.Equal((2, smote.AddedRows, smote.Recipe), (again.Version, again.AddedRows, again.Recipe));
        await host.Messages.Published<DatasetLabeled>(m => m.Dataset == tableName && m.Version == 2, count: 2);
        var wrong = await Assert.ThrowsAsync<RpcException>(() => AugmentAsync(host, new AugmentRequest { Dataset = tableName, Version = 1, Image = new ImageAugmentation() }));
        Assert.Equal(StatusCode.InvalidArgument, wrong.StatusCode);
        Assert.StartsWith("image:", wrong.Status.Detail, StringComparison.Ordinal);
        var bounds = await Assert.ThrowsAsync<RpcException>(() => AugmentAsync(host, new AugmentRequest { Dataset = imagesName, Image = new ImageAugmentation { MaxShiftPixels = 9 } }));
        Assert.Equal(StatusCode.InvalidArgument, bounds.StatusCode);
        Assert.Contains("image.max_shift_pixels", bounds.Status.Detail, StringComparison.Ordinal);
        var missing = await Assert.ThrowsAsync<RpcException>(() => AugmentAsync(host, new AugmentRequest { Dataset = "no-such-" + tableName, Table = new TableAugmentation() }));
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
        Assert.Equal(3, (await store.ListAsync(tableName)).Count + (await store.ListAsync(imagesName)).Count - 1);
    }

    /// <summary>Checks the derived version the reply names against its parent; returns its labeled manifest.</summary>
    private static async Task<LabeledManifest> CheckDerivedAsync(ServiceHost host, DatasetStore store, AugmentReply reply, LabeledManifest parent, long seed)
    {
        var manifest = (await store.GetAsync(reply.Dataset, reply.Version))!;
        Assert.NotNull(manifest.Lineage);
        Assert.Equal("augment", manifest.Lineage.Step);
        Assert.Equal(parent.Version, manifest.Lineage.ParentVersion);
        Assert.Equal([DatasetPaths.Manifest(parent.Dataset, parent.Version)], manifest.Lineage.SourceFiles);
        Assert.Equal(reply.Recipe, manifest.Lineage.Recipe);
        using (var recipe = JsonDocument.Parse(manifest.Lineage.Recipe!))
        {
            Assert.Equal(seed, recipe.RootElement.GetProperty("seed").GetInt64());
            Assert.Equal(parent.Version, recipe.RootElement.GetProperty("parentVersion").GetInt32());
        }

        var labeled = (await store.GetLabeledAsync(reply.Dataset, reply.Version))!;
        foreach (var split in new[] { Splits.Validation, Splits.Test })
        {
            // The same rows in the same order: the same shard bytes.
            Assert.Equal(parent.Splits[split].Shards.Select(s => s.Sha256), labeled.Splits[split].Shards.Select(s => s.Sha256));
            Assert.Equal((await store.ReadSplitAsync(parent, split)).RowIds, (await store.ReadSplitAsync(labeled, split)).RowIds);
        }
        var parentTrain = parent.Splits[Splits.Train];
        var train = labeled.Splits[Splits.Train];
        Assert.Equal(parentTrain.Rows, reply.TrainRows);
        Assert.Equal(parentTrain.Rows + reply.AddedRows, train.Rows);
        Assert.Equal(parent.Classes, reply.Classes);
        Assert.Equal(parentTrain.ClassCounts.Zip(reply.AddedPerClass, (a, b) => a + b), train.ClassCounts);
        Assert.Equal(manifest.Rows, train.Rows + labeled.Splits[Splits.Validation].Rows + labeled.Splits[Splits.Test].Rows);

        // The generated rows have new ids, beyond the parent's.
        var rows = await store.ReadSplitAsync(labeled, Splits.Train);
        var parentIds = (await store.ReadSplitAsync(parent, Splits.Train)).RowIds;
        Assert.Equal(parentIds, rows.RowIds.Take(parentIds.Length));
        var parentMax = Math.Max(parentIds.Max(), (await store.ReadAsync((await store.GetAsync(parent.Dataset, parent.Version))!)).RowIds.Max());
        Assert.All(rows.RowIds.Skip(parentIds.Length), id => Assert.True(id > parentMax));
        Assert.Equal(rows.Rows, rows.RowIds.Distinct().Count());

        var announced = await host.Messages.Published<DatasetLabeled>(m => m.Dataset == reply.Dataset && m.Version == reply.Version);
        Assert.Equal(train.Rows, announced.TrainRows);
        return labeled;
    }
}
