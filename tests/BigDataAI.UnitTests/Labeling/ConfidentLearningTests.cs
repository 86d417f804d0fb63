using BigDataAI.Datasets;
using BigDataAI.Labeling.LabelErrors;
using BigDataAI.Storage;

namespace BigDataAI.UnitTests.Labeling;

public sealed class ConfidentLearningTests
{
    // Nine rows of three classes, worked by hand:
    //   thresholds t0 = (.9 + .8 + .1) / 3 = .6, t1 = (.85 + .7 + .1) / 3 = .55, t2 = (.9 + .8 + .4) / 3 = .7;
    //   believed: rows 0, 1 -> 0; 2 -> 1 (p1 = .8 >= .55); 3, 4 -> 1; 5 -> 2 (p2 = .8 >= .7); 6, 7 -> 2; row 8 none
    //   (.3 < .6, .3 < .55, .4 < .7); so C = [[2, 1, 0], [0, 2, 1], [0, 0, 2]].
    //   Calibrated: rows scaled to 3 labels each: [[2, 1, 0], [0, 2, 1], [0, 0, 3]]; the prune counts are its
    //   off-diagonal entries: one row given 0 believed 1, one given 1 believed 2.
    //   Given 0, margin p1 - p0: -.85, -.7, .7 -> row 2. Given 1, margin p2 - p1: -.8, -.6, .7 -> row 5.
    private static readonly long[] Rows = [0, 1, 2, 3, 4, 5, 6, 7, 8];
    private static readonly int[] Given = [0, 0, 0, 1, 1, 1, 2, 2, 2];
    private static readonly float[] Probabilities =
    [
        0.9f, 0.05f, 0.05f,
        0.8f, 0.1f, 0.1f,
        0.1f, 0.8f, 0.1f,
        0.1f, 0.85f, 0.05f,
        0.2f, 0.7f, 0.1f,
        0.1f, 0.1f, 0.8f,
        0.05f, 0.05f, 0.9f,
        0.1f, 0.1f, 0.8f,
        0.3f, 0.3f, 0.4f,
    ];

    private static ConfidentLearningResult Run(int maxRows, params (int Start, int Count)[] batches)
    {
        var counts = new ConfidentLearning.Counts(3);
        for (var pass = 1; pass <= 3; pass++)
        {
            foreach (var (start, count) in batches)
            {
                counts.Add(pass, Rows.AsSpan(start, count), Given.AsSpan(start, count), Probabilities.AsSpan(start * 3, count * 3));
            }
            counts.EndPass(pass);
        }
        return counts.Result(maxRows);
    }

    [Fact]
    public void The_hand_worked_example_gives_its_thresholds_joint_and_the_two_flipped_rows()
    {
        var result = Run(100, (0, 9));

        Assert.Equal(9, result.Rows);
        Assert.Equal([0.6, 0.55, 0.7], result.Thresholds.Select(t => Math.Round(t, 6)));
        Assert.Equal([2, 1, 0, 0, 2, 1, 0, 0, 2], result.ConfidentJoint);
        Assert.Equal(2, result.Flagged);
        Assert.Equal(2, result.Issues.Count);
        var first = result.Issues[0];
        Assert.Equal((2L, 0, 1), (first.Row, first.Given, first.Suggested));
        Assert.Equal(0.1, first.SelfConfidence, 6);
        Assert.Equal(0.8, first.SuggestedProbability, 6);
        var second = result.Issues[1];
        Assert.Equal((5L, 1, 2), (second.Row, second.Given, second.Suggested));
    }

    [Fact]
    public void Batches_in_any_cut_give_the_same_result_and_max_rows_keeps_the_most_suspect()
    {
        var whole = Run(100, (0, 9));
        var cut = Run(100, (0, 4), (4, 1), (5, 4));
        Assert.Equal(whole.ConfidentJoint, cut.ConfidentJoint);
        Assert.Equal(whole.Issues, cut.Issues);

        var top = Run(1, (0, 9));
        Assert.Equal(2, top.Flagged);
        Assert.Equal([2L], top.Issues.Select(i => i.Row));
    }

    [Fact]
    public void A_row_whose_prediction_is_its_label_is_never_flagged_though_the_joint_counts_it_off_the_diagonal()
    {
        // Rows (given; p0, p1): 0 (0; .55, .45), 1 (0; .9, .1), 2 (1; .6, .4), 3 (1; .6, .4).
        // t0 = (.55 + .9) / 2 = .725, t1 = (.4 + .4) / 2 = .4. Row 0: p0 < .725, p1 = .45 >= .4, so believed 1; row 1
        // believed 0; rows 2 and 3 believed 1 (.4 >= .4, .6 < .725). C = [[1, 1], [0, 2]]: row 0 is off the diagonal,
        // and the calibrated joint prunes one row given 0 (the one of largest p1 - p0, row 0), but row 0's most probable
        // class is its label, so cleanlab's last step unflags it.
        var counts = new ConfidentLearning.Counts(2);
        long[] rows = [0, 1, 2, 3];
        int[] given = [0, 0, 1, 1];
        float[] p = [0.55f, 0.45f, 0.9f, 0.1f, 0.6f, 0.4f, 0.6f, 0.4f];
        for (var pass = 1; pass <= 3; pass++)
        {
            counts.Add(pass, rows, given, p);
            counts.EndPass(pass);
        }
        var result = counts.Result(10);
        Assert.Equal([1, 1, 0, 2], result.ConfidentJoint);
        Assert.Equal(0, result.Flagged);
        Assert.Empty(result.Issues);
    }

    [Fact]
    public void Rows_predicted_as_their_label_take_their_place_among_the_largest_margins_before_they_are_dropped()
    {
        // Given 0: a (.9, .05, .05), b (.4, .35, .25), c (.3, .2, .5), d (.05, .9, .05); given 1: e (.05, .9, .05),
        // f (.1, .8, .1); given 2: g (.05, .05, .9), h (.1, .1, .8).
        // t = (.4125, .85, .85). Believed: a 0, d 1, e 1, g 2; b, c, f, h none. C = [[1, 1, 0], [0, 1, 0], [0, 0, 1]];
        // calibrated (4, 2, 2 labels): [[2, 2, 0], [0, 2, 0], [0, 0, 2]], so n(0, 1) = 2.
        // The two largest p1 - p0 among rows given 0: d (.85) and b (-.05); c (-.1) is third. b is predicted 0, its
        // label, so it is dropped: only d is flagged; c, though predicted 2, is not (as in cleanlab).
        var counts = new ConfidentLearning.Counts(3);
        long[] rows = [0, 1, 2, 3, 4, 5, 6, 7];
        int[] given = [0, 0, 0, 0, 1, 1, 2, 2];
        float[] p =
        [
            0.9f, 0.05f, 0.05f,
            0.4f, 0.35f, 0.25f,
            0.3f, 0.2f, 0.5f,
            0.05f, 0.9f, 0.05f,
            0.05f, 0.9f, 0.05f,
            0.1f, 0.8f, 0.1f,
            0.05f, 0.05f, 0.9f,
            0.1f, 0.1f, 0.8f,
        ];
        for (var pass = 1; pass <= 3; pass++)
        {
            counts.Add(pass, rows, given, p);
            counts.EndPass(pass);
        }
        var result = counts.Result(10);
        Assert.Equal([1, 1, 0, 0, 1, 0, 0, 0, 1], result.ConfidentJoint);
        Assert.Equal(1, result.Flagged);
        Assert.Equal([3L], result.Issues.Select(i => i.Row));
        Assert.Equal(1, result.Issues[0].Suggested);
    }

    [Fact]
    public void Prune_counts_leave_at_least_one_row_of_each_class()
    {
        // Given class 0 (2 rows) is believed 1 by both: the calibrated joint would prune both; one stays.
        var prune = ConfidentLearning.PruneCounts([0, 2, 0, 3], [2, 3], 2);
        // [true j * 2 + given i]: diagonal (0, 0) raised to 1, the noise count (true 1, given 0) lowered to 1.
        Assert.Equal([1, 0, 1, 3], prune);
    }

    [Fact]
    public async Task Streams_the_out_of_fold_files_through_the_store_one_at_a_time()
    {
        var root = Directory.CreateTempSubdirectory("bigdataai-cl-").FullName;
        try
        {
            var store = new FileSystemObjectStore(root);
            var column = new ColumnSchema(ConfidentLearning.ProbabilitiesColumn, ColumnType.Tensor, ColumnRole.Ignored, Nullable: false, Shape: [3]);
            var schema = new DatasetSchema([column]);
            var paths = new List<string>();
            foreach (var (start, count) in new[] { (0, 5), (5, 4) })
            {
                var table = new Table(schema, [new Column(column, Probabilities[(start * 3)..((start + count) * 3)])], Rows[start..(start + count)]);
                var bytes = await ParquetShards.EncodeAsync(table, 0, count);
                var path = $"jobs/x/out-of-fold/part-{paths.Count:D5}.parquet";
                await store.PutAsync(path, new MemoryStream(bytes));
                paths.Add(path);
            }
            var given = Rows.Select((r, i) => (r, Given[i])).ToDictionary(x => x.r, x => x.Item2);

            var result = await new ConfidentLearning(store).FindAsync(paths, given, 3, 100);

            Assert.Equal(Run(100, (0, 9)).Issues, result.Issues);
            Assert.Equal(9, result.Rows);
            given.Remove(8);
            var missing = await Assert.ThrowsAsync<InvalidDataException>(() => new ConfidentLearning(store).FindAsync(paths, given, 3, 100));
            Assert.Contains("row 8", missing.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
