using BigDataAI.Datasets;

namespace BigDataAI.Models;

/// <summary>One model a job may name: what it is, what input it takes, its defaults, and how it is sized to a dataset.</summary>
/// <param name="Name">What a job names it: "mlp", "logreg", "cnn".</param>
/// <param name="Description">One line for help texts and the proto comments.</param>
/// <param name="DefaultEpochs">Epochs when the job leaves them at 0.</param>
/// <param name="Accepts">What input it takes, for error messages: "any table", "an image tensor column".</param>
public sealed record CatalogModel(string Name, string Description, int DefaultEpochs, string Accepts)
{
    internal Func<int[], int, ModelSpec> Build { get; init; } = (_, _) => throw new NotSupportedException();
    internal Func<IReadOnlyList<ColumnSchema>, bool> Fits { get; init; } = _ => true;

    /// <summary>Whether the model can take the input columns (roles feature, image, text) of <paramref name="schema"/>.</summary>
    public bool CanTake(DatasetSchema schema) => Fits(ModelCatalog.Inputs(schema));

    /// <summary>The architecture sized to an input of <paramref name="inputShape"/> and <paramref name="classes"/> classes.</summary>
    public ModelSpec SpecFor(int[] inputShape, int classes) => Build(inputShape, classes);
}

/// <summary>
/// The one list of models: the training API, the worker, the CLI and the docs all read it. A job that names no model
/// gets <see cref="DefaultFor"/> of its dataset's columns.
/// </summary>
public static class ModelCatalog
{
    /// <summary>The optimizers every model trains with: "adam" (default) and "sgd" (momentum 0.9).</summary>
    public static IReadOnlyList<string> Optimizers => TrainingOptions.Optimizers;

    /// <summary>Every model, in the order help texts list them.</summary>
    public static IReadOnlyList<CatalogModel> All { get; } =
    [
        new("mlp", "fully connected network (hidden layers 128, 64, ReLU) over the dataset's features", 10, "numeric, boolean, categorical, tensor or image columns (no text)")
        {
            Build = (shape, classes) => ModelSpec.MnistMlp with { InputShape = shape, Classes = classes },
            Fits = inputs => inputs.Count > 0 && inputs.All(c => c.Role != ColumnRole.Text),
        },
        new("logreg", "multinomial logistic regression (one linear layer, softmax): the linear baseline", 10, "numeric, boolean, categorical, tensor or image columns (no text)")
        {
            Build = (shape, classes) => new ModelSpec { Architecture = "mlp", InputShape = shape, Classes = classes, HiddenSizes = [] },
            Fits = inputs => inputs.Count > 0 && inputs.All(c => c.Role != ColumnRole.Text),
        },
        new("cnn", "convolutional network (5x5 conv 16, 32 with 2x2 pooling, then 128) over one image column (resized) or one image tensor", 12, "exactly one image column, or one tensor column of shape [height, width] or [channels, height, width] of at least 4x4")
        {
            Build = (shape, classes) => ModelSpec.MnistCnn with { InputShape = shape, Classes = classes },
            Fits = inputs => inputs is [{ Role: ColumnRole.Image }] || (inputs is [{ Type: ColumnType.Tensor, Shape: { Length: 2 or 3 } shape }] && shape[^1] >= 4 && shape[^2] >= 4),
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

    /// <summary>The default for a dataset of <paramref name="schema"/>: the CNN for one image tensor column, else the MLP.</summary>
    public static CatalogModel DefaultFor(DatasetSchema schema) =>
        Find("cnn")!.CanTake(schema) ? Find("cnn")! : Find("mlp")!;
}
