using System.Text;
using BigDataAI.Datasets;
using BigDataAI.Ingestion.Parsing;
using static BigDataAI.UnitTests.Ingestion.TestFiles;

namespace BigDataAI.UnitTests.Ingestion;

public sealed class JsonLinesParserTests
{
    private static Table Parse(string text, string label = "label", bool labelRequired = false, params ColumnHint[] hints) =>
        JsonLinesParser.Parse(Stream(Utf8(text)), "data.jsonl", label, labelRequired, hints);

    private static DataFormatException Refused(string text, string label = "label", bool labelRequired = false, params ColumnHint[] hints) =>
        Assert.Throws<DataFormatException>(() => Parse(text, label, labelRequired, hints));

    private static IEnumerable<string?> Texts(Column column) => (string?[])column.Values;

    [Fact]
    public void EachKeyGetsItsTypeFromAllLines_AndMissingKeysAndNullsAreNulls()
    {
        var table = Parse(
            """
            {"n": 1, "x": 1.5, "flag": true, "when": "2024-01-02", "city": "Oslo", "mixed": 1, "label": "cat"}
            {"n": null, "x": 2, "flag": false, "when": "2024-01-02T03:04:05Z", "city": "NA", "mixed": "two", "label": "dog", "late": 7}
            {"n": -3, "flag": null, "when": "2024-01-02 03:04:05.25+02:00", "mixed": true, "nothing": null}
            """);

        Assert.Equal(
            [("n", ColumnType.Int64, true), ("x", ColumnType.Double, true), ("flag", ColumnType.Bool, true), ("when", ColumnType.Timestamp, false),
             ("city", ColumnType.String, true), ("mixed", ColumnType.String, false), ("label", ColumnType.String, true), ("late", ColumnType.Int64, true),
             ("nothing", ColumnType.String, true)],
            table.Schema.Columns.Select(c => (c.Name, c.Type, c.Nullable)));
        Assert.Equal([1L, null, -3L], (long?[])table["n"].Values);
        Assert.Equal([1.5, 2.0, null], (double?[])table["x"].Values);
        Assert.Equal([true, false, null], (bool?[])table["flag"].Values);
        Assert.Equal(
            [new DateTime(2024, 1, 2, 0, 0, 0, DateTimeKind.Utc), new DateTime(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc), new DateTime(2024, 1, 2, 1, 4, 5, 250, DateTimeKind.Utc)],
            (DateTime?[])table["when"].Values);
        Assert.Equal(["Oslo", "NA", null], Texts(table["city"])); // a JSON string "NA" is text; JSON null is the null
        Assert.Equal(["1", "two", "true"], Texts(table["mixed"])); // several kinds: a string column of their JSON text
        Assert.Equal([null, 7L, null], (long?[])table["late"].Values);
        Assert.Equal([null, null, null], Texts(table["nothing"]));
        Assert.Equal(("label", ColumnRole.Label), (table.Schema.Label!.Name, table.Schema.Label.Role));
        Assert.Equal(["cat", "dog"], table.DistinctClasses());
        Assert.All(table.Schema.Columns.Where(c => c.Name != "label"), c => Assert.Equal(ColumnRole.Feature, c.Role));
        Assert.Equal([0L, 1L, 2L], table.RowIds);
    }

    [Fact]
    public void NumbersAreInt64OnlyWhenEveryOneIsAnIntegerThatFits()
    {
        var table = Parse("""
            {"a": 1, "b": 1, "c": 1, "d": 9223372036854775807, "label": 10}
            {"a": 2.0, "b": 1e3, "c": 100000000000000000000, "d": -9223372036854775808, "label": 9}
            {"a": 3, "b": 2, "c": 3, "d": 0, "label": 2}
            """);

        Assert.Equal([ColumnType.Double, ColumnType.Double, ColumnType.Double, ColumnType.Int64, ColumnType.Int64], table.Schema.Columns.Select(c => c.Type));
        Assert.Equal([1.0, 2.0, 3.0], (double?[])table["a"].Values);
        Assert.Equal([1.0, 1000.0, 2.0], (double?[])table["b"].Values);
        Assert.Equal([1e20], ((double?[])table["c"].Values).Skip(1).Take(1));
        Assert.Equal([long.MaxValue, long.MinValue, 0L], (long?[])table["d"].Values);
        Assert.Equal(["2", "9", "10"], table.DistinctClasses()); // integer labels in numeric order, as for CSV
    }

    [Fact]
    public void NestedObjectsAreFlattenedWithDottedNames_InTheOrderKeysFirstAppear()
    {
        var table = Parse("""
            {"id": 1, "address": {"city": "Oslo", "geo": {"lat": 59.9}}}
            {"id": 2, "address": null, "tags": {"new": true}}
            {"id": 3, "address": {"geo": {"lat": 60.4, "lon": 5.3}, "city": "Bergen"}}
            """);

        // "address" itself is null wherever it appears and an object elsewhere: no column of its own.
        Assert.Equal(["id", "address.city", "address.geo.lat", "tags.new", "address.geo.lon"], table.Schema.Columns.Select(c => c.Name));
        Assert.Equal(["Oslo", null, "Bergen"], Texts(table["address.city"]));
        Assert.Equal([59.9, null, 60.4], (double?[])table["address.geo.lat"].Values);
        Assert.Equal([null, true, null], (bool?[])table["tags.new"].Values);
        Assert.Equal([null, null, 5.3], (double?[])table["address.geo.lon"].Values);
        Assert.Null(table.Schema.Label);
    }

    [Fact]
    public void AnArrayOfNumbersOfOneLengthOnEveryLine_IsATensorColumn()
    {
        var table = Parse("""
            {"embedding": [1, 2.5, -3], "label": "a"}
            {"embedding": [4e-1, 5, 6], "label": "b"}
            """);

        var column = table["embedding"];
        Assert.Equal((ColumnType.Tensor, false, ColumnRole.Feature), (column.Schema.Type, column.Schema.Nullable, column.Schema.Role));
        Assert.Equal([3], column.Schema.Shape!);
        Assert.Equal([1f, 2.5f, -3f, 0.4f, 5f, 6f], (float[])column.Values);
    }

    public static TheoryData<string, long, string, string> RefusedArrays => new()
    {
        { "{\"v\": [1, 2]}\n{\"v\": [1, \"x\"]}\n", 2, "v", "element 2 is a string" },
        { "{\"v\": [[1, 2], [3, 4]]}\n", 1, "v", "element 1 is an array" },
        { "{\"v\": [\"a\", \"b\"]}\n", 1, "v", "element 1 is a string" },
        { "{\"v\": [1, null]}\n", 1, "v", "element 2 is null" },
        { "{\"v\": [{\"a\": 1}]}\n", 1, "v", "element 1 is an object" },
        { "{\"v\": []}\n", 1, "v", "empty array" },
        { "{\"v\": [1, 2]}\n{\"v\": [1, 2, 3]}\n", 2, "v", "an array of 3 numbers here but of 2 on line 1" },
        { "{\"v\": [1, 2]}\n{\"v\": null}\n", 2, "v", "missing or null on this line" },
        { "{\"v\": [1, 2]}\n{\"w\": 1}\n{\"v\": [3, 4]}\n", 2, "v", "missing or null on this line" },
        { "{\"v\": [1, 2]}\n{\"w\": 1}\n", 2, "v", "missing or null on this line" },
        { "{\"w\": 1}\n{\"v\": [1, 2]}\n", 1, "v", "missing or null on this line" },
        { "{\"v\": 1}\n{\"v\": [1, 2]}\n", 2, "v", "an array here but a number on line 1" },
        { "{\"v\": [1, 2]}\n{\"v\": \"x\"}\n", 2, "v", "a string here but an array of numbers on line 1" },
        { "{\"v\": [1e300]}\n", 1, "v", "too large for a tensor of floats" },
        { "{\"a\": {\"v\": [1, \"x\"]}}\n", 1, "a.v", "element 2 is a string" },
    };

    [Theory]
    [MemberData(nameof(RefusedArrays))]
    public void AnyOtherArray_IsRefusedNamingTheLineAndKey(string text, long line, string key, string reason)
    {
        var e = Refused(text);

        Assert.Equal((line, key), (e.Row, e.Column));
        Assert.Contains(reason, e.Message);
        Assert.StartsWith($"data.jsonl: line {line}, column '{key}': ", e.Message);
    }

    [Theory]
    [InlineData("{\"a\": 1}\n{\"a\": }\n", 2, 9 + 6, "at byte 6 of the line")]
    [InlineData("{\"a\": 1}\n{\"a\": 1,}\n", 2, 9 + 8, "at byte 8 of the line")]
    [InlineData("{\"a\": 1} {\"a\": 2}\n", 1, 9, "at byte 9 of the line")]
    [InlineData("{\"a\": 1}\n\n{\"a\": 1\n", 3, 9 + 1 + 7, "line 3 is not valid JSON")]
    [InlineData("{'a': 1}\n", 1, 1, "at byte 1 of the line")]
    [InlineData("{\"a\": 1 // note\n}\n", 1, 8, "at byte 8 of the line")]
    public void InvalidJson_NamesTheLineAndByteOffset(string text, long line, long offset, string reason)
    {
        var e = Refused(text);

        Assert.Equal((line, offset), (e.Row, e.ByteOffset));
        Assert.Contains(reason, e.Message);
        Assert.StartsWith($"data.jsonl: line {line} (byte offset {offset}): line {line} is not valid JSON", e.Message);
    }

    [Theory]
    [InlineData("{\"a\": 1}\n[1, 2]\n", 2, "an array, not a JSON object")]
    [InlineData("42\n", 1, "a number, not a JSON object")]
    [InlineData("\"text\"\n", 1, "a string, not a JSON object")]
    [InlineData("null\n", 1, "null, not a JSON object")]
    public void ALineThatIsNotAnObject_IsRefused(string text, long line, string reason)
    {
        var e = Refused(text);

        Assert.Equal(line, e.Row);
        Assert.Null(e.Column);
        Assert.Contains(reason, e.Message);
    }

    [Theory]
    [InlineData("{\"a\": 1, \"b\": 2, \"a\": 3}\n", "a")]
    [InlineData("{\"x\": {\"a\": 1, \"a\": 2}}\n", "x.a")]
    [InlineData("{\"a.b\": 1, \"a\": {\"b\": 2}}\n", "a.b")]
    [InlineData("{\"a\": {\"x\": 1}, \"a\": {\"y\": 2}}\n", "a")]
    [InlineData("{\"a\": 1, \"a\": {\"y\": 2}}\n", "a")]
    [InlineData("{\"a\": {\"y\": 2}, \"a\": 1}\n", "a")]
    public void AKeyTwiceInOneObject_IsRefused(string text, string key)
    {
        var e = Refused("{\"a\": 0}\n" + text);

        Assert.Equal((2L, key), (e.Row, e.Column));
        Assert.Contains($"key '{key}' appears twice", e.Message);
    }

    [Fact]
    public void TheKeyRow_AndEmptyKeys_AreRefused()
    {
        var reserved = Refused("{\"a\": 1}\n{\"_row\": 5}\n");
        Assert.Equal((2L, "_row"), (reserved.Row, reserved.Column));
        Assert.Contains("reserved for the row index", reserved.Message);

        var empty = Refused("{\"a\": {\"\": 1}}\n");
        Assert.Equal(1, empty.Row);
        Assert.Contains("under 'a' has an empty key", empty.Message);
    }

    [Fact]
    public void MoreThan10000Columns_IsRefusedOnTheLineThatBringsThem()
    {
        var wide = new StringBuilder("{\"k0\": 0}\n{");
        for (var k = 0; k <= JsonLinesParser.MaxColumns; k++)
        {
            wide.Append(k == 0 ? "" : ", ").Append("\"k").Append(k).Append("\": 1");
        }
        var e = Refused(wide.Append("}\n").ToString());

        Assert.Equal((2L, "k10000"), (e.Row, e.Column));
        Assert.Contains("at most 10,000 columns", e.Message);

        Assert.Equal(JsonLinesParser.MaxColumns, Parse(wide.ToString().Replace(", \"k10000\": 1", "")).Schema.Columns.Count);
    }

    [Fact]
    public void BlankLinesAreSkippedButCounted_CrLfAndAByteOrderMarkAreRead_AndGzipIsRecognised()
    {
        var text = "\uFEFF{\"a\": 1, \"label\": \"x\"}\r\n\r\n   \n{\"a\": 2, \"label\": \"y\"}\r\n\n";
        var table = JsonLinesParser.Parse(Stream(Gzip(Utf8(text))), "data.jsonl");
        Assert.Equal([1L, 2L], (long?[])table["a"].Values);
        Assert.Equal([0L, 1L], table.RowIds);

        var e = Refused("{\"a\": 1}\n\n\n{\"a\": 2, \"a\": 3}\n");
        Assert.Equal(4, e.Row);
    }

    [Fact]
    public void ATrickleOfBytesReadsTheSameAsOneBlock()
    {
        var lines = string.Concat(Enumerable.Range(0, 500).Select(i => $"{{\"i\": {i}, \"s\": \"{new string('x', i % 37)}\", \"v\": [{i}, 1]}}\n"));
        var table = JsonLinesParser.Parse(new TrickleStream(Utf8(lines), 7), "data.jsonl");

        Assert.Equal(Enumerable.Range(0, 500).Select(i => (long?)i), (long?[])table["i"].Values);
        Assert.Equal(new string('x', 499 % 37), Texts(table["s"]).Last());
        Assert.Equal(1000, table["v"].Values.Length);
    }

    [Fact]
    public void InvalidUtf8_NamesTheLineAndOffset()
    {
        var bytes = Utf8("{\"a\": \"ok\"}\n{\"a\": \"bad\"}\n");
        bytes[12 + 7] = 0xFF; // the 'b' of "bad"
        var e = Assert.Throws<DataFormatException>(() => JsonLinesParser.Parse(Stream(bytes), "data.jsonl"));

        Assert.Equal((2L, 19L), (e.Row, e.ByteOffset));
        Assert.Contains("not valid UTF-8", e.Message);
    }

    [Fact]
    public void AnEmptyFile_IsRefused()
    {
        var e = Refused("\n  \n");
        Assert.Equal(1, e.Row);
        Assert.Contains("no JSON object", e.Message);
    }

    [Fact]
    public void TheLabelColumnAndHints_WorkAsForCsv()
    {
        var table = Parse("""
            {"id": 7, "zip": "00123", "n": 5, "note": "hi", "species": "cat", "v": [1, 2]}
            {"id": 8, "zip": "04000", "n": 6, "note": "bye", "species": null, "v": [3, 4]}
            """, label: "species", labelRequired: true,
            new ColumnHint("id", ColumnRole.Id), new ColumnHint("n", Type: ColumnType.String), new ColumnHint("zip", Type: ColumnType.Int64),
            new ColumnHint("note", ColumnRole.Ignored), new ColumnHint("v", ColumnRole.Ignored));

        Assert.Equal(ColumnRole.Id, table["id"].Schema.Role);
        Assert.Equal(["5", "6"], Texts(table["n"]));
        Assert.Equal([123L, 4000L], (long?[])table["zip"].Values); // a declared type reads the string as a CSV cell
        Assert.Equal(ColumnRole.Ignored, table["note"].Schema.Role);
        Assert.Equal(ColumnRole.Ignored, table["v"].Schema.Role);
        Assert.Equal(("species", ColumnRole.Label), (table.Schema.Label!.Name, table.Schema.Label.Role));
        Assert.Equal(["cat"], table.DistinctClasses());
        Assert.Equal([0L, -1L], table.ClassIndices(table.DistinctClasses())); // a null label is an unlabeled row
    }

    [Fact]
    public void AValueThatDoesNotFitItsDeclaredType_NamesLineKeyValueAndType()
    {
        var e = Refused("{\"age\": \"41\"}\n\n{\"age\": \"forty\"}\n", hints: new ColumnHint("age", Type: ColumnType.Int64));

        Assert.Equal((3L, "age"), (e.Row, e.Column));
        Assert.StartsWith("data.jsonl: line 3, column 'age': 'forty' is not an int64 (the type the upload declared for this column)", e.Message);
    }

    [Fact]
    public void MissingLabelColumns_UnknownHints_TypedTensors_AndTwoLabels_AreRefused()
    {
        var label = Refused("{\"a\": 1, \"b\": {\"c\": 2}}\n", label: "species", labelRequired: true);
        Assert.Equal((null, null), (label.Row, label.Column));
        Assert.Equal("data.jsonl: the file has no label column 'species' (columns: a, b.c); name the label column, matching case; nested keys are named with dots, as in 'address.city'", label.Message);

        var hint = Refused("{\"a\": 1}\n", hints: new ColumnHint("b", ColumnRole.Id));
        Assert.Contains("the upload declares column 'b', which the file does not have (columns: a)", hint.Message);

        var tensor = Refused("{\"v\": [1, 2]}\n", hints: new ColumnHint("v", Type: ColumnType.String));
        Assert.Equal((null, "v"), (tensor.Row, tensor.Column));
        Assert.Contains("arrays of 2 numbers (a tensor column); declare only its role", tensor.Message);

        var twoLabels = Refused("{\"a\": 1, \"label\": \"x\"}\n", hints: new ColumnHint("a", ColumnRole.Label));
        Assert.Contains("Only one column may be the label", twoLabels.Message);

        var tensorLabel = Refused("{\"label\": [1, 2]}\n");
        Assert.Contains("cannot be the label", tensorLabel.Message);
    }

    [Theory]
    [InlineData("{\"a\": \"ok\"}\n{\"a\": \"\\ud800\"}\n")]
    [InlineData("{\"a\": \"ok\"}\n{\"\\udc00\": 1}\n")]
    public void AnEscapeThatIsNoCharacter_IsRefusedNamingTheLine(string text)
    {
        var e = Refused(text);

        Assert.Equal(2, e.Row);
        Assert.Contains("line 2 holds a string that is not valid text", e.Message);
    }

    [Fact]
    public void EscapedKeysAndStringsAreUnescaped()
    {
        var table = Parse("{\"caf\\u00e9\": \"a\\\"b\\nc\", \"t\": \"\\u2603\"}\n");

        Assert.Equal(["café", "t"], table.Schema.Columns.Select(c => c.Name));
        Assert.Equal(["a\"b\nc"], Texts(table["café"]));
        Assert.Equal(["\u2603"], Texts(table["t"]));
    }
}
