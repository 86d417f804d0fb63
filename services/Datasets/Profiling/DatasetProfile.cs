namespace BigDataAI.Datasets.Profiling;

/// <summary>
/// What one dataset version holds, stored beside its manifest (<see cref="DatasetPaths.Profile"/>, create-only).
/// Exact: row, null and non-finite counts, minimum, maximum, class balance, exact duplicate rows. Approximate, with the
/// sketch's bound: distinct counts (HyperLogLog, 1.6 % standard error), quantiles and histograms (KLL, about 1.7 % of
/// rank), top values (Misra-Gries, exact when <see cref="ColumnProfile.TopValuesExact"/>), outlier counts (read from the
/// quantile sketch). Mean and standard deviation are exact up to floating-point rounding.
/// </summary>
public sealed record DatasetProfile(
    int FormatVersion,
    string Dataset,
    int Version,
    long Rows,
    IReadOnlyList<ColumnProfile> Columns,
    ClassBalance? ClassBalance,
    DuplicateReport Duplicates,
    IReadOnlyList<LeakageHint> Leakage,
    int Parts,
    DateTimeOffset CreatedAt)
{
    public const int CurrentFormat = 1;

    /// <summary>Near-duplicate rows: MinHash for the first text column, a perceptual hash for the first image column.</summary>
    public IReadOnlyList<NearDuplicateReport> NearDuplicates { get; init; } = [];
}

/// <summary>
/// One column. <see cref="Count"/> is the non-null cells (for a tensor column, its rows); <see cref="Values"/> summarizes
/// what is numeric about it: the value (int64, double, timestamp as Unix microseconds), the length in characters (string),
/// the size in bytes (binary) or every element (tensor).
/// </summary>
public sealed record ColumnProfile(
    string Name,
    string Type,
    string Role,
    long Count,
    long Nulls,
    long? Distinct,
    long NonFinite,
    NumericSummary? Values,
    IReadOnlyList<TopValue> TopValues,
    bool TopValuesExact,
    OutlierReport? Outliers);

/// <param name="Measure">value, length, bytes or element.</param>
public sealed record NumericSummary(
    string Measure,
    long Count,
    double Min,
    double Max,
    double Mean,
    double StdDev,
    IReadOnlyList<QuantileValue> Quantiles,
    IReadOnlyList<HistogramBin> Histogram);

public sealed record QuantileValue(double Q, double Value);

/// <summary>Values in [Lower, Upper) (the last bin includes Upper).</summary>
public sealed record HistogramBin(double Lower, double Upper, long Count);

/// <param name="Count">A lower bound; the exact count when the column's top values are exact.</param>
public sealed record TopValue(string Value, long Count);

/// <summary>Values outside [Lower, Upper]: Tukey's fences, 1.5 interquartile ranges beyond the quartiles.</summary>
public sealed record OutlierReport(string Method, double Lower, double Upper, long Count, IReadOnlyList<long> ExampleRows);

public sealed record ClassBalance(string Column, IReadOnlyList<ClassShare> Classes, long Unlabeled, double MajorityFraction, double ImbalanceRatio);

public sealed record ClassShare(string Class, long Count, double Fraction);

/// <summary>Rows whose cells (all but the row id) equal an earlier row's: <see cref="DuplicateRows"/> counts the repeats.</summary>
public sealed record DuplicateReport(long DuplicateRows, long Groups, IReadOnlyList<IReadOnlyList<long>> Examples);

/// <summary>
/// Pairs of near-duplicate rows in <see cref="Column"/> found by <see cref="Method"/> (minhash-jaccard: estimated Jaccard
/// similarity of word 3-shingles at least <see cref="Threshold"/>; dhash-hamming: perceptual hashes at most Threshold
/// bits apart) among the first <see cref="RowsSearched"/> rows. Exact duplicates are among the pairs.
/// </summary>
public sealed record NearDuplicateReport(string Column, string Method, double Threshold, long Pairs, long RowsSearched, IReadOnlyList<IReadOnlyList<long>> Examples);

/// <summary>
/// How well one column alone predicts the label. <see cref="Accuracy"/> is the accuracy of the best rule that looks at
/// the column only (categorical: each value's majority label; numeric: one threshold), <see cref="Baseline"/> the
/// majority class's share. Suspicious when the rule closes at least 95 % of the gap between the baseline and 1.
/// </summary>
public sealed record LeakageHint(string Column, string Method, double Accuracy, double Baseline, bool Suspicious, string Detail);
