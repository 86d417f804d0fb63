using BigDataAI.Labeling.Rules;

namespace BigDataAI.UnitTests.Labeling;

public sealed class VoteMatrixTests
{
    [Theory]
    [InlineData(2, 1)]
    [InlineData(127, 1)]
    [InlineData(128, 2)]
    [InlineData(1000, 2)]
    public void Votes_take_one_byte_a_cell_below_128_classes_and_two_above_and_read_back_as_written(int classes, int bytesPerCell)
    {
        var votes = new VoteMatrix(rows: 5, functions: 3, classes);
        Assert.Equal(5 * 3 * bytesPerCell, votes.Bytes);
        Assert.All(Enumerable.Range(0, 15), n => Assert.Equal(LabelModel.Abstain, votes[n / 3, n % 3]));
        votes[4, 2] = classes - 1;
        votes[0, 0] = 0;
        Assert.Equal((classes - 1, 0, LabelModel.Abstain), (votes[4, 2], votes[0, 0], votes[2, 1]));
    }

    [Fact]
    public void Shards_copy_in_at_their_row_offset_and_cells_outside_are_refused()
    {
        var votes = new VoteMatrix(rows: 4, functions: 2, classes: 3);
        votes.CopyFrom(new[,] { { 0, 1 }, { 2, -1 } }, firstRow: 2);
        Assert.Equal([-1, -1, -1, -1, 0, 1, 2, -1], Enumerable.Range(0, 8).Select(n => votes[n / 2, n % 2]));
        Assert.Throws<ArgumentOutOfRangeException>(() => votes.CopyFrom(new[,] { { 0, 1 } }, firstRow: 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => votes[4, 0]);
        Assert.Throws<ArgumentOutOfRangeException>(() => votes[0, 0] = 200);
    }

    [Fact]
    public void Gold_labels_hold_each_rows_distinct_classes_in_order_and_nothing_for_rows_without()
    {
        var gold = new GoldLabels(4);
        gold.Add([2, 0, 2]);
        gold.Add(null);
        gold.Add([1]);
        gold.Add([]);
        Assert.Equal(4, gold.Rows);
        Assert.Equal([0, 2], gold.Of(0).ToArray());
        Assert.False(gold.Has(1));
        Assert.False(gold.Has(3));
        Assert.True(gold.Contains(2, 1) && !gold.Contains(2, 0));
        Assert.True(gold.IsExactly(0, [0, 2]));
        Assert.False(gold.IsExactly(0, [0]));
        Assert.False(gold.IsExactly(1, []));
    }
}
