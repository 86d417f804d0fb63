using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Nodes;
using BigDataAI.Models;

namespace BigDataAI.IntegrationTests.Models;

public sealed class TrainingResumeTests
{
    private static readonly ModelSpec Mlp = new() { Architecture = "mlp", InputShape = [20], Classes = 4, HiddenSizes = [32, 16] };
    private static readonly ModelSpec Cnn = new() { Architecture = "cnn", InputShape = [4, 5], Classes = 4, Channels = [16], HiddenSizes = [16] };

    // 200 rows in batches of 32: six full batches and a last one of 8, so the partial batch is covered too.
    private static readonly TrainingData Train = Synthetic.Blobs(rows: 200, features: 20, classes: 4, seed: 1, spread: 1.5);
    private static readonly TrainingData Validation = Synthetic.Blobs(rows: 60, features: 20, classes: 4, seed: 2, spread: 1.5);
    private static readonly TrainingOptions Options = new() { Epochs = 3, BatchSize = 32, LearningRate = 1e-2, Seed = 7, Device = "cpu" };

    [Theory]
    [InlineData("mlp", "adam")]
    [InlineData("mlp", "sgd")]
    [InlineData("cnn", "adam")]
    [InlineData("cnn", "sgd")]
    public void A_run_cancelled_in_epoch_2_and_resumed_from_epoch_1s_checkpoint_ends_bit_for_bit_like_an_uninterrupted_one(
        string architecture, string optimizer)
    {
        var spec = architecture == "mlp" ? Mlp : Cnn;
        var options = Options with { Optimizer = optimizer };
        using var uninterrupted = Trainer.Train(spec, Train, Validation, options);

        // The "worker" that dies: it saves a full checkpoint after epoch 1 and is cancelled two batches into epoch 2.
        byte[]? saved = null;
        using var cancellation = new CancellationTokenSource();
        var dying = new TrainingCallbacks
        {
            Batch = new SyncProgress<BatchProgress>(p =>
            {
                if (p.Epoch == 2 && p.Batch == 2)
                {
                    cancellation.Cancel();
                }
            }),
            Checkpoint = checkpoint => saved = Write(checkpoint),
        };
        Assert.ThrowsAny<OperationCanceledException>(() => Trainer.Train(spec, Train, Validation, options, dying, cancellation.Token));
        Assert.NotNull(saved);

        // The next worker: reads the checkpoint and continues.
        var resume = TrainingResume.Read(new MemoryStream(saved));
        Assert.Equal(1, resume.Epoch);
        Assert.Equal(uninterrupted.Epochs[0].TrainLoss, resume.History.Single().TrainLoss);
        var epochs = new Recorder<EpochResult>();
        var checkpoints = new List<int>();
        var batches = new Recorder<BatchProgress>();
        var continuing = new TrainingCallbacks { Batch = batches, Epoch = epochs, Checkpoint = c => checkpoints.Add(c.History.Count) };
        using var resumed = Trainer.Train(spec, Train, Validation, options, continuing, resume);

        Assert.Equal(WeightBytes(uninterrupted), WeightBytes(resumed));
        Assert.Equal([1, 2, 3], resumed.Epochs.Select(e => e.Epoch));
        Assert.Equal(uninterrupted.Epochs.Select(e => e.TrainLoss), resumed.Epochs.Select(e => e.TrainLoss));
        Assert.Equal(uninterrupted.Epochs.Select(e => e.ValidationAccuracy), resumed.Epochs.Select(e => e.ValidationAccuracy));
        // Callbacks fire for the new epochs only; their checkpoints carry the whole history.
        Assert.Equal([2, 3], epochs.Items.Select(e => e.Epoch));
        Assert.Equal([2, 3], batches.Items.Select(b => b.Epoch).Distinct());
        Assert.Equal([2, 3], checkpoints);
    }

    [Theory]
    [InlineData("mlp", "adam", 1)]
    [InlineData("cnn", "sgd", 2)]
    public void A_run_resumed_from_a_checkpoint_in_the_middle_of_an_epoch_ends_bit_for_bit_like_an_uninterrupted_one(
        string architecture, string optimizer, int epoch)
    {
        // Seven batches per epoch; a checkpoint every 3 batches (after batches 3 and 6 of each epoch) and at each end.
        var spec = architecture == "mlp" ? Mlp : Cnn;
        var options = Options with { Optimizer = optimizer, CheckpointEveryBatches = 3 };
        using var uninterrupted = Trainer.Train(spec, Train, Validation, options);

        byte[]? saved = null;
        using var cancellation = new CancellationTokenSource();
        var dying = new TrainingCallbacks
        {
            Batch = new SyncProgress<BatchProgress>(p =>
            {
                if (p.Epoch == epoch && p.Batch == 5)
                {
                    cancellation.Cancel();
                }
            }),
            Checkpoint = c => saved = Write(c),
        };
        Assert.ThrowsAny<OperationCanceledException>(() => Trainer.Train(spec, Train, Validation, options, dying, cancellation.Token));

        var resume = TrainingResume.Read(new MemoryStream(saved!));
        Assert.Equal(epoch - 1, resume.Epoch);
        Assert.Equal(new TrainingPosition(epoch, 3, resume.Position!.LossSum, 3 * 32), resume.Position);
        var batches = new Recorder<BatchProgress>();
        using var resumed = Trainer.Train(spec, Train, Validation, options, new TrainingCallbacks { Batch = batches }, resume);

        Assert.Equal(WeightBytes(uninterrupted), WeightBytes(resumed));
        Assert.Equal(uninterrupted.Epochs.Select(e => e.TrainLoss), resumed.Epochs.Select(e => e.TrainLoss));
        Assert.Equal(uninterrupted.Epochs.Select(e => e.ValidationAccuracy), resumed.Epochs.Select(e => e.ValidationAccuracy));
        // The resumed run starts with the epoch's fourth batch.
        Assert.Equal((epoch, 4), (batches.Items[0].Epoch, batches.Items[0].Batch));
    }

    [Fact]
    public void A_checkpoint_is_a_zip_a_person_can_read()
    {
        byte[]? saved = null;
        using var result = Trainer.Train(Mlp, Train, Validation, Options with { Epochs = 2 },
            new TrainingCallbacks { Checkpoint = c => saved = c.Epoch.Epoch == 2 ? Write(c) : saved });

        using var zip = new ZipArchive(new MemoryStream(saved!), ZipArchiveMode.Read);
        // best.pt is there when an earlier epoch than the last scored best (model.pt holds the last epoch's weights).
        string[] entries = result.Best == 2 ? ["checkpoint.json", "model.pt", "optimizer.bin", "rng.bin"] : ["best.pt", "checkpoint.json", "model.pt", "optimizer.bin", "rng.bin"];
        Assert.Equal(entries, zip.Entries.Select(e => e.FullName).Order());
        var json = JsonNode.Parse(zip.GetEntry("checkpoint.json")!.Open())!;
        Assert.Equal(result.Best, (int)json["bestEpoch"]!);
        Assert.Equal(1, (int)json["version"]!);
        Assert.Equal(2, (int)json["epoch"]!);
        Assert.Equal(Trainer.OrderScheme, (string)json["order"]!);
        Assert.Equal("mlp", (string)json["spec"]!["architecture"]!);
        Assert.Equal(7, (int)json["hyperParameters"]!["seed"]!);
        Assert.Equal(0.01, (double)json["hyperParameters"]!["learningRate"]!);
        Assert.Equal(200, (int)json["data"]!["rows"]!);
        Assert.Equal(64, ((string)json["data"]!["labelsSha256"]!).Length);
        Assert.Equal(result.Epochs.Select(e => e.TrainLoss), json["history"]!.AsArray().Select(e => (double)e!["trainLoss"]!));
        Assert.Equal(2 * 7, (long)json["optimizer"]!["steps"]!); // 7 batches per epoch
        Assert.Equal(zip.GetEntry("rng.bin")!.Length, (int)json["rng"]!["bytes"]!);

        // model.pt (or best.pt, when that is the result) is exactly what ModelWeights.Save writes.
        using var weights = new MemoryStream();
        zip.GetEntry(result.Best == 2 ? "model.pt" : "best.pt")!.Open().CopyTo(weights);
        Assert.Equal(WeightBytes(result), weights.ToArray());
    }

    [Fact]
    public void A_checkpoint_streams_to_and_from_streams_that_cannot_seek()
    {
        var written = new MemoryStream();
        using var _ = Trainer.Train(Mlp, Train, null, Options with { Epochs = 1 },
            new TrainingCallbacks { Checkpoint = c => c.Write(new ForwardOnlyStream(written)) });

        var resume = TrainingResume.Read(new ForwardOnlyStream(new MemoryStream(written.ToArray())));
        Assert.Equal(1, resume.Epoch);
        Assert.Equal(Mlp, resume.Spec);
        Assert.Equal(Options with { Epochs = 1, Device = null }, resume.Options);
    }

    [Fact]
    public void A_checkpoint_of_a_different_run_is_refused_naming_the_field_that_differs()
    {
        var resume = CheckpointAfterEpoch1(Mlp, Options);
        var relabelled = (long[])Train.Labels.Clone();
        relabelled[5] = (relabelled[5] + 1) % 4;
        var moved = (float[])Train.Features.Clone();
        moved[123] += 1e-3f;
        var cases = new (string Field, Action Resume)[]
        {
            ("ModelSpec.HiddenSizes", () => Trainer.Train(Mlp with { HiddenSizes = [32, 8] }, Train, null, Options, null, resume)),
            ("ModelSpec.Classes", () => Trainer.Train(Mlp with { Classes = 5 }, Train, null, Options, null, resume)),
            ("TrainingOptions.BatchSize", () => Trainer.Train(Mlp, Train, null, Options with { BatchSize = 16 }, null, resume)),
            ("TrainingOptions.LearningRate", () => Trainer.Train(Mlp, Train, null, Options with { LearningRate = 1e-3 }, null, resume)),
            ("TrainingOptions.Optimizer", () => Trainer.Train(Mlp, Train, null, Options with { Optimizer = "sgd" }, null, resume)),
            ("TrainingOptions.Seed", () => Trainer.Train(Mlp, Train, null, Options with { Seed = 8 }, null, resume)),
            ("train.Rows", () => Trainer.Train(Mlp, Synthetic.Blobs(rows: 199, features: 20, classes: 4, seed: 1, spread: 1.5), null, Options, null, resume)),
            ("train.Labels", () => Trainer.Train(Mlp, new TrainingData(Train.Features, relabelled, 20), null, Options, null, resume)),
            ("train.Features", () => Trainer.Train(Mlp, new TrainingData(moved, Train.Labels, 20), null, Options, null, resume)),
        };
        foreach (var (field, resumeWith) in cases)
        {
            var error = Assert.Throws<ArgumentException>(resumeWith);
            Assert.Contains($"The checkpoint was trained with {field}", error.Message);
            Assert.Equal("resumeFrom", error.ParamName);
        }
        // The feature count is checked too: a spec of another input shape first fails on the spec.
        Assert.Contains("ModelSpec.InputShape = [20], but this run has [21]",
            Assert.Throws<ArgumentException>(() => Trainer.Train(Mlp with { InputShape = [21] },
                Synthetic.Blobs(rows: 200, features: 21, classes: 4, seed: 1), null, Options, null, resume)).Message);
    }

    [Fact]
    public void What_is_not_a_checkpoint_or_is_damaged_is_refused_with_InvalidDataException()
    {
        var good = CheckpointBytesAfterEpoch1(Mlp, Options);

        Assert.Contains("not a zip archive", Read(new byte[] { 1, 2, 3, 4, 5, 6, 7, 8, 9 }).Message);
        Assert.Contains("not a zip archive", Read([]).Message);
        Assert.Contains("not a zip archive", Read(good[..(good.Length / 2)]).Message);
        Assert.Contains("version 2; this build reads version 1 only", Read(EditManifest(good, json => json["version"] = 2)).Message);
        Assert.Contains("no numeric \"version\"", Read(EditManifest(good, json => json.Remove("version"))).Message);
        Assert.Contains("data order", Read(EditManifest(good, json => json["order"] = "sequential")).Message);
        Assert.Contains("history", Read(EditManifest(good, json => json["epoch"] = 2)).Message);
        Assert.Contains("checkpoint.json is not valid", Read(EditManifest(good, json => json.Remove("spec"))).Message);
        Assert.Contains("has no rng.bin", Read(Edit(good, zip => zip.GetEntry("rng.bin")!.Delete())).Message);
        Assert.Contains("optimizer.bin", Read(Replace(good, "optimizer.bin", [1, 2, 3])).Message);

        // Weights are checked against the spec when training resumes.
        var junkWeights = TrainingResume.Read(new MemoryStream(Replace(good, "model.pt", new byte[100])));
        Assert.Throws<InvalidDataException>(() => Trainer.Train(Mlp, Train, null, Options, null, junkWeights));
    }

    [Fact]
    public void A_checkpoint_of_the_last_epoch_trains_nothing_and_one_of_a_shorter_run_trains_on_like_the_longer_run()
    {
        var twoEpochs = Options with { Epochs = 2 };
        byte[]? last = null;
        using var shortRun = Trainer.Train(Mlp, Train, Validation, twoEpochs, new TrainingCallbacks { Checkpoint = c => last = Write(c) });
        var resume = TrainingResume.Read(new MemoryStream(last!));
        Assert.Equal(2, resume.Epoch);

        var batches = new Recorder<BatchProgress>();
        var epochs = new Recorder<EpochResult>();
        var checkpoints = 0;
        var callbacks = new TrainingCallbacks { Batch = batches, Epoch = epochs, Checkpoint = _ => checkpoints++ };
        using (var done = Trainer.Train(Mlp, Train, Validation, twoEpochs, callbacks, resume))
        {
            Assert.Empty(batches.Items);
            Assert.Empty(epochs.Items);
            Assert.Equal(0, checkpoints);
            Assert.Equal(shortRun.Epochs, done.Epochs);
            Assert.Equal(WeightBytes(shortRun), WeightBytes(done));
        }

        // Epochs may be raised on resume (train longer): the result is the 3-epoch run's, as each epoch's order
        // depends only on the seed and the epoch.
        using var longRun = Trainer.Train(Mlp, Train, Validation, Options);
        using var extended = Trainer.Train(Mlp, Train, Validation, Options, null, resume);
        Assert.Equal(WeightBytes(longRun), WeightBytes(extended));
        Assert.Equal(longRun.Epochs.Select(e => e.TrainLoss), extended.Epochs.Select(e => e.TrainLoss));

        // ...but not lowered below what the checkpoint has done.
        var lowered = Assert.Throws<ArgumentException>(() => Trainer.Train(Mlp, Train, null, Options with { Epochs = 1 }, null, resume));
        Assert.Contains("TrainingOptions.Epochs is 1 but the checkpoint has already trained 2 epochs", lowered.Message);
    }

    private static byte[] Write(TrainingCheckpoint checkpoint)
    {
        using var stream = new MemoryStream();
        checkpoint.Write(stream);
        return stream.ToArray();
    }

    private static byte[] WeightBytes(TrainingResult result)
    {
        using var stream = new MemoryStream();
        ModelWeights.Save(result.Model, stream);
        return stream.ToArray();
    }

    private static byte[] CheckpointBytesAfterEpoch1(ModelSpec spec, TrainingOptions options)
    {
        byte[]? saved = null;
        using var _ = Trainer.Train(spec, Train, null, options with { Epochs = 1 }, new TrainingCallbacks { Checkpoint = c => saved = Write(c) });
        return saved!;
    }

    private static TrainingResume CheckpointAfterEpoch1(ModelSpec spec, TrainingOptions options) =>
        TrainingResume.Read(new MemoryStream(CheckpointBytesAfterEpoch1(spec, options)));

    private static InvalidDataException Read(byte[] bytes) =>
        Assert.Throws<InvalidDataException>(() => TrainingResume.Read(new MemoryStream(bytes)));

    private static byte[] Edit(byte[] checkpoint, Action<ZipArchive> edit)
    {
        var stream = new MemoryStream();
        stream.Write(checkpoint);
        using (var zip = new ZipArchive(stream, ZipArchiveMode.Update, leaveOpen: true))
        {
            edit(zip);
        }
        return stream.ToArray();
    }

    private static byte[] Replace(byte[] checkpoint, string entry, byte[] content) => Edit(checkpoint, zip =>
    {
        zip.GetEntry(entry)!.Delete();
        using var stream = zip.CreateEntry(entry).Open();
        stream.Write(content);
    });

    private static byte[] EditManifest(byte[] checkpoint, Action<JsonObject> edit)
    {
        using var zip = new ZipArchive(new MemoryStream(checkpoint), ZipArchiveMode.Read);
        var json = JsonNode.Parse(zip.GetEntry("checkpoint.json")!.Open())!.AsObject();
        edit(json);
        return Replace(checkpoint, "checkpoint.json", JsonSerializer.SerializeToUtf8Bytes(json));
    }
}

/// <summary>A stream that reads or writes forward only, like an upload or download body.</summary>
internal sealed class ForwardOnlyStream(Stream inner) : Stream
{
    public override bool CanRead => inner.CanRead;
    public override bool CanSeek => false;
    public override bool CanWrite => inner.CanWrite;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() => inner.Flush();
    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
    public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
