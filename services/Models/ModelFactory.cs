using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BigDataAI.Models;

/// <summary>Builds the model a <see cref="ModelSpec"/> describes, on the CPU, with fresh (random) weights.</summary>
public static class ModelFactory
{
    /// <summary>Held while torch's global random generator is seeded and used, so seeded creations never interleave.</summary>
    internal static readonly Lock SeedGate = new();

    /// <summary>
    /// Builds the model described by <paramref name="spec"/> on the CPU. Its input is a [batch, FeatureCount] float tensor,
    /// its output [batch, Classes] logits (apply softmax for probabilities).
    /// </summary>
    /// <param name="spec">The architecture; validated first.</param>
    /// <param name="seed">
    /// When given, torch's global generator is seeded with it just before the weights are drawn (under a process-wide
    /// lock that every creation takes), so equal seeds give equal initial weights, unless code outside this library draws
    /// from torch's global generator at the same moment. When null, the weights depend on the generator's current state.
    /// </param>
    /// <exception cref="ArgumentException">The spec is invalid (e.g. an unknown architecture; the message lists the valid ones).</exception>
    public static nn.Module<Tensor, Tensor> Create(ModelSpec spec, long? seed = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        spec.Validate();
        TorchRuntime.EnsureLoadable();
        // Every creation draws from torch's global generator, so all take the lock: an unseeded creation must not
        // interleave with a seeded one. (Other code that uses the global generator concurrently still can.)
        lock (SeedGate)
        {
            if (seed is not null)
            {
                torch.manual_seed(seed.Value).Dispose();
            }
            return Build(spec, seed ?? 0);
        }
    }

    private static nn.Module<Tensor, Tensor> Build(ModelSpec spec, long seed)
    {
        // The dropout masks' generator is the model's own, so other code drawing from torch's global generator (another
        // job's model being created, say) cannot change this run's masks.
        var noise = spec.Dropout > 0 ? new DropoutNoise(seed) : null;
        try
        {
            return spec.Architecture switch
            {
                "mlp" => new MlpModel(spec, noise),
                "cnn" => new CnnModel(spec, noise),
                "fasttext" => new FastTextModel(spec, noise),
                _ => throw new ArgumentException(
                    $"ModelSpec.Architecture '{spec.Architecture}' is unknown. Valid architectures: {string.Join(", ", ModelSpec.Architectures)}."),
            };
        }
        catch
        {
            noise?.Dispose();
            throw;
        }
    }

    /// <summary>The dropout generator of a model this factory built, or null when its spec has no dropout.</summary>
    internal static DropoutNoise? NoiseOf(nn.Module<Tensor, Tensor> model) => (model as INoisyModel)?.Noise;

    /// <summary>
    /// Appends Linear(+ReLU) layers: one per hidden size, each followed by dropout when <paramref name="dropout"/> is
    /// positive, then one to the classes (no activation: logits).
    /// </summary>
    internal static Sequential Dense(int inputs, int[] hiddenSizes, int classes, double dropout = 0, DropoutNoise? noise = null)
    {
        var layers = nn.Sequential();
        var width = inputs;
        for (var i = 0; i < hiddenSizes.Length; i++)
        {
            layers.append($"fc{i + 1}", nn.Linear(width, hiddenSizes[i]));
            layers.append($"relu{i + 1}", nn.ReLU());
            if (dropout > 0)
            {
                layers.append($"drop{i + 1}", new SeededDropout(dropout, noise!));
            }
            width = hiddenSizes[i];
        }
        layers.append($"fc{hiddenSizes.Length + 1}", nn.Linear(width, classes));
        return layers;
    }
}

/// <summary>A model whose dropout masks come from its own generator.</summary>
internal interface INoisyModel
{
    DropoutNoise? Noise { get; }
}

/// <summary>
/// The generator of a model's dropout masks: a CPU <c>torch.Generator</c> seeded from the run's seed (mixed with a
/// constant, so it does not repeat the weights' stream). Its state is saved in checkpoints (dropout-rng.bin) so a resumed
/// run draws the masks an uninterrupted one would.
/// </summary>
internal sealed class DropoutNoise : IDisposable
{
    private const long Mix = 0x5DEECE66DL;

    public DropoutNoise(long seed) => Generator = new torch.Generator((ulong)(seed ^ Mix));

    public torch.Generator Generator { get; }

    /// <summary>The generator's state, as raw bytes.</summary>
    public byte[] State
    {
        get
        {
            using var state = Generator.get_state();
            return state.data<byte>().ToArray();
        }
        set
        {
            using var state = torch.tensor(value);
            try
            {
                Generator.set_state(state);
            }
            catch (Exception e) when (e is System.Runtime.InteropServices.ExternalException or ArgumentException)
            {
                throw new InvalidDataException($"Damaged training checkpoint: libtorch refused the dropout generator state: {e.Message}", e);
            }
        }
    }

    public void Dispose() => Generator.Dispose();
}

/// <summary>
/// Inverted dropout (as <c>nn.Dropout</c>) whose masks are drawn on the CPU from a <see cref="DropoutNoise"/>: in training
/// each element is kept with probability 1 - p and scaled by 1 / (1 - p); in eval mode the input passes unchanged.
/// </summary>
internal sealed class SeededDropout : nn.Module<Tensor, Tensor>
{
    private readonly double _probability;
    private readonly DropoutNoise _noise;
    private readonly Scalar _threshold;
    private readonly Scalar _scale;

    public SeededDropout(double probability, DropoutNoise noise) : base("dropout")
    {
        _probability = probability;
        _noise = noise;
        _threshold = probability.ToScalar();
        _scale = (1 / (1 - probability)).ToScalar();
    }

    public override Tensor forward(Tensor input)
    {
        if (!training || _probability == 0)
        {
            return input.alias();
        }
        using var uniform = torch.rand(input.shape, generator: _noise.Generator);
        using var keep = uniform.ge(_threshold);
        using var mask = keep.to_type(input.dtype).mul_(_scale);
        using var placed = mask.device == input.device ? mask.alias() : mask.to(input.device);
        return input.mul(placed);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _threshold.Dispose();
            _scale.Dispose();
        }
        base.Dispose(disposing);
    }
}

/// <summary>Fully connected classifier: flat input, Linear-ReLU per hidden size, Linear to the classes.</summary>
internal sealed class MlpModel : nn.Module<Tensor, Tensor>, INoisyModel
{
    // Field names are the state-dict keys of saved weights: renaming one breaks existing checkpoints.
    private readonly Sequential layers;

    public MlpModel(ModelSpec spec, DropoutNoise? noise = null) : base("mlp")
    {
        Noise = noise;
        layers = ModelFactory.Dense(spec.FeatureCount, spec.HiddenSizes, spec.Classes, spec.Dropout, noise);
        RegisterComponents();
    }

    public DropoutNoise? Noise { get; }

    public override Tensor forward(Tensor input) => layers.call(input);

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            Noise?.Dispose();
        }
    }
}

/// <summary>
/// Convolutional classifier: the flat input is viewed as [channels, height, width]; per block a 5x5 convolution
/// (padding 2, so the size is kept), ReLU and 2x2 max-pooling; then fully connected layers.
/// </summary>
internal sealed class CnnModel : nn.Module<Tensor, Tensor>, INoisyModel
{
    private readonly long[] imageShape;

    // Field names are the state-dict keys of saved weights: renaming one breaks existing checkpoints.
    private readonly Sequential features;
    private readonly Sequential classifier;

    public CnnModel(ModelSpec spec, DropoutNoise? noise = null) : base("cnn")
    {
        Noise = noise;
        var shape = spec.InputShape;
        var (channels, height, width) = shape.Length == 3 ? (shape[0], shape[1], shape[2]) : (1, shape[0], shape[1]);
        imageShape = [-1, channels, height, width];

        features = nn.Sequential();
        for (var i = 0; i < spec.Channels.Length; i++)
        {
            features.append($"conv{i + 1}", nn.Conv2d(channels, spec.Channels[i], kernel_size: 5, padding: 2));
            features.append($"relu{i + 1}", nn.ReLU());
            features.append($"pool{i + 1}", nn.MaxPool2d(kernel_size: 2));
            (channels, height, width) = (spec.Channels[i], height / 2, width / 2);
        }
        classifier = ModelFactory.Dense(channels * height * width, spec.HiddenSizes, spec.Classes, spec.Dropout, noise);
        RegisterComponents();
    }

    public DropoutNoise? Noise { get; }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            Noise?.Dispose();
        }
    }

    public override Tensor forward(Tensor input)
    {
        using var image = input.view(imageShape);
        using var maps = features.call(image);
        using var flat = maps.flatten(1);
        return classifier.call(flat);
    }
}

/// <summary>
/// fastText-style text classifier (Joulin et al., 2016): the mean of the embeddings of a row's token and bigram ids
/// (padding id 0 excluded from the mean), then Linear to the classes. The input is the ids as floats.
/// </summary>
internal sealed class FastTextModel : nn.Module<Tensor, Tensor>, INoisyModel
{
    // Field names are the state-dict keys of saved weights: renaming one breaks existing checkpoints.
    private readonly EmbeddingBag embedding;
    private readonly Linear output;
    private readonly SeededDropout? dropout;

    public FastTextModel(ModelSpec spec, DropoutNoise? noise = null) : base("fasttext")
    {
        Noise = noise;
        embedding = nn.EmbeddingBag(spec.EmbeddingRows, spec.EmbeddingSize, mode: EmbeddingBagMode.Mean, padding_index: 0);
        output = nn.Linear(spec.EmbeddingSize, spec.Classes);
        dropout = spec.Dropout > 0 ? new SeededDropout(spec.Dropout, noise!) : null;
        RegisterComponents();
    }

    public DropoutNoise? Noise { get; }

    public override Tensor forward(Tensor input)
    {
        using var ids = input.to_type(ScalarType.Int64);
        using var pooled = embedding.call(ids, null, null);
        if (dropout is null)
        {
            return output.call(pooled);
        }
        using var dropped = dropout.call(pooled);
        return output.call(dropped);
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            Noise?.Dispose();
        }
    }
}
