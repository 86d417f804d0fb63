using System.IO.Compression;
using BigDataAI.Client;
using BigDataAI.Contracts.Labeling;
using BigDataAI.Datasets;
using BigDataAI.IntegrationTests.Infrastructure;
using BigDataAI.IntegrationTests.Services;
using BigDataAI.Protos.Inference.V1;
using BigDataAI.Protos.Ingestion.V1;
using BigDataAI.Protos.Training.V1;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace BigDataAI.IntegrationTests.EndToEnd;

/// <summary>
/// Images end to end with a real broker and blob storage: the shipped MNIST digits (samples/mnist, CC BY-SA 3.0)
/// written as PNG files in class folders and zipped, uploaded as an archive, stored as the encoded bytes, trained with
/// the catalog's default for images (the CNN, through the pipeline's decode and normalize step) and served: Predict
/// takes the PNG bytes of the stored test split and reproduces the job's evaluation exactly.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class ImageFlowTests(ServersFixture servers, ITestOutputHelper output)
{
    [Fact]
    public async Task A_zip_of_PNG_digits_in_class_folders_is_stored_trained_and_served_on_image_bytes()
    {
        await using var host = await ServiceHost.StartAsync(servers, output, Modules.Ingestion | Modules.Labeling | Modules.Training | Modules.Inference);
        using var files = new TempFolder();
        var name = "pngs-" + Guid.NewGuid().ToString("N")[..8];
        var sample = MnistSample.Load();
        var zip = Path.Combine(files.Path, "digits.zip");
        sample.WritePngZip(zip, 1200);

        var upload = await host.Ingestion.UploadAsync(new UploadHeader { Dataset = name, Format = DatasetFormat.Archive, Files = { "archive" }, Source = "samples/mnist as PNG (CC BY-SA 3.0)" },
            [("archive", zip)]);
        var info = upload.Dataset;
        Assert.Equal(1200, info.Rows);
        Assert.Equal(0, info.UnlabeledRows);
        Assert.Equal(Enumerable.Range(0, 10).Select(d => d.ToString(System.Globalization.CultureInfo.InvariantCulture)), info.Classes);
        Assert.Equal([("path", "string", "id"), ("image", "binary", "image"), ("width", "int64", "ignored"), ("height", "int64", "ignored"), ("label", "string", "label")],
            info.Columns.Select(c => (c.Name, c.Type, c.Role)));

        // The stored bytes are the uploaded PNG files, byte for byte.
        var store = host.Services.GetRequiredService<DatasetStore>();
        var manifest = (await store.GetAsync(name, 1))!;
        var stored = await store.ReadAsync(manifest);
        var first = ((string?[])stored["path"].Values)[0]!;
        Assert.Equal(sample.Png(int.Parse(Path.GetFileNameWithoutExtension(first), System.Globalization.CultureInfo.InvariantCulture)), ((byte[]?[])stored["image"].Values)[0]);

        await host.Messages.Published<DatasetLabeled>(m => m.Dataset == name, timeout: TimeSpan.FromSeconds(60));
        var job = await host.Training.StartTrainingAsync(new StartTrainingRequest { Dataset = name, HyperParameters = new HyperParameters { Epochs = 4, BatchSize = 32, Seed = 1 } });
        Assert.Equal("cnn", job.Model);
        var final = await host.Training.WatchToEndAsync(job.JobId, timeout: TimeSpan.FromMinutes(3));
        Assert.True(final.State == JobState.Succeeded, $"job failed: {final.Error}");
        output.WriteLine($"images test accuracy {final.TestMetrics.Accuracy:P2} on {final.TestMetrics.Samples} digits");
        Assert.True(final.TestMetrics.Accuracy > 0.80, $"test accuracy {final.TestMetrics.Accuracy:P2}");

        var served = await host.Inference.WaitUntilServedAsync(name, final.ModelId, TimeSpan.FromSeconds(60));
        Assert.Equal([("image", "binary")], served.Inputs.Select(i => (i.Name, i.Type)));
        var test = await store.ReadSplitAsync((await store.GetLabeledAsync(name, 1))!, Splits.Test);
        var request = new PredictRequest { Model = name };
        foreach (var bytes in (byte[]?[])test["image"].Values)
        {
            request.Rows.Add(new Row { Cells = { ["image"] = new Value { Data = ByteString.CopyFrom(bytes) } } });
        }
        var reply = await host.Inference.PredictAsync(request);
        var actual = test.ClassIndices(manifest.Classes);
        var confusion = new long[100];
        for (var r = 0; r < test.Rows; r++)
        {
            confusion[actual[r] * 10 + reply.Predictions[r].ClassIndex]++;
        }
        Assert.Equal(final.TestMetrics.Confusion, confusion);

        // A JPEG of another size is resized; bytes that are no image are refused naming the column.
        using (var bitmap = new SkiaSharp.SKBitmap(56, 40))
        using (var jpeg = bitmap.Encode(SkiaSharp.SKEncodedImageFormat.Jpeg, 90))
        {
            var other = await host.Inference.PredictAsync(new PredictRequest { Model = name, Rows = { new Row { Cells = { ["image"] = new Value { Data = ByteString.CopyFrom(jpeg.ToArray()) } } } } });
            Assert.Single(other.Predictions);
        }
        var garbage = await Assert.ThrowsAsync<RpcException>(async () => await host.Inference.PredictAsync(new PredictRequest { Model = name, Rows = { new Row { Cells = { ["image"] = new Value { Data = ByteString.CopyFromUtf8("not an image") } } } } }));
        Assert.Equal(StatusCode.InvalidArgument, garbage.StatusCode);
        Assert.Contains("column 'image'", garbage.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("not a PNG or JPEG", garbage.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unsafe_or_broken_archives_are_refused_naming_the_entry_and_bombs_exhaust_a_limit()
    {
        await using var host = await ServiceHost.StartAsync(servers, output, Modules.Ingestion,
            settings: new Dictionary<string, string?> { ["Ingestion:MaxArchiveEntries"] = "50" });
        using var files = new TempFolder();
        var sample = MnistSample.Load();

        async Task<RpcException> Refused(string file, Action<ZipArchive> fill)
        {
            var path = Path.Combine(files.Path, file);
            using (var stream = File.Create(path))
            using (var archive = new ZipArchive(stream, ZipArchiveMode.Create))
            {
                fill(archive);
            }
            return await Assert.ThrowsAsync<RpcException>(async () => await host.Ingestion.UploadAsync(
                new UploadHeader { Dataset = "refused-" + Guid.NewGuid().ToString("N")[..8], Format = DatasetFormat.Archive, Files = { "archive" } }, [("archive", path)]));
        }
        static void Add(ZipArchive archive, string name, byte[] bytes, CompressionLevel level = CompressionLevel.Fastest)
        {
            using var entry = archive.CreateEntry(name, level).Open();
            entry.Write(bytes);
        }

        var escape = await Refused("escape.zip", a => { Add(a, "cats/1.png", sample.Png(0)); Add(a, "../outside.png", sample.Png(1)); });
        Assert.Equal(StatusCode.InvalidArgument, escape.StatusCode);
        Assert.Contains("entry '../outside.png'", escape.Status.Detail, StringComparison.Ordinal);

        var absolute = await Refused("absolute.zip", a => Add(a, "/etc/cats/1.png", sample.Png(0)));
        Assert.Contains("absolute path", absolute.Status.Detail, StringComparison.Ordinal);

        var broken = await Refused("broken.zip", a => { Add(a, "cats/1.png", sample.Png(0)); Add(a, "cats/2.png", [0x89, 0x50, 0x4E, 0x47, 1, 2, 3]); });
        Assert.Equal(StatusCode.InvalidArgument, broken.StatusCode);
        Assert.Contains("entry 'cats/2.png'", broken.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("does not decode", broken.Status.Detail, StringComparison.Ordinal);

        var other = await Refused("other.zip", a => Add(a, "cats/notes.pdf", [1, 2, 3]));
        Assert.Contains("'.pdf' files are not supported", other.Status.Detail, StringComparison.Ordinal);

        var mixed = await Refused("mixed.zip", a => { Add(a, "cats/1.png", sample.Png(0)); Add(a, "cats/1.txt", "a cat"u8.ToArray()); });
        Assert.Contains("mixes images", mixed.Status.Detail, StringComparison.Ordinal);

        var bomb = await Refused("bomb.zip", a => Add(a, "cats/zeros.txt", new byte[50 << 20], CompressionLevel.SmallestSize));
        Assert.Equal(StatusCode.ResourceExhausted, bomb.StatusCode);
        Assert.Contains("entry 'cats/zeros.txt'", bomb.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("Ingestion:MaxCompressionRatio", bomb.Status.Detail, StringComparison.Ordinal);

        var many = await Refused("many.zip", a => { for (var i = 0; i < 60; i++) { Add(a, $"cats/{i}.png", sample.Png(i)); } });
        Assert.Equal(StatusCode.ResourceExhausted, many.StatusCode);
        Assert.Contains("Ingestion:MaxArchiveEntries", many.Status.Detail, StringComparison.Ordinal);

        Assert.Empty(await host.ListBlobsAsync("datasets/"));
    }
}
