using System.Text.Json;
using BigDataAI.Datasets;
using BigDataAI.Models.Features;

namespace BigDataAI.UnitTests.Models;

public sealed class FeaturePipelineTests
{
    private static readonly ColumnSchema Age = new("age", ColumnType.Int64, ColumnRole.Feature);
    private static readonly ColumnSchema City = new("city", ColumnType.String, ColumnRole.Feature);
    private static readonly ColumnSchema Member = new("member", ColumnType.Bool, ColumnRole.Feature);
    private static readonly ColumnSchema Id = new("id", ColumnType.Int64, ColumnRole.Id);
    private static readonly ColumnSchema Label = new("label", ColumnType.String, ColumnRole.Label);

    /// <summary>age: 10, 20, null, 30 (mean 20, population std 8.165); city: a a b null; member: true false null true.</summary>
    private static Table Train() => new(new DatasetSchema([Id, Age, City, Member, Label]),
    [
        new Column(Id, new long?[] { 1, 2, 3, 4 }),
        new Column(Age, new long?[] { 10, 20, null, 30 }),
        new Column(City, new string?[] { "a", "a", "b", null }),
        new Column(Member, new bool?[] { true, false, null, true }),
        new Column(Label, new string?[] { "x", "y", "x", "y" }),
    ], [0, 1, 2, 3]);

    [Fact]
    public void Fit_StandardizesWithTheTrainingSplitsStatistics_AndMarksMissingValues()
    {
        var pipeline = FeaturePipeline.Fit(Train());

        var age = Assert.IsType<NumericFeature>(pipeline.Steps[0]);
        Assert.Equal("age", age.Column);
        Assert.Equal(20, age.Mean, 12);
        Assert.Equal(Math.Sqrt(200.0 / 3), age.Scale, 12);
        Assert.True(age.MissingIndicator);
        var city = Assert.IsType<CategoricalFeature>(pipeline.Steps[1]);
        Assert.Equal(["a", "b"], city.Categories); // by frequency
        Assert.IsType<NumericFeature>(pipeline.Steps[2]);
        Assert.Equal(3, pipeline.Steps.Count); // id and label are no inputs
        Assert.Equal("label", pipeline.LabelColumn);
        Assert.Equal(2 + 3 + 2, pipeline.Width);
        Assert.Equal([7], pipeline.InputShape);

        var x = pipeline.Transform(Train());
        var z10 = (float)((10 - 20) / Math.Sqrt(200.0 / 3));
        Assert.Equal([z10, 0, 1, 0, 0], x[..5]);
        // Row 2: age missing -> the mean (0) and the indicator; city b.
        Assert.Equal([0f, 1f, 0f, 1f, 0f], x.AsSpan(2 * 7, 5).ToArray());
        // Row 3: city null -> the unknown bucket.
        Assert.Equal([0f, 0f, 1f], x.AsSpan(3 * 7 + 2, 3).ToArray());
    }

    [Fact]
    public void Transform_UsesTheFittedStatistics_NotTheNewRows()
    {
        var pipeline = FeaturePipeline.Fit(Train());
        var other = pipeline.FromCells([Row(("age", Cell.Of(20L)), ("city", Cell.Of("zürich")), ("member", Cell.Of(true)))]);

        var x = pipeline.Transform(other);

        Assert.Equal(0f, x[0]); // 20 is the training mean
        Assert.Equal(0f, x[1]);
        Assert.Equal([0f, 0f, 1f], x[2..5]); // a category never seen in training is unknown
    }

    [Fact]
    public void RawCellsOfStoredRows_GiveTheSameInputsAsTheStoredTable()
    {
        var train = Train();
        var pipeline = FeaturePipeline.Fit(train);
        var cells = Enumerable.Range(0, train.Rows)
            .Select(r => (IReadOnlyDictionary<string, Cell>)train.Columns.ToDictionary(c => c.Name, c => Cell.From(c, r)))
            .ToList();

        Assert.Equal(pipeline.Transform(train), pipeline.Transform(pipeline.FromCells(cells)));
    }

    [Fact]
    public void APipelineSurvivesJson_AndTransformsAlike()
    {
        var pipeline = FeaturePipeline.Fit(Train());
        var json = JsonSerializer.Serialize(pipeline, new JsonSerializerOptions(JsonSerializerDefaults.Web));
        var back = JsonSerializer.Deserialize<FeaturePipeline>(json, new JsonSerializerOptions(JsonSerializerDefaults.Web))!;

        Assert.Contains("\"kind\":\"categorical\"", json);
        Assert.Equal(pipeline.Transform(Train()), back.Transform(Train()));
    }

    [Fact]
    public void ALoneTensorColumn_KeepsItsShape()
    {
        var pixels = new ColumnSchema("pixels", ColumnType.Tensor, ColumnRole.Feature, Nullable: false, Shape: [2, 2]);
        var table = new Table(new DatasetSchema([pixels, Label]),
            [new Column(pixels, new float[] { 1, 2, 3, 4, 5, 6, 7, 8 }), new Column(Label, new string?[] { "x", "y" })], [0, 1]);

        var pipeline = FeaturePipeline.Fit(table);

        Assert.Equal([2, 2], pipeline.InputShape);
        Assert.Equal([1f, 2, 3, 4, 5, 6, 7, 8], pipeline.Transform(table));
    }

    [Fact]
    public void TextColumns_AreRefusedByNameUntilATextModelExists()
    {
        var text = new ColumnSchema("review", ColumnType.String, ColumnRole.Text);
        var table = new Table(new DatasetSchema([text, Label]), [new Column(text, new string?[] { "good" }), new Column(Label, new string?[] { "x" })], [0]);

        var e = Assert.Throws<ArgumentException>(() => FeaturePipeline.Fit(table));
        Assert.Contains("'review'", e.Message);
    }

    [Fact]
    public void FromCells_NamesTheRowAndColumnOfAMissingOrIllTypedCell()
    {
        var pipeline = FeaturePipeline.Fit(Train());
        Dictionary<string, Cell> Full() => new() { ["age"] = Cell.Of(41L), ["city"] = Cell.Of("a"), ["member"] = Cell.Of(false) };

        var missing = Full();
        missing.Remove("city");
        var e = Assert.Throws<ArgumentException>(() => pipeline.FromCells([Full(), missing]));
        Assert.Contains("Row 1: column 'city' is missing", e.Message);

        var fraction = Full();
        fraction["age"] = Cell.Of(41.5);
        e = Assert.Throws<ArgumentException>(() => pipeline.FromCells([fraction]));
        Assert.Contains("Row 0, column 'age': 41.5 (number) is not an integer", e.Message);

        var word = Full();
        word["member"] = Cell.Of("perhaps");
        e = Assert.Throws<ArgumentException>(() => pipeline.FromCells([word]));
        Assert.Contains("column 'member'", e.Message);

        // Text that holds a number of the column's type, a null, and cells the model does not read are all accepted.
        var lenient = Full();
        lenient["age"] = Cell.Of("41");
        lenient["city"] = Cell.Null;
        lenient["label"] = Cell.Of("x");
        lenient["unknown"] = Cell.Of(1L);
        Assert.Equal(41L, ((long?[])pipeline.FromCells([lenient])["age"].Values)[0]);
    }

    private static IReadOnlyDictionary<string, Cell> Row(params (string Name, Cell Cell)[] cells) => cells.ToDictionary(c => c.Name, c => c.Cell);
}
