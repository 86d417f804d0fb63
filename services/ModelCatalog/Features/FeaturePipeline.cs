using System.Globalization;
using System.Text.Json.Serialization;
using BigDataAI.Datasets;

namespace BigDataAI.Models.Features;

/// <summary>
/// One fitted step of a <see cref="FeaturePipeline"/>: turns one typed column into <see cref="Size"/> floats of the
/// model's input row.
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "kind")]
[JsonDerivedType(typeof(NumericFeature), "numeric")]
[JsonDerivedType(typeof(CategoricalFeature), "categorical")]
[JsonDerivedType(typeof(TensorFeature), "tensor")]
[JsonDerivedType(typeof(ImageFeature), "image")]
[JsonDerivedType(typeof(TokensFeature), "tokens")]
[JsonDerivedType(typeof(MiniLmFeature), "minilm")]
public abstract record FeatureStep
{
    /// <summary>The source column the step reads.</summary>
    public required string Column { get; init; }

    /// <summary>The column's stored type (requests are converted to it).</summary>
    public required ColumnType Type { get; init; }

    /// <summary>Floats the step writes per row.</summary>
    [JsonIgnore]
    public abstract int Size { get; }

    /// <summary>Writes row <paramref name="row"/> of <paramref name="column"/> into <paramref name="destination"/> (Size floats).</summary>
    internal abstract void Write(Column column, int row, Span<float> destination);

    /// <summary>Writes every row: row r's floats at <c>r * width + offset</c>. Steps that work faster in batches override it.</summary>
    internal virtual void WriteAll(Table table, Column column, float[] result, int width, int offset)
    {
        for (var r = 0; r < column.Rows; r++)
        {
            Write(column, r, result.AsSpan(r * width + offset, Size));
        }
    }
}

/// <summary>How a pipeline turns a text column into model input.</summary>
public enum TextEncoding
{
    /// <summary>Text columns are refused (the model cannot read text).</summary>
    None,
    /// <summary>WordPiece token and bigram ids for an embedding-bag model (<see cref="TokensFeature"/>).</summary>
    Tokens,
    /// <summary>MiniLM sentence embeddings (<see cref="MiniLmFeature"/>).</summary>
    MiniLm,
}

/// <summary>
/// Text as ids for a fastText-style model: the first <see cref="MaxTokens"/> WordPiece tokens (lower-cased), each one's
/// index in the training split's vocabulary (tokens seen at least twice, the most frequent <see cref="MaxVocabulary"/>),
/// then each adjacent pair's hashed bigram bucket. 0 is padding, 1 an unknown token. <see cref="Size"/> floats holding
/// whole numbers below <see cref="Embeddings"/> (exact in float32).
/// </summary>
public sealed record TokensFeature : FeatureStep
{
    /// <summary>Tokens read per text unless fitted otherwise.</summary>
    public const int DefaultMaxTokens = 256;

    /// <summary>The most tokens the vocabulary keeps.</summary>
    public const int MaxVocabulary = 30_000;

    /// <summary>Bigram hash buckets unless fitted otherwise.</summary>
    public const int DefaultBuckets = 1 << 15;

    /// <summary>Tokens read per text.</summary>
    public required int MaxTokens { get; init; }

    /// <summary>The WordPiece ids kept, most frequent first; token <c>Vocabulary[i]</c> has index <c>2 + i</c>.</summary>
    public required int[] Vocabulary { get; init; }

    /// <summary>Hash buckets for bigrams, after the vocabulary.</summary>
    public required int Buckets { get; init; }

    /// <summary>Rows of the embedding table the ids index: padding, unknown, the vocabulary and the buckets.</summary>
    [JsonIgnore]
    public int Embeddings => 2 + Vocabulary.Length + Buckets;

    /// <inheritdoc />
    public override int Size => 2 * MaxTokens;

    [JsonIgnore]
    private Dictionary<int, int>? _index;

    internal static TokensFeature Fit(Column column, int maxTokens = DefaultMaxTokens, int buckets = DefaultBuckets)
    {
        var counts = new Dictionary<int, long>();
        var texts = (string?[])column.Values;
        foreach (var text in texts)
        {
            if (text is null)
            {
                continue;
            }
            foreach (var id in Text.TextEncoders.Tokenize(text, maxTokens))
            {
                counts[id] = counts.GetValueOrDefault(id) + 1;
            }
        }
        var vocabulary = counts.Where(p => p.Value >= 2).OrderByDescending(p => p.Value).ThenBy(p => p.Key).Take(MaxVocabulary).Select(p => p.Key).ToArray();
        return new TokensFeature { Column = column.Name, Type = ColumnType.String, MaxTokens = maxTokens, Vocabulary = vocabulary, Buckets = buckets };
    }

    internal override void Write(Column column, int row, Span<float> destination)
    {
        _index ??= Vocabulary.Select((id, i) => (id, i)).ToDictionary(p => p.id, p => p.i + 2);
        destination[..Size].Clear();
        if (((string?[])column.Values)[row] is not { } text)
        {
            return;
        }
        var tokens = Text.TextEncoders.Tokenize(text, MaxTokens);
        var previous = -1;
        for (var i = 0; i < tokens.Count; i++)
        {
            var index = _index.TryGetValue(tokens[i], out var known) ? known : 1;
            destination[i] = index;
            if (previous >= 0)
            {
                // A fixed mix (not HashCode, which differs per process) of the two token ids.
                var hash = (uint)(previous * 1_000_003) ^ (uint)tokens[i] * 2_654_435_761u;
                destination[MaxTokens + i] = 2 + Vocabulary.Length + (int)(hash % (uint)Buckets);
            }
            previous = tokens[i];
        }
    }
}

/// <summary>
/// Text as its MiniLM sentence embedding (all-MiniLM-L6-v2, 384 floats, L2-normalised), computed by ONNX Runtime in
/// training and in serving alike. A null text is all zeros.
/// </summary>
public sealed record MiniLmFeature : FeatureStep
{
    /// <summary>Texts embedded per ONNX call.</summary>
    public const int Batch = 64;

    /// <inheritdoc />
    public override int Size => Text.TextEncoders.MiniLmDimensions;

    internal override void Write(Column column, int row, Span<float> destination)
    {
        destination[..Size].Clear();
        if (((string?[])column.Values)[row] is { } text)
        {
            Text.TextEncoders.Embed([text])[0].CopyTo(destination);
        }
    }

    /// <summary>The name of a stored derived column holding this step's embeddings of <paramref name="column"/>.</summary>
    public static string DerivedColumn(string column) => column + ".minilm";

    internal override void WriteAll(Table table, Column column, float[] result, int width, int offset)
    {
        // Embeddings stored beside the split (a derived column, computed by the same encoder) are used as they are.
        if (table.Find(DerivedColumn(column.Name)) is { Schema: { Type: ColumnType.Tensor } schema } stored && schema.Width == Size)
        {
            var values = (float[])stored.Values;
            for (var r = 0; r < column.Rows; r++)
            {
                values.AsSpan(r * Size, Size).CopyTo(result.AsSpan(r * width + offset, Size));
            }
            return;
        }
        var texts = (string?[])column.Values;
        for (var start = 0; start < texts.Length; start += Batch)
        {
            var rows = Enumerable.Range(start, Math.Min(Batch, texts.Length - start)).Where(r => texts[r] is not null).ToArray();
            var embeddings = Text.TextEncoders.Embed([.. rows.Select(r => texts[r]!)]);
            for (var i = 0; i < rows.Length; i++)
            {
                embeddings[i].CopyTo(result.AsSpan(rows[i] * width + offset, Size));
            }
        }
    }
}

/// <summary>
/// A number (int64, double, bool as 0/1, timestamp as Unix seconds) standardized with the training split's mean and
/// standard deviation. A null becomes 0 (the mean), and when the training split had nulls a second float says whether
/// the value was missing (1) or not (0).
/// </summary>
public sealed record NumericFeature : FeatureStep
{
    /// <summary>Mean of the training split's non-null values.</summary>
    public required double Mean { get; init; }

    /// <summary>Their standard deviation (population), or 1 when it is 0 or there were no values.</summary>
    public required double Scale { get; init; }

    /// <summary>Whether a missing-value indicator follows the value.</summary>
    public required bool MissingIndicator { get; init; }

    /// <inheritdoc />
    public override int Size => MissingIndicator ? 2 : 1;

    internal static double? Value(Column column, int row) => column.Schema.Type switch
    {
        ColumnType.Int64 => ((long?[])column.Values)[row],
        ColumnType.Double => ((double?[])column.Values)[row] is { } d && double.IsFinite(d) ? d : null,
        ColumnType.Bool => ((bool?[])column.Values)[row] is { } b ? (b ? 1 : 0) : null,
        ColumnType.Timestamp => ((DateTime?[])column.Values)[row] is { } t ? (t - DateTime.UnixEpoch).TotalSeconds : null,
        _ => throw new InvalidOperationException($"Column '{column.Name}' ({column.Schema.TypeName}) is not numeric."),
    };

    internal override void Write(Column column, int row, Span<float> destination)
    {
        var value = Value(column, row);
        destination[0] = value is { } v ? (float)((v - Mean) / Scale) : 0f;
        if (MissingIndicator)
        {
            destination[1] = value is null ? 1f : 0f;
        }
    }
}

/// <summary>
/// A category (a string column's values, as text): one-hot over the training split's most frequent values, plus one
/// more float for anything else: a value not seen in training, or a null.
/// </summary>
public sealed record CategoricalFeature : FeatureStep
{
    /// <summary>The known categories, most frequent first (ties in ordinal order).</summary>
    public required string[] Categories { get; init; }

    [JsonIgnore]
    private Dictionary<string, int>? _index;

    /// <inheritdoc />
    public override int Size => Categories.Length + 1;

    internal override void Write(Column column, int row, Span<float> destination)
    {
        _index ??= Categories.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i, StringComparer.Ordinal);
        destination[..Size].Clear();
        var text = column.Format(row);
        destination[text is not null && _index.TryGetValue(text, out var i) ? i : Categories.Length] = 1f;
    }
}

/// <summary>A tensor column (pixels, an embedding) passed through as it is stored.</summary>
public sealed record TensorFeature : FeatureStep
{
    /// <summary>The shape of one row's tensor.</summary>
    public required int[] Shape { get; init; }

    /// <inheritdoc />
    public override int Size => Shape.Aggregate(1, (a, d) => checked(a * d));

    internal override void Write(Column column, int row, Span<float> destination) =>
        ((float[])column.Values).AsSpan(row * Size, Size).CopyTo(destination);
}

/// <summary>
/// An encoded image (PNG, JPEG) decoded, resized to the size fitted on the training split (bilinear), turned to
/// grayscale when every sampled training image was gray, and scaled to [0, 1]: <see cref="Channels"/> x
/// <see cref="Height"/> x <see cref="Width"/> floats, channel-major. A null image is all zeros.
/// </summary>
public sealed record ImageFeature : FeatureStep
{
    /// <summary>Training images looked at to choose the size and channels.</summary>
    public const int SampleSize = 256;

    /// <summary>Images are scaled down to at most this many pixels a side (keeping the fitted aspect ratio).</summary>
    public const int MaxSide = 128;

    /// <summary>1 (grayscale) or 3 (RGB).</summary>
    public required int Channels { get; init; }

    /// <summary>Rows of pixels after resizing.</summary>
    public required int Height { get; init; }

    /// <summary>Columns of pixels after resizing.</summary>
    public required int Width { get; init; }

    /// <inheritdoc />
    public override int Size => Channels * Height * Width;

    /// <summary>The model's input shape: [height, width] for grayscale, [3, height, width] for RGB.</summary>
    [JsonIgnore]
    public int[] Shape => Channels == 1 ? [Height, Width] : [Channels, Height, Width];

    internal static ImageFeature Fit(Column column)
    {
        var images = (byte[]?[])column.Values;
        var sizes = new Dictionary<(int W, int H), int>();
        var color = false;
        var seen = 0;
        for (var r = 0; r < images.Length && seen < SampleSize; r++)
        {
            if (images[r] is not { } bytes)
            {
                continue;
            }
            using var bitmap = Decode(bytes, column.Name, r);
            seen++;
            sizes[(bitmap.Width, bitmap.Height)] = sizes.GetValueOrDefault((bitmap.Width, bitmap.Height)) + 1;
            color = color || !IsGray(bitmap);
        }
        if (seen == 0)
        {
            throw new ArgumentException($"Column '{column.Name}' holds no image in the training split.");
        }
        var (w, h) = sizes.OrderByDescending(p => p.Value).ThenBy(p => p.Key.W).ThenBy(p => p.Key.H).First().Key;
        if (Math.Max(w, h) > MaxSide)
        {
            var scale = (double)MaxSide / Math.Max(w, h);
            (w, h) = (Math.Max(1, (int)Math.Round(w * scale)), Math.Max(1, (int)Math.Round(h * scale)));
        }
        return new ImageFeature { Column = column.Name, Type = ColumnType.Binary, Channels = color ? 3 : 1, Height = h, Width = w };
    }

    private static SkiaSharp.SKBitmap Decode(byte[] bytes, string column, int row)
    {
        // SKBitmap.Decode throws (not returns null) when no codec knows the bytes, and returns a partial image for a
        // truncated file: decode through the codec and accept only a complete image.
        using var data = SkiaSharp.SKData.CreateCopy(bytes);
        using var codec = SkiaSharp.SKCodec.Create(data)
            ?? throw new ArgumentException($"Row {row}, column '{column}': the {bytes.Length} bytes are not a PNG or JPEG image.");
        var info = codec.Info.WithAlphaType(codec.Info.AlphaType == SkiaSharp.SKAlphaType.Unpremul ? SkiaSharp.SKAlphaType.Premul : codec.Info.AlphaType);
        var bitmap = new SkiaSharp.SKBitmap(info);
        var result = codec.GetPixels(bitmap.Info, bitmap.GetPixels());
        if (result != SkiaSharp.SKCodecResult.Success)
        {
            bitmap.Dispose();
            throw new ArgumentException($"Row {row}, column '{column}': the image does not decode whole ({result}).");
        }
        return bitmap;
    }

    private static bool IsGray(SkiaSharp.SKBitmap bitmap)
    {
        if (bitmap.ColorType is SkiaSharp.SKColorType.Gray8 or SkiaSharp.SKColorType.Alpha8)
        {
            return true;
        }
        using var rgba = ToRgba(bitmap, bitmap.Width, bitmap.Height);
        var pixels = rgba.GetPixelSpan();
        for (var i = 0; i < pixels.Length; i += 4)
        {
            if (pixels[i] != pixels[i + 1] || pixels[i] != pixels[i + 2])
            {
                return false;
            }
        }
        return true;
    }

    private static SkiaSharp.SKBitmap ToRgba(SkiaSharp.SKBitmap source, int width, int height)
    {
        var target = new SkiaSharp.SKBitmap(new SkiaSharp.SKImageInfo(width, height, SkiaSharp.SKColorType.Rgba8888, SkiaSharp.SKAlphaType.Unpremul));
        if (!source.ScalePixels(target, new SkiaSharp.SKSamplingOptions(SkiaSharp.SKFilterMode.Linear, SkiaSharp.SKMipmapMode.None)))
        {
            target.Dispose();
            throw new InvalidOperationException($"SkiaSharp could not convert a {source.Width}x{source.Height} {source.ColorType} image.");
        }
        return target;
    }

    internal override void Write(Column column, int row, Span<float> destination)
    {
        var size = Size;
        destination[..size].Clear();
        if (((byte[]?[])column.Values)[row] is not { } bytes)
        {
            return;
        }
        using var decoded = Decode(bytes, column.Name, row);
        using var rgba = ToRgba(decoded, Width, Height);
        var pixels = rgba.GetPixelSpan();
        var plane = Height * Width;
        for (var p = 0; p < plane; p++)
        {
            byte r = pixels[4 * p], g = pixels[4 * p + 1], b = pixels[4 * p + 2];
            if (Channels == 1)
            {
                destination[p] = (r == g && g == b ? r : 0.299f * r + 0.587f * g + 0.114f * b) / 255f;
            }
            else
            {
                destination[p] = r / 255f;
                destination[plane + p] = g / 255f;
                destination[2 * plane + p] = b / 255f;
            }
        }
    }
}

/// <summary>
/// How a model's input row is made from a dataset's typed columns: fitted on the training split only, stored with the
/// registered model, and run by training, evaluation and inference alike, so a caller of Predict sends raw cells and
/// never computes features.
/// </summary>
public sealed record FeaturePipeline
{
    /// <summary>String columns keep at most this many categories; rarer values share the unknown bucket.</summary>
    public const int MaxCategories = 64;

    /// <summary>The steps, in the order their floats appear in the model's input.</summary>
    public required IReadOnlyList<FeatureStep> Steps { get; init; }

    /// <summary>The name of the label column the model predicts.</summary>
    public required string LabelColumn { get; init; }

    /// <summary>Floats per model input row.</summary>
    [JsonIgnore]
    public int Width => Steps.Sum(s => s.Size);

    /// <summary>The model's input shape: a lone tensor column keeps its shape (images for a CNN), anything else is flat.</summary>
    [JsonIgnore]
    public int[] InputShape => Steps switch
    {
        [TensorFeature tensor] => tensor.Shape,
        [ImageFeature image] => image.Shape,
        _ => [Width],
    };

    /// <summary>The columns a caller must send, with their types.</summary>
    [JsonIgnore]
    public IEnumerable<(string Name, ColumnType Type)> InputColumns => Steps.Select(s => (s.Column, s.Type));

    /// <summary>
    /// Fits the steps for every feature column of <paramref name="train"/> (roles id, ignored and label are left out).
    /// Throws <see cref="ArgumentException"/> naming a column no table model can take (text, image, binary).
    /// </summary>
    public static FeaturePipeline Fit(Table train, TextEncoding text = TextEncoding.None)
    {
        ArgumentNullException.ThrowIfNull(train);
        var label = train.Schema.Label ?? throw new ArgumentException("The dataset has no label column, so there is nothing to learn.");
        var steps = new List<FeatureStep>();
        foreach (var column in train.Columns)
        {
            var schema = column.Schema;
            switch (schema.Role)
            {
                case ColumnRole.Label or ColumnRole.Id or ColumnRole.Ignored:
                    continue;
                case ColumnRole.Text when text == TextEncoding.Tokens:
                    steps.Add(TokensFeature.Fit(column));
                    continue;
                case ColumnRole.Text when text == TextEncoding.MiniLm:
                    steps.Add(new MiniLmFeature { Column = schema.Name, Type = ColumnType.String });
                    continue;
                case ColumnRole.Text:
                    throw new ArgumentException($"Column '{schema.Name}' is text; this model cannot read text. Use a text model (fasttext or minilm), or give the column role 'ignored' (or 'feature' to treat its values as categories).");
                case ColumnRole.Image:
                    steps.Add(ImageFeature.Fit(column));
                    continue;
            }
            steps.Add(schema.Type switch
            {
                ColumnType.Int64 or ColumnType.Double or ColumnType.Bool or ColumnType.Timestamp => FitNumeric(column),
                ColumnType.String => FitCategorical(column),
                ColumnType.Tensor => new TensorFeature { Column = schema.Name, Type = schema.Type, Shape = schema.Shape! },
                _ => throw new ArgumentException($"Column '{schema.Name}' is {schema.TypeName}; no model takes it as a feature. Give it role 'ignored'."),
            });
        }
        if (steps.Count == 0)
        {
            throw new ArgumentException($"The dataset has no feature columns besides the label '{label.Name}'.");
        }
        return new FeaturePipeline { Steps = steps, LabelColumn = label.Name };
    }

    private static NumericFeature FitNumeric(Column column)
    {
        // Welford's algorithm: one pass, stable for large values (timestamps in seconds).
        double mean = 0, m2 = 0;
        long n = 0, nulls = 0;
        for (var r = 0; r < column.Rows; r++)
        {
            if (NumericFeature.Value(column, r) is not { } x)
            {
                nulls++;
                continue;
            }
            n++;
            var delta = x - mean;
            mean += delta / n;
            m2 += delta * (x - mean);
        }
        var std = n > 0 ? Math.Sqrt(m2 / n) : 0;
        return new NumericFeature
        {
            Column = column.Name,
            Type = column.Schema.Type,
            Mean = n > 0 ? mean : 0,
            Scale = std > 1e-12 && double.IsFinite(std) ? std : 1,
            MissingIndicator = nulls > 0,
        };
    }

    private static CategoricalFeature FitCategorical(Column column)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        for (var r = 0; r < column.Rows; r++)
        {
            if (column.Format(r) is { } text)
            {
                counts[text] = counts.GetValueOrDefault(text) + 1;
            }
        }
        var categories = counts.OrderByDescending(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal)
            .Take(MaxCategories).Select(p => p.Key).ToArray();
        return new CategoricalFeature { Column = column.Name, Type = column.Schema.Type, Categories = categories };
    }

    /// <summary>
    /// The model's input rows for every row of <paramref name="table"/>: row-major, <see cref="Width"/> floats each.
    /// The table must hold each step's column with the step's type (a dataset split, or <see cref="FromCells"/>).
    /// </summary>
    public float[] Transform(Table table)
    {
        ArgumentNullException.ThrowIfNull(table);
        var width = Width;
        var result = new float[checked((long)table.Rows * width)];
        var offset = 0;
        foreach (var step in Steps)
        {
            var column = table.Find(step.Column)
                ?? throw new ArgumentException($"Column '{step.Column}' is missing; the model reads it.");
            if (column.Schema.Type != step.Type)
            {
                throw new ArgumentException($"Column '{step.Column}' is {column.Schema.TypeName}; the model was trained on {step.Type.ToString().ToLowerInvariant()}.");
            }
            if (step is TensorFeature t && !column.Schema.Shape.AsSpan().SequenceEqual(t.Shape))
            {
                throw new ArgumentException($"Column '{step.Column}' has shape [{string.Join(", ", column.Schema.Shape ?? [])}]; the model was trained on [{string.Join(", ", t.Shape)}].");
            }
            step.WriteAll(table, column, result, width, offset);
            offset += step.Size;
        }
        return result;
    }

    /// <summary>
    /// Builds a table of the model's input columns from raw cells (one dictionary of column name to cell per row), each
    /// cell converted to its column's type. Cells of other columns (the label, an id) are ignored. Throws
    /// <see cref="ArgumentException"/> naming the row and column for a missing column or a cell that does not fit.
    /// </summary>
    public Table FromCells(IReadOnlyList<IReadOnlyDictionary<string, Cell>> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var schemas = new List<ColumnSchema>();
        var columns = new List<Column>();
        foreach (var step in Steps)
        {
            var schema = new ColumnSchema(step.Column, step.Type, ColumnRole.Feature,
                Nullable: step.Type != ColumnType.Tensor, Shape: (step as TensorFeature)?.Shape);
            var column = Column.Allocate(schema, rows.Count);
            for (var r = 0; r < rows.Count; r++)
            {
                if (!rows[r].TryGetValue(step.Column, out var cell))
                {
                    throw new ArgumentException($"Row {r}: column '{step.Column}' is missing; the model reads it ({schema.TypeName}). Send null for an unknown value.");
                }
                Set(column, r, cell);
            }
            schemas.Add(schema);
            columns.Add(column);
        }
        return new Table(new DatasetSchema(schemas), columns, [.. Enumerable.Range(0, rows.Count).Select(i => (long)i)]);
    }

    private static void Set(Column column, int row, Cell cell)
    {
        var schema = column.Schema;
        string Where() => $"Row {row}, column '{schema.Name}'";
        if (cell.Kind == CellKind.Null)
        {
            if (schema.Type == ColumnType.Tensor)
            {
                throw new ArgumentException($"{Where()}: a null; this column needs {schema.Width} numbers.");
            }
            return; // the arrays start as nulls
        }
        switch (schema.Type)
        {
            case ColumnType.Int64:
                ((long?[])column.Values)[row] = cell.Kind switch
                {
                    CellKind.Integer => cell.Integer,
                    CellKind.Number when double.IsFinite(cell.Number) && Math.Floor(cell.Number) == cell.Number && Math.Abs(cell.Number) < 9.2e18 => (long)cell.Number,
                    CellKind.Text when long.TryParse(cell.Text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed) => parsed,
                    _ => throw new ArgumentException($"{Where()}: {cell} is not an integer (int64)."),
                };
                break;
            case ColumnType.Double:
                ((double?[])column.Values)[row] = cell.Kind switch
                {
                    CellKind.Number => double.IsFinite(cell.Number) ? cell.Number : null,
                    CellKind.Integer => cell.Integer,
                    CellKind.Text when double.TryParse(cell.Text, NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed) => parsed,
                    _ => throw new ArgumentException($"{Where()}: {cell} is not a number (double)."),
                };
                break;
            case ColumnType.Bool:
                ((bool?[])column.Values)[row] = cell.Kind switch
                {
                    CellKind.Bool => cell.Bool,
                    CellKind.Integer when cell.Integer is 0 or 1 => cell.Integer == 1,
                    CellKind.Number when cell.Number is 0 or 1 => cell.Number == 1,
                    CellKind.Text when bool.TryParse(cell.Text, out var parsed) => parsed,
                    _ => throw new ArgumentException($"{Where()}: {cell} is not a boolean (true/false)."),
                };
                break;
            case ColumnType.String:
                ((string?[])column.Values)[row] = cell.Kind switch
                {
                    CellKind.Text => cell.Text,
                    CellKind.Integer => cell.Integer.ToString(CultureInfo.InvariantCulture),
                    CellKind.Number => cell.Number.ToString("R", CultureInfo.InvariantCulture),
                    CellKind.Bool => cell.Bool ? "true" : "false",
                    _ => throw new ArgumentException($"{Where()}: {cell} is not a string."),
                };
                break;
            case ColumnType.Timestamp:
                ((DateTime?[])column.Values)[row] = cell.Kind switch
                {
                    CellKind.Text when DateTimeOffset.TryParse(cell.Text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed) => parsed.UtcDateTime,
                    _ => throw new ArgumentException($"{Where()}: {cell} is not an ISO 8601 timestamp."),
                };
                break;
            case ColumnType.Binary:
                ((byte[]?[])column.Values)[row] = cell.Kind == CellKind.Bytes ? cell.Bytes
                    : throw new ArgumentException($"{Where()}: {cell} is not bytes (send the encoded image as 'data').");
                break;
            case ColumnType.Tensor:
                var values = cell.Kind == CellKind.Tensor ? cell.Tensor!
                    : throw new ArgumentException($"{Where()}: {cell} is not a list of {schema.Width} numbers.");
                if (values.Length != schema.Width)
                {
                    throw new ArgumentException($"{Where()}: {values.Length} numbers; the model expects {schema.Width} (shape [{string.Join(", ", schema.Shape ?? [])}]).");
                }
                for (var i = 0; i < values.Length; i++)
                {
                    if (!float.IsFinite(values[i]))
                    {
                        throw new ArgumentException($"{Where()}, value {i}: {values[i].ToString(CultureInfo.InvariantCulture)} is not a finite number.");
                    }
                }
                values.CopyTo(((float[])column.Values).AsSpan(row * schema.Width, schema.Width));
                break;
            default:
                throw new ArgumentException($"{Where()}: the model cannot read a {schema.TypeName} column.");
        }
    }
}

/// <summary>The kind of value a <see cref="Cell"/> holds.</summary>
public enum CellKind
{
    /// <summary>No value (missing).</summary>
    Null,
    /// <summary>A double.</summary>
    Number,
    /// <summary>A 64-bit integer.</summary>
    Integer,
    /// <summary>A string.</summary>
    Text,
    /// <summary>A boolean.</summary>
    Bool,
    /// <summary>Bytes (an encoded image).</summary>
    Bytes,
    /// <summary>A list of floats.</summary>
    Tensor,
}

/// <summary>One raw cell of a row sent to a model, before it is converted to its column's type.</summary>
public readonly record struct Cell(CellKind Kind, double Number = 0, long Integer = 0, string? Text = null, bool Bool = false, byte[]? Bytes = null, float[]? Tensor = null)
{
    /// <summary>A null cell.</summary>
    public static Cell Null => new(CellKind.Null);

    /// <summary>A number cell.</summary>
    public static Cell Of(double value) => new(CellKind.Number, Number: value);

    /// <summary>An integer cell.</summary>
    public static Cell Of(long value) => new(CellKind.Integer, Integer: value);

    /// <summary>A text cell.</summary>
    public static Cell Of(string value) => new(CellKind.Text, Text: value);

    /// <summary>A boolean cell.</summary>
    public static Cell Of(bool value) => new(CellKind.Bool, Bool: value);

    /// <summary>A tensor cell.</summary>
    public static Cell Of(float[] value) => new(CellKind.Tensor, Tensor: value);

    /// <summary>The cell from a stored column's row (the same conversion a request's cell goes through).</summary>
    public static Cell From(Column column, int row)
    {
        if (column.IsNull(row))
        {
            return Null;
        }
        return column.Schema.Type switch
        {
            ColumnType.Int64 => Of(((long?[])column.Values)[row]!.Value),
            ColumnType.Double => Of(((double?[])column.Values)[row]!.Value),
            ColumnType.Bool => Of(((bool?[])column.Values)[row]!.Value),
            ColumnType.String => Of(((string?[])column.Values)[row]!),
            ColumnType.Timestamp => Of(((DateTime?[])column.Values)[row]!.Value.ToString("O", CultureInfo.InvariantCulture)),
            ColumnType.Binary => new Cell(CellKind.Bytes, Bytes: ((byte[]?[])column.Values)[row]),
            ColumnType.Tensor => Of(((float[])column.Values).AsSpan(row * column.Schema.Width, column.Schema.Width).ToArray()),
            _ => Null,
        };
    }

    /// <summary>A short description for error messages, e.g. <c>'abc' (string)</c>.</summary>
    public override string ToString() => Kind switch
    {
        CellKind.Null => "null",
        CellKind.Number => $"{Number.ToString("R", CultureInfo.InvariantCulture)} (number)",
        CellKind.Integer => $"{Integer.ToString(CultureInfo.InvariantCulture)} (integer)",
        CellKind.Text => $"'{(Text!.Length > 40 ? Text[..40] + "..." : Text)}' (string)",
        CellKind.Bool => Bool ? "true (bool)" : "false (bool)",
        CellKind.Bytes => $"{Bytes?.Length ?? 0} bytes",
        CellKind.Tensor => $"a list of {Tensor?.Length ?? 0} numbers",
        _ => Kind.ToString(),
    };
}
