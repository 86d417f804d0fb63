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
            return Build(spec);
        }
    }

    private static nn.Module<Tensor, Tensor> Build(ModelSpec spec) => spec.Architecture switch
    {
        "mlp" => new MlpModel(spec),
        "cnn" => new CnnModel(spec),
        "fasttext" => new FastTextModel(spec),
        _ => throw new ArgumentException(
            $"ModelSpec.Architecture '{spec.Architecture}' is unknown. Valid architectures: {string.Join(", ", ModelSpec.Architectures)}."),
    };

    /// <summary>Appends Linear(+ReLU) layers: one per hidden size, then one to the classes (no activation: logits).</summary>
    internal static Sequential Dense(int inputs, int[] hiddenSizes, int classes)
    {
        var layers = nn.Sequential();
        var width = inputs;
        for (var i = 0; i < hiddenSizes.Length; i++)
        {
            layers.append($"fc{i + 1}", nn.Linear(width, hiddenSizes[i]));
            layers.append($"relu{i + 1}", nn.ReLU());
            width = hiddenSizes[i];
        }
        layers.append($"fc{hiddenSizes.Length + 1}", nn.Linear(width, classes));
        return layers;
    }
}

/// <summary>Fully connected classifier: flat input, Linear-ReLU per hidden size, Linear to the classes.</summary>
internal sealed class MlpModel : nn.Module<Tensor, Tensor>
{
    // Field names are the state-dict keys of saved weights: renaming one breaks existing checkpoints.
    private readonly Sequential layers;

    public MlpModel(ModelSpec spec) : base("mlp")
    {
        layers = ModelFactory.Dense(spec.FeatureCount, spec.HiddenSizes, spec.Classes);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input) => layers.call(input);
}

/// <summary>
/// Convolutional classifier: the flat input is viewed as [channels, height, width]; per block a 5x5 convolution
/// (padding 2, so the size is kept), ReLU and 2x2 max-pooling; then fully connected layers.
/// </summary>
internal sealed class CnnModel : nn.Module<Tensor, Tensor>
{
    private readonly long[] imageShape;

    // Field names are the state-dict keys of saved weights: renaming one breaks existing checkpoints.
    private readonly Sequential features;
    private readonly Sequential classifier;

    public CnnModel(ModelSpec spec) : base("cnn")
    {
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
        classifier = ModelFactory.Dense(channels * height * width, spec.HiddenSizes, spec.Classes);
        RegisterComponents();
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
internal sealed class FastTextModel : nn.Module<Tensor, Tensor>
{
    // Field names are the state-dict keys of saved weights: renaming one breaks existing checkpoints.
    private readonly EmbeddingBag embedding;
    private readonly Linear output;

    public FastTextModel(ModelSpec spec) : base("fasttext")
    {
        embedding = nn.EmbeddingBag(spec.EmbeddingRows, spec.EmbeddingSize, mode: EmbeddingBagMode.Mean, padding_index: 0);
        output = nn.Linear(spec.EmbeddingSize, spec.Classes);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var ids = input.to_type(ScalarType.Int64);
        using var pooled = embedding.call(ids, null, null);
        return output.call(pooled);
    }
}
