using System.IO.Compression;
using System.Text.Json;
using BigDataAI.Contracts.Ingestion;
using BigDataAI.IntegrationTests.Infrastructure;
using BigDataAI.Protos.Ingestion.V1;
using Grpc.Core;
using Xunit.Abstractions;

namespace BigDataAI.IntegrationTests.Services;

/// <summary>The ingestion module's gRPC API in a real host, over the real broker and Azurite.</summary>
[Collection(ServersCollection.Name)]
public sealed class IngestionServiceTests(ServersFixture servers, ITestOutputHelper output)
{
    [Fact]
    public async Task An_IDX_upload_becomes_version_1_identical_content_is_deduplicated_and_new_content_becomes_version_2()
    {
        await using var host = await ServiceHost.StartAsync(servers, output, Modules.Ingestion);
        using var files = new TempFolder();
        var name = "digits-" + Guid.NewGuid().ToString("N")[..8];
        var first = TestData.Idx(300, seed: 1);

        var reply = await host.Ingestion.UploadIdxAsync(files, name, first);

        Assert.False(reply.Deduplicated);
        var v1 = reply.Dataset;
        Assert.Equal(name, v1.Dataset);
        Assert.Equal(1, v1.Version);
        Assert.Equal(300, v1.Rows);
        Assert.Equal(TestData.Pixels, v1.Features);
        Assert.Equal([28, 28], v1.FeatureShape);
        Assert.Equal(["0", "1", "2"], v1.Classes);
        Assert.Equal($"datasets/{name}/v000001/manifest.json", v1.ManifestPath);
        Assert.Matches("^[0-9a-f]{64}$", v1.SourceSha256);

        // GetDataset (newest and by number) and ListDatasets agree with the reply.
        Assert.Equal(v1, await host.Ingestion.GetDatasetAsync(new GetDatasetRequest { Dataset = name }));
        Assert.Equal(v1, await host.Ingestion.GetDatasetAsync(new GetDatasetRequest { Dataset = name, Version = 1 }));
        Assert.Equal([v1], (await host.Ingestion.ListDatasetsAsync(new ListDatasetsRequest { Dataset = name })).Datasets);
        Assert.Contains(v1, (await host.Ingestion.ListDatasetsAsync(new ListDatasetsRequest())).Datasets);

        // The manifest and every shard it names are in the container, with the sizes it records.
        using (var manifest = JsonDocument.Parse(await host.ReadBlobAsync(v1.ManifestPath)))
        {
            Assert.Equal(300, manifest.RootElement.GetProperty("rows").GetInt64());
            var shards = manifest.RootElement.GetProperty("shards").EnumerateArray().ToList();
            Assert.Equal(v1.Shards, shards.Count);
            foreach (var shard in shards)
            {
                var path = shard.GetProperty("path").GetString()!;
                Assert.StartsWith($"datasets/{name}/data/", path, StringComparison.Ordinal);
                Assert.Equal(shard.GetProperty("bytes").GetInt64(), (await host.ReadBlobAsync(path)).LongLength);
            }
            Assert.Equal(300, shards.Sum(s => s.GetProperty("rows").GetInt64()));
        }

        var ingested = await host.Messages.Published<DatasetIngested>(m => m.Dataset == name && m.Version == 1);
        Assert.Equal(v1.ManifestPath, ingested.ManifestPath);
        Assert.Equal(300, ingested.Rows);
        Assert.Equal(v1.SourceSha256, ingested.SourceSha256);

        // The same bytes again (from other files): the existing version, nothing new stored.
        var blobsBefore = await host.ListBlobsAsync($"datasets/{name}/");
        var again = await host.Ingestion.UploadIdxAsync(files, name, (first.Images.ToArray(), first.Labels.ToArray()));
        Assert.True(again.Deduplicated);
        Assert.Equal(v1, again.Dataset);
        Assert.Equal(blobsBefore, await host.ListBlobsAsync($"datasets/{name}/"));
        Assert.Single((await host.Ingestion.ListDatasetsAsync(new ListDatasetsRequest { Dataset = name })).Datasets);

        // Different content: version 2, newest last in the list and the default of GetDataset.
        var second = await host.Ingestion.UploadIdxAsync(files, name, TestData.Idx(300, seed: 2));
        Assert.False(second.Deduplicated);
        Assert.Equal(2, second.Dataset.Version);
        Assert.NotEqual(v1.SourceSha256, second.Dataset.SourceSha256);
        Assert.Equal([v1, second.Dataset], (await host.Ingestion.ListDatasetsAsync(new ListDatasetsRequest { Dataset = name })).Datasets);
        Assert.Equal(second.Dataset, await host.Ingestion.GetDatasetAsync(new GetDatasetRequest { Dataset = name }));
        await host.Messages.Published<DatasetIngested>(m => m.Dataset == name && m.Version == 2);
    }
}

/// <summary>
/// Bad input, one case at a time, against one shared ingestion host: each gets INVALID_ARGUMENT with a message that
/// says what is wrong and where, stores nothing, and leaves the service serving.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class IngestionRejectionTests : IClassFixture<IngestionHostFixture>, IDisposable
{
    private const string Dataset = "baseline";
    private static readonly (byte[] Images, byte[] Labels) Good = TestData.Idx(30, seed: 7);
    private readonly IngestionHostFixture _fixture;
    private readonly IDisposable _output;

    public IngestionRejectionTests(IngestionHostFixture fixture, ITestOutputHelper output)
    {
        _fixture = fixture;
        _output = fixture.Output.Use(output);
    }

    private ServiceHost Host => _fixture.Host;

    public void Dispose() => _output.Dispose();

    public static TheoryData<string> Cases => [.. BadUploads.Keys];

    private static readonly Dictionary<string, (UploadRequest[] Messages, string[] Expected)> BadUploads = new()
    {
        ["empty upload"] = ([], ["upload is empty", "UploadHeader"]),
        ["first message not a header"] = ([TestData.Chunk("images", Good.Images)], ["first message", "UploadHeader"]),
        ["unknown format"] = ([TestData.Header(Dataset, DatasetFormat.Unspecified, "images", "labels")], ["'format'", "IDX, CSV or TSV"]),
        ["wrong files for the format"] = ([TestData.Header(Dataset, DatasetFormat.Idx, "data")], ["'files'", "[images, labels]", "[data]"]),
        ["chunk for an undeclared file"] = (
            [TestData.Header(Dataset, DatasetFormat.Idx, "images", "labels"), TestData.Chunk("images", Good.Images), TestData.Chunk("pictures", Good.Labels)],
            ["'pictures'", "did not declare"]),
        ["a declared file never sent"] = ([TestData.Header(Dataset, DatasetFormat.Idx, "images", "labels"), TestData.Chunk("images", Good.Images)], ["'labels'", "empty"]),
        ["truncated IDX images"] = (
            [TestData.Header(Dataset, DatasetFormat.Idx, "images", "labels"), TestData.Chunk("images", Good.Images[..(16 + 10 * TestData.Pixels + 5)]), TestData.Chunk("labels", Good.Labels)],
            [$"images: byte offset {16 + 10 * TestData.Pixels + 5}:", "truncated", "10 whole images"]),
        ["corrupt gzip"] = (
            [TestData.Header(Dataset, DatasetFormat.Idx, "images", "labels"), TestData.Chunk("images", Gzip(Good.Images)[..200]), TestData.Chunk("labels", Good.Labels)],
            ["images: byte offset"]),
        ["wrong magic"] = (
            [TestData.Header(Dataset, DatasetFormat.Idx, "images", "labels"), TestData.Chunk("images", TestData.IdxImages(30, 28, 28, Good.Images.AsSpan(16), magic: 0x12345678)), TestData.Chunk("labels", Good.Labels)],
            ["images: byte offset 0:", "not an IDX images file", "0x12345678"]),
        ["images and labels swapped"] = (
            [TestData.Header(Dataset, DatasetFormat.Idx, "images", "labels"), TestData.Chunk("images", Good.Labels), TestData.Chunk("labels", Good.Images)],
            ["images: byte offset 3:", "swapped"]),
        ["count mismatch"] = (
            [TestData.Header(Dataset, DatasetFormat.Idx, "images", "labels"), TestData.Chunk("images", Good.Images), TestData.Chunk("labels", TestData.IdxLabels(29, Good.Labels.AsSpan(8, 29)))],
            ["labels: byte offset 4:", "29 labels", "30 images"]),
        ["CSV cell that does not fit its declared type"] = (
            [WithColumns(TestData.Header(Dataset, DatasetFormat.Csv, "data"), new ColumnOverride { Name = "px1", Type = "int64" }), TestData.Chunk("data", "px0,px1,label\n1,2,cat\n3,abc,dog\n")],
            ["data: row 3, column 'px1':", "'abc' is not an int64", "declared"]),
        ["CSV without the label column it names"] = (
            [WithLabel(TestData.Header(Dataset, DatasetFormat.Csv, "data"), "label"), TestData.Chunk("data", "px0,px1,class\n1,2,cat\n")],
            ["data: row 1:", "no label column 'label'", "px0, px1, class"]),
        ["CSV with a NUL byte in a cell"] = (
            [TestData.Header(Dataset, DatasetFormat.Csv, "data"), TestData.Chunk("data", "px0,label\n1,cat\n2\0,dog\n")],
            ["data: row 3, column 'px0':", "NUL"]),
        ["CSV column override for a column it lacks"] = (
            [WithColumns(TestData.Header(Dataset, DatasetFormat.Csv, "data"), new ColumnOverride { Name = "age", Role = "id" }), TestData.Chunk("data", "px0,label\n1,cat\n")],
            ["data: row 1:", "'age'", "does not have"]),
        ["unknown column role"] = (
            [WithColumns(TestData.Header(Dataset, DatasetFormat.Csv, "data"), new ColumnOverride { Name = "px0", Role = "weight" })],
            ["'columns[0].role'", "'weight'", "feature, label"]),
    };

    private static UploadRequest WithColumns(UploadRequest header, params ColumnOverride[] columns)
    {
        header.Header.Columns.AddRange(columns);
        return header;
    }

    private static UploadRequest WithLabel(UploadRequest header, string label)
    {
        header.Header.LabelColumn = label;
        return header;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task A_bad_upload_is_rejected_with_a_precise_message_and_stores_nothing(string name)
    {
        var (messages, expected) = BadUploads[name];
        await EnsureBaselineAsync();
        var blobsBefore = await Host.ListBlobsAsync("datasets/");
        var listBefore = (await Host.Ingestion.ListDatasetsAsync(new ListDatasetsRequest())).Datasets;

        var error = await Assert.ThrowsAsync<RpcException>(() => Host.Ingestion.UploadRawAsync(messages));

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        foreach (var part in expected)
        {
            Assert.Contains(part, error.Status.Detail, StringComparison.Ordinal);
        }
        Assert.Equal(blobsBefore, await Host.ListBlobsAsync("datasets/"));
        // Still serving: the same datasets, and a good upload right after is accepted.
        Assert.Equal(listBefore, (await Host.Ingestion.ListDatasetsAsync(new ListDatasetsRequest())).Datasets);
        var good = await Host.Ingestion.UploadRawAsync([TestData.Header(Dataset, DatasetFormat.Idx, "images", "labels"), TestData.Chunk("images", Good.Images), TestData.Chunk("labels", Good.Labels)]);
        Assert.True(good.Deduplicated);
        Assert.Equal(1, good.Dataset.Version);
    }

    [Fact]
    public async Task A_CSV_upload_gets_its_classes_from_the_label_column()
    {
        var name = "table-" + Guid.NewGuid().ToString("N")[..8];
        var reply = await Host.Ingestion.UploadRawAsync([TestData.Header(name, DatasetFormat.Csv, "data"), TestData.Chunk("data", TestData.Csv(rows: 20))]);

        Assert.Equal(1, reply.Dataset.Version);
        Assert.Equal(20, reply.Dataset.Rows);
        Assert.Equal(4, reply.Dataset.Features);
        Assert.Equal([4], reply.Dataset.FeatureShape);
        Assert.Equal(["cat", "dog"], reply.Dataset.Classes);
        Assert.Equal(2, reply.Dataset.FormatVersion);
        Assert.Equal(0, reply.Dataset.UnlabeledRows);
        Assert.Equal(reply.Dataset.Rows, reply.Dataset.ClassCounts.Sum());
        Assert.Equal(5, reply.Dataset.Columns.Count);
        Assert.Equal(("label", "label"), (reply.Dataset.Columns[^1].Name, reply.Dataset.Columns[^1].Role));
        Assert.All(reply.Dataset.Columns.SkipLast(1), c => Assert.Equal("feature", c.Role));
    }

    [Fact]
    public async Task Gzipped_IDX_files_are_read_like_plain_ones()
    {
        var name = "gzipped-" + Guid.NewGuid().ToString("N")[..8];
        var reply = await Host.Ingestion.UploadRawAsync([TestData.Header(name, DatasetFormat.Idx, "images", "labels"), TestData.Chunk("images", Gzip(Good.Images)), TestData.Chunk("labels", Gzip(Good.Labels))]);

        Assert.False(reply.Deduplicated);
        Assert.Equal(30, reply.Dataset.Rows);
        Assert.Equal([28, 28], reply.Dataset.FeatureShape);
        Assert.Equal(["0", "1", "2"], reply.Dataset.Classes);
    }

    [Fact]
    public async Task GetDataset_answers_NotFound_for_unknown_datasets_and_versions_and_InvalidArgument_for_bad_names()
    {
        await EnsureBaselineAsync();
        var unknown = await Assert.ThrowsAsync<RpcException>(async () => await Host.Ingestion.GetDatasetAsync(new GetDatasetRequest { Dataset = "no-such-dataset" }));
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
        Assert.Contains("no-such-dataset", unknown.Status.Detail, StringComparison.Ordinal);

        var version = await Assert.ThrowsAsync<RpcException>(async () => await Host.Ingestion.GetDatasetAsync(new GetDatasetRequest { Dataset = Dataset, Version = 9 }));
        Assert.Equal(StatusCode.NotFound, version.StatusCode);
        Assert.Contains("version 9", version.Status.Detail, StringComparison.Ordinal);

        var invalid = await Assert.ThrowsAsync<RpcException>(async () => await Host.Ingestion.GetDatasetAsync(new GetDatasetRequest { Dataset = "Bad_Name" }));
        Assert.Equal(StatusCode.InvalidArgument, invalid.StatusCode);
        Assert.Contains("'Bad_Name'", invalid.Status.Detail, StringComparison.Ordinal);

        var badHeader = await Assert.ThrowsAsync<RpcException>(() => Host.Ingestion.UploadRawAsync([TestData.Header("Bad_Name", DatasetFormat.Idx, "images", "labels")]));
        Assert.Equal(StatusCode.InvalidArgument, badHeader.StatusCode);
        Assert.Contains("'dataset'", badHeader.Status.Detail, StringComparison.Ordinal);
    }

    /// <summary>The shared host holds one good version of <see cref="Dataset"/>, so a wrongly committed bad upload would show as a new version.</summary>
    private async Task EnsureBaselineAsync()
    {
        var reply = await Host.Ingestion.UploadRawAsync([TestData.Header(Dataset, DatasetFormat.Idx, "images", "labels"), TestData.Chunk("images", Good.Images), TestData.Chunk("labels", Good.Labels)]);
        Assert.Equal(1, reply.Dataset.Version);
    }

    private static byte[] Gzip(byte[] data)
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(data);
        }
        return buffer.ToArray();
    }
}
