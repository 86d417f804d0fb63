using System.Globalization;
using System.Text;
using BigDataAI.Client;
using BigDataAI.Contracts.Ingestion;
using BigDataAI.Datasets;
using BigDataAI.IntegrationTests.Infrastructure;
using BigDataAI.IntegrationTests.Services;
using BigDataAI.Protos.Ingestion.V1;
using BigDataAI.Protos.Quality.V1;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace BigDataAI.IntegrationTests.Quality;

/// <summary>CleanDataset and GetDrift over gRPC against the ingestion module on real RabbitMQ and Azurite.</summary>
[Collection(ServersCollection.Name)]
public sealed class CleaningAndDriftTests(ServersFixture servers, ITestOutputHelper output) : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("bigdataai-quality-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public async Task A_recipe_of_every_step_makes_one_derived_version_with_its_counts_and_runs_once()
    {
        // Three rows per shard: every step streams across shards, near-duplicates and duplicates across shard borders.
        await using var host = await ServiceHost.StartAsync(servers, output, Modules.Ingestion, settings: new Dictionary<string, string?> { ["Ingestion:RowsPerShard"] = "3" });
        var quality = new DataQualityService.DataQualityServiceClient(host.Channel);
        var name = "clean-" + Guid.NewGuid().ToString("N")[..8];
        var csv = """
            note,age,city,label
            Call me at +47 912 34 567 please,34,Oslo,yes
            the quick brown fox jumps over the lazy dog near the river,41,Bergen,no
            The quick brown fox jumps over the lazy dog near the river!,41,Bergen,yes
            mail jane@example.com about  the   invoice,,Oslo,no
            the quick brown fox jumps over the lazy dog near the river,41,Bergen,no
            card 4111 1111 1111 1111 expires soon,29,,yes
            a quiet note on parquet shards,400,Trondheim,no
            another line about gradient descent,38,Oslo,yes
            weekly report on ingestion throughput,45,Bergen,no
            server 10.0.0.7 restarted at noon,31,Oslo,yes
            """;
        var parent = await host.Ingestion.UploadCsvAsync(name, Write("people.csv", csv));
        Assert.Equal(10, parent.Dataset.Rows);

        var request = new CleanDatasetRequest
        {
            Dataset = name,
            Version = parent.Dataset.Version,
            Steps =
            {
                new CleaningStep { DropDuplicates = new DropDuplicates() },
                new CleaningStep { NormalizeText = new NormalizeText { Columns = { "note" } } },
                new CleaningStep { NearDuplicates = new NearDuplicates { Column = "note", Action = NearDuplicateAction.Drop } },
                new CleaningStep { MissingValues = new MissingValues { Column = "age", Action = MissingAction.Median } },
                new CleaningStep { MissingValues = new MissingValues { Column = "city", Action = MissingAction.Mode } },
                new CleaningStep { ClipOutliers = new ClipOutliers { Column = "age", Method = ClipMethod.Iqr } },
                new CleaningStep { ScrubPii = new ScrubPii { Columns = { "note" }, Action = PiiAction.Mask } },
            },
        };
        var cleaned = await quality.CleanDatasetAsync(request);

        Assert.Equal((2, 1, 8L, 10L, false), (cleaned.Version, cleaned.ParentVersion, cleaned.Rows, cleaned.ParentRows, cleaned.Existing));
        Assert.Equal(["drop_duplicates", "normalize_text", "near_duplicates", "missing_values", "missing_values", "clip_outliers", "scrub_pii"], cleaned.Steps.Select(s => s.Step));
        Assert.Equal([10L, 9, 9, 8, 8, 8, 8], cleaned.Steps.Select(s => s.RowsIn));
        Assert.Equal([1L, 0, 1, 0, 0, 0, 0], cleaned.Steps.Select(s => s.RowsDropped));
        Assert.Equal([0L, 1, 0, 1, 1, 1, 4], cleaned.Steps.Select(s => s.CellsChanged));
        Assert.Equal(1, cleaned.Steps[2].Found["groups"]);
        // Median of 29, 31, 34, 38, 41, 45, 400; IQR bounds of 29, 31, 34, 38, 38, 41, 45, 400: Q1 33.25, Q3 42, IQR 8.75,
        // so [20.125, 55.125], rounded inwards for an int64 column.
        Assert.Equal([38.0], cleaned.Steps[3].Bounds);
        Assert.Equal([21.0, 55.0], cleaned.Steps[5].Bounds);
        Assert.Equal(new Dictionary<string, long> { ["card"] = 1, ["email"] = 1, ["ip"] = 1, ["phone"] = 1 }, cleaned.Steps[6].Found);

        var store = host.Services.GetRequiredService<DatasetStore>();
        var manifest = await store.GetRequiredAsync(name, cleaned.Version);
        Assert.Equal(("clean", 1), (manifest.Lineage!.Step, manifest.Lineage.ParentVersion));
        Assert.Equal(cleaned.Recipe, manifest.Lineage.Recipe);
        Assert.Contains("\"parent\":1", manifest.Lineage.Recipe, StringComparison.Ordinal);
        Assert.Equal(7, manifest.Lineage.StepCounts!.Count);
        Assert.Equal(3, manifest.Shards.Count);
        var rows = await store.ReadAsync(manifest);
        Assert.Equal([0L, 1, 3, 5, 6, 7, 8, 9], rows.RowIds);
        Assert.Equal(
            ["Call me at [PHONE] please", "the quick brown fox jumps over the lazy dog near the river", "mail [EMAIL] about the invoice",
             "card [CARD] expires soon", "a quiet note on parquet shards", "another line about gradient descent", "weekly report on ingestion throughput",
             "server [IP] restarted at noon"],
            ((string?[])rows["note"].Values).Select(v => v!).ToArray());
        Assert.Equal([34L, 41, 38, 29, 55, 38, 45, 31], ((long?[])rows["age"].Values).Select(v => v!.Value));
        Assert.Equal("Oslo", ((string?[])rows["city"].Values)[3]);
        await host.Messages.Published<DatasetIngested>(m => m.Dataset == name && m.Version == cleaned.Version);

        // The same parent and steps: the same version, announced again.
        var again = await quality.CleanDatasetAsync(request);
        Assert.Equal((2, true), (again.Version, again.Existing));
        Assert.Equal(cleaned.Steps.Select(s => s.CellsChanged), again.Steps.Select(s => s.CellsChanged));
        await host.Messages.Published<DatasetIngested>(m => m.Dataset == name && m.Version == cleaned.Version, count: 2);
        Assert.Equal(2, (await store.ListAsync(name)).Count);

        // Merging near-duplicates: rows 2 and 4 go, row 1 keeps its group's most common label (no, yes, no: no, unchanged).
        var merged = await quality.CleanDatasetAsync(new CleanDatasetRequest
        {
            Dataset = name,
            Version = 1,
            Steps = { new CleaningStep { NearDuplicates = new NearDuplicates { Column = "note", Action = NearDuplicateAction.Merge, TextThreshold = 0.8 } } },
        });
        Assert.Equal((3, 8L), (merged.Version, merged.Rows));
        Assert.Equal([(2L, 0L)], merged.Steps.Select(s => (s.RowsDropped, s.CellsChanged)));

        async Task<RpcException> Refused(CleanDatasetRequest bad) => await Assert.ThrowsAsync<RpcException>(async () => await quality.CleanDatasetAsync(bad));
        CleanDatasetRequest With(params CleaningStep[] steps) => new() { Dataset = name, Version = 1, Steps = { steps } };
        var unknown = await Refused(With(new CleaningStep { DropDuplicates = new() }, new CleaningStep { MissingValues = new MissingValues { Column = "nope", Action = MissingAction.Mean } }));
        Assert.Equal(StatusCode.InvalidArgument, unknown.StatusCode);
        Assert.StartsWith("steps[1].missing_values.column: the dataset has no column 'nope'", unknown.Status.Detail, StringComparison.Ordinal);
        var meanOfText = await Refused(With(new CleaningStep { MissingValues = new MissingValues { Column = "city", Action = MissingAction.Mean } }));
        Assert.StartsWith("steps[0].missing_values.action: a mean needs an int64 or double column; 'city' is string", meanOfText.Status.Detail, StringComparison.Ordinal);
        var label = await Refused(With(new CleaningStep { MissingValues = new MissingValues { Column = "label", Action = MissingAction.Mode } }));
        Assert.Contains("is the label", label.Status.Detail, StringComparison.Ordinal);
        var nearOnNumber = await Refused(With(new CleaningStep { NearDuplicates = new NearDuplicates { Column = "age" } }));
        Assert.StartsWith("steps[0].near_duplicates.column:", nearOnNumber.Status.Detail, StringComparison.Ordinal);
        var threshold = await Refused(With(new CleaningStep { NearDuplicates = new NearDuplicates { Column = "note", TextThreshold = 1.5 } }));
        Assert.StartsWith("steps[0].near_duplicates.text_threshold: 1.5 is outside (0, 1]", threshold.Status.Detail, StringComparison.Ordinal);
        var quantiles = await Refused(With(new CleaningStep { ClipOutliers = new ClipOutliers { Column = "age", Method = ClipMethod.Quantile, LowerQuantile = 0.9, UpperQuantile = 0.1 } }));
        Assert.StartsWith("steps[0].clip_outliers.lower_quantile:", quantiles.Status.Detail, StringComparison.Ordinal);
        var key = await Refused(With(new CleaningStep { ScrubPii = new ScrubPii { Action = PiiAction.Hash, HashKey = "short" } }));
        Assert.StartsWith("steps[0].scrub_pii.hash_key:", key.Status.Detail, StringComparison.Ordinal);
        var constant = await Refused(With(new CleaningStep { MissingValues = new MissingValues { Column = "age", Action = MissingAction.Constant, Constant = "old" } }));
        Assert.StartsWith("steps[0].missing_values.constant: 'old' is not a int64 value", constant.Status.Detail, StringComparison.Ordinal);
        Assert.StartsWith("steps[0]: the step has no kind", (await Refused(With(new CleaningStep()))).Status.Detail, StringComparison.Ordinal);
        Assert.StartsWith("steps: give at least one step", (await Refused(With())).Status.Detail, StringComparison.Ordinal);
        var missing = await Refused(new CleanDatasetRequest { Dataset = name, Version = 99, Steps = { new CleaningStep { DropDuplicates = new() } } });
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
        // Steps that leave no row: FAILED_PRECONDITION, and no version.
        var blank = "clean-blank-" + Guid.NewGuid().ToString("N")[..8];
        await host.Ingestion.UploadCsvAsync(blank, Write("blank.csv", "score,label\n,yes\n,no\n"));
        var none = await Refused(new CleanDatasetRequest { Dataset = blank, Steps = { new CleaningStep { MissingValues = new MissingValues { Column = "score", Action = MissingAction.DropRow } } } });
        Assert.Equal(StatusCode.FailedPrecondition, none.StatusCode);
        Assert.Contains("steps[0] missing_values dropped 2", none.Status.Detail, StringComparison.Ordinal);
        Assert.Single(await store.ListAsync(blank));
    }

    [Fact]
    public async Task A_cleaned_version_that_breaks_an_expectation_is_refused_naming_the_column_the_first_row_and_the_count()
    {
        // Three rows per shard: the cleaned rows are checked across shards, uniqueness included.
        await using var host = await ServiceHost.StartAsync(servers, output, Modules.Ingestion, settings: new Dictionary<string, string?> { ["Ingestion:RowsPerShard"] = "3" });
        var quality = new DataQualityService.DataQualityServiceClient(host.Channel);
        var store = host.Services.GetRequiredService<DatasetStore>();
        var name = "clean-expect-" + Guid.NewGuid().ToString("N")[..8];
        await host.Ingestion.UploadCsvAsync(name, Write("people.csv", "code,age,label\nk1,34,yes\n,,no\nk3,41,yes\n,,no\nk5,29,yes\nk6,38,no\n"));
        await host.Ingestion.SetExpectationsAsync(new SetExpectationsRequest
        {
            Dataset = name,
            Columns =
            {
                new ColumnExpectation { Column = "code", Unique = true },
                new ColumnExpectation { Column = "age", Min = 0, Max = 120 },
            },
        });
        var shards = await host.ListBlobsAsync($"datasets/{name}/data/");
        async Task<RpcException> Refused(params CleaningStep[] steps) =>
            await Assert.ThrowsAsync<RpcException>(async () => await quality.CleanDatasetAsync(new CleanDatasetRequest { Dataset = name, Version = 1, Steps = { steps } }));
        static CleaningStep Fill(string column, string constant) => new() { MissingValues = new MissingValues { Column = column, Action = MissingAction.Constant, Constant = constant } };

        // Rows 1 and 3 (ids, 0-based) have no age: 200 breaks the maximum in both.
        var range = await Refused(Fill("age", "200"));
        Assert.Equal(StatusCode.FailedPrecondition, range.StatusCode);
        Assert.Equal($"The cleaned version of {name} v1 breaks the dataset's expectations, so it is not committed: "
            + "column 'age', expectation max: 2 rows, the first row id 1 (200 is above the expected maximum 120).", range.Status.Detail);
        // Both have no code either: the first "zz" is fine, the second (in the next shard) repeats it.
        var unique = await Refused(Fill("code", "zz"));
        Assert.Equal(StatusCode.FailedPrecondition, unique.StatusCode);
        Assert.EndsWith("not committed: column 'code', expectation unique: 1 row, the first row id 3 ('zz' appears in an earlier row; the column is expected to be unique).",
            unique.Status.Detail, StringComparison.Ordinal);
        // Nothing committed, no shard left behind.
        Assert.Single(await store.ListAsync(name));
        Assert.Equal(shards, await host.ListBlobsAsync($"datasets/{name}/data/"));

        // Within the expectations: committed.
        var kept = await quality.CleanDatasetAsync(new CleanDatasetRequest { Dataset = name, Version = 1, Steps = { Fill("age", "35") } });
        Assert.Equal((2, 6L), (kept.Version, kept.Rows));

        // The request checks every data-quality call shares.
        var badName = await Assert.ThrowsAsync<RpcException>(async () => await quality.CleanDatasetAsync(new CleanDatasetRequest { Dataset = "Not A Name", Steps = { Fill("age", "35") } }));
        Assert.Equal(StatusCode.InvalidArgument, badName.StatusCode);
        Assert.StartsWith("dataset: 'Not A Name' is not a dataset name", badName.Status.Detail, StringComparison.Ordinal);
        var negative = await Assert.ThrowsAsync<RpcException>(async () => await quality.CleanDatasetAsync(new CleanDatasetRequest { Dataset = name, Version = -1, Steps = { Fill("age", "35") } }));
        Assert.Equal((StatusCode.InvalidArgument, "version: -1 is below 0 (0 = the newest)."), (negative.StatusCode, negative.Status.Detail));
        var toDataset = await Assert.ThrowsAsync<RpcException>(async () => await quality.GetDriftAsync(new GetDriftRequest { Dataset = name, ToDataset = "../x" }));
        Assert.Equal(StatusCode.InvalidArgument, toDataset.StatusCode);
        Assert.StartsWith("to_dataset: '../x' is not a dataset name", toDataset.Status.Detail, StringComparison.Ordinal);
        var profile = await Assert.ThrowsAsync<RpcException>(async () => await quality.GetProfileAsync(new GetProfileRequest { Dataset = name, Version = 7 }));
        Assert.Equal(StatusCode.NotFound, profile.StatusCode);
    }

    [Fact]
    public async Task Drift_flags_the_columns_that_moved_and_not_the_ones_that_did_not()
    {
        await using var host = await ServiceHost.StartAsync(servers, output, Modules.Ingestion);
        var quality = new DataQualityService.DataQualityServiceClient(host.Channel);
        var name = "drift-" + Guid.NewGuid().ToString("N")[..8];
        ColumnOverride[] text = [new() { Name = "note", Role = "text" }];
        await host.Ingestion.UploadCsvAsync(name, Write("v1.csv", Table(seed: 1, shift: 0, redPerTen: 5, yesPerTen: 5, finance: false)), columns: text);
        await host.Ingestion.UploadCsvAsync(name, Write("v2.csv", Table(seed: 2, shift: 1.5, redPerTen: 8, yesPerTen: 7, finance: true)), columns: text);
        await host.Ingestion.UploadCsvAsync(name, Write("v3.csv", Table(seed: 3, shift: 0, redPerTen: 5, yesPerTen: 5, finance: false)), columns: text);

        var moved = await quality.GetDriftAsync(new GetDriftRequest { Dataset = name, FromVersion = 1, ToVersion = 2 });
        foreach (var c in moved.Columns.Append(moved.ClassBalance))
        {
            output.WriteLine($"{c.Column} ({c.Kind}): {c.Reason}");
        }
        Assert.True(moved.Drifted);
        Assert.Equal(["x", "color", "note"], moved.Columns.Select(c => c.Column));
        Assert.Equal(["numeric", "categorical", "text"], moved.Columns.Select(c => c.Kind));
        Assert.All(moved.Columns, c => Assert.True(c.Drifted, $"{c.Column}: {c.Reason}"));
        var x = moved.Columns[0];
        Assert.True(x.Psi > 1 && x.KsStatistic > 0.5 && x.KsPValue < 1e-6, x.Reason);
        Assert.Equal(10, x.Bins.Count);
        // color: 50/50 to 80/20 over every row; JS of (0.5, 0.5) and (0.8, 0.2) (red sorts after blue).
        var color = moved.Columns[1];
        Assert.Equal(0.5, color.FromShare[0], 9);
        Assert.Equal(0.2, color.ToShare[0], 9);
        Assert.Equal(0.2704, color.JsDistance, 3);
        Assert.True(color.ChiSquarePValue < 1e-6);
        Assert.True(moved.Columns[2].EmbeddingDistance > 0.1, moved.Columns[2].Reason);
        Assert.Equal(64, moved.Columns[2].SampledFrom);
        Assert.Equal(("label", true), (moved.ClassBalance.Column, moved.ClassBalance.Drifted));

        var same = await quality.GetDriftAsync(new GetDriftRequest { Dataset = name, FromVersion = 1, ToVersion = 3 });
        foreach (var c in same.Columns.Append(same.ClassBalance))
        {
            output.WriteLine($"{c.Column} ({c.Kind}): {c.Reason}");
        }
        Assert.False(same.Drifted);
        Assert.All(same.Columns, c => Assert.False(c.Drifted, $"{c.Column}: {c.Reason}"));
        Assert.Equal(0, same.ClassBalance.JsDistance, 9);

        var other = "drift-other-" + Guid.NewGuid().ToString("N")[..8];
        await host.Ingestion.UploadCsvAsync(other, Write("other.csv", "x,color,label\n1.5,red,yes\n2.5,blue,no\n"));
        var schemas = await Assert.ThrowsAsync<RpcException>(async () => await quality.GetDriftAsync(new GetDriftRequest { Dataset = name, FromVersion = 1, ToDataset = other, ToVersion = 1 }));
        Assert.Equal(StatusCode.FailedPrecondition, schemas.StatusCode);
        Assert.Contains("'note' (string) only in the first", schemas.Status.Detail, StringComparison.Ordinal);
        var nowhere = await Assert.ThrowsAsync<RpcException>(async () => await quality.GetDriftAsync(new GetDriftRequest { Dataset = name, FromVersion = 1, ToVersion = 9 }));
        Assert.Equal(StatusCode.NotFound, nowhere.StatusCode);
        var negative = await Assert.ThrowsAsync<RpcException>(async () => await quality.GetDriftAsync(new GetDriftRequest { Dataset = name, FromVersion = 1, ToVersion = 2, Thresholds = new DriftThresholds { Psi = -1 } }));
        Assert.Equal(StatusCode.InvalidArgument, negative.StatusCode);
        Assert.StartsWith("thresholds.psi:", negative.Status.Detail, StringComparison.Ordinal);
    }

    /// <summary>1,000 rows: x normal(shift, 1), color red on redPerTen of every 10 rows, a note on cooking or finance, label yes/no.</summary>
    private static string Table(int seed, double shift, int redPerTen, int yesPerTen, bool finance)
    {
        var random = new Random(seed);
        string[] foods = ["pasta", "soup", "bread", "curry", "salad", "pancakes", "risotto", "stew"];
        string[] ways = ["a quick recipe for", "how to cook", "grandmother's secret", "an easy weeknight", "the best homemade"];
        string[] metrics = ["revenue", "operating margin", "net income", "share price", "bond yield"];
        string[] firms = ["the bank", "the fund", "the insurer", "the retailer", "the central bank"];
        var text = new StringBuilder("x,color,note,label\n");
        for (var i = 0; i < 1000; i++)
        {
            // Box-Muller: a normal variate from two uniform ones.
            var z = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
            var note = finance
                ? $"quarterly {metrics[random.Next(metrics.Length)]} at {firms[random.Next(firms.Length)]} rose {random.Next(2, 30)} percent"
                : $"{ways[random.Next(ways.Length)]} {foods[random.Next(foods.Length)]} with fresh herbs";
            text.Append(CultureInfo.InvariantCulture, $"{z + shift + 0.0001:0.0000},{(i % 10 < redPerTen ? "red" : "blue")},{note},{(i % 10 < yesPerTen ? "yes" : "no")}\n");
        }
        return text.ToString();
    }

    private string Write(string file, string content)
    {
        var path = Path.Combine(_folder, file);
        File.WriteAllText(path, content.ReplaceLineEndings("\n") + (content.EndsWith('\n') ? "" : "\n"));
        return path;
    }
}
