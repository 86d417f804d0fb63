using System.Text.RegularExpressions;
using BigDataAI.Protos.Quality.V1;

namespace BigDataAI.Cli.Tests;

/// <summary>`bigdataai profile`'s terminal table and HTML report, from a GetProfile reply.</summary>
public sealed partial class ProfileReportTests
{
    private static readonly byte[] PngSignature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    [GeneratedRegex("data:image/png;base64,([A-Za-z0-9+/=]+)")]
    private static partial Regex EmbeddedPng();

    private static GetProfileReply Reply()
    {
        var age = new ColumnProfile
        {
            Name = "age", Type = "int64", Role = "feature", Count = 360, Nulls = 40, Distinct = 41,
            Values = new NumericSummary
            {
                Measure = "value", Count = 360, Min = 20, Max = 900, Mean = 41.77, Stddev = 45.3,
                Quantiles = { new[] { 0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1 }.Select(q => new Quantile { Q = q, Value = 20 + q * 40 }) },
                Histogram = { Enumerable.Range(0, 20).Select(b => new HistogramBin { Lower = 20 + b * 44, Upper = 64 + b * 44, Count = b == 0 ? 359 : b == 19 ? 1 : 0 }) },
            },
            TopValues = { new TopValue { Value = "20", Count = 9 } },
            TopValuesExact = true,
            Outliers = new OutlierReport { Method = "iqr-1.5", Lower = -7.5, Upper = 92.5, Count = 1, ExampleRows = { 100 } },
        };
        var city = new ColumnProfile
        {
            Name = "city", Type = "string", Role = "feature", Count = 400, Distinct = 3, TopValuesExact = true,
            Values = new NumericSummary { Measure = "length", Count = 400, Min = 4, Max = 4, Mean = 4, Histogram = { new HistogramBin { Lower = 4, Upper = 4, Count = 400 } } },
            TopValues = { new TopValue { Value = "oslo", Count = 134 }, new TopValue { Value = "lima", Count = 133 } },
        };
        return new GetProfileReply
        {
            Dataset = "people", Version = 1, Rows = 400, Parts = 1,
            Columns = { age, city },
            ClassBalance = new ClassBalance { Column = "label", MajorityFraction = 0.75, ImbalanceRatio = 3, Classes = { new ClassShare { Class = "no", Count = 100, Fraction = 0.25 }, new ClassShare { Class = "yes", Count = 300, Fraction = 0.75 } } },
            Duplicates = new DuplicateReport { DuplicateRows = 7, Groups = 7, Examples = { new RowGroup { Rows = { 0, 393 } } } },
            Leakage = { new LeakageHint { Column = "leak", Method = "value-purity", Accuracy = 1, Baseline = 0.75, Suspicious = true, Detail = "2 values" } },
            NearDuplicates = { new NearDuplicateReport { Column = "note", Method = "minhash-jaccard", Threshold = 0.8, Pairs = 7, RowsSearched = 400, Examples = { new RowGroup { Rows = { 0, 393 } } } } },
        };
    }

    [Fact]
    public void The_table_has_a_row_per_column_and_says_what_to_look_at()
    {
        using var output = new StringWriter();
        ProfileReport.Print(Reply(), output);
        var text = output.ToString();
        var lines = text.Split('\n');
        Assert.StartsWith("people v1: 400 rows, 2 columns", lines[0], StringComparison.Ordinal);
        Assert.Matches(@"^age\s+int64\s+360\s+40\s+~41\s+value\s+20\s+41\.77\s+900\s+45\.3\s+40\s+1\s+20 \(9\)", lines[3]);
        Assert.Contains("Classes of 'label': no 100 (25.0 %), yes 300 (75.0 %)", text, StringComparison.Ordinal);
        Assert.Contains("Exact duplicate rows: 7 in 7 groups, e.g. rows 0, 393", text, StringComparison.Ordinal);
        Assert.Contains("Outliers in 'age': 1 outside [-7.5, 92.5], e.g. rows 100", text, StringComparison.Ordinal);
        Assert.Contains("Possible leakage: 'leak' alone predicts the label with accuracy 100.0 %", text, StringComparison.Ordinal);
        Assert.Contains("Near-duplicates in 'note' (minhash-jaccard, threshold 0.8): 7 pairs among 400 rows", text, StringComparison.Ordinal);
    }

    [Fact]
    public void The_html_report_embeds_a_png_histogram_per_numeric_column_and_the_class_balance()
    {
        var html = ProfileReport.Html(Reply());
        var images = EmbeddedPng().Matches(html).Select(m => Convert.FromBase64String(m.Groups[1].Value)).ToList();
        // Class balance, then age and city.
        Assert.Equal(3, images.Count);
        Assert.All(images, png => Assert.Equal(PngSignature, png[..8]));
        Assert.All(images, png => Assert.True(png.Length > 2000, $"a PNG of {png.Length} bytes is (nearly) blank"));
        Assert.Contains("<h1>people v1</h1>", html, StringComparison.Ordinal);
        Assert.Contains("Leakage hints", html, StringComparison.Ordinal);
    }
}
