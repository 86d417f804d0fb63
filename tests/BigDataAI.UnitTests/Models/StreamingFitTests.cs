using System.Text.Json;
using BigDataAI.Datasets;
using BigDataAI.Models.Features;

namespace BigDataAI.UnitTests.Models;

/// <summary><see cref="StreamingFit"/>: the features fitted shard by shard are those fitted on all rows at once.</summary>
public sealed class StreamingFitTests
{
    private static readonly ColumnSchema Age = new("age", ColumnType.Double, ColumnRole.Feature);
    private static readonly ColumnSchema City = new("city", ColumnType.String, ColumnRole.Feature);
    private static readonly ColumnSchema Notes = new("notes", ColumnType.String, ColumnRole.Text);
    private static readonly ColumnSchema Pixels = new("pixels", ColumnType.Tensor, ColumnRole.Feature, Nullable: false, Shape: [2, 2]);
    private static readonly ColumnSchema Label = new("label", ColumnType.String, ColumnRole.Label);

    private static Table Rows(int rows)
    {
        var random = new Random(4);
        var words = new[] { "alpha", "beta", "gamma", "delta", "epsilon" };
        return new Table(new DatasetSchema([Age, City, Notes, Pixels, Label]),
        [
            new Column(Age, Enumerable.Range(0, rows).Select(r => r % 11 == 0 ? (double?)null : 1e6 + random.NextDouble() * 50).ToArray()),
            new Column(City, Enumerable.Range(0, rows).Select(r => r % 13 == 0 ? null : $"city{random.Next(80)}").ToArray()),
            new Column(Notes, Enumerable.Range(0, rows).Select(r => (string?)string.Join(' ', Enumerable.Range(0, 5).Select(_ => words[random.Next(words.Length)]))).ToArray()),
            new Column(Pixels, Enumerable.Range(0, rows * 4).Select(i => (float)i).ToArray()),
            new Column(Label, Enumerable.Range(0, rows).Select(r => (string?)(r % 3 == 0 ? "x" : "y")).ToArray()),
        ], [.. Enumerable.Range(0, rows).Select(r => (long)r)]);
    }

    private static async IAsyncEnumerable<Table> Shards(Table table, int size)
    {
        for (var start = 0; start < table.Rows; start += size)
        {
            await Task.Yield();
            yield return table.Slice(start, Math.Min(size, table.Rows - start));
        }
    }

    [Theory]
    [InlineData(TextEncoding.Tokens)]
    [InlineData(TextEncoding.MiniLm)]
    public async Task Fitting_shard_by_shard_gives_the_pipeline_fitting_every_row_at_once_gives(TextEncoding text)
    {
        var table = Rows(1000);

        var whole = FeaturePipeline.Fit(table, text);
        var streamed = await StreamingFit.FitAsync(Shards(table, 97), text);

        Assert.Equal(JsonSerializer.Serialize(whole), JsonSerializer.Serialize(streamed));
    }

    [Fact]
    public async Task A_split_with_no_shards_or_a_text_column_a_model_cannot_read_is_refused()
    {
        Assert.Contains("no shards", (await Assert.ThrowsAsync<ArgumentException>(() => StreamingFit.FitAsync(Shards(Rows(0), 10)))).Message);
        Assert.Contains("Column 'notes' is text", (await Assert.ThrowsAsync<ArgumentException>(() => StreamingFit.FitAsync(Shards(Rows(10), 4)))).Message);
    }
}
