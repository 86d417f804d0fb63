using BigDataAI.Datasets.Similarity;
using SkiaSharp;

namespace BigDataAI.UnitTests.Quality;

public sealed class SimilarityTests
{
    [Fact]
    public void Shingles_are_word_triples_lower_cased_and_punctuation_free()
    {
        Assert.Equal(["the", "cat", "sat", "on", "mat", "2"], MinHash.Words("The cat, sat -- on MAT #2"));
        // 6 words: 4 shingles of 3; "a b" has fewer words than a shingle: one shingle of both.
        Assert.Equal(4, MinHash.ShingleHashes("The cat, sat -- on MAT #2", 3).Count);
        Assert.Single(MinHash.ShingleHashes("a b", 3));
        Assert.Empty(MinHash.ShingleHashes("  ... ", 3));
    }

    [Fact]
    public void Exact_jaccard_is_shared_shingles_over_all_shingles()
    {
        // Shingles of 3: {a b c, b c d, c d e} and {a b c, b c d, c d f}: 2 shared of 4 distinct.
        Assert.Equal(0.5, MinHash.ExactJaccard("a b c d e", "a b c d f"), 12);
        Assert.Equal(1.0, MinHash.ExactJaccard("A b, c!", "a B c"), 12);
        Assert.Equal(0.0, MinHash.ExactJaccard("a b c", "x y z"), 12);
    }

    [Fact]
    public void MinHash_estimates_jaccard_within_its_standard_error()
    {
        var minHash = new MinHash(slots: 256);
        var words = Enumerable.Range(0, 200).Select(i => $"w{i}").ToArray();
        var a = string.Join(' ', words);
        // Replace every 10th word: about 70 % of the shingles of 3 survive.
        var b = string.Join(' ', words.Select((w, i) => i % 10 == 0 ? $"x{i}" : w));
        var exact = MinHash.ExactJaccard(a, b);
        var estimate = MinHash.Similarity(minHash.Signature(a), minHash.Signature(b));
        var standardError = Math.Sqrt(exact * (1 - exact) / 256);
        Assert.InRange(exact, 0.5, 0.65);
        Assert.InRange(estimate, exact - 4 * standardError, exact + 4 * standardError);
        Assert.Equal(1.0, MinHash.Similarity(minHash.Signature(a), minHash.Signature(a.ToUpperInvariant())));
        // Signatures are the same on every run: a fixed seed, no process-randomized hashing.
        Assert.Equal(minHash.Signature("one two three four"), new MinHash(slots: 256).Signature("one two three four"));
    }

    [Fact]
    public void Lsh_banding_puts_the_s_curve_below_the_threshold()
    {
        Assert.Equal((16, 8), MinHashLsh.ChooseBands(128, 0.8));
        Assert.Equal((32, 4), MinHashLsh.ChooseBands(128, 0.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => new MinHashLsh(128, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new MinHashLsh(128, 1.5));
    }

    [Fact]
    public void Lsh_finds_the_near_duplicate_pairs_and_no_others()
    {
        var minHash = new MinHash();
        var texts = new[]
        {
            "the quick brown fox jumps over the lazy dog near the river bank today",
            "completely different sentence about gradient descent and learning rates",
            "the quick brown fox jumps over the lazy dog near the river bank today!",
            "The quick brown fox jumps over the lazy dog near the river bank, today",
            "another unrelated line on parquet shards stored in blob containers",
        };
        var pairs = MinHashLsh.Pairs(texts.Select((t, i) => ((long)i, minHash.Signature(t))), minHash.Slots, 0.8);
        Assert.Equal([(0L, 2L), (0L, 3L), (2L, 3L)], pairs.Select(p => (p.A, p.B)).Order().ToArray());
        Assert.All(pairs, p => Assert.Equal(1.0, p.Similarity));
    }

    [Fact]
    public void Dhash_bits_compare_neighbouring_cells()
    {
        // A left-to-right ramp gets brighter: no cell is brighter than its right neighbour, every bit is 0.
        var ramp = new float[16 * 18];
        for (var y = 0; y < 16; y++)
        {
            for (var x = 0; x < 18; x++)
            {
                ramp[y * 18 + x] = x;
            }
        }
        Assert.Equal(0UL, PerceptualHash.OfGray(ramp, 18, 16));
        // Mirrored, every one of the 8 x 8 comparisons is "brighter": all 64 bits set.
        Assert.Equal(ulong.MaxValue, PerceptualHash.OfGray([.. ramp.Select(v => 17 - v)], 18, 16));
        Assert.Equal(64, PerceptualHash.Distance(0, ulong.MaxValue));
        Assert.Equal(2, PerceptualHash.Distance(0b1011, 0b0001 << 8 | 0b0011));
    }

    [Fact]
    public void Box_reduction_averages_the_covered_area()
    {
        // 4 x 2 pixels to 2 x 1 cells: each cell is the mean of a 2 x 2 block.
        float[] pixels = [1, 3, 10, 20, 5, 7, 30, 40];
        Assert.Equal([4f, 25f], PerceptualHash.Reduce(pixels, 4, 2, 2, 1));
        // 3 pixels to 2 cells: cell 0 covers pixel 0 and half of pixel 1.
        Assert.Equal([(0 + 0.5f * 3) / 1.5f, (0.5f * 3 + 6) / 1.5f], PerceptualHash.Reduce([0f, 3f, 6f], 3, 1, 2, 1));
    }

    [Fact]
    public void An_encoded_image_and_its_tensor_hash_alike_and_a_changed_image_does_not()
    {
        var pixels = Digit(seed: 1);
        var png = EncodePng(pixels, 28, 28);
        var fromPng = PerceptualHash.OfEncoded(png);
        var fromTensor = PerceptualHash.OfTensor([.. pixels.Select(p => p / 255f)], [28, 28]);
        Assert.NotNull(fromPng);
        Assert.True(PerceptualHash.Distance(fromPng.Value, fromTensor) <= 2, $"PNG and tensor hashes differ by {PerceptualHash.Distance(fromPng.Value, fromTensor)} bits");
        // Slightly brighter: still a near-duplicate. Another picture: far.
        var brighter = PerceptualHash.OfTensor([.. pixels.Select(p => Math.Min(255, p + 12) / 255f)], [28, 28]);
        Assert.True(PerceptualHash.Distance(fromTensor, brighter) <= 4);
        var other = PerceptualHash.OfTensor([.. Digit(seed: 7).Select(p => p / 255f)], [28, 28]);
        Assert.True(PerceptualHash.Distance(fromTensor, other) > 10, $"distance {PerceptualHash.Distance(fromTensor, other)}");
        Assert.Null(PerceptualHash.OfEncoded([1, 2, 3, 4]));
        // Channels last and channels first read the same gray plane.
        var rgb = pixels.SelectMany(p => new[] { p / 255f, p / 255f, p / 255f }).ToArray();
        var planes = Enumerable.Range(0, 3).SelectMany(_ => pixels.Select(p => p / 255f)).ToArray();
        Assert.Equal(fromTensor, PerceptualHash.OfTensor(rgb, [28, 28, 3]));
        Assert.Equal(fromTensor, PerceptualHash.OfTensor(planes, [3, 28, 28]));
        Assert.False(PerceptualHash.IsImageShape([384]));
    }

    [Fact]
    public void Hamming_index_returns_exactly_the_hashes_within_the_distance()
    {
        var random = new Random(5);
        var hashes = Enumerable.Range(0, 500).Select(_ => (ulong)random.NextInt64() ^ ((ulong)random.Next(2) << 63)).ToList();
        hashes.Add(hashes[10] ^ 0b101);          // 2 bits from item 10
        hashes.Add(hashes[20] ^ (1UL << 63) ^ 1); // 2 bits from item 20
        hashes.Add(hashes[30] ^ 0b1111111);      // 7 bits from item 30
        var index = new HammingIndex(maxDistance: 4);
        var found = new List<(long, long)>();
        for (var i = 0; i < hashes.Count; i++)
        {
            found.AddRange(index.Query(hashes[i]).Select(m => (m.Id, (long)i)));
            index.Add(i, hashes[i]);
        }
        var brute = new List<(long, long)>();
        for (var i = 0; i < hashes.Count; i++)
        {
            for (var j = 0; j < i; j++)
            {
                if (PerceptualHash.Distance(hashes[i], hashes[j]) <= 4)
                {
                    brute.Add((j, i));
                }
            }
        }
        Assert.Equal(brute.Order(), found.Order());
        Assert.Contains((10L, 500L), found);
        Assert.Contains((20L, 501L), found);
        Assert.DoesNotContain((30L, 502L), found);
    }

    /// <summary>A 28 x 28 gray picture of a few random bright strokes (0-255).</summary>
    private static float[] Digit(int seed)
    {
        var random = new Random(seed);
        var pixels = new float[28 * 28];
        for (var stroke = 0; stroke < 4; stroke++)
        {
            int x0 = random.Next(4, 24), y0 = random.Next(4, 24), x1 = random.Next(4, 24), y1 = random.Next(4, 24);
            for (var t = 0; t <= 40; t++)
            {
                var x = x0 + (x1 - x0) * t / 40;
                var y = y0 + (y1 - y0) * t / 40;
                for (var dy = -1; dy <= 1; dy++)
                {
                    for (var dx = -1; dx <= 1; dx++)
                    {
                        pixels[(y + dy) * 28 + x + dx] = 230;
                    }
                }
            }
        }
        return pixels;
    }

    private static byte[] EncodePng(float[] gray, int width, int height)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                var v = (byte)gray[y * width + x];
                bitmap.SetPixel(x, y, new SKColor(v, v, v));
            }
        }
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }
}
