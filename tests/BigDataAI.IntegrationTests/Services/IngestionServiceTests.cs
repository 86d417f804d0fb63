using System.IO.Compression;
using System.Text.Json;
using BigDataAI.Contracts.Ingestion;
using BigDataAI.IntegrationTests.Infrastructure;
using BigDataAI.Protos.Ingestion.V1;
using Grpc.Core;
using Parquet;
using Parquet.Schema;
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

        // The same bytes again (from other files): the existing version, nothing new stored. (Once the version's profile,
        // written after the upload by ingestion's own consumer, is there.)
        await host.Messages.Published<DatasetProfiled>(m => m.Dataset == name && m.Version == 1);
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

    /// <summary>A good Parquet file of one double column, for refusals that are about the upload rather than the file.</summary>
    private static readonly byte[] GoodParquet = TestData.Parquet([new DataField("x", typeof(double), isNullable: true)],
        (g, f) => g.WriteAsync<double>(f[0], new double?[] { 1.5, null }.AsMemory(), null, null, default));

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
        ["unknown format"] = ([TestData.Header(Dataset, DatasetFormat.Unspecified, "images", "labels")], ["'format'", "IDX, CSV, TSV, JSONL, PARQUET or ARCHIVE"]),
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
        ["JSONL wrong files"] = ([TestData.Header(Dataset, DatasetFormat.Jsonl, "images", "labels")], ["'files'", "[data]", "[images, labels]"]),
        ["JSONL line that is not valid JSON"] = (
            [TestData.Header(Dataset, DatasetFormat.Jsonl, "data"), TestData.Chunk("data", "{\"a\": 1, \"label\": \"x\"}\n{\"a\": , \"label\": \"y\"}\n")],
            ["data: line 2 (byte offset 29):", "line 2 is not valid JSON at byte 6 of the line"]),
        ["JSONL line that is not an object"] = (
            [TestData.Header(Dataset, DatasetFormat.Jsonl, "data"), TestData.Chunk("data", "{\"a\": 1}\n\n[1, 2]\n")],
            ["data: line 3:", "an array, not a JSON object"]),
        ["JSONL array of strings"] = (
            [TestData.Header(Dataset, DatasetFormat.Jsonl, "data"), TestData.Chunk("data", "{\"a\": 1, \"tags\": [\"x\", \"y\"]}\n")],
            ["data: line 1, column 'tags':", "element 1 is a string", "only an array of numbers"]),
        ["JSONL arrays of two lengths"] = (
            [TestData.Header(Dataset, DatasetFormat.Jsonl, "data"), TestData.Chunk("data", "{\"v\": [1, 2]}\n{\"v\": [1, 2, 3]}\n")],
            ["data: line 2, column 'v':", "3 numbers here but of 2 on line 1"]),
        ["JSONL key twice in one object"] = (
            [TestData.Header(Dataset, DatasetFormat.Jsonl, "data"), TestData.Chunk("data", "{\"a\": {\"b\": 1}, \"a.b\": 2}\n")],
            ["data: line 1, column 'a.b':", "appears twice"]),
        ["JSONL key _row"] = (
            [TestData.Header(Dataset, DatasetFormat.Jsonl, "data"), TestData.Chunk("data", "{\"_row\": 1}\n")],
            ["data: line 1, column '_row':", "reserved"]),
        ["JSONL without the label column it names"] = (
            [WithLabel(TestData.Header(Dataset, DatasetFormat.Jsonl, "data"), "species"), TestData.Chunk("data", "{\"a\": {\"b\": 1}}\n")],
            ["data: the file has no label column 'species' (columns: a.b)"]),
        ["JSONL value that does not fit its declared type"] = (
            [WithColumns(TestData.Header(Dataset, DatasetFormat.Jsonl, "data"), new ColumnOverride { Name = "age", Type = "int64" }), TestData.Chunk("data", "{\"age\": 41}\n{\"age\": \"forty\"}\n")],
            ["data: line 2, column 'age':", "'forty' is not an int64", "declared"]),
        ["Parquet that is not Parquet"] = (
            [TestData.Header(Dataset, DatasetFormat.Parquet, "data"), TestData.Chunk("data", "px0,label\n1,cat\n")],
            ["data: byte offset 0:", "not a Parquet file"]),
        ["Parquet truncated"] = (
            [TestData.Header(Dataset, DatasetFormat.Parquet, "data"), TestData.Chunk("data", GoodParquet[..^1])],
            [$"data: byte offset {GoodParquet.Length - 5}:", "does not end with the bytes PAR1"]),
        ["Parquet decimal column"] = (
            [TestData.Header(Dataset, DatasetFormat.Parquet, "data"), TestData.Chunk("data", TestData.Parquet([new DecimalDataField("price", 10, 2, isNullable: true)],
                (g, f) => g.WriteAsync<decimal>(f[0], new decimal?[] { 1.25m }.AsMemory(), null, null, default)))],
            ["data: column 'price':", "Parquet type decimal(10,2)", "cannot store"]),
        ["Parquet uint64 above int64"] = (
            [TestData.Header(Dataset, DatasetFormat.Parquet, "data"), TestData.Chunk("data", TestData.Parquet([new DataField("big", typeof(ulong), isNullable: false)],
                (g, f) => g.WriteAsync<ulong>(f[0], new ulong[] { 1, ulong.MaxValue }.AsMemory(), null, null, default)))],
            ["data: row 2, column 'big':", "18446744073709551615 (uint64) is larger than the largest int64"]),
        ["Parquet column declared another type"] = (
            [WithColumns(TestData.Header(Dataset, DatasetFormat.Parquet, "data"), new ColumnOverride { Name = "x", Type = "int64" }), TestData.Chunk("data", GoodParquet)],
            ["data: column 'x':", "declares type int64, but the column is double", "an int64 column may be declared double or string"]),
        ["Parquet column _row"] = (
            [TestData.Header(Dataset, DatasetFormat.Parquet, "data"), TestData.Chunk("data", TestData.Parquet([new DataField("_row", typeof(long), isNullable: false)],
                (g, f) => g.WriteAsync<long>(f[0], new long[] { 0 }.AsMemory(), null, null, default)))],
            ["data: column '_row':", "reserved"]),
        ["label_column for IDX"] = (
            [WithLabel(TestData.Header(Dataset, DatasetFormat.Idx, "images", "labels"), "digit")],
            ["'label_column'", "applies to tables only", "the 'labels' file"]),
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
    public async Task A_CSV_checked_while_it_arrives_in_tiny_chunks_is_stored_as_if_sent_whole_and_an_abandoned_upload_stores_nothing()
    {
        // Quoted cells with separators and line breaks straddle the 7-byte chunks; the first pass reads the file as it grows.
        var text = new System.Text.StringBuilder("id,note,score,label\n");
        for (var r = 0; r < 300; r++)
        {
            text.Append(System.Globalization.CultureInfo.InvariantCulture, $"{r},\"line one, {r}\nline two\",{r * 0.25},{(r % 3 == 0 ? "cat" : "dog")}\n");
        }
        var bytes = System.Text.Encoding.UTF8.GetBytes(text.ToString());
        var whole = "whole-" + Guid.NewGuid().ToString("N")[..8];
        var tiny = "tiny-" + Guid.NewGuid().ToString("N")[..8];
        var a = await Host.Ingestion.UploadRawAsync([TestData.Header(whole, DatasetFormat.Csv, "data"), TestData.Chunk("data", bytes)]);
        var b = await Host.Ingestion.UploadRawAsync([TestData.Header(tiny, DatasetFormat.Csv, "data"), .. bytes.Chunk(7).Select(c => TestData.Chunk("data", c))]);
        Assert.Equal((300L, a.Dataset.SourceSha256), (b.Dataset.Rows, b.Dataset.SourceSha256));
        Assert.Equal(a.Dataset.Columns, b.Dataset.Columns);
        Assert.Equal(a.Dataset.ClassCounts, b.Dataset.ClassCounts);
        static async Task<string[]> ShardHashes(ServiceHost host, DatasetInfo info)
        {
            using var manifest = JsonDocument.Parse(await host.ReadBlobAsync(info.ManifestPath));
            return [.. manifest.RootElement.GetProperty("shards").EnumerateArray().Select(s => s.GetProperty("sha256").GetString()!)];
        }
        Assert.Equal(await ShardHashes(Host, a.Dataset), await ShardHashes(Host, b.Dataset));

        // Half the file, then the caller goes away: nothing is committed, and the same dataset takes a full upload next.
        var abandoned = "gone-" + Guid.NewGuid().ToString("N")[..8];
        using (var cancel = new CancellationTokenSource())
        {
            using var call = Host.Ingestion.Upload(cancellationToken: cancel.Token);
            await call.RequestStream.WriteAsync(TestData.Header(abandoned, DatasetFormat.Csv, "data"));
            await call.RequestStream.WriteAsync(TestData.Chunk("data", bytes[..(bytes.Length / 2)]));
            await cancel.CancelAsync();
            var error = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);
            Assert.Equal(StatusCode.Cancelled, error.StatusCode);
        }
        var next = await Host.Ingestion.UploadRawAsync([TestData.Header(abandoned, DatasetFormat.Csv, "data"), TestData.Chunk("data", bytes)]);
        Assert.Equal((1, 300L), (next.Dataset.Version, next.Dataset.Rows));
    }

    [Fact]
    public async Task A_JSONL_upload_flattens_nested_keys_types_each_key_and_stores_arrays_as_a_tensor()
    {
        var name = "lines-" + Guid.NewGuid().ToString("N")[..8];
        string[] cities = ["Oslo", "Bergen", "Tromsø"];
        var text = new System.Text.StringBuilder();
        for (var r = 0; r < 12; r++)
        {
            var zip = r % 4 == 0 ? "null" : $"\"0{r}\"";
            var score = r % 4 == 3 ? "" : $", \"score\": {(r * 1.5).ToString(System.Globalization.CultureInfo.InvariantCulture)}"; // missing on some lines: a nullable column
            var label = r % 5 == 4 ? "null" : r % 2 == 0 ? "\"cat\"" : "\"dog\"";
            text.Append($"{{\"id\": {r}, \"address\": {{\"city\": \"{cities[r % 3]}\", \"zip\": {zip}}}, \"embedding\": [{r}, {r}.5]{score}, \"member\": {(r % 2 == 0 ? "true" : "false")}, \"label\": {label}}}\n");
            if (r == 5)
            {
                text.Append("\n"); // blank lines are skipped
            }
        }

        var reply = await Host.Ingestion.UploadRawAsync(
            [WithColumns(TestData.Header(name, DatasetFormat.Jsonl, "data"), new ColumnOverride { Name = "id", Role = "id" }), TestData.Chunk("data", text.ToString())]);

        var info = reply.Dataset;
        Assert.Equal((1, 2, 12L), (info.Version, info.FormatVersion, info.Rows));
        Assert.Equal(
            [("id", "int64", "id", false, ""), ("address.city", "string", "feature", false, ""), ("address.zip", "string", "feature", true, ""),
             ("embedding", "tensor", "feature", false, "2"), ("score", "double", "feature", true, ""), ("member", "bool", "feature", false, ""),
             ("label", "string", "label", true, "")],
            info.Columns.Select(c => (c.Name, c.Type, c.Role, c.Nullable, string.Join("x", c.Shape))));
        Assert.Equal(["cat", "dog"], info.Classes);
        Assert.Equal(2, info.UnlabeledRows);
        Assert.Equal(10, info.ClassCounts.Sum());
        Assert.Equal(5, info.Features); // address.city, address.zip, embedding, score, member

        var again = await Host.Ingestion.UploadRawAsync(
            [WithColumns(TestData.Header(name, DatasetFormat.Jsonl, "data"), new ColumnOverride { Name = "id", Role = "id" }), TestData.Chunk("data", text.ToString())]);
        Assert.True(again.Deduplicated);
    }

    [Fact]
    public async Task A_Parquet_upload_keeps_the_files_types_and_nullability_across_row_groups()
    {
        var name = "parquet-" + Guid.NewGuid().ToString("N")[..8];
        var rows = Enumerable.Range(0, 18).ToArray();
        var seen = new DateTime(2025, 3, 1, 8, 0, 0, DateTimeKind.Utc);
        Field[] fields =
        [
            new DataField("id", typeof(long), isNullable: false),
            new DataField("height", typeof(float), isNullable: true),
            new DataField("city", typeof(string), isNullable: true),
            new DateTimeDataField("seen", DateTimeFormat.Timestamp, isAdjustedToUTC: true, unit: DateTimeTimeUnit.Micros, isNullable: false),
            new ListField("embedding", new DataField("element", typeof(double), isNullable: false)),
            new DataField("species", typeof(int), isNullable: true),
        ];
        Func<ParquetRowGroupWriter, DataField[], Task> Group(int[] part) => async (g, f) =>
        {
            await g.WriteAsync<long>(f[0], part.Select(r => (long)r).ToArray().AsMemory(), null, null, default);
            await g.WriteAsync<float>(f[1], part.Select(r => r % 5 == 0 ? null : (float?)(1.5f + r)).ToArray().AsMemory(), null, null, default);
            await g.WriteAsync(f[2], part.Select(r => r % 2 == 0 ? "Oslo" : "Bergen").ToArray(), null);
            await g.WriteAsync<DateTime>(f[3], part.Select(r => seen.AddHours(r)).ToArray().AsMemory(), null, null, default);
            await g.WriteAllPartsAsync<double>(f[4], part.SelectMany(r => new[] { r, r + 0.25, r + 0.5 }).ToArray(),
                part.SelectMany(_ => new[] { 2, 2, 2 }).ToArray(), part.SelectMany(_ => new[] { 0, 1, 1 }).ToArray(), default);
            await g.WriteAsync<int>(f[5], part.Select(r => r % 6 == 5 ? null : (int?)(r % 3)).ToArray().AsMemory(), null, null, default);
        };
        var file = TestData.Parquet(fields, Group(rows[..10]), Group(rows[10..]));

        var reply = await Host.Ingestion.UploadRawAsync(
            [WithColumns(WithLabel(TestData.Header(name, DatasetFormat.Parquet, "data"), "species"), new ColumnOverride { Name = "id", Role = "id" }), TestData.Chunk("data", file)]);

        var info = reply.Dataset;
        Assert.Equal((1, 2, 18L), (info.Version, info.FormatVersion, info.Rows));
        Assert.Equal(
            [("id", "int64", "id", false, ""), ("height", "double", "feature", true, ""), ("city", "string", "feature", true, ""),
             ("seen", "timestamp", "feature", false, ""), ("embedding", "tensor", "feature", false, "3"), ("species", "int64", "label", true, "")],
            info.Columns.Select(c => (c.Name, c.Type, c.Role, c.Nullable, string.Join("x", c.Shape))));
        Assert.Equal(["0", "1", "2"], info.Classes);
        Assert.Equal(3, info.UnlabeledRows); // rows 5, 11 and 17
        Assert.Equal([6L, 6L, 3L], info.ClassCounts);
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
        // The version's profile is written after the upload by ingestion's own consumer: wait for it, so the blobs the
        // cases compare before and after a bad upload are settled.
        await Host.Messages.Published<DatasetProfiled>(m => m.Dataset == Dataset && m.Version == 1);
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
