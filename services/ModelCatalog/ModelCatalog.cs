using BigDataAI.Datasets;
using BigDataAI.Models.Features;

namespace BigDataAI.Models;

/// <summary>One model a job may name: what it is, what input it takes, its defaults, and how it is sized to a dataset.</summary>
/// <param name="Name">What a job names it: "mlp", "logreg", "cnn".</param>
/// <param name="Description">One line for help texts and the proto comments.</param>
/// <param name="DefaultEpochs">Epochs when the job leaves them at 0.</param>
/// <param name="Accepts">What input it takes, for error messages: "any table", "an image tensor column".</param>
public sealed record CatalogModel(string Name, string Description, int DefaultEpochs, string Accepts)
{
    internal Func<FeaturePipeline, int, ModelSpec> Build { get; init; } = (_, _) => throw new NotSupportedException();

    /// <summary>How the model reads text columns (refused by models that cannot).</summary>
    public TextEncoding Text { get; init; } = TextEncoding.None;

    /// <summary>Whether the model has hidden layers (or, for fastText, a pooled embedding) that dropout can act on.</summary>
    public bool Dropout { get; init; } = true;

    /// <summary>The learning rate for Adam when the job leaves it at 0 (SGD keeps its own default).</summary>
    public double DefaultLearningRate { get; init; } = 1e-3;
    internal Func<IReadOnlyList<ColumnSchema>, bool> Fits { get; init; } = _ => true;

    /// <summary>Whether the model can take the input columns (roles feature, image, text) of <paramref name="schema"/>.</summary>
    public bool CanTake(DatasetSchema schema) => Fits(ModelCatalog.Inputs(schema));

    /// <summary>The architecture sized to the input <paramref name="features"/> make and <paramref name="classes"/> classes.</summary>
    public ModelSpec SpecFor(FeaturePipeline features, int classes) => Build(features, classes);
}

/// <summary>
/// The one list of models: the training API, the worker, the CLI and the docs all read it. A job that names no model
/// gets <see cref="DefaultFor"/> of its dataset's columns.
/// </summary>
public static class ModelCatalog
{
    /// <summary>The optimizers every model trains with: "adam" (default) and "sgd" (momentum 0.9).</summary>
    public static IReadOnlyList<string> Optimizers { get; } = ["adam", "sgd"];

    /// <summary>The learning-rate schedules a job may name: "constant" (default), "step" and "cosine".</summary>
    public static IReadOnlyList<string> Schedules { get; } = ["constant", "step", "cosine"];

    /// <summary>Every model, in the order help texts list them.</summary>
    public static IReadOnlyList<CatalogModel> All { get; } =
    [
        new("mlp", "fully connected network (hidden layers 128, 64, ReLU) over the dataset's features", 10, "numeric, boolean, categorical, tensor or image columns (no text)")
        {
            Build = (f, classes) => ModelSpec.MnistMlp with { InputShape = f.InputShape, Classes = classes },
            Fits = inputs => inputs.Count > 0 && inputs.All(c => c.Role != ColumnRole.Text),
        },
        new("logreg", "multinomial logistic regression (one linear layer, softmax): the linear baseline", 10, "numeric, boolean, categorical, tensor or image columns (no text)")
        {
            Build = (f, classes) => new ModelSpec { Architecture = "mlp", InputShape = f.InputShape, Classes = classes, HiddenSizes = [] },
            Fits = inputs => inputs.Count > 0 && inputs.All(c => c.Role != ColumnRole.Text),
            Dropout = false,
        },
        new("cnn", "convolutional network (5x5 conv 16, 32 with 2x2 pooling, then 128) over one image column (resized) or one image tensor", 12, "exactly one image column, or one tensor column of shape [height, width] or [channels, height, width] of at least 4x4")
        {
            Build = (f, classes) => ModelSpec.MnistCnn with { InputShape = f.InputShape, Classes = classes },
            Fits = inputs => inputs is [{ Role: ColumnRole.Image }] || (inputs is [{ Type: ColumnType.Tensor, Shape: { Length: 2 or 3 } shape }] && shape[^1] >= 4 && shape[^2] >= 4),
        },
        new("fasttext", "averaged embeddings (64) of WordPiece tokens and hashed bigrams, fastText style, then linear: fast, trained from scratch", 10, "exactly one text column")
        {
            Build = (f, classes) => new ModelSpec
            {
                Architecture = "fasttext",
                InputShape = f.InputShape,
                Classes = classes,
                EmbeddingRows = f.Steps.OfType<TokensFeature>().Single().Embeddings,
                EmbeddingSize = 64,
            },
            Fits = inputs => inputs is [{ Role: ColumnRole.Text }],
            Text = TextEncoding.Tokens,
            DefaultLearningRate = 0.01,
        },
        new("minilm", "a fully connected head (128, ReLU) over pretrained MiniLM sentence embeddings (all-MiniLM-L6-v2, ONNX) of the text, beside any other columns", 10, "at least one text column")
        {
            Build = (f, classes) => new ModelSpec { Architecture = "mlp", InputShape = f.InputShape, Classes = classes, HiddenSizes = [128] },
            Fits = inputs => inputs.Any(c => c.Role == ColumnRole.Text),
            Text = TextEncoding.MiniLm,
        },
    ];

    /// <summary>The columns a model reads: roles feature, image and text.</summary>
    public static IReadOnlyList<ColumnSchema> Inputs(DatasetSchema schema) =>
        [.. schema.Columns.Where(c => c.Role is ColumnRole.Feature or ColumnRole.Image or ColumnRole.Text)];

    /// <summary>The names, in catalog order.</summary>
    public static IReadOnlyList<string> Names { get; } = [.. All.Select(m => m.Name)];

    /// <summary>The model named <paramref name="name"/> (case-insensitive, trimmed), or null.</summary>
    public static CatalogModel? Find(string? name)
    {
        var key = (name ?? "").Trim().ToLowerInvariant();
        return All.FirstOrDefault(m => m.Name == key);
    }

    /// <summary>
    /// The default for a dataset of <paramref name="schema"/>: the CNN for one image column (or image tensor), fastText
    /// for one text column, MiniLM for text beside other columns, else the MLP.
    /// </summary>
    public static CatalogModel DefaultFor(DatasetSchema schema) =>
        new[] { "cnn", "fasttext", "minilm" }.Select(Find).FirstOrDefault(m => m!.CanTake(schema)) ?? Find("mlp")!;
}
