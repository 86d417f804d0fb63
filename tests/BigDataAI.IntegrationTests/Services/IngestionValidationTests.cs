using System.Text;
using System.Text.Json;
using BigDataAI.IntegrationTests.Infrastructure;
using BigDataAI.Protos.Ingestion.V1;
using DuckDB.NET.Data;
using Grpc.Core;
using Xunit.Abstractions;

namespace BigDataAI.IntegrationTests.Services;

/// <summary>
/// Validation with a policy (strict or quarantine), the dataset's expectations and the schema-change rule, against one
/// shared ingestion host over the real broker and Azurite. Each case uses its own small dataset.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class IngestionValidationTests : IClassFixture<IngestionHostFixture>, IDisposable
{
    private readonly IngestionHostFixture _fixture;
    private readonly IDisposable _output;

    public IngestionValidationTests(IngestionHostFixture fixture, ITestOutputHelper output)
    {
        _fixture = fixture;
        _output = fixture.Output.Use(output);
    }

    private ServiceHost Host => _fixture.Host;

    public void Dispose() => _output.Dispose();

    private static string NewName(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..8];

    /// <summary>20 rows: an int column (with "abc" on row 5, CSV row 6), a double column, a label; one row with a cell too many.</summary>
    private static string DirtyCsv()
    {
        var text = new StringBuilder("age,height,label\n");
        for (var r = 0; r < 20; r++)
        {
            var age = r == 4 ? "abc" : (20 + r).ToString(System.Globalization.CultureInfo.InvariantCulture);
            text.Append(r == 9 ? $"{age},1.5,cat,extra\n" : $"{age},{1.5 + r},{(r % 2 == 0 ? "cat" : "dog")}\n");
        }
        return text.ToString();
    }

    private static UploadRequest Header(string dataset, DatasetFormat format, ValidationMode mode = ValidationMode.Unspecified, double? maxBad = null, bool allowSchemaChange = false)
    {
        var header = TestData.Header(dataset, format, "data");
        header.Header.Validation = mode;
        if (maxBad is { } m)
        {
            header.Header.MaxBadFraction = m;
        }
        header.Header.AllowSchemaChange = allowSchemaChange;
        return header;
    }

    [Fact]
    public async Task Quarantine_keeps_a_mostly_numeric_column_numeric_and_stores_bad_rows_in_a_shard_DuckDB_reads()
    {
        var name = NewName("dirty");
        var reply = await Host.Ingestion.UploadRawAsync([Header(name, DatasetFormat.Csv, ValidationMode.Quarantine, 0.2), TestData.Chunk("data", DirtyCsv())]);

        Assert.Equal(18, reply.Dataset.Rows);
        Assert.Equal(2, reply.QuarantinedRows);
        Assert.Equal(new Dictionary<string, long> { ["cell_count"] = 1, ["type_mismatch"] = 1 }, reply.QuarantineReasons.ToDictionary());
        Assert.Equal(("age", "int64"), (reply.Dataset.Columns[0].Name, reply.Dataset.Columns[0].Type));

        using var manifest = JsonDocument.Parse(await Host.ReadBlobAsync(reply.Dataset.ManifestPath));
        var quarantine = manifest.RootElement.GetProperty("quarantine");
        Assert.Equal(2, quarantine.GetProperty("rows").GetInt64());
        Assert.Equal(1, quarantine.GetProperty("reasons").GetProperty("type_mismatch").GetInt64());
        var shard = quarantine.GetProperty("shards")[0].GetProperty("path").GetString()!;
        Assert.Contains("/quarantine-", shard, StringComparison.Ordinal);

        // Another reader sees the quarantine shard's rows: source row, column, reason and raw text.
        var file = Path.Combine(Path.GetTempPath(), $"quarantine-{Guid.NewGuid():N}.parquet");
        await File.WriteAllBytesAsync(file, await Host.ReadBlobAsync(shard));
        try
        {
            using var connection = new DuckDBConnection("Data Source=:memory:;autoinstall_known_extensions=false;autoload_known_extensions=false;lock_configuration=true");
            connection.Open();
            using var query = connection.CreateCommand();
            query.CommandText = $"SELECT source_row, row_id, \"column\", reason, raw, message FROM read_parquet('{file}') ORDER BY source_row";
            using var reader = query.ExecuteReader();
            var rows = new List<(long, long, string?, string, string?)>();
            while (reader.Read())
            {
                rows.Add((reader.GetInt64(0), reader.GetInt64(1), reader.IsDBNull(2) ? null : reader.GetString(2), reader.GetString(3), reader.IsDBNull(4) ? null : reader.GetString(4)));
            }
            Assert.Equal(new (long, long, string?, string, string?)[] { (6, 4, "age", "type_mismatch", "abc"), (11, 9, null, "cell_count", "29,1.5,cat,extra") }, rows);
        }
        finally
        {
            File.Delete(file);
        }

        // The good rows keep their source row ids: 0-3, 5-8, 10-19.
        var data = manifest.RootElement.GetProperty("shards")[0].GetProperty("path").GetString()!;
        var ids = await BigDataAI.Datasets.ParquetShards.ReadRowIdsAsync(new MemoryStream(await Host.ReadBlobAsync(data)), data);
        Assert.Equal([.. Enumerable.Range(0, 20).Where(i => i is not 4 and not 9).Select(i => (long)i)], ids);
    }

    [Fact]
    public async Task Quarantine_over_the_limit_is_refused_with_the_counts_and_stores_nothing_and_strict_names_the_first_bad_row()
    {
        var name = NewName("toodirty");
        var before = await StoredAsync(name);

        var over = await Assert.ThrowsAsync<RpcException>(() => Host.Ingestion.UploadRawAsync([Header(name, DatasetFormat.Csv, ValidationMode.Quarantine, 0.05), TestData.Chunk("data", DirtyCsv())]));
        Assert.Equal(StatusCode.InvalidArgument, over.StatusCode);
        Assert.Contains("2 of 20 rows are bad (0.1), more than max_bad_fraction 0.05 allows", over.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("row 6, column 'age': 'abc' is not an int64", over.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(before, await StoredAsync(name));

        var strict = await Assert.ThrowsAsync<RpcException>(() => Host.Ingestion.UploadRawAsync([Header(name, DatasetFormat.Csv), TestData.Chunk("data", DirtyCsv())]));
        Assert.Equal(StatusCode.InvalidArgument, strict.StatusCode);
        Assert.Contains("data: row 11:", strict.Status.Detail, StringComparison.Ordinal); // strict: a wrong cell count refuses the file
        Assert.Equal(before, await StoredAsync(name));

        foreach (var bad in new[] { -0.1, 1.5, double.NaN })
        {
            var e = await Assert.ThrowsAsync<RpcException>(() => Host.Ingestion.UploadRawAsync([Header(name, DatasetFormat.Csv, ValidationMode.Quarantine, bad), TestData.Chunk("data", DirtyCsv())]));
            Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
            Assert.Contains("'max_bad_fraction'", e.Status.Detail, StringComparison.Ordinal);
            Assert.Contains("outside 0-1", e.Status.Detail, StringComparison.Ordinal);
        }
        var strictWithFraction = await Assert.ThrowsAsync<RpcException>(() => Host.Ingestion.UploadRawAsync([Header(name, DatasetFormat.Csv, ValidationMode.Strict, 0.1), TestData.Chunk("data", DirtyCsv())]));
        Assert.Contains("applies to validation VALIDATION_MODE_QUARANTINE only", strictWithFraction.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_JSONL_line_that_is_not_JSON_is_quarantined_with_its_line_number()
    {
        var name = NewName("lines");
        var text = "{\"x\": 1, \"label\": \"a\"}\n\n{\"x\": , \"label\": \"b\"}\n{\"x\": 3, \"label\": \"a\"}\n{\"x\": true, \"label\": \"b\"}\n{\"x\": 5, \"label\": \"b\"}\n";
        var reply = await Host.Ingestion.UploadRawAsync([Header(name, DatasetFormat.Jsonl, ValidationMode.Quarantine, 0.5), TestData.Chunk("data", text)]);

        Assert.Equal(3, reply.Dataset.Rows);
        Assert.Equal(("x", "int64"), (reply.Dataset.Columns[0].Name, reply.Dataset.Columns[0].Type));
        Assert.Equal(new Dictionary<string, long> { ["invalid_json"] = 1, ["type_mismatch"] = 1 }, reply.QuarantineReasons.ToDictionary());
        using var manifest = JsonDocument.Parse(await Host.ReadBlobAsync(reply.Dataset.ManifestPath));
        Assert.Equal(2, manifest.RootElement.GetProperty("quarantine").GetProperty("rows").GetInt64());
    }

    [Fact]
    public async Task Expectations_are_checked_on_every_new_version_strictly_or_into_quarantine()
    {
        var name = NewName("expect");
        var first = await Host.Ingestion.UploadRawAsync([Header(name, DatasetFormat.Csv), TestData.Chunk("data", "id,age,kind,label\n1,30,a,x\n2,40,b,y\n")]);
        Assert.Equal(1, first.Dataset.Version);

        // A column the latest version lacks, and an unsound range, are refused.
        var unknown = await Assert.ThrowsAsync<RpcException>(async () => await Host.Ingestion.SetExpectationsAsync(new SetExpectationsRequest
        {
            Dataset = name,
            Columns = { new ColumnExpectation { Column = "weight", NotNull = true } },
        }));
        Assert.Equal(StatusCode.InvalidArgument, unknown.StatusCode);
        Assert.Contains("no column 'weight'", unknown.Status.Detail, StringComparison.Ordinal);
        var range = await Assert.ThrowsAsync<RpcException>(async () => await Host.Ingestion.SetExpectationsAsync(new SetExpectationsRequest
        {
            Dataset = name,
            Columns = { new ColumnExpectation { Column = "age", Min = 10, Max = 5 } },
        }));
        Assert.Contains("min 10 is above max 5", range.Status.Detail, StringComparison.Ordinal);

        var set = await Host.Ingestion.SetExpectationsAsync(new SetExpectationsRequest
        {
            Dataset = name,
            Columns =
            {
                new ColumnExpectation { Column = "id", Unique = true, NotNull = true },
                new ColumnExpectation { Column = "age", Type = "int64", Min = 0, Max = 120 },
                new ColumnExpectation { Column = "kind", AllowedValues = { "a", "b" } },
            },
        });
        Assert.Equal($"datasets/{name}/expectations.json", set.Path);
        var got = await Host.Ingestion.GetExpectationsAsync(new GetExpectationsRequest { Dataset = name });
        Assert.Equal(set.Columns, got.Columns);
        Assert.True(await Host.BlobExistsAsync(set.Path));

        // Row 3 is above the range, row 5 holds a value not allowed, row 12 repeats id 5. Row 4 repeats the id of row 3,
        // which is quarantined for its age: a quarantined row makes no later row a duplicate.
        const string Breaking = "id,age,kind,label\n1,30,a,x\n2,130,b,y\n2,50,a,x\n3,20,c,y\n4,,b,x\n5,41,a,y\n6,22,b,x\n7,33,a,y\n8,44,b,x\n9,55,a,y\n5,60,b,x\n";
        var before = await StoredAsync(name);
        var strict = await Assert.ThrowsAsync<RpcException>(() => Host.Ingestion.UploadRawAsync([Header(name, DatasetFormat.Csv), TestData.Chunk("data", Breaking)]));
        Assert.Equal(StatusCode.InvalidArgument, strict.StatusCode);
        Assert.Contains("data: row 3, column 'age': 130 is above the expected maximum 120 (expectation max)", strict.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(before, await StoredAsync(name));

        var quarantined = await Host.Ingestion.UploadRawAsync([Header(name, DatasetFormat.Csv, ValidationMode.Quarantine, 0.5), TestData.Chunk("data", Breaking)]);
        Assert.Equal(2, quarantined.Dataset.Version);
        Assert.Equal(8, quarantined.Dataset.Rows);
        Assert.Equal(new Dictionary<string, long> { ["expectation_max"] = 1, ["expectation_unique"] = 1, ["expectation_allowed_values"] = 1 }, quarantined.QuarantineReasons.ToDictionary());
        using var manifest = JsonDocument.Parse(await Host.ReadBlobAsync(quarantined.Dataset.ManifestPath));
        Assert.Equal(3, manifest.RootElement.GetProperty("quarantine").GetProperty("rows").GetInt64());
    }

    [Fact]
    public async Task An_incompatible_schema_change_is_refused_with_the_difference_unless_allowed()
    {
        var name = NewName("schema");
        await Host.Ingestion.UploadRawAsync([Header(name, DatasetFormat.Csv), TestData.Chunk("data", "a,b,label\n1,2,x\n3,4,y\n")]);

        // int64 to double widens; a new column is fine.
        var widened = await Host.Ingestion.UploadRawAsync([Header(name, DatasetFormat.Csv), TestData.Chunk("data", "a,b,c,label\n1.5,2,z,x\n3,4,z,y\n")]);
        Assert.Equal(2, widened.Dataset.Version);

        var before = await StoredAsync(name);
        var refused = await Assert.ThrowsAsync<RpcException>(() => Host.Ingestion.UploadRawAsync([Header(name, DatasetFormat.Csv), TestData.Chunk("data", "a,bee,c,label\n1.5,q,z,x\n3,4,z,y\n")]));
        Assert.Equal(StatusCode.FailedPrecondition, refused.StatusCode);
        Assert.Contains($"incompatible with {name} v2", refused.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("column 'b' (int64) is missing (dropped or renamed; new columns: bee)", refused.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(before, await StoredAsync(name));

        var typeChange = await Assert.ThrowsAsync<RpcException>(() => Host.Ingestion.UploadRawAsync([Header(name, DatasetFormat.Csv), TestData.Chunk("data", "a,b,c,label\nq,2,z,x\n")]));
        Assert.Contains("column 'a' changed type from double to string", typeChange.Status.Detail, StringComparison.Ordinal);

        var allowed = await Host.Ingestion.UploadRawAsync([Header(name, DatasetFormat.Csv, allowSchemaChange: true), TestData.Chunk("data", "a,bee,c,label\n1.5,q,z,x\n3,4,z,y\n")]);
        Assert.Equal(3, allowed.Dataset.Version);
    }

    /// <summary>
    /// The dataset's stored objects without its profiles: ingestion writes a version's profile.json after announcing it,
    /// whenever its consumer gets there, so it may appear between two listings of a refused upload.
    /// </summary>
    private async Task<IReadOnlyList<string>> StoredAsync(string name) =>
        [.. (await Host.ListBlobsAsync($"datasets/{name}/")).Where(p => !p.EndsWith("/profile.json", StringComparison.Ordinal) && !p.Contains("/profile-parts/", StringComparison.Ordinal))];
}
