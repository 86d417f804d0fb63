using System.IO.Compression;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using TorchSharp;
using static TorchSharp.torch;

namespace BigDataAI.Models;

/// <summary>
/// The full-checkpoint file: a zip of <c>checkpoint.json</c> (what was trained, how far, and a summary of the rest),
/// <c>model.pt</c> (weights, as <see cref="ModelWeights.Save"/> writes them), <c>optimizer.bin</c> (the optimizer's state)
/// and <c>rng.bin</c> (torch's default CPU generator); with dropout also <c>dropout-rng.bin</c> (the model's dropout
/// generator), and <c>best.pt</c> (the best validation epoch's weights) when those are not <c>model.pt</c>'s.
/// services/Models/README.md describes every field and byte.
/// </summary>
internal static class CheckpointFile
{
    public const int Version = 1;
    public const string Kind = "BigDataAI.Models training checkpoint";
    public const string ManifestEntry = "checkpoint.json";
    public const string WeightsEntry = "model.pt";
    public const string OptimizerEntry = "optimizer.bin";
    public const string RngEntry = "rng.bin";
    public const string DropoutRngEntry = "dropout-rng.bin";
    public const string BestEntry = "best.pt";

    /// <summary>First bytes of optimizer.bin.</summary>
    private static ReadOnlySpan<byte> OptimizerMagic => "BDAI-OPT"u8;
    private const int OptimizerLayout = 1;

    private static readonly IReadOnlyDictionary<string, string> FileDescriptions = new Dictionary<string, string>
    {
        [WeightsEntry] = "weights: TorchSharp state dict, as ModelWeights.Save writes it",
        [OptimizerEntry] = "optimizer state: steps and per-parameter buffers (layout in services/Models/README.md)",
        [RngEntry] = "torch's default CPU generator state, raw bytes of torch.get_rng_state()",
    };

    private static readonly IReadOnlyDictionary<string, string> OptionalDescriptions = new Dictionary<string, string>
    {
        [DropoutRngEntry] = "the model's dropout generator state (a CPU torch.Generator), raw bytes of get_state()",
        [BestEntry] = "weights of the best validation epoch (bestEpoch), as model.pt; absent when model.pt holds them",
    };

    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        // For people reading the file: '<<' and apostrophes as themselves, not \u003C. (It is never embedded in HTML.)
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        // A diverged run has a NaN loss; JSON has no NaN, so write it as the string "NaN" rather than fail the checkpoint.
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
    };

    private static readonly string TorchSharpVersion =
        typeof(torch).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
        ?? typeof(torch).Assembly.GetName().Version?.ToString() ?? "unknown";

    /// <summary>Writes a checkpoint of the run's current state to <paramref name="destination"/> (left open).</summary>
    public static void Write(
        Stream destination,
        nn.Module<Tensor, Tensor> model,
        TrainingOptimizer optimizer,
        IReadOnlyList<EpochResult> history,
        TrainingRun run,
        TrainingPosition? position = null,
        BestEpoch? best = null)
    {
        var optimizerState = optimizer.Export();
        var rng = GetRngState();
        var dropoutRng = ModelFactory.NoiseOf(model)?.State;
        // model.pt holds the best epoch's weights only at the end of that epoch.
        var bestWeights = best is not null && (position is not null || best.Epoch != history.Count) ? best.Weights : null;
        var files = new Dictionary<string, string>(FileDescriptions);
        if (dropoutRng is not null)
        {
            files[DropoutRngEntry] = OptionalDescriptions[DropoutRngEntry];
        }
        if (bestWeights is not null)
        {
            files[BestEntry] = OptionalDescriptions[BestEntry];
        }
        var manifest = new CheckpointManifest(
            Version, Kind, history.Count, run.Order, run.Spec, run.HyperParameters, run.Data.Value, history,
            new OptimizerSummary(optimizerState.Optimizer, optimizerState.Steps, optimizerState.Parameters.Count),
            new RngSummary("torch default CPU generator", rng.Length),
            new EnvironmentSummary(TorchSharpVersion, torch.get_num_threads(), run.Device),
            files)
        {
            Position = position,
            BestEpoch = best?.Epoch,
        };

        using var zip = new ZipArchive(destination, ZipArchiveMode.Create, leaveOpen: true);
        WriteEntry(zip, ManifestEntry, CompressionLevel.Fastest, stream => JsonSerializer.Serialize(stream, manifest, Json));
        WriteEntry(zip, WeightsEntry, CompressionLevel.NoCompression, stream => ModelWeights.Save(model, stream));
        WriteEntry(zip, OptimizerEntry, CompressionLevel.NoCompression, stream => WriteOptimizer(stream, optimizerState));
        WriteEntry(zip, RngEntry, CompressionLevel.NoCompression, stream => stream.Write(rng));
        if (dropoutRng is not null)
        {
            WriteEntry(zip, DropoutRngEntry, CompressionLevel.NoCompression, stream => stream.Write(dropoutRng));
        }
        if (bestWeights is not null)
        {
            WriteEntry(zip, BestEntry, CompressionLevel.NoCompression, stream => stream.Write(bestWeights));
        }
    }

    /// <summary>Reads and checks everything but the weights, which only a model of the spec can check (see <see cref="TrainingResume"/>).</summary>
    public static TrainingResume Read(Stream source)
    {
        ZipArchive zip;
        try
        {
            zip = new ZipArchive(source, ZipArchiveMode.Read, leaveOpen: true);
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            throw new InvalidDataException($"Not a training checkpoint: the data is not a zip archive ({e.Message}).", e);
        }
        using (zip)
        {
            var manifest = ReadManifest(ReadEntry(zip, ManifestEntry));
            var weights = ReadEntry(zip, WeightsEntry);
            var optimizer = ReadOptimizer(ReadEntry(zip, OptimizerEntry));
            var rng = ReadEntry(zip, RngEntry);
            var dropoutRng = zip.GetEntry(DropoutRngEntry) is null ? null : ReadEntry(zip, DropoutRngEntry);
            var bestWeights = zip.GetEntry(BestEntry) is null ? null : ReadEntry(zip, BestEntry);

            if (optimizer.Optimizer != manifest.HyperParameters.Optimizer || optimizer.Steps != manifest.Optimizer.Steps)
            {
                throw new InvalidDataException(
                    $"Damaged training checkpoint: {OptimizerEntry} holds '{optimizer.Optimizer}' after {optimizer.Steps} steps but " +
                    $"{ManifestEntry} says '{manifest.HyperParameters.Optimizer}' after {manifest.Optimizer.Steps}.");
            }
            if (rng.Length != manifest.Rng.Bytes)
            {
                throw new InvalidDataException(
                    $"Damaged training checkpoint: {RngEntry} has {rng.Length} bytes but {ManifestEntry} says {manifest.Rng.Bytes}.");
            }
            if ((dropoutRng is not null) != (manifest.Spec.Dropout > 0))
            {
                throw new InvalidDataException(manifest.Spec.Dropout > 0
                    ? $"Damaged training checkpoint: its model has dropout {manifest.Spec.Dropout} but the archive has no {DropoutRngEntry}."
                    : $"Damaged training checkpoint: the archive has {DropoutRngEntry} but its model has no dropout.");
            }
            BestEpoch? best = null;
            if (manifest.BestEpoch is { } bestEpoch)
            {
                var atEnd = bestEpoch == manifest.Epoch && manifest.Position is null;
                if (bestWeights is null && !atEnd)
                {
                    throw new InvalidDataException(
                        $"Damaged training checkpoint: {ManifestEntry} names epoch {bestEpoch} the best, but the archive has no {BestEntry} with its weights.");
                }
                best = new BestEpoch(bestEpoch, manifest.History[bestEpoch - 1].ValidationAccuracy!.Value, bestWeights ?? weights);
            }
            return new TrainingResume(manifest, weights, optimizer, rng, dropoutRng, best);
        }
    }

    /// <summary>The state of torch's default CPU generator (process-global; read under the lock seeded creations take).</summary>
    public static byte[] GetRngState()
    {
        lock (ModelFactory.SeedGate)
        {
            using var generator = torch.Generator.Default;
            using var state = generator.get_state();
            return state.data<byte>().ToArray();
        }
    }

    /// <summary>Restores torch's default CPU generator from <see cref="GetRngState"/>'s bytes.</summary>
    /// <exception cref="InvalidDataException">libtorch refuses the bytes (wrong size or content).</exception>
    public static void SetRngState(byte[] bytes)
    {
        lock (ModelFactory.SeedGate)
        {
            using var generator = torch.Generator.Default;
            using var state = torch.tensor(bytes);
            try
            {
                generator.set_state(state);
            }
            catch (Exception e) when (e is ExternalException or ArgumentException)
            {
                throw new InvalidDataException($"Damaged training checkpoint: libtorch refused the generator state in {RngEntry}: {e.Message}", e);
            }
        }
    }

    private static void WriteEntry(ZipArchive zip, string name, CompressionLevel level, Action<Stream> write)
    {
        using var stream = zip.CreateEntry(name, level).Open();
        write(stream);
    }

    private static byte[] ReadEntry(ZipArchive zip, string name)
    {
        var entry = zip.GetEntry(name)
            ?? throw new InvalidDataException($"Not a training checkpoint: the archive has no {name}.");
        if (entry.Length > Array.MaxLength)
        {
            throw new InvalidDataException($"Damaged training checkpoint: {name} claims {entry.Length} bytes.");
        }
        try
        {
            using var stream = entry.Open();
            using var buffer = new MemoryStream((int)entry.Length);
            stream.CopyTo(buffer);
            return buffer.ToArray();
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            throw new InvalidDataException($"Damaged training checkpoint: {name} cannot be read ({e.Message}).", e);
        }
    }

    private static CheckpointManifest ReadManifest(byte[] bytes)
    {
        try
        {
            using var document = JsonDocument.Parse(bytes);
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("version", out var version)
                || !version.TryGetInt32(out var number))
            {
                throw new InvalidDataException($"Not a training checkpoint: {ManifestEntry} has no numeric \"version\".");
            }
            if (number != Version)
            {
                throw new InvalidDataException(
                    $"Unsupported training checkpoint: {ManifestEntry} has version {number}; this build reads version {Version} only.");
            }
            var manifest = document.RootElement.Deserialize<CheckpointManifest>(Json)
                ?? throw new InvalidDataException($"Not a training checkpoint: {ManifestEntry} is null.");
            Check(manifest);
            return manifest;
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"Damaged training checkpoint: {ManifestEntry} is not valid: {e.Message}", e);
        }
    }

    private static void Check(CheckpointManifest manifest)
    {
        if (manifest.Kind != Kind)
        {
            throw new InvalidDataException($"Not a training checkpoint: {ManifestEntry} kind is '{manifest.Kind}', not '{Kind}'.");
        }
        if (manifest.Order != Trainer.OrderScheme && manifest.Order != ShuffleLoader.Scheme)
        {
            throw new InvalidDataException(
                $"Unsupported training checkpoint: its data order '{manifest.Order}' is neither this trainer's '{Trainer.OrderScheme}' " +
                $"nor its loader's '{ShuffleLoader.Scheme}', so the run cannot be continued identically.");
        }
        try
        {
            manifest.Spec.Validate();
            manifest.HyperParameters.ToOptions().Validate();
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"Damaged training checkpoint: {ManifestEntry}: {e.Message}", e);
        }
        var history = manifest.History;
        if (manifest.Position is { } position
            && (position.Epoch != manifest.Epoch + 1 || position.Batches < 1 || position.Samples < position.Batches))
        {
            throw new InvalidDataException(
                $"Damaged training checkpoint: {ManifestEntry} position (epoch {position.Epoch}, batch {position.Batches}) does not follow epoch {manifest.Epoch}.");
        }
        if (manifest.Epoch < (manifest.Position is null ? 1 : 0) || manifest.Epoch > manifest.HyperParameters.Epochs || history.Count != manifest.Epoch)
        {
            throw new InvalidDataException(
                $"Damaged training checkpoint: {ManifestEntry} says epoch {manifest.Epoch} of {manifest.HyperParameters.Epochs} " +
                $"with {history.Count} history entries.");
        }
        for (var i = 0; i < history.Count; i++)
        {
            if (history[i] is null || history[i].Epoch != i + 1)
            {
                throw new InvalidDataException($"Damaged training checkpoint: {ManifestEntry} history entry {i} is not epoch {i + 1}.");
            }
        }
        // The best epoch follows from the history by the trainer's own rule; a file that says otherwise is not trusted.
        // (Checkpoints written before best epochs were kept have none: a run resumed from one picks its best among the
        // epochs it trains.)
        var bestOf = Trainer.BestOf(history, manifest.HyperParameters.MinDelta);
        if (manifest.BestEpoch is not null && manifest.BestEpoch != bestOf)
        {
            throw new InvalidDataException(
                $"Damaged training checkpoint: {ManifestEntry} says the best epoch is {manifest.BestEpoch?.ToString() ?? "none"}, " +
                $"but its history's validation scores make it {bestOf?.ToString() ?? "none"}.");
        }
        if (manifest.Data.Rows < 1 || manifest.Data.FeatureCount != manifest.Spec.FeatureCount)
        {
            throw new InvalidDataException(
                $"Damaged training checkpoint: {ManifestEntry} data has {manifest.Data.Rows} rows of {manifest.Data.FeatureCount} " +
                $"features for a model of {manifest.Spec.FeatureCount}.");
        }
    }

    /// <summary>optimizer.bin: little-endian; strings are <see cref="BinaryWriter"/>'s (7-bit length prefix, UTF-8).</summary>
    private static void WriteOptimizer(Stream destination, OptimizerState state)
    {
        EnsureLittleEndian();
        using var writer = new BinaryWriter(destination, Encoding.UTF8, leaveOpen: true);
        writer.Write(OptimizerMagic);
        writer.Write(OptimizerLayout);
        writer.Write(state.Optimizer);
        writer.Write(state.Steps);
        writer.Write(state.Parameters.Count);
        foreach (var parameter in state.Parameters)
        {
            writer.Write(parameter.Name);
            writer.Write(parameter.Shape.Length);
            foreach (var size in parameter.Shape)
            {
                writer.Write(size);
            }
            writer.Write(parameter.Buffers.Count);
            foreach (var buffer in parameter.Buffers)
            {
                writer.Write(buffer.LongLength);
                writer.Write(MemoryMarshal.AsBytes(buffer.AsSpan()));
            }
        }
        writer.Flush();
    }

    private static OptimizerState ReadOptimizer(byte[] bytes)
    {
        EnsureLittleEndian();
        try
        {
            using var reader = new BinaryReader(new MemoryStream(bytes, writable: false), Encoding.UTF8);
            var remaining = () => reader.BaseStream.Length - reader.BaseStream.Position;
            Span<byte> magic = stackalloc byte[OptimizerMagic.Length];
            reader.BaseStream.ReadExactly(magic);
            if (!magic.SequenceEqual(OptimizerMagic))
            {
                throw new InvalidDataException("it does not start with \"BDAI-OPT\".");
            }
            var layout = reader.ReadInt32();
            if (layout != OptimizerLayout)
            {
                throw new InvalidDataException($"layout {layout}; this build reads layout {OptimizerLayout} only.");
            }
            var optimizer = reader.ReadString();
            var steps = reader.ReadInt64();
            var count = reader.ReadInt32();
            if (count < 0 || count > remaining())
            {
                throw new InvalidDataException($"it claims {count} parameters.");
            }
            var parameters = new ParameterState[count];
            for (var p = 0; p < count; p++)
            {
                var name = reader.ReadString();
                var rank = reader.ReadInt32();
                if (rank is < 0 or > 16)
                {
                    throw new InvalidDataException($"parameter '{name}' claims rank {rank}.");
                }
                var shape = new long[rank];
                for (var d = 0; d < rank; d++)
                {
                    shape[d] = reader.ReadInt64();
                }
                var bufferCount = reader.ReadInt32();
                if (bufferCount is < 0 or > 2)
                {
                    throw new InvalidDataException($"parameter '{name}' claims {bufferCount} buffers.");
                }
                var buffers = new float[bufferCount][];
                for (var b = 0; b < bufferCount; b++)
                {
                    var length = reader.ReadInt64();
                    if (length < 0 || length > remaining() / sizeof(float))
                    {
                        throw new InvalidDataException($"parameter '{name}' claims a buffer of {length} values.");
                    }
                    buffers[b] = new float[length];
                    reader.BaseStream.ReadExactly(MemoryMarshal.AsBytes(buffers[b].AsSpan()));
                }
                parameters[p] = new ParameterState(name, shape, buffers);
            }
            if (remaining() != 0)
            {
                throw new InvalidDataException($"{remaining()} bytes follow the last parameter.");
            }
            return new OptimizerState(optimizer, steps, parameters);
        }
        catch (Exception e) when (e is EndOfStreamException or FormatException or InvalidDataException)
        {
            throw new InvalidDataException($"Damaged training checkpoint: {OptimizerEntry}: {e.Message}", e);
        }
    }

    private static void EnsureLittleEndian()
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("Training checkpoints are written and read on little-endian hosts only.");
        }
    }
}

/// <summary>What one training run is, for checkpoints: the spec, the hyper-parameters and (computed on first use) the data's fingerprint.</summary>
internal sealed class TrainingRun(ModelSpec spec, TrainingOptions options, TrainingData? train, string device, DataFingerprint? data = null, string order = Trainer.OrderScheme)
{
    public ModelSpec Spec { get; } = spec;
    public HyperParameters HyperParameters { get; } = HyperParameters.Of(options);
    public Lazy<DataFingerprint> Data { get; } = data is null ? new(() => DataFingerprint.Of(train ?? throw new InvalidOperationException("No data to fingerprint."))) : new(data);
    public string Device { get; } = device;

    /// <summary>How the run orders its data: <see cref="Trainer.OrderScheme"/> or <see cref="ShuffleLoader.Scheme"/>.</summary>
    public string Order { get; } = order;
}

/// <summary>
/// The hyper-parameters a checkpoint records. All but <see cref="Epochs"/> must match on resume (and with the cosine
/// schedule, Epochs too). The recipe's fields are absent from checkpoints written before it, which read as its defaults.
/// </summary>
internal sealed record HyperParameters(int Epochs, int BatchSize, double LearningRate, string Optimizer, int Seed)
{
    public double WeightDecay { get; init; }
    public string Schedule { get; init; } = "constant";
    public int WarmupEpochs { get; init; }
    public int StepEpochs { get; init; }
    public double StepGamma { get; init; } = 0.1;
    public int Patience { get; init; }
    public double MinDelta { get; init; }
    public float[]? ClassWeights { get; init; }
    public double MaxGradientNorm { get; init; }

    public static HyperParameters Of(TrainingOptions options) =>
        new(options.Epochs, options.BatchSize, options.LearningRate, options.Optimizer, options.Seed)
        {
            WeightDecay = options.WeightDecay,
            Schedule = options.Schedule,
            WarmupEpochs = options.WarmupEpochs,
            StepEpochs = options.StepEpochs,
            StepGamma = options.StepGamma,
            Patience = options.Patience,
            MinDelta = options.MinDelta,
            ClassWeights = options.ClassWeights,
            MaxGradientNorm = options.MaxGradientNorm,
        };

    public TrainingOptions ToOptions() =>
        new()
        {
            Epochs = Epochs,
            BatchSize = BatchSize,
            LearningRate = LearningRate,
            Optimizer = Optimizer,
            Seed = Seed,
            WeightDecay = WeightDecay,
            Schedule = Schedule,
            WarmupEpochs = WarmupEpochs,
            StepEpochs = StepEpochs,
            StepGamma = StepGamma,
            Patience = Patience,
            MinDelta = MinDelta,
            ClassWeights = ClassWeights,
            MaxGradientNorm = MaxGradientNorm,
        };
}

/// <summary>
/// Identifies the training data cheaply but surely: its size and the SHA-256 of its labels (int64) and features (float32),
/// each as the little-endian bytes of the array; with soft targets, their SHA-256 (float32) follows the labels'.
/// </summary>
internal sealed record DataFingerprint(int Rows, int FeatureCount, string LabelsSha256, string FeaturesSha256)
{
    /// <summary>
    /// A loader's data: its rows, feature count, the shards' identity (<see cref="ITrainingShards.Identity"/>) in place of
    /// the labels' hash, and its shuffle buffer size in place of the features' (both change the batches).
    /// </summary>
    public static DataFingerprint Of(ShuffleLoader loader) =>
        new(loader.Shards.Rows, loader.Shards.FeatureCount, loader.Shards.Identity, $"shuffle-buffer:{loader.ShuffleBuffer}");

    public static DataFingerprint Of(TrainingData data) => new(
        data.Rows,
        data.FeatureCount,
        data.Targets is { } targets
            ? "targets:" + Convert.ToHexStringLower(SHA256.HashData(MemoryMarshal.AsBytes(targets.AsSpan())))
            : Convert.ToHexStringLower(SHA256.HashData(MemoryMarshal.AsBytes(data.Labels.AsSpan())))
                // Soft targets are what such a run learns from: they are part of its labels' fingerprint.
                + (data.SoftTargets is { } soft ? "+soft:" + Convert.ToHexStringLower(SHA256.HashData(MemoryMarshal.AsBytes(soft.AsSpan()))) : ""),
        Convert.ToHexStringLower(SHA256.HashData(MemoryMarshal.AsBytes(data.Features.AsSpan()))));
}

/// <summary>checkpoint.json. Property order is the file's order.</summary>
internal sealed record CheckpointManifest(
    int Version,
    string Kind,
    int Epoch,
    string Order,
    ModelSpec Spec,
    HyperParameters HyperParameters,
    DataFingerprint Data,
    IReadOnlyList<EpochResult> History,
    OptimizerSummary Optimizer,
    RngSummary Rng,
    EnvironmentSummary Environment,
    IReadOnlyDictionary<string, string> Files)
{
    /// <summary>Set when the checkpoint was written in the middle of epoch <see cref="Epoch"/> + 1; null at an epoch's end.</summary>
    public TrainingPosition? Position { get; init; }

    /// <summary>The best validation epoch so far (its weights are best.pt, or model.pt at that epoch's end); null without validation.</summary>
    public int? BestEpoch { get; init; }
}

/// <summary>For people reading checkpoint.json; optimizer.bin holds the state itself.</summary>
internal sealed record OptimizerSummary(string Name, long Steps, int Parameters);

/// <summary>Which generator rng.bin holds and its size.</summary>
internal sealed record RngSummary(string Generator, int Bytes);

/// <summary>Where the checkpoint was written; informational (identical continuation needs the same libtorch and thread count).</summary>
internal sealed record EnvironmentSummary(string TorchSharp, int Threads, string Device);
