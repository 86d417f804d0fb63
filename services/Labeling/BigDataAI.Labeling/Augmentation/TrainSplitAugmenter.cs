using BigDataAI.Datasets;

namespace BigDataAI.Labeling.Augmentation;

/// <summary>
/// Applies a recipe to a train split, purely: the same split, recipe and first row id give the same rows. Image and
/// text operations make <see cref="AugmentationRecipe.Copies"/> new rows per train row (each row's image columns and
/// text columns transformed, every other column copied); SMOTE adds rows to the smaller classes (numeric features
/// interpolated, int64 ones rounded, every other column copied from the seed row). Nullable id columns are null in the
/// new rows (they key source rows); the new rows' ids count up from <c>firstRowId</c>.
/// </summary>
internal static class TrainSplitAugmenter
{
    public static Table Generate(Table train, IReadOnlyList<string> classes, AugmentationRecipe recipe, long firstRowId)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(recipe);
        var parts = new List<Table>();
        if (recipe.Image is not null || recipe.Text is not null)
        {
            parts.Add(Transformed(train, recipe));
        }
        if (recipe.Table is { } smote)
        {
            parts.Add(Synthetic(train, classes, smote, recipe.Seed));
        }
        var generated = DatasetStore.Concat(train.Schema, parts);
        var columns = generated.Columns.Select(c => c.Schema is { Role: ColumnRole.Id, Nullable: true } ? Column.Allocate(c.Schema, generated.Rows) : c).ToList();
        return new Table(train.Schema, columns, [.. Enumerable.Range(0, generated.Rows).Select(i => firstRowId + i)]);
    }

    private static Table Transformed(Table train, AugmentationRecipe recipe)
    {
        var copies = recipe.Copies;
        var sources = new int[checked(train.Rows * copies)];
        for (var i = 0; i < sources.Length; i++)
        {
            sources[i] = i % train.Rows;
        }
        var table = train.Select(sources);
        // Each (row, copy, column) draws from its own stream: the output does not depend on threads or column order.
        long Key(int i) => train.RowIds[sources[i]];
        int Copy(int i) => i / train.Rows;
        var options = new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount };
        if (recipe.Image is { } image)
        {
            foreach (var name in image.Columns)
            {
                var index = IndexOf(train.Schema, name);
                var column = table.Columns[index];
                if (column.Schema.Type == ColumnType.Tensor)
                {
                    var (height, width, channels) = ImageAugmenter.ImageShape(column.Schema.Shape)
                        ?? throw new InvalidOperationException($"Column '{name}' has no image shape.");
                    var size = column.Schema.Width;
                    var source = (float[])train.Columns[index].Values;
                    var (min, max) = ValueRange(source);
                    var target = (float[])column.Values;
                    Parallel.For(0, sources.Length, options, i =>
                    {
                        var random = new SeededRandom(recipe.Seed, Key(i), Copy(i), index);
                        var transform = ImageTransform.Draw(random, image.MaxRotationDegrees, image.MaxShiftPixels, image.NoiseStddev);
                        ImageAugmenter.Transform(source.AsSpan(sources[i] * size, size), target.AsSpan(i * size, size), height, width, channels, transform, min, max, random);
                    });
                }
                else
                {
                    var values = (byte[]?[])column.Values;
                    Parallel.For(0, sources.Length, options, i =>
                    {
                        if (values[i] is { } bytes)
                        {
                            var random = new SeededRandom(recipe.Seed, Key(i), Copy(i), index);
                            var transform = ImageTransform.Draw(random, image.MaxRotationDegrees, image.MaxShiftPixels, image.NoiseStddev);
                            values[i] = ImageAugmenter.TransformEncoded(bytes, transform, random, name, Key(i));
                        }
                    });
                }
            }
        }
        if (recipe.Text is { } text)
        {
            var augmenter = TextAugmenter.Default;
            foreach (var name in text.Columns)
            {
                var index = IndexOf(train.Schema, name);
                var values = (string?[])table.Columns[index].Values;
                for (var i = 0; i < values.Length; i++)
                {
                    values[i] = augmenter.Augment(values[i], text.TokenDropout, text.SynonymSwap, new SeededRandom(recipe.Seed, Key(i), Copy(i), index));
                }
            }
        }
        return table;
    }

    private static Table Synthetic(Table train, IReadOnlyList<string> classes, SmoteRecipe smote, long seed)
    {
        var indices = smote.Columns.Select(name => IndexOf(train.Schema, name)).ToArray();
        var features = new double[train.Rows][];
        for (var r = 0; r < train.Rows; r++)
        {
            var row = new double[indices.Length];
            for (var j = 0; j < indices.Length; j++)
            {
                row[j] = train.Columns[indices[j]].Values switch
                {
                    long?[] v => v[r] is { } l ? l : double.NaN,
                    double?[] v => v[r] ?? double.NaN,
                    _ => throw new InvalidOperationException($"Column '{smote.Columns[j]}' is not numeric."),
                };
            }
            features[r] = row;
        }
        var classIndex = train.ClassIndices(classes).Select(c => (int)c).ToArray();
        var (samples, _) = Smote.Plan(features, classIndex, classes.Count, smote.Neighbors, smote.TargetPerClass, seed);
        var table = train.Select([.. samples.Select(s => s.Seed)]);
        for (var j = 0; j < indices.Length; j++)
        {
            switch (table.Columns[indices[j]].Values)
            {
                case long?[] v:
                    for (var i = 0; i < samples.Count; i++)
                    {
                        var s = samples[i];
                        v[i] = (long)Math.Round(Smote.Interpolate(features[s.Seed][j], features[s.Neighbour][j], s.Gap), MidpointRounding.AwayFromZero);
                    }
                    break;
                case double?[] v:
                    for (var i = 0; i < samples.Count; i++)
                    {
                        var s = samples[i];
                        v[i] = Smote.Interpolate(features[s.Seed][j], features[s.Neighbour][j], s.Gap);
                    }
                    break;
            }
        }
        return table;
    }

    /// <summary>The smallest and largest value of a tensor column (what augmented pixels are clamped to).</summary>
    private static (float Min, float Max) ValueRange(float[] values)
    {
        if (values.Length == 0)
        {
            return (0, 1);
        }
        var min = float.PositiveInfinity;
        var max = float.NegativeInfinity;
        foreach (var v in values)
        {
            if (float.IsFinite(v))
            {
                min = Math.Min(min, v);
                max = Math.Max(max, v);
            }
        }
        return min <= max ? (min, max) : (0, 1);
    }

    private static int IndexOf(DatasetSchema schema, string name)
    {
        for (var i = 0; i < schema.Columns.Count; i++)
        {
            if (schema.Columns[i].Name == name)
            {
                return i;
            }
        }
        throw new InvalidOperationException($"The split has no column '{name}'.");
    }
}
