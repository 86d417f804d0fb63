using System.Text.Json.Serialization;

namespace BigDataAI.Models;

/// <summary>
/// Serialisable description of a classifier's architecture: enough to rebuild the model with
/// <c>ModelFactory.Create</c> (BigDataAI.Models) and load its weights. The model's input is always a flat row of
/// <see cref="FeatureCount"/> floats; <see cref="InputShape"/> says how to read it.
/// </summary>
/// <remarks>
/// Layer sizes are part of the weights' layout: weights load only into a model built from an equal spec. Two specs are
/// equal when all their values (array contents included) are equal.
/// </remarks>
public sealed record ModelSpec
{
    /// <summary>The architectures <c>ModelFactory</c> (BigDataAI.Models) builds.</summary>
    public static IReadOnlyList<string> Architectures { get; } = ["mlp", "cnn", "fasttext"];

    /// <summary>
    /// "mlp" (fully connected: Linear-ReLU per hidden size, then Linear to the classes) or "cnn" (per entry of
    /// <see cref="Channels"/> a 5x5 convolution with padding 2, ReLU and 2x2 max-pooling; then the fully connected layers
    /// of <see cref="HiddenSizes"/> with ReLU, then Linear to the classes).
    /// </summary>
    public required string Architecture { get; init; }

    /// <summary>Shape of one input: [features] or [height, width] for "mlp" (flattened); [height, width] or [channels, height, width] for "cnn".</summary>
    public required int[] InputShape { get; init; }

    /// <summary>Number of classes (outputs), at least 2.</summary>
    public required int Classes { get; init; }

    /// <summary>Sizes of the hidden fully connected layers, e.g. [128, 64] (MLP) or [128] (after the CNN's convolutions). May be empty.</summary>
    public int[] HiddenSizes { get; init; } = [];

    /// <summary>"cnn" only: output channels of each convolution block, e.g. [16, 32]. Must be empty for "mlp".</summary>
    public int[] Channels { get; init; } = [];

    /// <summary>A regression: one output, the predicted value, trained with mean squared error (then <see cref="Classes"/> is 1).</summary>
    public bool Regression { get; init; }

    /// <summary>"fasttext" only: rows of the embedding table its input ids index (0 is padding).</summary>
    public int EmbeddingRows { get; init; }

    /// <summary>"fasttext" only: floats per embedding.</summary>
    public int EmbeddingSize { get; init; }

    /// <summary>
    /// Dropout probability in [0, 1): while training, each hidden activation (after every hidden layer's ReLU; for
    /// "fasttext" the pooled embedding) is zeroed with this probability and the rest scaled by 1 / (1 - p). The masks come
    /// from the model's own generator, seeded from the run's seed, so seeded runs and resumed runs repeat. 0 (default): none.
    /// Adds no weights: a model with dropout loads the weights of one without.
    /// </summary>
    public double Dropout { get; init; }

    /// <summary>Number of floats in one input row: the product of <see cref="InputShape"/>.</summary>
    [JsonIgnore]
    public int FeatureCount => InputShape is null ? 0 : InputShape.Aggregate(1, (product, size) => product * size);

    /// <summary>MLP 784-128-64-10 with ReLU, for 28x28 digits.</summary>
    public static ModelSpec MnistMlp => new() { Architecture = "mlp", InputShape = [28, 28], Classes = 10, HiddenSizes = [128, 64] };

    /// <summary>CNN conv5x5(16)-maxpool2-conv5x5(32)-maxpool2-fc128-fc10 with padding 2 and ReLU, for 28x28 digits.</summary>
    public static ModelSpec MnistCnn => new() { Architecture = "cnn", InputShape = [28, 28], Classes = 10, Channels = [16, 32], HiddenSizes = [128] };

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first invalid field and why; returns the spec otherwise.</summary>
    public ModelSpec Validate()
    {
        if (string.IsNullOrWhiteSpace(Architecture) || !Architectures.Contains(Architecture, StringComparer.Ordinal))
        {
            throw new ArgumentException(
                $"ModelSpec.Architecture '{Architecture}' is unknown. Valid architectures: {string.Join(", ", Architectures)}.");
        }
        if (InputShape is null || InputShape.Length == 0 || InputShape.Any(size => size <= 0))
        {
            throw new ArgumentException(
                $"ModelSpec.InputShape [{string.Join(", ", InputShape ?? [])}] must have at least one dimension and only positive sizes.");
        }
        if (InputShape.Aggregate(1L, (product, size) => product * size) > int.MaxValue)
        {
            throw new ArgumentException($"ModelSpec.InputShape [{string.Join(", ", InputShape)}] has more than {int.MaxValue} features.");
        }
        if (Regression && Classes != 1)
        {
            throw new ArgumentException($"ModelSpec.Classes is {Classes}; a regression has exactly 1 output.");
        }
        if (!Regression && Classes < 2)
        {
            throw new ArgumentException($"ModelSpec.Classes is {Classes}; a classifier needs at least 2 classes.");
        }
        if (HiddenSizes is null || HiddenSizes.Any(size => size <= 0))
        {
            throw new ArgumentException($"ModelSpec.HiddenSizes [{string.Join(", ", HiddenSizes ?? [])}] must contain only positive sizes.");
        }
        if (Channels is null || Channels.Any(size => size <= 0))
        {
            throw new ArgumentException($"ModelSpec.Channels [{string.Join(", ", Channels ?? [])}] must contain only positive sizes.");
        }
        if (Architecture == "fasttext" && (EmbeddingRows < 2 || EmbeddingSize < 1 || InputShape.Length != 1))
        {
            throw new ArgumentException($"ModelSpec for 'fasttext' needs EmbeddingRows >= 2 ({EmbeddingRows}), EmbeddingSize >= 1 ({EmbeddingSize}) and a flat InputShape of token ids.");
        }
        if (Architecture != "fasttext" && (EmbeddingRows != 0 || EmbeddingSize != 0))
        {
            throw new ArgumentException($"ModelSpec.EmbeddingRows and EmbeddingSize apply to 'fasttext' only, not '{Architecture}'.");
        }
        if (!double.IsFinite(Dropout) || Dropout < 0 || Dropout >= 1)
        {
            throw new ArgumentException($"ModelSpec.Dropout must be at least 0 and below 1, not {Dropout}.");
        }
        if (Dropout > 0 && Architecture != "fasttext" && HiddenSizes.Length == 0)
        {
            throw new ArgumentException(
                $"ModelSpec.Dropout is {Dropout} but the model has no hidden layers to drop from; give HiddenSizes (e.g. [128]) or set Dropout to 0.");
        }
        if (Architecture == "mlp" && Channels.Length > 0)
        {
            throw new ArgumentException("ModelSpec.Channels must be empty for architecture 'mlp' (it has no convolutions).");
        }
        if (Architecture == "cnn")
        {
            if (InputShape.Length is not (2 or 3))
            {
                throw new ArgumentException(
                    $"ModelSpec.InputShape [{string.Join(", ", InputShape)}] must be [height, width] or [channels, height, width] for architecture 'cnn'.");
            }
            if (Channels.Length == 0)
            {
                throw new ArgumentException("ModelSpec.Channels must name at least one convolution (e.g. [16, 32]) for architecture 'cnn'.");
            }
            var (height, width) = (InputShape[^2] >> Channels.Length, InputShape[^1] >> Channels.Length);
            if (height == 0 || width == 0)
            {
                throw new ArgumentException(
                    $"ModelSpec.InputShape [{string.Join(", ", InputShape)}] is too small for {Channels.Length} 2x2 poolings " +
                    $"(each halves height and width); use fewer Channels or a larger input.");
            }
        }
        return this;
    }

    /// <inheritdoc />
    public bool Equals(ModelSpec? other) =>
        other is not null
        && Architecture == other.Architecture
        && Classes == other.Classes
        && Regression == other.Regression
        && EmbeddingRows == other.EmbeddingRows
        && EmbeddingSize == other.EmbeddingSize
        && Dropout.Equals(other.Dropout)
        && SequenceEqual(InputShape, other.InputShape)
        && SequenceEqual(HiddenSizes, other.HiddenSizes)
        && SequenceEqual(Channels, other.Channels);

    /// <inheritdoc />
    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(Architecture);
        hash.Add(Classes);
        hash.Add(Dropout);
        foreach (var values in new[] { InputShape, HiddenSizes, Channels })
        {
            hash.Add(values?.Length ?? -1);
            foreach (var value in values ?? [])
            {
                hash.Add(value);
            }
        }
        return hash.ToHashCode();
    }

    /// <summary>Compact text form, e.g. <c>cnn [28x28] channels [16, 32] hidden [128] -> 10 classes</c>.</summary>
    public override string ToString() =>
        $"{Architecture} [{string.Join("x", InputShape ?? [])}]" +
        (Channels is { Length: > 0 } ? $" channels [{string.Join(", ", Channels)}]" : "") +
        (EmbeddingRows > 0 ? $" embeddings {EmbeddingRows}x{EmbeddingSize}" : "") +
        $" hidden [{string.Join(", ", HiddenSizes ?? [])}]" +
        (Dropout > 0 ? $" dropout {Dropout.ToString(System.Globalization.CultureInfo.InvariantCulture)}" : "") +
        $" -> {(Regression ? "1 value (regression)" : $"{Classes} classes")}";

    private static bool SequenceEqual(int[]? a, int[]? b) =>
        ReferenceEquals(a, b) || (a is not null && b is not null && a.AsSpan().SequenceEqual(b));
}
