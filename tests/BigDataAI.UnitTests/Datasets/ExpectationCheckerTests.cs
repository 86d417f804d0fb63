using BigDataAI.Datasets;
using BigDataAI.Datasets.Expectations;

namespace BigDataAI.UnitTests.Datasets;

/// <summary>The expectations checker over shards, and the schema-change rule.</summary>
public sealed class ExpectationCheckerTests
{
    private static readonly DatasetSchema Schema = new([
        new ColumnSchema("id", ColumnType.Int64, ColumnRole.Id),
        new ColumnSchema("age", ColumnType.Double, ColumnRole.Feature),
        new ColumnSchema("kind", ColumnType.String, ColumnRole.Feature),
        new ColumnSchema("label", ColumnType.String, ColumnRole.Label),
    ]);

    private static Table Shard(long firstId, params (long? Id, double? Age, string? Kind)[] rows) => new(Schema, [
        new Column(Schema.Columns[0], rows.Select(r => r.Id).ToArray()),
        new Column(Schema.Columns[1], rows.Select(r => r.Age).ToArray()),
        new Column(Schema.Columns[2], rows.Select(r => r.Kind).ToArray()),
        new Column(Schema.Columns[3], rows.Select(_ => (string?)"x").ToArray()),
    ], [.. rows.Select((_, i) => firstId + i)]);

    private static readonly DatasetExpectations Declared = new([
        new ColumnExpectation("id") { Unique = true, NotNull = true },
        new ColumnExpectation("age") { Min = 0, Max = 120 },
        new ColumnExpectation("kind") { AllowedValues = ["a", "b"] },
    ]);

    [Fact]
    public void Each_failing_row_is_reported_once_and_uniqueness_holds_across_shards_but_not_through_failed_rows()
    {
        var checker = new ExpectationChecker(Declared, Schema);
        var first = checker.Check(Shard(0, (1, 30, "a"), (2, 130, "b"), (null, 5, "a"), (3, -1, "z")));
        var second = checker.Check(Shard(4, (2, 40, "a"), (1, 50, "b"), (4, null, null)));

        Assert.Equal([(1, 1L, "age", "max"), (2, 2, "id", "not_null"), (3, 3, "age", "min")], first.Select(v => (v.Row, v.RowId, v.Column, v.Expectation)));
        // id 2 was in a failed row (age 130): not a duplicate; id 1 was stored: a duplicate.
        Assert.Equal([(1, 5L, "id", "unique")], second.Select(v => (v.Row, v.RowId, v.Column, v.Expectation)));
        Assert.Equal("130 is above the expected maximum 120", first[0].Reason);
        Assert.Equal(7, checker.Rows);

        var observer = new ExpectationChecker(Declared, Schema);
        var refused = Assert.Throws<ExpectationException>(() => observer.Observe(Shard(10, (1, 1, "a"), (2, 2, "c"))));
        Assert.Equal("row 11, column 'kind': 'c' is not one of the expected values (a, b)", refused.Message);
    }

    [Fact]
    public void A_column_the_version_lacks_or_of_another_type_is_refused_and_a_declaration_is_checked()
    {
        var missing = Assert.Throws<ExpectationException>(() => new ExpectationChecker(new DatasetExpectations([new ColumnExpectation("weight") { NotNull = true }]), Schema));
        Assert.Contains("column 'weight'", missing.Message, StringComparison.Ordinal);
        var type = Assert.Throws<ExpectationException>(() => new ExpectationChecker(new DatasetExpectations([new ColumnExpectation("age") { Type = ColumnType.Int64 }]), Schema));
        Assert.Equal("column 'age' is double, the dataset's expectations say int64", type.Message);

        var problems = new DatasetExpectations([
            new ColumnExpectation("kind") { Min = 1 },
            new ColumnExpectation("age") { Min = 5, Max = 1 },
            new ColumnExpectation("age"),
            new ColumnExpectation("nope"),
        ]).Problems(Schema);
        Assert.Equal([
            "columns[0]: column 'kind' is string; min/max apply to int64 and double columns",
            "columns[1]: column 'age': min 5 is above max 1",
            "columns[2]: column 'age' is named twice",
            "columns[3]: the latest version has no column 'nope' (it has: id, age, kind, label)",
        ], problems);
        Assert.Empty(Declared.Problems(Schema));
    }

    [Fact]
    public void A_schema_may_add_columns_and_widen_int64_to_double_but_not_drop_rename_retype_or_change_the_label()
    {
        var widened = new DatasetSchema([.. Schema.Columns.Select(c => c.Name == "id" ? c with { Type = ColumnType.Double } : c), new ColumnSchema("new", ColumnType.Bool, ColumnRole.Feature)]);
        Assert.Empty(SchemaCompatibility.Differences(Schema, widened));

        var changed = new DatasetSchema([
            new ColumnSchema("id", ColumnType.Int64, ColumnRole.Id),
            new ColumnSchema("age", ColumnType.String, ColumnRole.Feature),
            new ColumnSchema("kinds", ColumnType.String, ColumnRole.Feature),
            new ColumnSchema("label", ColumnType.String, ColumnRole.Feature),
            new ColumnSchema("target", ColumnType.String, ColumnRole.Label),
        ]);
        Assert.Equal([
            "column 'age' changed type from double to string (only int64 to double widens)",
            "column 'kind' (string) is missing (dropped or renamed; new columns: kinds, target)",
            "the label column changed from 'label' to 'target'",
        ], SchemaCompatibility.Differences(Schema, changed));
    }
}
