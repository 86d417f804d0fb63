using BigDataAI.Datasets;
using BigDataAI.Datasets.Profiling;
using BigDataAI.Storage;

namespace BigDataAI.UnitTests.Datasets.Profiling;

/// <summary>A version's profile against what the generated rows are known to hold, in one piece and merged from parts.</summary>
public sealed class ProfileBuilderTests
{
    /// <summary>
    /// 1,000 rows: <c>age</c> (int64, 1 in 10 null, row 500 an outlier of 900), <c>score</c> (double, one NaN),
    /// <c>city</c> (4 cities), <c>leak</c> (the label's own text with an "x-" prefix), <c>note</c> (text), <c>pixels</c>
    /// (tensor[2x2]) and <c>label</c> (a 70/30 split of yes/no, 1 in 50 unlabeled). Rows 990-999 repeat rows 0-9 exactly.
    /// </summary>
    internal static Table Rows(int rows = 1000)
    {
        var schema = new DatasetSchema([
            new ColumnSchema("age", ColumnType.Int64, ColumnRole.Feature),
            new ColumnSchema("score", ColumnType.Double, ColumnRole.Feature),
            new ColumnSchema("city", ColumnType.String, ColumnRole.Feature),
            new ColumnSchema("leak", ColumnType.String, ColumnRole.Feature),
            new ColumnSchema("note", ColumnType.String, ColumnRole.Text),
            new ColumnSchema("pixels", ColumnType.Tensor, ColumnRole.Feature, Nullable: false, Shape: [2, 2]),
            new ColumnSchema("label", ColumnType.String, ColumnRole.Label),
        ]);
        var age = new long?[rows];
        var score = new double?[rows];
        var city = new string?[rows];
        var leak = new string?[rows];
        var note = new string?[rows];
        var pixels = new float[rows * 4];
        var label = new string?[rows];
        string[] cities = ["oslo", "lima", "pune", "kyiv"];
        for (var i = 0; i < rows; i++)
        {
            var r = i >= rows - 10 ? i - (rows - 10) : i;
            age[i] = r % 10 == 3 ? null : r == 500 ? 900 : 20 + r % 47;
            score[i] = r == 7 ? double.NaN : r * 0.5;
            city[i] = cities[r % 4];
            label[i] = r % 50 == 49 ? null : r % 10 < 7 ? "yes" : "no";
            leak[i] = label[i] is null ? null : "x-" + label[i];
            note[i] = $"note number {r}";
            for (var k = 0; k < 4; k++)
            {
                pixels[i * 4 + k] = (r + k) % 256 / 255f;
            }
        }
        var columns = new Column[]
        {
            new(schema.Columns[0], age), new(schema.Columns[1], score), new(schema.Columns[2], city), new(schema.Columns[3], leak),
            new(schema.Columns[4], note), new(schema.Columns[5], pixels), new(schema.Columns[6], label),
        };
        return new Table(schema, columns, [.. Enumerable.Range(0, rows).Select(i => (long)i)]);
    }

    [Fact]
    public void Profile_counts_what_the_rows_hold()
    {
        var table = Rows();
        var builder = new ProfileBuilder(table.Schema);
        builder.Observe(table);
        var profile = builder.Build("people", 1);

        Assert.Equal(1000, profile.Rows);
        var age = profile.Columns.Single(c => c.Name == "age");
        Assert.Equal(100, age.Nulls);
        Assert.Equal(900, age.Count);
        Assert.Equal(20, age.Values!.Min);
        Assert.Equal(900, age.Values.Max);
        Assert.InRange(age.Distinct!.Value, 46, 50); // 47 values (20..66) and 900
        Assert.Contains(500L, age.Outliers!.ExampleRows);
        Assert.Equal(1, age.Outliers.Count);

        var score = profile.Columns.Single(c => c.Name == "score");
        Assert.Equal(2, score.NonFinite); // row 7 and its repeat, row 997
        Assert.Equal(0, score.Values!.Min);

        var city = profile.Columns.Single(c => c.Name == "city");
        Assert.True(city.TopValuesExact);
        Assert.Equal(["kyiv", "lima", "oslo", "pune"], city.TopValues.Select(t => t.Value).Order());
        Assert.Equal(1000, city.TopValues.Sum(t => t.Count));
        Assert.Equal("length", city.Values!.Measure);
        Assert.Equal(4, city.Values.Min);

        var pixels = profile.Columns.Single(c => c.Name == "pixels");
        Assert.Equal("element", pixels.Values!.Measure);
        Assert.Equal(4000, pixels.Values.Count);
        Assert.Null(pixels.Distinct);

        Assert.Equal(10, profile.Duplicates.DuplicateRows);
        Assert.Equal(10, profile.Duplicates.Groups);
        Assert.Equal([0L, 990L], profile.Duplicates.Examples[0]);

        var balance = profile.ClassBalance!;
        Assert.Equal(["no", "yes"], balance.Classes.Select(c => c.Class));
        var labels = (string?[])table["label"].Values;
        Assert.Equal(labels.Count(l => l is null), balance.Unlabeled); // rows 49, 99, ..., 949: 19
        Assert.Equal(19, balance.Unlabeled);
        Assert.Equal(labels.Count(l => l == "yes"), balance.Classes.Single(c => c.Class == "yes").Count);
        Assert.Equal(labels.Count(l => l == "no"), balance.Classes.Single(c => c.Class == "no").Count);
        Assert.Equal((double)labels.Count(l => l == "yes") / labels.Count(l => l is not null), balance.MajorityFraction, 6);

        var leak = profile.Leakage.First();
        Assert.Equal("leak", leak.Column);
        Assert.Equal(1.0, leak.Accuracy);
        Assert.True(leak.Suspicious);
        Assert.DoesNotContain(profile.Leakage, h => h.Column == "city" && h.Suspicious);

        // The notes differ in their number only (one 3-word shingle each): the repeats are the only near-duplicates.
        var near = profile.NearDuplicates.Single(n => n.Column == "note");
        Assert.Equal("minhash-jaccard", near.Method);
        Assert.Equal(10, near.Pairs);
        Assert.Equal(1000, near.RowsSearched);
        Assert.Equal([0L, 990L], near.Examples[0]);
        Assert.Contains(profile.NearDuplicates, n => n.Column == "pixels" && n.Method == "dhash-hamming");

        // The histogram covers every finite value.
        Assert.Equal(score.Values.Count, score.Values.Histogram.Sum(b => b.Count));
    }

    [Fact]
    public void Parts_profiled_apart_and_merged_through_json_equal_the_whole()
    {
        var table = Rows();
        var whole = new ProfileBuilder(table.Schema);
        ProfileBuilder? merged = null;
        foreach (var (start, count) in new[] { (0, 300), (300, 450), (750, 250) })
        {
            var shard = table.Slice(start, count);
            whole.Observe(shard);
            var part = new ProfileBuilder(table.Schema);
            part.Observe(shard);
            var carried = ProfileBuilder.FromJson(part.ToJson());
            if (merged is null)
            {
                merged = carried;
            }
            else
            {
                merged.Merge(carried);
            }
        }
        var a = whole.Build("people", 1);
        var b = merged!.Build("people", 1, parts: 3);
        Assert.Equal(3, b.Parts);
        AssertSameProfile(a, b);
    }

    [Fact]
    public async Task Duplicate_rows_beyond_the_memory_bound_go_to_sorted_runs_and_give_the_in_memory_answer()
    {
        // 3,000 rows in 3 shards, 40 repeats: at most 128 pairs in memory, so the whole spills 23 local runs and each
        // part stores its runs beside it in a real (file-system) object store; the merge streams them all.
        var table = Rows(3000);
        var reference = new ProfileBuilder(table.Schema);
        reference.Observe(table);
        var expected = reference.Build("people", 1).Duplicates;
        Assert.Equal(10, expected.DuplicateRows);

        using var whole = new ProfileBuilder(table.Schema, maxPairsInMemory: 128);
        foreach (var (start, count) in new[] { (0, 1000), (1000, 1000), (2000, 1000) })
        {
            whole.Observe(table.Slice(start, count));
            Assert.InRange(whole.DuplicatePairs.Buffered, 0, 128);
        }
        Assert.Equal(23, whole.DuplicatePairs.LocalRuns);
        AssertSameDuplicates(expected, whole.Build("people", 1).Duplicates);

        var folder = Path.Combine(Path.GetTempPath(), "bigdataai-runs-" + Guid.NewGuid().ToString("N"));
        try
        {
            var objects = new FileSystemObjectStore(folder);
            var profiles = new ProfileStore(new DatasetStore(objects));
            var states = new List<string>();
            foreach (var (part, start, count) in new[] { (0, 0, 1200), (1, 1200, 900), (2, 2100, 900) })
            {
                using var builder = new ProfileBuilder(table.Schema, maxPairsInMemory: 128);
                builder.Observe(table.Slice(start, count));
                Assert.Throws<InvalidOperationException>(() => builder.ToJson());
                states.Add(await profiles.SavePartStateAsync(builder, "people", 1, part));
                Assert.All(builder.DuplicatePairs.StoredRuns, r => Assert.StartsWith(DatasetPaths.ProfilePartFolder("people", 1) + $"{part:D5}.rows-", r.Path));
            }
            // The states are objects of their own beside the runs; they name their runs and carry no pairs.
            Assert.Equal([.. Enumerable.Range(0, 3).Select(p => DatasetPaths.ProfilePartState("people", 1, p))], states);
            var texts = new List<string>();
            foreach (var path in states)
            {
                await using var stream = (await objects.OpenReadAsync(path))!;
                texts.Add(await new StreamReader(stream).ReadToEndAsync());
            }
            Assert.All(texts, json => Assert.DoesNotContain("packedHashes", json, StringComparison.Ordinal));
            Assert.All(texts, json => Assert.Contains("\"format\":2", json, StringComparison.Ordinal));
            ProfilePart Part(int p) => new("people", 1, p, 3, 0, 1, "test", states[p]);
            using var merged = await profiles.ReadPartStateAsync(Part(0));
            foreach (var p in new[] { 1, 2 })
            {
                using var part = await profiles.ReadPartStateAsync(Part(p));
                merged.Merge(part);
            }
            // A part written before the state had its own object carries it inline, and is read the same.
            using (var inline = await profiles.ReadPartStateAsync(Part(1) with { StatePath = null, State = texts[1] }))
            {
                Assert.Equal(900, inline.Rows);
            }
            // A state that went missing is named.
            var copy = DatasetPaths.ProfilePartState("people", 1, 7);
            await using (var bytes = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(texts[2])))
            {
                await objects.TryCreateAsync(copy, bytes);
            }
            await objects.DeleteAsync(copy);
            var gone = await Assert.ThrowsAsync<InvalidDataException>(() => profiles.ReadPartStateAsync(Part(2) with { Part = 7, StatePath = copy }));
            Assert.Contains(copy, gone.Message, StringComparison.Ordinal);
            Assert.Equal(3000, merged.DuplicatePairs.Rows);
            Assert.Throws<InvalidOperationException>(() => merged.Build("people", 1));
            var profile = await profiles.BuildAsync(merged, "people", 1, parts: 3);
            AssertSameDuplicates(expected, profile.Duplicates);
            AssertSameProfile(reference.Build("people", 1), profile);

            // A run that went missing is named in the error.
            var run = merged.DuplicatePairs.StoredRuns[4].Path;
            await objects.DeleteAsync(run);
            var missing = await Assert.ThrowsAsync<InvalidDataException>(async () => await profiles.BuildAsync(merged, "people", 1, parts: 3));
            Assert.Contains(run, missing.Message, StringComparison.Ordinal);
        }
        finally
        {
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }

    [Fact]
    public void A_format_one_state_with_inline_row_hashes_is_read_and_a_newer_format_is_refused()
    {
        var table = Rows();
        var first = new ProfileBuilder(table.Schema);
        first.Observe(table.Slice(0, 500));
        var second = new ProfileBuilder(table.Schema);
        second.Observe(table.Slice(500, 500));
        // Format 1 (before the runs) had no format field and every pair inline in packedHashes/packedIds.
        var old = first.ToJson().Replace("\"format\":2,", "", StringComparison.Ordinal);
        Assert.Contains("packedHashes", old, StringComparison.Ordinal);
        Assert.DoesNotContain("\"format\"", old, StringComparison.Ordinal);
        var merged = ProfileBuilder.FromJson(old);
        merged.Merge(ProfileBuilder.FromJson(second.ToJson()));
        var whole = new ProfileBuilder(table.Schema);
        whole.Observe(table);
        AssertSameProfile(whole.Build("people", 1), merged.Build("people", 1, parts: 2));

        var newer = first.ToJson().Replace("\"format\":2", "\"format\":3", StringComparison.Ordinal);
        var refused = Assert.Throws<InvalidDataException>(() => ProfileBuilder.FromJson(newer));
        Assert.Contains("format 3", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_shard_with_more_distinct_values_than_the_tally_holds_keeps_exact_fields_exact()
    {
        // 10,000 distinct int64 values and 10,000 distinct doubles in one shard: the tally flushes mid-shard twice.
        var schema = new DatasetSchema([
            new ColumnSchema("n", ColumnType.Int64, ColumnRole.Feature),
            new ColumnSchema("x", ColumnType.Double, ColumnRole.Feature),
            new ColumnSchema("label", ColumnType.String, ColumnRole.Label),
        ]);
        const int Rows = 10_000;
        var n = Enumerable.Range(0, Rows).Select(i => (long?)(i * 7919L % 100_003)).ToArray();
        var x = Enumerable.Range(0, Rows).Select(i => (double?)(i == 5 ? double.NaN : i * 0.25 - 100)).ToArray();
        var label = Enumerable.Range(0, Rows).Select(i => (string?)(i % 3 == 0 ? "a" : "b")).ToArray();
        var table = new Table(schema, [new(schema.Columns[0], n), new(schema.Columns[1], x), new(schema.Columns[2], label)], [.. Enumerable.Range(0, Rows).Select(i => (long)i)]);
        var builder = new ProfileBuilder(schema);
        builder.Observe(table);
        var profile = builder.Build("wide", 1);

        var hll = new HyperLogLog();
        foreach (var v in n)
        {
            hll.Add(StableHash.Of(v!.Value));
        }
        var column = profile.Columns[0];
        Assert.Equal(hll.Estimate(), column.Distinct);
        Assert.Equal((Rows, 0L), (column.Count, column.Nulls));
        Assert.Equal((double)n.Min()!.Value, column.Values!.Min);
        Assert.Equal((double)n.Max()!.Value, column.Values.Max);
        Assert.Equal(n.Average(v => (double)v!.Value), column.Values.Mean, 1e-6);
        Assert.False(column.TopValuesExact);
        Assert.Equal(Rows, profile.Columns[0].Values!.Histogram.Sum(b => b.Count));

        var doubles = profile.Columns[1];
        Assert.Equal(1, doubles.NonFinite);
        Assert.Equal(Rows - 1, doubles.Values!.Count);
        Assert.Equal(-100, doubles.Values.Min);
        Assert.Equal((Rows - 1) * 0.25 - 100, doubles.Values.Max);
        Assert.Equal(0, profile.Duplicates.DuplicateRows);
    }

    [Fact]
    public async Task More_runs_than_a_merge_reads_at_once_are_merged_in_passes_to_the_same_report()
    {
        // 5,000 pairs, every 7th row repeating the hash of row (i / 7): 16 pairs in memory and 3 runs open at once, so
        // 312 runs merge through passes of 3.
        var random = new Random(5);
        var hashes = new ulong[5000];
        for (var i = 0; i < hashes.Length; i++)
        {
            hashes[i] = i % 7 == 0 ? hashes[i / 7] : (ulong)random.NextInt64();
        }
        var ids = Enumerable.Range(0, hashes.Length).Select(i => (long)i).ToArray();
        using var inMemory = new DuplicateRows();
        inMemory.Add(hashes, ids);
        using var spilled = new DuplicateRows(maxPairsInMemory: 16, maxOpenRuns: 3);
        for (var i = 0; i < hashes.Length; i += 100)
        {
            spilled.Add(hashes.AsSpan(i, 100), ids.AsSpan(i, 100));
        }
        Assert.Equal(312, spilled.LocalRuns);
        var expected = await inMemory.ReportAsync(null);
        Assert.True(expected.Groups > 100, $"{expected.Groups} groups");
        AssertSameDuplicates(expected, await spilled.ReportAsync(null));
    }

    private static void AssertSameDuplicates(DuplicateReport expected, DuplicateReport actual)
    {
        Assert.Equal(expected.DuplicateRows, actual.DuplicateRows);
        Assert.Equal(expected.Groups, actual.Groups);
        Assert.Equal(expected.Examples.Select(e => string.Join(",", e)), actual.Examples.Select(e => string.Join(",", e)));
    }

    /// <summary>Exact fields equal; means and deviations to rounding; quantiles (exact below the sketch's first compaction) equal.</summary>
    internal static void AssertSameProfile(DatasetProfile a, DatasetProfile b)
    {
        Assert.Equal(a.Rows, b.Rows);
        Assert.Equal(a.Columns.Count, b.Columns.Count);
        for (var i = 0; i < a.Columns.Count; i++)
        {
            var (x, y) = (a.Columns[i], b.Columns[i]);
            Assert.Equal(x.Name, y.Name);
            Assert.Equal(x.Count, y.Count);
            Assert.Equal(x.Nulls, y.Nulls);
            Assert.Equal(x.Distinct, y.Distinct);
            Assert.Equal(x.NonFinite, y.NonFinite);
            Assert.Equal(x.TopValuesExact, y.TopValuesExact);
            if (x.TopValuesExact)
            {
                // Inexact top values (more distinct values than counters) are lower bounds that depend on the order of merging.
                Assert.Equal(x.TopValues, y.TopValues);
            }
            Assert.Equal(x.Values is null, y.Values is null);
            if (x.Values is { } xv && y.Values is { } yv)
            {
                Assert.Equal(xv.Count, yv.Count);
                Assert.Equal(xv.Min, yv.Min);
                Assert.Equal(xv.Max, yv.Max);
                Assert.Equal(xv.Mean, yv.Mean, 1e-9 * Math.Max(1, Math.Abs(xv.Mean)));
                Assert.Equal(xv.StdDev, yv.StdDev, 1e-9 * Math.Max(1, xv.StdDev));
                Assert.Equal(xv.Quantiles.Count, yv.Quantiles.Count);
                for (var q = 0; q < xv.Quantiles.Count; q++)
                {
                    // A quantile may differ once the sketch compacts: by at most 2 % of rank, i.e. the value at q +- 0.02.
                    if (xv.Count <= 100)
                    {
                        Assert.Equal(xv.Quantiles[q].Value, yv.Quantiles[q].Value);
                    }
                }
            }
            Assert.Equal(x.Outliers?.ExampleRows, y.Outliers?.ExampleRows);
        }
        Assert.Equal(a.ClassBalance, b.ClassBalance, (p, q) => p!.Column == q!.Column && p.Unlabeled == q.Unlabeled && p.Classes.SequenceEqual(q.Classes));
        Assert.Equal(a.Duplicates.DuplicateRows, b.Duplicates.DuplicateRows);
        Assert.Equal(a.Duplicates.Groups, b.Duplicates.Groups);
        Assert.Equal(a.Duplicates.Examples.Select(e => string.Join(",", e)), b.Duplicates.Examples.Select(e => string.Join(",", e)));
        Assert.Equal(a.Leakage.Select(h => (h.Column, h.Method, h.Suspicious)), b.Leakage.Select(h => (h.Column, h.Method, h.Suspicious)));
        Assert.Equal(a.NearDuplicates.Select(n => (n.Column, n.Pairs, n.RowsSearched)), b.NearDuplicates.Select(n => (n.Column, n.Pairs, n.RowsSearched)));
        Assert.Equal(a.NearDuplicates.SelectMany(n => n.Examples).Select(e => string.Join(",", e)), b.NearDuplicates.SelectMany(n => n.Examples).Select(e => string.Join(",", e)));
    }
}
