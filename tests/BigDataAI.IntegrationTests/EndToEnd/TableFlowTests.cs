using System.Globalization;
using System.Text;
using BigDataAI.Client;
using BigDataAI.Contracts.Labeling;
using BigDataAI.Datasets;
using BigDataAI.IntegrationTests.Infrastructure;
using BigDataAI.IntegrationTests.Services;
using BigDataAI.Protos.Inference.V1;
using BigDataAI.Protos.Ingestion.V1;
using BigDataAI.Protos.Training.V1;
using DuckDB.NET.Data;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace BigDataAI.IntegrationTests.EndToEnd;

/// <summary>
/// A real table end to end, with a real broker and real blob storage: a CSV with integers, decimals, booleans,
/// categories, missing cells (empty, NA, NaN), a quoted free-text column with commas and line breaks, an id and
/// unlabeled rows is uploaded, stored with its own typed columns (read back by DuckDB), labeled, trained with the
/// catalog's default model and served; Predict takes the raw cells of the stored test split and reproduces the job's
/// evaluation exactly. A second dataset (digits) is then served beside it, each by name.
/// </summary>
/// <remarks>
/// The table is generated here (seeded, no outside source, so no licence applies): people with an age, an income, a
/// city and a membership flag; the label is "yes" when (age over 45 and city Oslo) or member, with 3% of labels
/// flipped, and 8% of rows have no label.
/// </remarks>
[Collection(ServersCollection.Name)]
public sealed class TableFlowTests(ServersFixture servers, ITestOutputHelper output)
{
    private static readonly string[] Cities = ["Oslo", "Bergen", "Trondheim", "Stavanger"];
    private static readonly TimeSpan JobTimeout = TimeSpan.FromMinutes(3);
    private static readonly TimeSpan ServeTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_table_with_strings_and_missing_cells_is_stored_typed_trained_and_served_on_raw_rows()
    {
        await using var host = await ServiceHost.StartAsync(servers, output, Modules.Ingestion | Modules.Labeling | Modules.Training | Modules.Inference);
        using var files = new TempFolder();
        var name = "people-" + Guid.NewGuid().ToString("N")[..8];
        var csv = Path.Combine(files.Path, "people.csv");
        var (rows, unlabeled) = SampleData.WritePeopleCsv(csv, 700, seed: 11);

        // 1. Upload: types inferred, nulls recognised, the id and the free text given their roles by the caller.
        var upload = await host.Ingestion.UploadCsvAsync(name, csv, "", "generated in TableFlowTests (seeded)",
            [new ColumnOverride { Name = "id", Role = "id" }, new ColumnOverride { Name = "note", Role = "ignored" }]);
        var info = upload.Dataset;
        output.WriteLine("columns: " + string.Join(", ", info.Columns.Select(c => $"{c.Name}:{c.Type}:{c.Role}:{(c.Nullable ? "null" : "")}")));
        Assert.Equal(2, info.FormatVersion);
        Assert.Equal(rows, info.Rows);
        Assert.Equal(unlabeled, info.UnlabeledRows);
        Assert.Equal(["no", "yes"], info.Classes);
        Assert.Equal(rows - unlabeled, info.ClassCounts.Sum());
        Assert.Equal(
            [("id", "int64", "id", false), ("age", "int64", "feature", true), ("income", "double", "feature", true), ("city", "string", "feature", true),
             ("member", "bool", "feature", false), ("note", "string", "ignored", true), ("label", "string", "label", true)],
            info.Columns.Select(c => (c.Name, c.Type, c.Role, c.Nullable)));

        // 2. Another reader (DuckDB) opens a stored shard and sees the source's own columns and types, nulls included.
        var manifest = (await host.Services.GetRequiredService<DatasetStore>().GetAsync(name, 1))!;
        var shard = Path.Combine(files.Path, "part.parquet");
        await File.WriteAllBytesAsync(shard, await host.ReadBlobAsync(manifest.Shards[0].Path));
        var duck = DescribeWithDuckDb(shard);
        output.WriteLine("DuckDB: " + string.Join(", ", duck.Columns.Select(c => $"{c.Name} {c.Type}")));
        Assert.Equal(
            [("_row", "BIGINT"), ("id", "BIGINT"), ("age", "BIGINT"), ("income", "DOUBLE"), ("city", "VARCHAR"), ("member", "BOOLEAN"), ("note", "VARCHAR"), ("label", "VARCHAR")],
            duck.Columns);
        Assert.Equal(manifest.Shards[0].Rows, duck.Rows);
        Assert.True(duck.NullAges > 0 && duck.NullLabels > 0, $"DuckDB sees {duck.NullAges} null ages and {duck.NullLabels} null labels");
        Assert.Contains("line", duck.Notes, StringComparison.Ordinal); // a quoted cell with a line break, verbatim

        // 3. Labeling splits the labeled rows only.
        var labeled = await host.Messages.Published<DatasetLabeled>(m => m.Dataset == name && m.Version == 1, timeout: TimeSpan.FromSeconds(60));
        Assert.Equal(rows - unlabeled, labeled.TrainRows + labeled.ValidationRows + labeled.TestRows);

        // 4. Train with the catalog's default model for a table (the MLP), through the feature pipeline.
        var job = await host.Training.StartTrainingAsync(new StartTrainingRequest
        {
            Dataset = name,
            HyperParameters = new HyperParameters { Epochs = 25, BatchSize = 32, LearningRate = 0.01, Seed = 2 },
        });
        Assert.Equal("mlp", job.Model);
        var final = await host.Training.WatchToEndAsync(job.JobId, timeout: JobTimeout);
        Assert.True(final.State == JobState.Succeeded, $"job failed: {final.Error}");
        output.WriteLine($"table test accuracy {final.TestMetrics.Accuracy:P2} on {final.TestMetrics.Samples} rows");
        Assert.True(final.TestMetrics.Accuracy > 0.85, $"test accuracy {final.TestMetrics.Accuracy:P2}");

        // 5. Served by name; Predict on the stored test split's raw cells reproduces the evaluation exactly.
        var served = await host.Inference.WaitUntilServedAsync(name, final.ModelId, ServeTimeout);
        Assert.Equal(name, served.Name);
        Assert.Equal(1, served.ModelVersion);
        Assert.Equal(["age", "income", "city", "member"], served.Inputs.Select(i => i.Name));
        var store = host.Services.GetRequiredService<DatasetStore>();
        var test = await store.ReadSplitAsync((await store.GetLabeledAsync(name, 1))!, Splits.Test);
        var request = new PredictRequest { Model = name };
        request.Rows.AddRange(Enumerable.Range(0, test.Rows).Select(r => RowOf(test, r)));
        var reply = await host.Inference.PredictAsync(request);
        Assert.Equal((name, 1, final.ModelId), (reply.Model, reply.ModelVersion, reply.ModelId));
        var actual = test.ClassIndices(manifest.Classes);
        var confusion = new long[4];
        for (var r = 0; r < test.Rows; r++)
        {
            confusion[actual[r] * 2 + reply.Predictions[r].ClassIndex]++;
        }
        Assert.Equal(final.TestMetrics.Confusion, confusion);

        // 6. Bad rows are refused naming the column; an unseen category is simply unknown.
        var noCity = RowOf(test, 0);
        noCity.Cells.Remove("city");
        var missing = await Assert.ThrowsAsync<RpcException>(async () => await host.Inference.PredictAsync(new PredictRequest { Model = name, Rows = { noCity } }));
        Assert.Equal(StatusCode.InvalidArgument, missing.StatusCode);
        Assert.Contains("column 'city' is missing", missing.Status.Detail, StringComparison.Ordinal);
        var badAge = RowOf(test, 0);
        badAge.Cells["age"] = new Value { Text = "old" };
        var wrongType = await Assert.ThrowsAsync<RpcException>(async () => await host.Inference.PredictAsync(new PredictRequest { Model = name, Rows = { badAge } }));
        Assert.Equal(StatusCode.InvalidArgument, wrongType.StatusCode);
        Assert.Contains("column 'age'", wrongType.Status.Detail, StringComparison.Ordinal);
        var elsewhere = RowOf(test, 0);
        elsewhere.Cells["city"] = new Value { Text = "Reykjavik" };
        elsewhere.Cells["income"] = new Value { Null = Google.Protobuf.WellKnownTypes.NullValue.NullValue };
        Assert.Single((await host.Inference.PredictAsync(new PredictRequest { Model = name, Rows = { elsewhere } })).Predictions);
        var dense = await Assert.ThrowsAsync<RpcException>(async () => await host.Inference.PredictAsync(new PredictRequest { Model = name, Inputs = { new Input { Features = { 1, 2, 3, 4 } } } }));
        Assert.Equal(StatusCode.InvalidArgument, dense.StatusCode);
        Assert.Contains("send 'rows'", dense.Status.Detail, StringComparison.Ordinal);

        // 7. A second dataset's model is served beside the first; each is asked for by name.
        var digits = "digits-" + Guid.NewGuid().ToString("N")[..8];
        await host.Ingestion.UploadIdxAsync(files, digits, TestData.Idx(90, seed: 3));
        await host.Messages.Published<DatasetLabeled>(m => m.Dataset == digits, timeout: TimeSpan.FromSeconds(60));
        var digitJob = await host.Training.StartTrainingAsync(new StartTrainingRequest { Dataset = digits, Model = "logreg", HyperParameters = new HyperParameters { Epochs = 3, BatchSize = 16 } });
        var digitFinal = await host.Training.WatchToEndAsync(digitJob.JobId, timeout: JobTimeout);
        Assert.True(digitFinal.State == JobState.Succeeded, $"job failed: {digitFinal.Error}");
        await host.Inference.WaitUntilServedAsync(digits, digitFinal.ModelId, ServeTimeout);

        var unnamed = await Assert.ThrowsAsync<RpcException>(async () => await host.Inference.PredictAsync(new PredictRequest { Rows = { RowOf(test, 0) } }));
        Assert.Equal(StatusCode.InvalidArgument, unnamed.StatusCode);
        Assert.Contains(name, unnamed.Status.Detail, StringComparison.Ordinal);
        Assert.Contains(digits, unnamed.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(final.ModelId, (await host.Inference.PredictAsync(new PredictRequest { Model = $"{name}@1", Rows = { RowOf(test, 0) } })).ModelId);
        var pixels = new Input();
        pixels.Features.AddRange(TestData.Features(label: 1, seed: 3));
        Assert.Equal(digitFinal.ModelId, (await host.Inference.PredictAsync(new PredictRequest { Model = digits, Inputs = { pixels } })).ModelId);
        var noVersion = await Assert.ThrowsAsync<RpcException>(async () => await host.Inference.PredictAsync(new PredictRequest { Model = $"{name}@9", Rows = { RowOf(test, 0) } }));
        Assert.Equal(StatusCode.NotFound, noVersion.StatusCode);
        var noName = await Assert.ThrowsAsync<RpcException>(async () => await host.Inference.GetModelAsync(new GetModelRequest { Model = "no-such-model" }));
        Assert.Equal(StatusCode.NotFound, noName.StatusCode);
        // A model may be registered under a name of its own: the people's linear baseline beside their MLP.
        var linear = await host.Training.StartTrainingAsync(new StartTrainingRequest { Dataset = name, Model = "logreg", ModelName = $"{name}-linear", HyperParameters = new HyperParameters { Epochs = 5, BatchSize = 32 } });
        Assert.Equal($"{name}-linear", linear.ModelName);
        var linearFinal = await host.Training.WatchToEndAsync(linear.JobId, timeout: JobTimeout);
        Assert.True(linearFinal.State == JobState.Succeeded, $"job failed: {linearFinal.Error}");
        var linearServed = await host.Inference.WaitUntilServedAsync($"{name}-linear", linearFinal.ModelId, ServeTimeout);
        Assert.Equal(1, linearServed.ModelVersion);
        Assert.Equal(1, (await host.Inference.GetModelAsync(new GetModelRequest { Model = name })).ModelVersion); // the MLP stays the people's model
        var badName = await Assert.ThrowsAsync<RpcException>(async () => await host.Training.StartTrainingAsync(new StartTrainingRequest { Dataset = name, ModelName = "Not A Name" }));
        Assert.Equal(StatusCode.InvalidArgument, badName.StatusCode);
        Assert.Contains("'model_name'", badName.Status.Detail, StringComparison.Ordinal);

        var listed = await host.Inference.ListModelsAsync(new Protos.Inference.V1.ListModelsRequest());
        Assert.Equal(new[] { digits, name, $"{name}-linear" }.Order(StringComparer.Ordinal), listed.Models.Select(m => m.Name));
        Assert.All(listed.Models, m => Assert.NotEmpty(m.LoadedAt));

        // 8. A double label is a regression: trained with mean squared error, measured by MAE, RMSE and R², served as a value.
        var prices = "prices-" + Guid.NewGuid().ToString("N")[..8];
        var pricesCsv = Path.Combine(files.Path, "prices.csv");
        var random = new Random(4);
        var lines = new StringBuilder("rooms,city,label\n");
        for (var i = 0; i < 400; i++)
        {
            var (rooms, oslo) = (1 + random.Next(6), random.Next(2) == 0);
            lines.Append(CultureInfo.InvariantCulture, $"{rooms},{(oslo ? "Oslo" : "Bergen")},{(100 + 40 * rooms + (oslo ? 60 : 0) + random.NextDouble() * 10).ToString("F2", CultureInfo.InvariantCulture)}\n");
        }
        await File.WriteAllTextAsync(pricesCsv, lines.ToString());
        var priced = await host.Ingestion.UploadCsvAsync(prices, pricesCsv);
        Assert.Empty(priced.Dataset.Classes);
        await host.Messages.Published<DatasetLabeled>(m => m.Dataset == prices, timeout: TimeSpan.FromSeconds(60));
        var priceJob = await host.Training.StartTrainingAsync(new StartTrainingRequest { Dataset = prices, HyperParameters = new HyperParameters { Epochs = 60, BatchSize = 32, LearningRate = 0.01, Seed = 1 } });
        var priceFinal = await host.Training.WatchToEndAsync(priceJob.JobId, timeout: JobTimeout);
        Assert.True(priceFinal.State == JobState.Succeeded, $"job failed: {priceFinal.Error}");
        var m = priceFinal.TestMetrics;
        output.WriteLine($"regression test R² {m.R2:F4}, MAE {m.Mae:F3}, RMSE {m.Rmse:F3} on {m.Samples} rows");
        Assert.True(m.Regression);
        Assert.True(m.R2 > 0.9, $"R² {m.R2}");
        Assert.Equal(m.R2, m.Accuracy);
        await host.Inference.WaitUntilServedAsync(prices, priceFinal.ModelId, ServeTimeout);
        var priceTest = await store.ReadSplitAsync((await store.GetLabeledAsync(prices, 1))!, Splits.Test);
        var priceRequest = new PredictRequest { Model = prices };
        priceRequest.Rows.AddRange(Enumerable.Range(0, priceTest.Rows).Select(r => RowOf(priceTest, r)));
        var priceReply = await host.Inference.PredictAsync(priceRequest);
        Assert.All(priceReply.Predictions, p => Assert.Empty(p.Probabilities));
        var targets = priceTest.Targets();
        var mae = priceReply.Predictions.Select((p, r) => Math.Abs(p.Value - targets[r])).Average();
        Assert.Equal(m.Mae, mae, 3);
    }

    /// <summary>A row of a stored table as Predict cells, each in its own type (what a client written from the protos sends).</summary>
    private static Row RowOf(Table table, int r)
    {
        var row = new Row();
        foreach (var column in table.Columns)
        {
            row.Cells[column.Name] = column.Values switch
            {
                _ when column.IsNull(r) => new Value { Null = Google.Protobuf.WellKnownTypes.NullValue.NullValue },
                long?[] l => new Value { Integer = l[r]!.Value },
                double?[] d => new Value { Number = d[r]!.Value },
                bool?[] b => new Value { Flag = b[r]!.Value },
                string?[] s => new Value { Text = s[r] },
                _ => throw new InvalidOperationException($"column {column.Name} is {column.Schema.TypeName}"),
            };
        }
        return row;
    }

    private sealed record DuckDbView(IReadOnlyList<(string Name, string Type)> Columns, long Rows, long NullAges, long NullLabels, string Notes);

    private static DuckDbView DescribeWithDuckDb(string parquet)
    {
        // No extension may be installed or loaded from the network: reading a local Parquet file needs none.
        using var connection = new DuckDBConnection("Data Source=:memory:;autoinstall_known_extensions=false;autoload_known_extensions=false;lock_configuration=true");
        connection.Open();
        using var describe = connection.CreateCommand();
        describe.CommandText = $"DESCRIBE SELECT * FROM read_parquet('{parquet.Replace("'", "''", StringComparison.Ordinal)}')";
        var columns = new List<(string, string)>();
        using (var reader = describe.ExecuteReader())
        {
            while (reader.Read())
            {
                columns.Add((reader.GetString(0), reader.GetString(1)));
            }
        }
        using var counts = connection.CreateCommand();
        counts.CommandText = $"SELECT count(*), count(*) FILTER (WHERE age IS NULL), count(*) FILTER (WHERE label IS NULL), string_agg(note, '|') FROM read_parquet('{parquet.Replace("'", "''", StringComparison.Ordinal)}')";
        using var row = counts.ExecuteReader();
        row.Read();
        return new DuckDbView(columns, row.GetInt64(0), row.GetInt64(1), row.GetInt64(2), row.GetString(3));
    }
}
