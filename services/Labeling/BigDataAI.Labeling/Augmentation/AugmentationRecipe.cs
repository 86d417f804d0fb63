using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using BigDataAI.Datasets;
using BigDataAI.Protos.Labeling.V1;

namespace BigDataAI.Labeling.Augmentation;

/// <summary>A request that does not fit the dataset's columns or its bounds: INVALID_ARGUMENT, naming <paramref name="Field"/>.</summary>
public sealed class AugmentationRecipeException(string fieldName, string message) : ArgumentException($"{fieldName}: {message}")
{
    public string Field => fieldName;
}

/// <summary>A version that cannot be augmented yet (not labeled, an empty train split): FAILED_PRECONDITION.</summary>
public sealed class AugmentationPreconditionException(string message) : Exception(message);

/// <summary>Image operations on the named columns (tensor columns of an image's shape, or encoded images).</summary>
public sealed record ImageRecipe(double MaxRotationDegrees, int MaxShiftPixels, double NoiseStddev, IReadOnlyList<string> Columns);

/// <summary>Text operations on the named text columns, with the synonym list of that SHA-256.</summary>
public sealed record TextRecipe(double TokenDropout, double SynonymSwap, IReadOnlyList<string> Columns, string SynonymsSha256);

/// <summary>SMOTE over the named numeric feature columns.</summary>
public sealed record SmoteRecipe(int Neighbors, long TargetPerClass, IReadOnlyList<string> Columns);

/// <summary>
/// What an augmentation does, resolved against the parent's columns: recorded as JSON in the new version's lineage, and
/// hashed to name the version's source, so the same request on the same parent finds the version it made before.
/// </summary>
public sealed record AugmentationRecipe(string Dataset, int ParentVersion, long Seed, int Copies, ImageRecipe? Image, TextRecipe? Text, SmoteRecipe? Table)
{
    public const double MaxRotation = 45;
    public const int MaxShift = 8;
    public const int MaxCopies = 10;
    public const int DefaultNeighbors = 5;

    /// <summary>At most this many generated rows in one request (SMOTE's target is the caller's to choose).</summary>
    public const long MaxGeneratedRows = 1_000_000;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>The recipe as compact JSON (what the lineage records).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static AugmentationRecipe? FromJson(string json) => JsonSerializer.Deserialize<AugmentationRecipe>(json, Json);

    /// <summary>The SHA-256 of <see cref="ToJson"/>, lower-case hex: the new version's source hash.</summary>
    public string Sha256() => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(ToJson())));

    /// <summary>
    /// Checks <paramref name="request"/> against its bounds and the parent's <paramref name="schema"/>; throws an
    /// <see cref="AugmentationRecipeException"/> naming the field that is wrong.
    /// </summary>
    public static AugmentationRecipe Resolve(AugmentRequest request, DatasetSchema schema, int parentVersion)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Image is null && request.Text is null && request.Table is null)
        {
            throw new AugmentationRecipeException("image", "give at least one of image, text or table.");
        }
        if (request.Copies is < 0 or > MaxCopies)
        {
            throw new AugmentationRecipeException("copies", $"{request.Copies} is outside [0, {MaxCopies}] (0 means 1).");
        }
        var copies = request.Copies == 0 ? 1 : request.Copies;
        ImageRecipe? image = null;
        if (request.Image is { } i)
        {
            Range("image.max_rotation_degrees", i.MaxRotationDegrees, 0, MaxRotation);
            Range("image.max_shift_pixels", i.MaxShiftPixels, 0, MaxShift);
            Range("image.noise_stddev", i.NoiseStddev, 0, 1);
            var columns = schema.Columns.Where(IsImage).Select(c => c.Name).ToArray();
            if (columns.Length == 0)
            {
                throw new AugmentationRecipeException("image", $"the dataset has no image column (an image-role binary column, or a tensor of shape [H, W] or [H, W, C]); its columns: {Describe(schema)}.");
            }
            image = new ImageRecipe(i.MaxRotationDegrees, i.MaxShiftPixels, i.NoiseStddev, columns);
        }
        TextRecipe? text = null;
        if (request.Text is { } t)
        {
            Range("text.token_dropout", t.TokenDropout, 0, 1);
            Range("text.synonym_swap", t.SynonymSwap, 0, 1);
            var columns = schema.Columns.Where(c => c.Role == ColumnRole.Text && c.Type == ColumnType.String).Select(c => c.Name).ToArray();
            if (columns.Length == 0)
            {
                throw new AugmentationRecipeException("text", $"the dataset has no text column; its columns: {Describe(schema)}.");
            }
            text = new TextRecipe(t.TokenDropout, t.SynonymSwap, columns, TextAugmenter.ShippedSha256);
        }
        SmoteRecipe? table = null;
        if (request.Table is { } s)
        {
            if (s.SmoteNeighbors < 0)
            {
                throw new AugmentationRecipeException("table.smote_neighbors", $"{s.SmoteNeighbors} is negative (0 means {DefaultNeighbors}).");
            }
            if (s.TargetPerClass < 0 || s.TargetPerClass > MaxGeneratedRows)
            {
                throw new AugmentationRecipeException("table.target_per_class", $"{s.TargetPerClass} is outside [0, {MaxGeneratedRows}] (0 means the largest class's size).");
            }
            if (schema.Label is null || schema.IsRegression)
            {
                throw new AugmentationRecipeException("table", schema.Label is null
                    ? "SMOTE needs a label column with classes; the dataset has none."
                    : $"SMOTE balances classes, but the label '{schema.Label.Name}' is a number to predict (a regression).");
            }
            var columns = schema.Columns.Where(IsNumericFeature).Select(c => c.Name).ToArray();
            if (columns.Length == 0)
            {
                throw new AugmentationRecipeException("table", $"SMOTE needs numeric feature columns (int64 or double, role feature); its columns: {Describe(schema)}.");
            }
            table = new SmoteRecipe(s.SmoteNeighbors == 0 ? DefaultNeighbors : s.SmoteNeighbors, s.TargetPerClass, columns);
        }
        return new AugmentationRecipe(request.Dataset, parentVersion, request.Seed, copies, image, text, table);
    }

    internal static bool IsImage(ColumnSchema column) =>
        (column.Role == ColumnRole.Image && column.Type == ColumnType.Binary)
        || (column.Type == ColumnType.Tensor && column.Role is ColumnRole.Feature && ImageAugmenter.ImageShape(column.Shape) is not null);

    internal static bool IsNumericFeature(ColumnSchema column) =>
        column.Role == ColumnRole.Feature && column.Type is ColumnType.Int64 or ColumnType.Double;

    private static void Range(string field, double value, double min, double max)
    {
        if (!(value >= min && value <= max))
        {
            throw new AugmentationRecipeException(field, $"{value} is outside [{min}, {max}].");
        }
    }

    private static string Describe(DatasetSchema schema) =>
        string.Join(", ", schema.Columns.Select(c => $"{c.Name} ({c.TypeName}, {c.Role.ToString().ToLowerInvariant()})"));
}
