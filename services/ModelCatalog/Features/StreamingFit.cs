using BigDataAI.Datasets;

namespace BigDataAI.Models.Features;

/// <summary>
/// <see cref="FeaturePipeline.Fit"/> over a split read shard by shard: the same steps with the same fitted values as
/// fitting the shards concatenated in their order, in memory that does not grow with the rows (per column: a running
/// mean and variance, a count per distinct value or token, the first <see cref="ImageFeature.SampleSize"/> images).
/// </summary>
public static class StreamingFit
{
    /// <summary>Fits the pipeline on <paramref name="shards"/> (one split's shards, in order).</summary>
    /// <exception cref="ArgumentException">As <see cref="FeaturePipeline.Fit"/>: no label, no feature column, or a column no model takes.</exception>
    public static async Task<FeaturePipeline> FitAsync(IAsyncEnumerable<Table> shards, TextEncoding text = TextEncoding.None, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(shards);
        Accumulator[]? columns = null;
        DatasetSchema? schema = null;
        await foreach (var shard in shards.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            if (columns is null)
            {
                schema = shard.Schema;
                // The first shard decides the steps (and throws what Fit throws for a column no model takes).
                columns = [.. shard.Columns.Select(c => Accumulator.For(c.Schema, text))];
            }
            for (var c = 0; c < columns.Length; c++)
            {
                columns[c].Add(shard.Columns[c]);
            }
        }
        if (columns is null || schema is null)
        {
            throw new ArgumentException("The split has no shards, so there is nothing to fit the features on.");
        }
        var label = schema.Label ?? throw new ArgumentException("The dataset has no label column, so there is nothing to learn.");
        var steps = columns.Select(a => a.Step()).OfType<FeatureStep>().ToList();
        if (steps.Count == 0)
        {
            throw new ArgumentException($"The dataset has no feature columns besides the label '{label.Name}'.");
        }
        return new FeaturePipeline { Steps = steps, LabelColumn = label.Name };
    }

    private abstract class Accumulator(ColumnSchema schema)
    {
        protected ColumnSchema Schema { get; } = schema;

        public abstract void Add(Column column);

        public abstract FeatureStep? Step();

        /// <summary>The accumulator of the step <see cref="FeaturePipeline.Fit"/> makes for a column (the same cases in the same order).</summary>
        public static Accumulator For(ColumnSchema schema, TextEncoding text) => schema.Role switch
        {
            ColumnRole.Label or ColumnRole.Id or ColumnRole.Ignored => new Skip(schema),
            ColumnRole.Text when text == TextEncoding.Tokens => new Tokens(schema),
            ColumnRole.Text when text == TextEncoding.MiniLm => new Fixed(schema, new MiniLmFeature { Column = schema.Name, Type = ColumnType.String }),
            ColumnRole.Text => throw new ArgumentException($"Column '{schema.Name}' is text; this model cannot read text. Use a text model (fasttext or minilm), or give the column role 'ignored' (or 'feature' to treat its values as categories)."),
            ColumnRole.Image => new Images(schema),
            _ => schema.Type switch
            {
                ColumnType.Int64 or ColumnType.Double or ColumnType.Bool or ColumnType.Timestamp => new Numeric(schema),
                ColumnType.String => new Categorical(schema),
                ColumnType.Tensor => new Fixed(schema, new TensorFeature { Column = schema.Name, Type = schema.Type, Shape = schema.Shape! }),
                _ => throw new ArgumentException($"Column '{schema.Name}' is {schema.TypeName}; no model takes it as a feature. Give it role 'ignored'."),
            },
        };
    }

    private sealed class Skip(ColumnSchema schema) : Accumulator(schema)
    {
        public override void Add(Column column)
        {
        }

        public override FeatureStep? Step() => null;
    }

    private sealed class Fixed(ColumnSchema schema, FeatureStep step) : Accumulator(schema)
    {
        public override void Add(Column column)
        {
        }

        public override FeatureStep Step() => step;
    }

    /// <summary>Welford's running mean and variance, continued from shard to shard: the in-memory fit's very arithmetic.</summary>
    private sealed class Numeric(ColumnSchema schema) : Accumulator(schema)
    {
        private double _mean, _m2;
        private long _n, _nulls;

        public override void Add(Column column)
        {
            for (var r = 0; r < column.Rows; r++)
            {
                if (NumericFeature.Value(column, r) is not { } x)
                {
                    _nulls++;
                    continue;
                }
                _n++;
                var delta = x - _mean;
                _mean += delta / _n;
                _m2 += delta * (x - _mean);
            }
        }

        public override FeatureStep Step()
        {
            var std = _n > 0 ? Math.Sqrt(_m2 / _n) : 0;
            return new NumericFeature
            {
                Column = Schema.Name,
                Type = Schema.Type,
                Mean = _n > 0 ? _mean : 0,
                Scale = std > 1e-12 && double.IsFinite(std) ? std : 1,
                MissingIndicator = _nulls > 0,
            };
        }
    }

    private sealed class Categorical(ColumnSchema schema) : Accumulator(schema)
    {
        private readonly Dictionary<string, long> _counts = new(StringComparer.Ordinal);

        public override void Add(Column column)
        {
            for (var r = 0; r < column.Rows; r++)
            {
                if (column.Format(r) is { } text)
                {
                    _counts[text] = _counts.GetValueOrDefault(text) + 1;
                }
            }
        }

        public override FeatureStep Step() => new CategoricalFeature
        {
            Column = Schema.Name,
            Type = Schema.Type,
            Categories = [.. _counts.OrderByDescending(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal).Take(FeaturePipeline.MaxCategories).Select(p => p.Key)],
        };
    }

    private sealed class Tokens(ColumnSchema schema) : Accumulator(schema)
    {
        private readonly Dictionary<int, long> _counts = [];

        public override void Add(Column column)
        {
            foreach (var text in (string?[])column.Values)
            {
                if (text is null)
                {
                    continue;
                }
                foreach (var id in Text.TextEncoders.Tokenize(text, TokensFeature.DefaultMaxTokens))
                {
                    _counts[id] = _counts.GetValueOrDefault(id) + 1;
                }
            }
        }

        public override FeatureStep Step() => new TokensFeature
        {
            Column = Schema.Name,
            Type = ColumnType.String,
            MaxTokens = TokensFeature.DefaultMaxTokens,
            Vocabulary = [.. _counts.Where(p => p.Value >= 2).OrderByDescending(p => p.Value).ThenBy(p => p.Key).Take(TokensFeature.MaxVocabulary).Select(p => p.Key)],
            Buckets = TokensFeature.DefaultBuckets,
        };
    }

    /// <summary>The first <see cref="ImageFeature.SampleSize"/> non-null images, which is all the in-memory fit looks at.</summary>
    private sealed class Images(ColumnSchema schema) : Accumulator(schema)
    {
        private readonly List<byte[]?> _sample = [];

        public override void Add(Column column)
        {
            foreach (var bytes in (byte[]?[])column.Values)
            {
                if (bytes is not null && _sample.Count < ImageFeature.SampleSize)
                {
                    _sample.Add(bytes);
                }
            }
        }

        public override FeatureStep Step() => ImageFeature.Fit(new Column(Schema, _sample.ToArray()));
    }
}
