using System.Runtime.InteropServices;
using System.Text.Json.Serialization;
using BigDataAI.Datasets.Similarity;

namespace BigDataAI.Datasets.Profiling;

/// <summary>
/// The mergeable state of the profile's near-duplicate search (services/Datasets/Similarity): MinHash signatures of the
/// first text column (64 slots over word 3-shingles; pairs at an estimated Jaccard similarity of at least 0.8, through
/// LSH banding) and 64-bit perceptual hashes (dHash) of the first image column, or of a tensor column shaped like an
/// image (pairs at most 4 bits apart, through a multi-index Hamming search). Memory is bounded: the search covers the
/// first <see cref="MaxRows"/> rows (in row order, whole or merged alike), 512 bytes a row for text, 16 for images.
/// Identical signatures or hashes are grouped first and their pairs counted, not enumerated; near pairs between groups
/// are found by the index, so only a cluster of many distinct but near items costs time quadratic in its size.
/// </summary>
public sealed class NearDuplicateFinder
{
    public const int MaxRows = 20_000;
    public const int TextSlots = 64;
    public const double TextThreshold = 0.8;
    public const int ImageMaxDistance = 4;

    private static readonly MinHash Text = new(TextSlots);

    public string? TextColumn { get; set; }

    public string? ImageColumn { get; set; }

    [JsonIgnore]
    public List<long> TextRows { get; set; } = [];

    /// <summary>The signatures one after another, <see cref="TextSlots"/> each.</summary>
    [JsonIgnore]
    public List<ulong> TextSignatures { get; set; } = [];

    [JsonIgnore]
    public List<long> ImageRows { get; set; } = [];

    [JsonIgnore]
    public List<ulong> ImageHashes { get; set; } = [];

    // In JSON as little-endian bytes (base64): a third of the size of number lists.
    public byte[] PackedTextRows { get => Pack(TextRows); set => TextRows = Unpack<long>(value); }

    public byte[] PackedTextSignatures { get => Pack(TextSignatures); set => TextSignatures = Unpack<ulong>(value); }

    public byte[] PackedImageRows { get => Pack(ImageRows); set => ImageRows = Unpack<long>(value); }

    public byte[] PackedImageHashes { get => Pack(ImageHashes); set => ImageHashes = Unpack<ulong>(value); }

    private static byte[] Pack<T>(List<T> values) where T : struct => MemoryMarshal.AsBytes(CollectionsMarshal.AsSpan(values)).ToArray();

    private static List<T> Unpack<T>(byte[]? bytes) where T : struct => [.. MemoryMarshal.Cast<byte, T>(bytes ?? [])];

    public static NearDuplicateFinder For(DatasetSchema schema) => new()
    {
        TextColumn = schema.Columns.FirstOrDefault(c => c.Role == ColumnRole.Text && c.Type == ColumnType.String)?.Name,
        ImageColumn = (schema.Columns.FirstOrDefault(c => c.Role == ColumnRole.Image && c.Type == ColumnType.Binary)
            ?? schema.Columns.FirstOrDefault(c => c.Type == ColumnType.Tensor && PerceptualHash.IsImageShape(c.Shape)))?.Name,
    };

    public void Observe(Table shard)
    {
        if (TextColumn is not null && TextRows.Count < MaxRows && shard[TextColumn].Values is string?[] texts)
        {
            for (var r = 0; r < shard.Rows && TextRows.Count < MaxRows; r++)
            {
                if (texts[r] is { } text)
                {
                    TextRows.Add(shard.RowIds[r]);
                    TextSignatures.AddRange(Text.Signature(text));
                }
            }
        }
        if (ImageColumn is not null && ImageRows.Count < MaxRows)
        {
            var column = shard[ImageColumn];
            for (var r = 0; r < shard.Rows && ImageRows.Count < MaxRows; r++)
            {
                ulong? hash = column.Values switch
                {
                    byte[]?[] images => images[r] is { } bytes ? PerceptualHash.OfEncoded(bytes) : null,
                    float[] tensor => PerceptualHash.OfTensor(tensor.AsSpan(r * column.Schema.Width, column.Schema.Width), column.Schema.Shape!),
                    _ => null,
                };
                if (hash is { } h)
                {
                    ImageRows.Add(shard.RowIds[r]);
                    ImageHashes.Add(h);
                }
            }
        }
    }

    /// <summary>Appends <paramref name="other"/>'s rows (a later part) up to <see cref="MaxRows"/>.</summary>
    public void Merge(NearDuplicateFinder other)
    {
        var text = Math.Min(other.TextRows.Count, MaxRows - TextRows.Count);
        TextRows.AddRange(other.TextRows.Take(text));
        TextSignatures.AddRange(other.TextSignatures.Take(text * TextSlots));
        var images = Math.Min(other.ImageRows.Count, MaxRows - ImageRows.Count);
        ImageRows.AddRange(other.ImageRows.Take(images));
        ImageHashes.AddRange(other.ImageHashes.Take(images));
    }

    public List<NearDuplicateReport> Report()
    {
        var reports = new List<NearDuplicateReport>();
        if (TextColumn is not null)
        {
            var signatures = CollectionsMarshal.AsSpan(TextSignatures).ToArray();
            var groups = Group(TextRows, i => StableHash.Of(System.Runtime.InteropServices.MemoryMarshal.AsBytes(signatures.AsSpan(i * TextSlots, TextSlots))));
            var pairs = new PairCounter(groups);
            foreach (var (a, b, _) in MinHashLsh.Pairs(groups.Select((g, i) => ((long)i, signatures[(g.First * TextSlots)..((g.First + 1) * TextSlots)])), TextSlots, TextThreshold))
            {
                pairs.Across((int)a, (int)b);
            }
            reports.Add(new NearDuplicateReport(TextColumn, "minhash-jaccard", TextThreshold, pairs.Count, TextRows.Count, pairs.Examples()));
        }
        if (ImageColumn is not null)
        {
            var groups = Group(ImageRows, i => ImageHashes[i]);
            var pairs = new PairCounter(groups);
            var index = new HammingIndex(ImageMaxDistance);
            for (var g = 0; g < groups.Count; g++)
            {
                var hash = ImageHashes[groups[g].First];
                foreach (var (other, _) in index.Query(hash))
                {
                    pairs.Across((int)other, g);
                }
                index.Add(g, hash);
            }
            reports.Add(new NearDuplicateReport(ImageColumn, "dhash-hamming", ImageMaxDistance, pairs.Count, ImageRows.Count, pairs.Examples()));
        }
        return reports;
    }

    /// <summary>
    /// Rows with an identical signature or hash, in order of first appearance: identical items pair with each other without
    /// being compared (a column of 20,000 equal cells would otherwise give 200 million comparisons).
    /// </summary>
    private static List<(int First, List<long> Rows)> Group(List<long> rows, Func<int, ulong> key)
    {
        var groups = new List<(int First, List<long> Rows)>();
        var byKey = new Dictionary<ulong, int>();
        for (var i = 0; i < rows.Count; i++)
        {
            var k = key(i);
            if (!byKey.TryGetValue(k, out var g))
            {
                byKey[k] = g = groups.Count;
                groups.Add((i, []));
            }
            groups[g].Rows.Add(rows[i]);
        }
        return groups;
    }

    /// <summary>Counts pairs of rows within and across groups, and keeps the lowest few as examples.</summary>
    private sealed class PairCounter
    {
        private readonly List<(int First, List<long> Rows)> _groups;
        private readonly SortedSet<(long A, long B)> _examples = [];

        public PairCounter(List<(int First, List<long> Rows)> groups)
        {
            _groups = groups;
            foreach (var (_, rows) in groups)
            {
                Count += (long)rows.Count * (rows.Count - 1) / 2;
                if (rows.Count > 1)
                {
                    Example(rows[0], rows[1]);
                }
            }
        }

        public long Count { get; private set; }

        public void Across(int a, int b)
        {
            var (x, y) = (_groups[a].Rows, _groups[b].Rows);
            Count += (long)x.Count * y.Count;
            Example(Math.Min(x[0], y[0]), Math.Max(x[0], y[0]));
        }

        public IReadOnlyList<IReadOnlyList<long>> Examples() => [.. _examples.Select(p => (IReadOnlyList<long>)[p.A, p.B])];

        private void Example(long a, long b)
        {
            _examples.Add((a, b));
            if (_examples.Count > ProfileBuilder.Examples)
            {
                _examples.Remove(_examples.Max);
            }
        }
    }
}
