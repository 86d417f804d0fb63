using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using BigDataAI.Client;
using BigDataAI.Contracts.Ingestion;
using BigDataAI.Datasets;
using BigDataAI.Datasets.Profiling;
using BigDataAI.IntegrationTests.Infrastructure;
using BigDataAI.Protos.Quality.V1;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace BigDataAI.IntegrationTests.Services;

/// <summary>
/// Profiles of dataset versions in real ingestion hosts over the real broker and Azurite: computed after every upload,
/// read through GetProfile, computed in the call when missing, and split over two replicas as competing consumers.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class DataProfileTests(ServersFixture servers, ITestOutputHelper output)
{
    /// <summary>
    /// A CSV of <paramref name="rows"/> people: age (every 10th empty, row 100 an outlier of 900), city (3 values),
    /// score, and label (yes/no); <paramref name="duplicates"/> rows at the end repeat the first ones exactly.
    /// </summary>
    private static string PeopleCsv(int rows, int duplicates)
    {
        var text = new StringBuilder("age,city,score,label\n");
        string[] cities = ["oslo", "lima", "pune"];
        for (var i = 0; i < rows; i++)
        {
            var r = i >= rows - duplicates ? i - (rows - duplicates) : i;
            var age = r % 10 == 3 ? "" : (r == 100 ? 900 : 20 + r % 40).ToString(CultureInfo.InvariantCulture);
            text.Append(CultureInfo.InvariantCulture, $"{age},{cities[r % 3]},{(r * 0.25).ToString(CultureInfo.InvariantCulture)},{(r % 4 == 0 ? "no" : "yes")}\n");
        }
        return text.ToString();
    }

    private static async Task<string> WriteAsync(TempFolder folder, string name, string text)
    {
        var path = Path.Combine(folder.Path, name);
        await File.WriteAllTextAsync(path, text);
        return path;
    }

    [Fact]
    public async Task A_new_version_is_profiled_after_ingest_and_GetProfile_reads_it_or_computes_it_in_the_call()
    {
        await using var host = await ServiceHost.StartAsync(servers, output, Modules.Ingestion);
        var client = new DataQualityService.DataQualityServiceClient(host.Channel);
        using var files = new TempFolder();
        var name = "people-" + Guid.NewGuid().ToString("N")[..8];
        var upload = await host.Ingestion.UploadCsvAsync(name, await WriteAsync(files, "people.csv", PeopleCsv(400, 7)), "label");
        Assert.Equal(1, upload.Dataset.Version);

        // The ingestion host's own consumer of DatasetIngested profiles the version and announces it.
        var profiled = await host.Messages.Published<DatasetProfiled>(m => m.Dataset == name && m.Version == 1);
        Assert.Equal($"datasets/{name}/v000001/profile.json", profiled.ProfilePath);
        Assert.True(await host.BlobExistsAsync(profiled.ProfilePath));

        var watch = Stopwatch.StartNew();
        var profile = await client.GetProfileAsync(new GetProfileRequest { Dataset = name });
        output.WriteLine($"GetProfile (stored) took {watch.ElapsedMilliseconds} ms");
        Assert.False(profile.ComputedNow);
        Assert.Equal(1, profile.Version);
        Assert.Equal(400, profile.Rows);
        Assert.Equal(1, profile.Parts);
        Assert.Equal(["age", "city", "score", "label"], profile.Columns.Select(c => c.Name));
        var age = profile.Columns[0];
        Assert.Equal("int64", age.Type);
        Assert.Equal(40, age.Nulls);
        Assert.Equal(20, age.Values.Min);
        Assert.Equal(900, age.Values.Max);
        Assert.Equal(11, age.Values.Quantiles.Count);
        Assert.Equal(20, age.Values.Histogram.Count);
        Assert.Equal(360, age.Values.Histogram.Sum(b => b.Count));
        Assert.Equal(1, age.Outliers.Count);
        Assert.Equal([100L], age.Outliers.ExampleRows);
        var city = profile.Columns[1];
        Assert.True(city.TopValuesExact);
        Assert.Equal(3, city.Distinct);
        Assert.Equal(["lima", "oslo", "pune"], city.TopValues.Select(t => t.Value).Order());
        Assert.Equal(7, profile.Duplicates.DuplicateRows);
        Assert.Equal([0L, 393L], profile.Duplicates.Examples[0].Rows);
        Assert.Equal(["no", "yes"], profile.ClassBalance.Classes.Select(c => c.Class));
        Assert.Equal(400, profile.ClassBalance.Classes.Sum(c => c.Count));
        Assert.Contains(profile.Leakage, h => h.Column == "city" && !h.Suspicious);
        using (var json = JsonDocument.Parse(profile.Json))
        {
            Assert.Equal(name, json.RootElement.GetProperty("dataset").GetString());
        }

        // With the stored profile gone (as for a call right after Upload, before the consumer ran), the call computes it,
        // stores it again, and gives the same answer.
        await host.Blobs.DeleteBlobAsync(profiled.ProfilePath);
        var again = await client.GetProfileAsync(new GetProfileRequest { Dataset = name, Version = 1 });
        Assert.True(again.ComputedNow);
        Assert.True(await host.BlobExistsAsync(profiled.ProfilePath));
        Assert.Equal(profile.Columns, again.Columns);
        Assert.Equal(profile.Duplicates, again.Duplicates);
        Assert.Equal(profile.ClassBalance, again.ClassBalance);

        // Bad input: the field and the reason.
        var unknown = await Assert.ThrowsAsync<RpcException>(() => client.GetProfileAsync(new GetProfileRequest { Dataset = name + "-nope" }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
        var missing = await Assert.ThrowsAsync<RpcException>(() => client.GetProfileAsync(new GetProfileRequest { Dataset = name, Version = 9 }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
        Assert.Contains("no version 9", missing.Status.Detail, StringComparison.Ordinal);
        var invalid = await Assert.ThrowsAsync<RpcException>(() => client.GetProfileAsync(new GetProfileRequest { Dataset = "Bad Name" }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, invalid.StatusCode);
        Assert.StartsWith("dataset:", invalid.Status.Detail, StringComparison.Ordinal);
        var negative = await Assert.ThrowsAsync<RpcException>(() => client.GetProfileAsync(new GetProfileRequest { Dataset = name, Version = -1 }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, negative.StatusCode);
        Assert.StartsWith("version:", negative.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Two_ingestion_replicas_profile_the_shard_ranges_of_a_large_version_and_the_merged_profile_equals_one_computed_whole()
    {
        // 800 rows in shards of 50 (16 shards), 2 shards per task: 8 parts over the two hosts' one queue.
        var settings = new Dictionary<string, string?> { ["Ingestion:RowsPerShard"] = "50", ["Profiling:ShardsPerTask"] = "2" };
        var container = ServiceHost.NewContainerName("profile");
        try
        {
            await using var first = await ServiceHost.StartAsync(servers, output, Modules.Ingestion, container, settings);
            await using var second = await ServiceHost.StartAsync(servers, output, Modules.Ingestion, container, settings);
            using var files = new TempFolder();
            var name = "wide-" + Guid.NewGuid().ToString("N")[..8];
            await first.Ingestion.UploadCsvAsync(name, await WriteAsync(files, "people.csv", PeopleCsv(800, 30)), "label");

            var profiled = await first.Messages.Published<DatasetProfiled>(m => m.Dataset == name, timeout: TimeSpan.FromSeconds(60));
            Assert.Equal(8, profiled.Parts);
            var store = first.Services.GetRequiredService<DatasetStore>();
            var profiles = new ProfileStore(store);
            var parts = new List<ProfilePart>();
            for (var p = 0; p < 8; p++)
            {
                parts.Add(await profiles.ReadPartAsync(name, 1, p));
            }
            output.WriteLine(string.Join("\n", parts.Select(p => $"part {p.Part}: shards {p.FirstShard}..{p.FirstShard + p.ShardCount - 1} by {p.ProfiledBy}")));
            Assert.Equal(Enumerable.Range(0, 16), parts.SelectMany(p => Enumerable.Range(p.FirstShard, p.ShardCount)));
            Assert.Equal(2, parts.Select(p => p.ProfiledBy).Distinct().Count());
            // Each part's duplicate-row pairs are a sorted run beside it in Blob Storage; its state names the run instead of carrying the pairs.
            var folder = DatasetPaths.ProfilePartFolder(name, 1);
            var objects = new List<string>();
            await foreach (var path in store.Objects.ListAsync(folder))
            {
                objects.Add(path);
            }
            for (var p = 0; p < 8; p++)
            {
                Assert.Contains(folder + $"{p:D5}.rows-0000.run", objects);
                // The state is an object of its own, streamed, not a string inside the part's record.
                Assert.Null(parts[p].State);
                Assert.Equal(DatasetPaths.ProfilePartState(name, 1, p), parts[p].StatePath);
                await using var stream = (await store.Objects.OpenReadAsync(parts[p].StatePath!))!;
                var state = await new StreamReader(stream).ReadToEndAsync();
                Assert.DoesNotContain("packedHashes", state, StringComparison.Ordinal);
                Assert.Contains("\"format\":2", state, StringComparison.Ordinal);
            }

            var merged = (await profiles.GetAsync(name, 1))!;
            Assert.Equal(8, merged.Parts);
            var manifest = await store.GetRequiredAsync(name, 1);
            var whole = (await profiles.ProfileShardsAsync(manifest, 0, manifest.Shards.Count)).Build(name, 1);
            Assert.Equal(whole.Rows, merged.Rows);
            for (var i = 0; i < whole.Columns.Count; i++)
            {
                var (a, b) = (whole.Columns[i], merged.Columns[i]);
                Assert.Equal((a.Name, a.Count, a.Nulls, a.Distinct, a.NonFinite, a.TopValuesExact), (b.Name, b.Count, b.Nulls, b.Distinct, b.NonFinite, b.TopValuesExact));
                if (a.TopValuesExact)
                {
                    Assert.Equal(a.TopValues, b.TopValues);
                }
                if (a.Values is { } x && b.Values is { } y)
                {
                    Assert.Equal((x.Count, x.Min, x.Max), (y.Count, y.Min, y.Max));
                    Assert.Equal(x.Mean, y.Mean, 1e-9 * Math.Max(1, Math.Abs(x.Mean)));
                    Assert.Equal(x.StdDev, y.StdDev, 1e-9 * Math.Max(1, x.StdDev));
                    // Quantiles from sketches merged in another order: within the sketch's rank error (2 %) of the range.
                    for (var q = 0; q < x.Quantiles.Count; q++)
                    {
                        Assert.InRange(y.Quantiles[q].Value, x.Quantiles[q].Value - 0.05 * (x.Max - x.Min), x.Quantiles[q].Value + 0.05 * (x.Max - x.Min));
                    }
                }
                Assert.Equal(a.Outliers?.Count, b.Outliers?.Count);
                Assert.Equal(a.Outliers?.ExampleRows, b.Outliers?.ExampleRows);
            }
            Assert.Equal(30, merged.Duplicates.DuplicateRows);
            Assert.Equal(whole.Duplicates.Examples.Select(e => string.Join(",", e)), merged.Duplicates.Examples.Select(e => string.Join(",", e)));
            Assert.Equal(whole.ClassBalance!.Classes, merged.ClassBalance!.Classes);
            Assert.Equal(whole.Leakage.Select(h => (h.Column, h.Method, h.Suspicious)), merged.Leakage.Select(h => (h.Column, h.Method, h.Suspicious)));
        }
        finally
        {
            await servers.Azurite.CreateServiceClient().GetBlobContainerClient(container).DeleteIfExistsAsync();
            ServiceHost.DeleteDatabase(container);
        }
    }
}
