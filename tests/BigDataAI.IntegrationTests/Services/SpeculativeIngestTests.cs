using System.Globalization;
using System.Text;
using BigDataAI.Client;
using BigDataAI.Datasets;
using BigDataAI.IntegrationTests.Infrastructure;
using BigDataAI.Protos.Ingestion.V1;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace BigDataAI.IntegrationTests.Services;

/// <summary>
/// The speculative second pass of strict CSV uploads (Ingestion:Speculate, decision 0019): rows converted and stored
/// while the file arrives under the types of its first shard. Each case uploads the same file to two ingestion hosts on
/// the real broker and Azurite, one speculating and one not, with four rows a shard so that every file spans shards:
/// what is committed (or the error) must be the same, and a speculation that did not hold must leave no shard behind.
/// The two hosts run one after the other (two ingestion modules on one broker in one process are not both healthy).
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class SpeculativeIngestTests(ServersFixture servers, ITestOutputHelper output) : IDisposable
{
    private const int RowsPerShard = 4;
    private const string SpeculativeFolder = "/data/spec";
    private readonly string _folder = Directory.CreateTempSubdirectory("bigdataai-speculative-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private Task<ServiceHost> StartAsync(bool speculate) => ServiceHost.StartAsync(servers, output, Modules.Ingestion,
        settings: new Dictionary<string, string?> { ["Ingestion:RowsPerShard"] = RowsPerShard.ToString(CultureInfo.InvariantCulture), ["Ingestion:Speculate"] = speculate ? "true" : "false" });

    /// <summary>30 rows of every kind of cell; <paramref name="cell"/> may replace one (row index, column, text).</summary>
    private string Csv(string file, (int Row, string Column, string Text)? cell = null, bool extraCell = false)
    {
        string[] columns = ["id", "age", "height", "city", "member", "note", "label"];
        var text = new StringBuilder(string.Join(',', columns) + "\n");
        for (var r = 0; r < 30; r++)
        {
            var inv = CultureInfo.InvariantCulture;
            string[] cells =
            [
                r.ToString(inv),
                (20 + r).ToString(inv),
                (1.25 + r / 4.0).ToString(inv),
                r % 3 == 0 ? "Oslo" : "\"Bergen, west\"",
                r % 2 == 0 ? "true" : "false",
                r % 5 == 1 ? "" : $"note {r}", // nulls from the first shard on
                r % 2 == 0 ? "cat" : "dog",
            ];
            if (cell is { } c && c.Row == r)
            {
                cells[Array.IndexOf(columns, c.Column)] = c.Text;
            }
            text.Append(string.Join(',', cells)).Append(extraCell && r == 17 ? ",extra\n" : "\n");
        }
        var path = Path.Combine(_folder, file);
        File.WriteAllText(path, text.ToString());
        return path;
    }

    private static string NewName(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..8];

    /// <summary>Every row as text, column by column, with its row id.</summary>
    private static async Task<List<string>> RowsAsync(ServiceHost host, string dataset, int version)
    {
        var store = host.Services.GetRequiredService<DatasetStore>();
        var table = await store.ReadAsync(await store.GetRequiredAsync(dataset, version));
        return [.. Enumerable.Range(0, table.Rows).Select(r => table.RowIds[r] + ":" + string.Join('|', table.Columns.Select(c => c.Format(r) ?? "<null>")))];
    }

    /// <summary>What one upload made: the manifest, its rows as text, and the blobs under the dataset's shard folders.</summary>
    private sealed record Outcome(DatasetManifest? Manifest, List<string> Rows, RpcException? Error, IReadOnlyList<string> SpeculativeBlobs, IReadOnlyList<string> DataBlobs);

    /// <summary>Uploads the files in order to a new dataset on a host of its own (speculating or not); the last upload's outcome.</summary>
    private async Task<Outcome> UploadAsync(bool speculate, string[] files, Func<ServiceHost, string, Task>? beforeLast = null)
    {
        await using var host = await StartAsync(speculate);
        var name = NewName(speculate ? "spec" : "plain");
        for (var i = 0; i < files.Length - 1; i++)
        {
            await host.Ingestion.UploadCsvAsync(name, files[i]);
        }
        if (beforeLast is not null)
        {
            await beforeLast(host, name);
        }
        DatasetManifest? manifest = null;
        List<string> rows = [];
        RpcException? error = null;
        try
        {
            var reply = await host.Ingestion.UploadCsvAsync(name, files[^1]);
            manifest = await host.Services.GetRequiredService<DatasetStore>().GetRequiredAsync(name, reply.Dataset.Version);
            rows = await RowsAsync(host, name, reply.Dataset.Version);
        }
        catch (RpcException e)
        {
            error = e;
        }
        return new Outcome(manifest, rows, error, await host.ListBlobsAsync($"datasets/{name}/data/spec"), await host.ListBlobsAsync($"datasets/{name}/data/"));
    }

    [Fact]
    public async Task A_clean_file_is_stored_while_it_arrives_and_commits_the_version_two_passes_would()
    {
        var csv = Csv("clean.csv");
        // The same file twice: the second upload is the same version, and its speculation's shards are deleted.
        var fast = await UploadAsync(speculate: true, [csv, csv]);
        var slow = await UploadAsync(speculate: false, [csv]);

        var (manifest, plain) = (fast.Manifest!, slow.Manifest!);
        Assert.Equal(1, manifest.Version);
        Assert.Equal(30, manifest.Rows);
        Assert.Equal(8, manifest.Shards.Count);
        Assert.All(manifest.Shards, s => Assert.Contains(SpeculativeFolder, s.Path, StringComparison.Ordinal));
        Assert.All(plain.Shards, s => Assert.DoesNotContain(SpeculativeFolder, s.Path, StringComparison.Ordinal));
        Assert.Equal(plain.EffectiveSchema, manifest.EffectiveSchema);
        Assert.Contains(manifest.EffectiveSchema.Columns, c => c is { Name: "note", Nullable: true });
        Assert.Equal(plain.Classes, manifest.Classes);
        Assert.Equal(plain.ClassCounts, manifest.ClassCounts);
        Assert.Equal(plain.Source.Sha256, manifest.Source.Sha256);
        // The same Parquet bytes, shard by shard, so every reader sees the same version.
        Assert.Equal(plain.Shards.Select(s => s.Sha256), manifest.Shards.Select(s => s.Sha256));
        Assert.Equal(slow.Rows, fast.Rows);
        Assert.Equal(manifest.Shards.Select(s => s.Path).Order(), fast.DataBlobs.Order());
    }

    public static TheoryData<string, int, string, string> LateSurprises => new()
    {
        // A label of the file name, then the row (0-based, after the first shard), the column and the cell.
        { "a double after integers", 9, "age", "30.5" },
        { "text after integers", 22, "age", "unknown" },
        { "a null in a column without one", 13, "height", "" },
        { "text after booleans", 29, "member", "maybe" },
    };

    [Theory]
    [MemberData(nameof(LateSurprises))]
    public async Task A_column_that_changes_after_the_first_shard_drops_the_speculation_and_leaves_no_shard_of_it(string label, int row, string column, string cell)
    {
        var csv = Csv("late.csv", (row, column, cell));
        var fast = await UploadAsync(speculate: true, [csv]);
        var slow = await UploadAsync(speculate: false, [csv]);
        var clean = await UploadAsync(speculate: false, [Csv("clean.csv")]);

        var (manifest, plain) = (fast.Manifest!, slow.Manifest!);
        Assert.Equal(plain.EffectiveSchema, manifest.EffectiveSchema);
        // The surprise did change the column (its type, or whether it holds nulls).
        Assert.NotEqual(clean.Manifest!.EffectiveSchema.Columns.First(c => c.Name == column), manifest.EffectiveSchema.Columns.First(c => c.Name == column));
        Assert.Equal(slow.Rows, fast.Rows);
        Assert.All(manifest.Shards, s => Assert.DoesNotContain(SpeculativeFolder, s.Path, StringComparison.Ordinal));
        Assert.Empty(fast.SpeculativeBlobs);
        output.WriteLine($"{label}: {column} is {manifest.EffectiveSchema.Columns.First(c => c.Name == column).TypeName}, nullable {manifest.EffectiveSchema.Columns.First(c => c.Name == column).Nullable}");
    }

    [Fact]
    public async Task A_bad_row_or_a_broken_expectation_after_the_first_shard_is_the_same_error_and_nothing_is_stored()
    {
        // A cell too many on row 17 (CSV row 19): strict refuses the upload, naming the row.
        var extra = Csv("extra.csv", extraCell: true);
        var fast = await UploadAsync(speculate: true, [extra]);
        var slow = await UploadAsync(speculate: false, [extra]);
        Assert.Equal(StatusCode.InvalidArgument, fast.Error!.StatusCode);
        Assert.Contains("row 19", fast.Error.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(slow.Error!.Status.Detail, fast.Error.Status.Detail);
        Assert.Empty(fast.DataBlobs);

        // An expectation (age at most 60) that row 26 (CSV row 28) breaks, past the speculation's first shards.
        var high = Csv("high.csv", (26, "age", "61"));
        Task Expect(ServiceHost host, string name) =>
            host.Ingestion.SetExpectationsAsync(new SetExpectationsRequest { Dataset = name, Columns = { new ColumnExpectation { Column = "age", Max = 60 } } }).ResponseAsync;
        var broken = await UploadAsync(speculate: true, [Csv("first.csv"), high], Expect);
        var brokenToo = await UploadAsync(speculate: false, [Csv("first.csv"), high], Expect);
        Assert.Equal(StatusCode.InvalidArgument, broken.Error!.StatusCode);
        Assert.Contains("row 28", broken.Error.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(brokenToo.Error!.Status.Detail, broken.Error.Status.Detail);
        // Only the first version's 8 shards (stored speculatively too) are left; the refused one's are deleted.
        Assert.Equal(8, broken.SpeculativeBlobs.Count);
        Assert.Equal(broken.SpeculativeBlobs, broken.DataBlobs);
        Assert.Equal(8, brokenToo.DataBlobs.Count);
    }
}
