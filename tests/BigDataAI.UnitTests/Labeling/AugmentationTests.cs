using BigDataAI.Datasets;
using BigDataAI.Labeling.Augmentation;
using BigDataAI.Protos.Labeling.V1;
using SkiaSharp;

namespace BigDataAI.UnitTests.Labeling;

public sealed class AugmentationTests
{
    private static readonly ColumnSchema Label = new("label", ColumnType.String, ColumnRole.Label, Nullable: false);

    /// <summary>Rows of 8x8 images with a bright square, whose label is the square's corner.</summary>
    private static Table Images(int rows, int side = 8)
    {
        var pixels = new ColumnSchema("pixels", ColumnType.Tensor, ColumnRole.Feature, Nullable: false, Shape: [side, side]);
        var values = new float[rows * side * side];
        var labels = new string?[rows];
        for (var r = 0; r < rows; r++)
        {
            var corner = r % 3;
            for (var y = corner; y < corner + 3; y++)
            {
                for (var x = corner; x < corner + 3; x++)
                {
                    values[r * side * side + y * side + x] = 1f;
                }
            }
            labels[r] = corner.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        return new Table(new DatasetSchema([pixels, Label]), [new Column(pixels, values), new Column(Label, labels)], [.. Enumerable.Range(0, rows).Select(i => (long)i * 2)]);
    }

    private static AugmentationRecipe Recipe(DatasetSchema schema, long seed, ImageAugmentation? image = null, TextAugmentation? text = null, TableAugmentation? table = null, int copies = 0) =>
        AugmentationRecipe.Resolve(new AugmentRequest { Dataset = "d", Seed = seed, Copies = copies, Image = image, Text = text, Table = table }, schema, 1);

    [Fact]
    public void Rotation_by_90_degrees_turns_a_known_image_counter_clockwise()
    {
        // 3x3 with one bright pixel right of the centre; a quarter turn counter-clockwise puts it above the centre.
        float[] source = [0, 0, 0, 0, 0, 1, 0, 0, 0];
        var target = new float[9];

        ImageAugmenter.Transform(source, target, 3, 3, 1, new ImageTransform(90, 0, 0, 0), 0, 1, new SeededRandom(1));

        float[] expected = [0, 1, 0, 0, 0, 0, 0, 0, 0];
        Assert.Equal(expected, target, (a, b) => Math.Abs(a - b) < 1e-5);
    }

    [Fact]
    public void Rotation_interpolates_bilinearly_fills_with_zero_and_shift_moves_whole_pixels()
    {
        // A 4x4 of ones turned by 45 degrees: the corners fall outside the source (0), the centre stays 1.
        var ones = Enumerable.Repeat(1f, 16).ToArray();
        var turned = new float[16];
        ImageAugmenter.Transform(ones, turned, 4, 4, 1, new ImageTransform(45, 0, 0, 0), 0, 1, new SeededRandom(1));
        Assert.True(turned[0] < 0.5f && turned[15] < 0.5f, $"corners {turned[0]}, {turned[15]}");
        Assert.Equal(1f, turned[5], 5);
        Assert.Equal(1f, turned[10], 5);

        // One pixel at (row 1, column 1) of a 4x4 shifted by 2 right and 1 down lands at (row 2, column 3); RGB channels move together.
        var rgb = new float[4 * 4 * 3];
        rgb[(1 * 4 + 1) * 3 + 0] = 0.2f;
        rgb[(1 * 4 + 1) * 3 + 2] = 0.9f;
        var shifted = new float[rgb.Length];
        ImageAugmenter.Transform(rgb, shifted, 4, 4, 3, new ImageTransform(0, 2, 1, 0), 0, 1, new SeededRandom(1));
        var expected = new float[rgb.Length];
        expected[(2 * 4 + 3) * 3 + 0] = 0.2f;
        expected[(2 * 4 + 3) * 3 + 2] = 0.9f;
        Assert.Equal(expected, shifted);
    }

    [Fact]
    public void Image_augmentation_is_a_function_of_the_seed_stays_in_the_source_range_and_keeps_labels()
    {
        var train = Images(12);
        var recipe = Recipe(train.Schema, 7, image: new ImageAugmentation { MaxRotationDegrees = 15, MaxShiftPixels = 2, NoiseStddev = 0.1 }, copies: 2);

        var a = TrainSplitAugmenter.Generate(train, ["0", "1", "2"], recipe, firstRowId: 100);
        var b = TrainSplitAugmenter.Generate(train, ["0", "1", "2"], recipe, firstRowId: 100);
        var other = TrainSplitAugmenter.Generate(train, ["0", "1", "2"], recipe with { Seed = 8 }, firstRowId: 100);

        Assert.Equal(24, a.Rows);
        Assert.Equal(Enumerable.Range(100, 24).Select(i => (long)i), a.RowIds);
        Assert.Equal((float[])a["pixels"].Values, (float[])b["pixels"].Values);
        Assert.NotEqual((float[])a["pixels"].Values, (float[])other["pixels"].Values);
        Assert.NotEqual(((float[])train["pixels"].Values).Concat((float[])train["pixels"].Values), (float[])a["pixels"].Values);
        Assert.All((float[])a["pixels"].Values, v => Assert.InRange(v, 0f, 1f));
        Assert.Equal(((string?[])train["label"].Values).Concat((string?[])train["label"].Values), (string?[])a["label"].Values);
    }

    [Fact]
    public void Encoded_images_are_decoded_transformed_and_encoded_again_in_their_format()
    {
        using var bitmap = new SKBitmap(new SKImageInfo(5, 5, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        bitmap.Erase(SKColors.Black);
        bitmap.SetPixel(4, 2, new SKColor(200, 100, 50, 255));
        using var image = SKImage.FromBitmap(bitmap);
        using var png = image.Encode(SKEncodedImageFormat.Png, 100);
        var bytes = png.ToArray();

        var turned = ImageAugmenter.TransformEncoded(bytes, new ImageTransform(90, 0, 0, 0), new SeededRandom(3), "photo", 0);

        using var decoded = SKBitmap.Decode(turned);
        Assert.Equal(SKEncodedImageFormat.Png, SKCodec.Create(new SKMemoryStream(turned)).EncodedFormat);
        Assert.Equal((5, 5), (decoded.Width, decoded.Height));
        var moved = decoded.GetPixel(2, 0);
        Assert.Equal((200, 100, 50), (moved.Red, moved.Green, moved.Blue));
        Assert.Equal(0, decoded.GetPixel(4, 2).Red);
        // Seeded: the same draw gives the same bytes.
        var noisy = ImageAugmenter.TransformEncoded(bytes, new ImageTransform(10, 1, 1, 0.1), new SeededRandom(3), "photo", 0);
        Assert.Equal(noisy, ImageAugmenter.TransformEncoded(bytes, new ImageTransform(10, 1, 1, 0.1), new SeededRandom(3), "photo", 0));
    }

    [Fact]
    public void Token_dropout_is_seeded_and_never_drops_every_token()
    {
        var augmenter = TextAugmenter.Default;
        const string text = "the quick brown fox jumps over the lazy dog";

        var a = augmenter.Augment(text, 0.3, 0, new SeededRandom(5, 1));
        Assert.Equal(a, augmenter.Augment(text, 0.3, 0, new SeededRandom(5, 1)));
        Assert.NotEqual(text, a);
        Assert.All(a!.Split(' '), t => Assert.Contains(t, text.Split(' ')));

        for (var seed = 0; seed < 20; seed++)
        {
            var kept = augmenter.Augment(text, 1.0, 0, new SeededRandom(seed));
            Assert.Single(kept!.Split(' '));
        }
        Assert.Null(augmenter.Augment(null, 0.5, 0.5, new SeededRandom(1)));
    }

    [Fact]
    public void Synonym_swaps_come_from_the_shipped_list_and_keep_punctuation_and_capitals()
    {
        var augmenter = TextAugmenter.Default;
        Assert.True(augmenter.Synonyms.Count >= 300, $"{augmenter.Synonyms.Count} headwords");
        Assert.Matches("^[0-9a-f]{64}$", TextAugmenter.ShippedSha256);

        var swapped = augmenter.Augment("Happy dogs run, quickly!", 0, 1.0, new SeededRandom(9))!.Split(' ');

        Assert.Equal(4, swapped.Length);
        Assert.Contains(swapped[0], augmenter.Synonyms["happy"].Select(s => char.ToUpperInvariant(s[0]) + s[1..]));
        Assert.Equal("dogs", swapped[1]); // not in the list
        Assert.Contains(swapped[2], augmenter.Synonyms["run"].Select(s => s + ","));
        Assert.Contains(swapped[3], augmenter.Synonyms["quickly"].Select(s => s + "!"));
    }

    /// <summary>Two numeric features (double, int64), a string feature and a label; class sizes 20, 8 and 5; one null.</summary>
    private static Table Imbalanced()
    {
        var x = new ColumnSchema("x", ColumnType.Double, ColumnRole.Feature);
        var n = new ColumnSchema("n", ColumnType.Int64, ColumnRole.Feature);
        var colour = new ColumnSchema("colour", ColumnType.String, ColumnRole.Feature);
        var label = new ColumnSchema("label", ColumnType.String, ColumnRole.Label);
        var random = new Random(4);
        var xs = new List<double?>();
        var ns = new List<long?>();
        var colours = new List<string?>();
        var labels = new List<string?>();
        foreach (var (name, count, centre) in new[] { ("a", 20, 0.0), ("b", 8, 10.0), ("c", 5, -10.0) })
        {
            for (var i = 0; i < count; i++)
            {
                xs.Add(centre + random.NextDouble() * 3);
                ns.Add((long)(centre * 10) + random.Next(100));
                colours.Add($"{name}{i}");
                labels.Add(name);
            }
        }
        ns[^1] = null; // a row of class c with a missing feature: never a seed or a neighbour
        var schema = new DatasetSchema([x, n, colour, label]);
        return new Table(schema, [new Column(x, xs.ToArray()), new Column(n, ns.ToArray()), new Column(colour, colours.ToArray()), new Column(label, labels.ToArray())],
            [.. Enumerable.Range(0, xs.Count).Select(i => (long)i)]);
    }

    [Fact]
    public void Smote_grows_only_the_smaller_classes_to_the_largest_on_segments_between_same_class_neighbours()
    {
        var train = Imbalanced();
        string[] classes = ["a", "b", "c"];
        var features = Enumerable.Range(0, train.Rows).Select(r => new[]
        {
            ((double?[])train["x"].Values)[r] ?? double.NaN,
            ((long?[])train["n"].Values)[r] is { } l ? (double)l : double.NaN,
        }).ToList();
        var classIndex = train.ClassIndices(classes).Select(c => (int)c).ToList();

        var (samples, added) = Smote.Plan(features, classIndex, 3, neighbours: 3, targetPerClass: 0, seed: 11);

        Assert.Equal([0L, 12, 15], added);
        var usable = Enumerable.Range(0, train.Rows).Where(r => features[r].All(double.IsFinite)).ToList();
        var scale = Smote.Standardization(features, usable);
        foreach (var s in samples)
        {
            Assert.NotEqual(0, s.Class);
            Assert.Equal(s.Class, classIndex[s.Seed]);
            Assert.Equal(s.Class, classIndex[s.Neighbour]);
            Assert.NotEqual(train.Rows - 1, s.Seed);
            Assert.NotEqual(train.Rows - 1, s.Neighbour);
            Assert.InRange(s.Gap, 0, 1);
            // One of the seed's 3 nearest of its class, by a brute-force sort of standardized distances.
            var nearest = usable.Where(r => classIndex[r] == s.Class && r != s.Seed)
                .OrderBy(r => features[r].Select((v, j) => Math.Pow((v - features[s.Seed][j]) / scale.Scale[j], 2)).Sum()).ThenBy(r => r).Take(3);
            Assert.Contains(s.Neighbour, nearest);
        }
        // Every usable row of a class seeds before any seeds twice.
        Assert.Equal(7, samples.Where(s => s.Class == 1).Take(7).Select(s => s.Seed).Distinct().Count());

        // As rows: the numeric features on the segment (int64 rounded), the rest copied from the seed, the label the class's.
        var recipe = Recipe(train.Schema, 11, table: new TableAugmentation { SmoteNeighbors = 3 });
        var generated = TrainSplitAugmenter.Generate(train, classes, recipe, firstRowId: train.Rows);
        Assert.Equal(27, generated.Rows);
        for (var i = 0; i < generated.Rows; i++)
        {
            var s = samples[i];
            var x = ((double?[])generated["x"].Values)[i]!.Value;
            Assert.Equal(features[s.Seed][0] + s.Gap * (features[s.Neighbour][0] - features[s.Seed][0]), x, 9);
            var n = ((long?[])generated["n"].Values)[i]!.Value;
            Assert.Equal(Math.Round(features[s.Seed][1] + s.Gap * (features[s.Neighbour][1] - features[s.Seed][1]), MidpointRounding.AwayFromZero), n);
            Assert.Equal(((string?[])train["colour"].Values)[s.Seed], ((string?[])generated["colour"].Values)[i]);
            Assert.Equal(classes[s.Class], ((string?[])generated["label"].Values)[i]);
        }
        var again = TrainSplitAugmenter.Generate(train, classes, recipe, firstRowId: train.Rows);
        Assert.Equal((double?[])generated["x"].Values, (double?[])again["x"].Values);
        Assert.NotEqual((double?[])generated["x"].Values, (double?[])TrainSplitAugmenter.Generate(train, classes, recipe with { Seed = 12 }, train.Rows)["x"].Values);
    }

    [Fact]
    public void Smote_target_per_class_sets_the_size_and_never_shrinks_a_class()
    {
        var features = Enumerable.Range(0, 30).Select(i => new[] { (double)i, i % 7 }).ToList();
        var classes = Enumerable.Range(0, 30).Select(i => i < 20 ? 0 : i < 28 ? 1 : 2).ToList();

        var (samples, added) = Smote.Plan(features, classes, 4, neighbours: 5, targetPerClass: 10, seed: 1);

        // Class 0 (20) is past the target, class 1 (8) grows by 2, class 2 (2 rows: one segment) by 8, class 3 (empty) by none.
        Assert.Equal([0L, 2, 8, 0], added);
        Assert.Equal(10, samples.Count);
    }

    [Fact]
    public void A_recipe_that_does_not_fit_names_the_field()
    {
        var images = Images(3).Schema;
        var table = Imbalanced().Schema;
        var regression = new DatasetSchema([new ColumnSchema("x", ColumnType.Double, ColumnRole.Feature), new ColumnSchema("y", ColumnType.Double, ColumnRole.Label)]);

        Assert.Equal("image.max_rotation_degrees", Assert.Throws<AugmentationRecipeException>(() => Recipe(images, 1, image: new ImageAugmentation { MaxRotationDegrees = 46 })).Field);
        Assert.Equal("image.max_shift_pixels", Assert.Throws<AugmentationRecipeException>(() => Recipe(images, 1, image: new ImageAugmentation { MaxShiftPixels = 9 })).Field);
        Assert.Equal("image.noise_stddev", Assert.Throws<AugmentationRecipeException>(() => Recipe(images, 1, image: new ImageAugmentation { NoiseStddev = double.NaN })).Field);
        Assert.Equal("image", Assert.Throws<AugmentationRecipeException>(() => Recipe(table, 1, image: new ImageAugmentation())).Field);
        Assert.Equal("text", Assert.Throws<AugmentationRecipeException>(() => Recipe(images, 1, text: new TextAugmentation())).Field);
        Assert.Equal("text.token_dropout", Assert.Throws<AugmentationRecipeException>(() => Recipe(images, 1, text: new TextAugmentation { TokenDropout = 1.5 })).Field);
        Assert.Equal("table", Assert.Throws<AugmentationRecipeException>(() => Recipe(images, 1, table: new TableAugmentation())).Field);
        Assert.Equal("table", Assert.Throws<AugmentationRecipeException>(() => Recipe(regression, 1, table: new TableAugmentation())).Field);
        Assert.Equal("copies", Assert.Throws<AugmentationRecipeException>(() => Recipe(images, 1, image: new ImageAugmentation(), copies: -1)).Field);

        var recipe = Recipe(table, 42, table: new TableAugmentation());
        Assert.Equal(["x", "n"], recipe.Table!.Columns);
        Assert.Equal(5, recipe.Table.Neighbors);
        Assert.Contains("\"seed\":42", recipe.ToJson(), StringComparison.Ordinal);
        Assert.Equal(recipe.ToJson(), AugmentationRecipe.FromJson(recipe.ToJson())!.ToJson());
    }
}
