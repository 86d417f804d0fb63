using System.IO.Compression;
using System.Text;
using BigDataAI.Client;
using BigDataAI.Contracts.Labeling;
using BigDataAI.Datasets;
using BigDataAI.IntegrationTests.Infrastructure;
using BigDataAI.IntegrationTests.Services;
using BigDataAI.Protos.Inference.V1;
using BigDataAI.Protos.Ingestion.V1;
using BigDataAI.Protos.Training.V1;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace BigDataAI.IntegrationTests.EndToEnd;

/// <summary>
/// Text end to end with a real broker and blob storage: a zip of class folders of .txt files is uploaded, trained twice
/// from the one catalog (the fastText-style model from scratch, then a head over pretrained MiniLM embeddings, which
/// becomes version 2 of the same model name) and served; Predict takes raw text and reproduces each job's evaluation.
/// </summary>
/// <remarks>
/// The corpus is generated here (seeded, no outside source, so no licence applies): short notes on four topics made
/// of topic words among common English words, with words of other topics mixed in as noise.
/// </remarks>
[Collection(ServersCollection.Name)]
public sealed class TextFlowTests(ServersFixture servers, ITestOutputHelper output)
{
    [Fact]
    public async Task A_zip_of_text_files_in_class_folders_is_trained_from_scratch_and_on_MiniLM_and_served_on_raw_text()
    {
        await using var host = await ServiceHost.StartAsync(servers, output, Modules.Ingestion | Modules.Labeling | Modules.Training | Modules.Inference);
        using var files = new TempFolder();
        var name = "notes-" + Guid.NewGuid().ToString("N")[..8];
        var zip = Path.Combine(files.Path, "notes.zip");
        SampleData.WriteNotesZip(zip, documents: 600, seed: 5);

        var upload = await host.Ingestion.UploadAsync(new UploadHeader { Dataset = name, Format = DatasetFormat.Archive, Files = { "archive" }, Source = "generated notes (TextFlowTests)" }, [("archive", zip)]);
        Assert.Equal(600, upload.Dataset.Rows);
        Assert.Equal(SampleData.NoteTopics, upload.Dataset.Classes);
        Assert.Equal([("path", "string", "id"), ("text", "string", "text"), ("label", "string", "label")], upload.Dataset.Columns.Select(c => (c.Name, c.Type, c.Role)));
        await host.Messages.Published<DatasetLabeled>(m => m.Dataset == name, timeout: TimeSpan.FromSeconds(60));
        var store = host.Services.GetRequiredService<DatasetStore>();
        var manifest = (await store.GetAsync(name, 1))!;
        var test = await store.ReadSplitAsync((await store.GetLabeledAsync(name, 1))!, Splits.Test);

        // 1. The catalog's default for one text column: fastText-style, trained from scratch.
        var fast = await host.Training.StartTrainingAsync(new StartTrainingRequest { Dataset = name, HyperParameters = new HyperParameters { Epochs = 8, BatchSize = 32, Seed = 3 } });
        Assert.Equal("fasttext", fast.Model);
        var fastFinal = await host.Training.WatchToEndAsync(fast.JobId, timeout: TimeSpan.FromMinutes(3));
        Assert.True(fastFinal.State == JobState.Succeeded, $"job failed: {fastFinal.Error}");
        output.WriteLine($"fasttext test accuracy {fastFinal.TestMetrics.Accuracy:P2} on {fastFinal.TestMetrics.Samples} notes, {fastFinal.SamplesPerSecond:N0} samples/s");
        Assert.True(fastFinal.TestMetrics.Accuracy > 0.85, $"test accuracy {fastFinal.TestMetrics.Accuracy:P2}");
        await host.Inference.WaitUntilServedAsync(name, fastFinal.ModelId, TimeSpan.FromSeconds(60));
        await AssertPredictionsReproduceAsync(host, $"{name}@1", test, manifest, fastFinal);

        // 2. A head over MiniLM sentence embeddings: the same name's version 2, served beside version 1.
        var mini = await host.Training.StartTrainingAsync(new StartTrainingRequest { Dataset = name, Model = "minilm", HyperParameters = new HyperParameters { Epochs = 6, BatchSize = 32, Seed = 3 } });
        var miniFinal = await host.Training.WatchToEndAsync(mini.JobId, timeout: TimeSpan.FromMinutes(3));
        Assert.True(miniFinal.State == JobState.Succeeded, $"job failed: {miniFinal.Error}");
        output.WriteLine($"minilm test accuracy {miniFinal.TestMetrics.Accuracy:P2} on {miniFinal.TestMetrics.Samples} notes");
        Assert.True(miniFinal.TestMetrics.Accuracy > 0.80, $"test accuracy {miniFinal.TestMetrics.Accuracy:P2}");
        var served = await host.Inference.WaitUntilServedAsync(name, miniFinal.ModelId, TimeSpan.FromSeconds(60));

        // The embeddings were stored as a derived column of the labeled version (lineage: the embed step), one tensor
        // [384] per row beside the split's row ids; Predict, which embeds the raw text itself, still reproduces the job.
        var labeledManifest = (await store.GetLabeledAsync(name, 1))!;
        var derivedTest = await store.ReadDerivedAsync(labeledManifest, "minilm-1", Splits.Test);
        Assert.NotNull(derivedTest);
        Assert.Equal(test.RowIds, derivedTest.RowIds);
        Assert.Equal([384], derivedTest["text.minilm"].Schema.Shape!);
        Assert.True(await host.BlobExistsAsync(DatasetPaths.DerivedManifest(name, 1, "minilm-1")));
        var derivedJson = System.Text.Encoding.UTF8.GetString(await host.ReadBlobAsync(DatasetPaths.DerivedManifest(name, 1, "minilm-1")));
        Assert.Contains("embed: all-MiniLM-L6-v2", derivedJson, StringComparison.Ordinal);
        Assert.Equal(2, served.ModelVersion);
        await AssertPredictionsReproduceAsync(host, name, test, manifest, miniFinal);
        await AssertPredictionsReproduceAsync(host, $"{name}@1", test, manifest, fastFinal);

        // Bytes in the text's place are refused naming the column; a missing text column too.
        var wrong = await Assert.ThrowsAsync<RpcException>(async () => await host.Inference.PredictAsync(new PredictRequest { Model = name, Rows = { new Row { Cells = { ["text"] = new Value { Data = Google.Protobuf.ByteString.CopyFromUtf8("x") } } } } }));
        Assert.Equal(StatusCode.InvalidArgument, wrong.StatusCode);
        Assert.Contains("column 'text'", wrong.Status.Detail, StringComparison.Ordinal);
        var missing = await Assert.ThrowsAsync<RpcException>(async () => await host.Inference.PredictAsync(new PredictRequest { Model = $"{name}@1", Rows = { new Row { Cells = { ["body"] = new Value { Text = "boat" } } } } }));
        Assert.Contains("column 'text' is missing", missing.Status.Detail, StringComparison.Ordinal);
    }

    private static async Task AssertPredictionsReproduceAsync(ServiceHost host, string model, Table test, DatasetManifest manifest, Job final)
    {
        var request = new PredictRequest { Model = model };
        foreach (var text in (string?[])test["text"].Values)
        {
            request.Rows.Add(new Row { Cells = { ["text"] = new Value { Text = text } } });
        }
        var reply = await host.Inference.PredictAsync(request);
        Assert.Equal(final.ModelId, reply.ModelId);
        var actual = test.ClassIndices(manifest.Classes);
        var classes = manifest.Classes.Length;
        var confusion = new long[classes * classes];
        for (var r = 0; r < test.Rows; r++)
        {
            confusion[actual[r] * classes + reply.Predictions[r].ClassIndex]++;
        }
        Assert.Equal(final.TestMetrics.Confusion, confusion);
    }
}
