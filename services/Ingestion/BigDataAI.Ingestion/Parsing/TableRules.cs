using System.Text;
using BigDataAI.Datasets;

namespace BigDataAI.Ingestion.Parsing;

/// <summary>
/// What every table format does once it knows its columns, so the same label column and overrides mean the same in a
/// CSV, a JSON Lines and a Parquet upload: the label column is chosen by name (a file without it is stored unlabeled, or
/// refused when the upload named it); an override's role and type win over what was inferred, and an override for a
/// column the file lacks is refused; a type the dataset's expectations declare is used where no override gives one; a
/// cell that does not fit its column's type is described the same way everywhere (<see cref="Misfit"/>: the value, the
/// type, and whether the upload or the expectations declared it); and the finished schema is checked (one label, roles
/// that fit their types).
/// </summary>
internal sealed class TableRules
{
    private const int MaxListedColumns = 20;

    private readonly Dictionary<string, ColumnHint> _hints;

    /// <param name="fileName">The name messages use.</param>
    /// <param name="labelColumn">The label column's name.</param>
    /// <param name="labelRequired">Whether a file without <paramref name="labelColumn"/> is refused rather than stored unlabeled.</param>
    /// <param name="hints">The upload's overrides, at most one per column.</param>
    /// <param name="lineNumbered">Rows are line numbers (JSON Lines), and messages say "line".</param>
    /// <param name="expectedTypes">Types the dataset's expectations declare, used for a column present in the file that no hint types.</param>
    public TableRules(string fileName, string labelColumn, bool labelRequired, IReadOnlyList<ColumnHint>? hints, bool lineNumbered = false,
        IReadOnlyDictionary<string, ColumnType>? expectedTypes = null)
    {
        ExpectedTypes = expectedTypes ?? new Dictionary<string, ColumnType>();
        ArgumentNullException.ThrowIfNull(fileName);
        ArgumentException.ThrowIfNullOrEmpty(labelColumn);
        FileName = fileName;
        LabelColumn = labelColumn;
        LabelRequired = labelRequired;
        Hints = hints ?? [];
        LineNumbered = lineNumbered;
        _hints = Hints.ToDictionary(h => h.Name, StringComparer.Ordinal);
    }

    public string FileName { get; }
    public string LabelColumn { get; }
    public bool LabelRequired { get; }
    public IReadOnlyList<ColumnHint> Hints { get; }
    public bool LineNumbered { get; }

    /// <summary>Whether <paramref name="name"/> is the column the platform keeps for each row's index (<c>_row</c>).</summary>
    public static bool IsReserved(string name) => name == DatasetSchema.RowColumn;

    /// <summary>The reason a source's <c>_row</c> is refused; <paramref name="noun"/> says what it is ("column name", "key").</summary>
    public static string ReservedReason(string noun) =>
        $"{noun} '{DatasetSchema.RowColumn}' is reserved for the row index the platform stores; rename the {(noun == "key" ? "key" : "column")}";

    public ColumnHint? HintFor(string name) => _hints.GetValueOrDefault(name);

    /// <summary>Types the dataset's expectations declare per column.</summary>
    public IReadOnlyDictionary<string, ColumnType> ExpectedTypes { get; }

    /// <summary>The type a column must have before any cell is read: the hint's, else the expectations', else null (inferred).</summary>
    public ColumnType? DeclaredType(string name) => HintFor(name)?.Type ?? (ExpectedTypes.TryGetValue(name, out var t) ? t : null);

    /// <summary>The reason code and message for a cell that does not fit its column's <paramref name="type"/>.</summary>
    public (string Reason, string Message) Misfit(string name, ColumnType type, ReadOnlySpan<byte> cell)
    {
        var by = HintFor(name)?.Type is not null ? " (the type the upload declared for this column)"
            : ExpectedTypes.ContainsKey(name) ? " (the type the dataset's expectations declare for this column)" : "";
        return (by.Contains("expectations", StringComparison.Ordinal) ? "expectation_type" : "type_mismatch",
            $"'{TextCells.Shorten(Encoding.UTF8.GetString(cell))}' is not {TextCells.Article(type)} {type.ToString().ToLowerInvariant()}{by}");
    }

    /// <summary>The override's role, else label for the label column, else feature.</summary>
    public ColumnRole RoleOf(string name) => HintFor(name)?.Role ?? (name == LabelColumn ? ColumnRole.Label : ColumnRole.Feature);

    /// <summary>
    /// Refuses a file without the label column the upload named, and an override for a column the file does not have.
    /// </summary>
    /// <param name="names">The file's columns, in order.</param>
    /// <param name="where">What holds the names, as messages say it: "the header", "the file".</param>
    /// <param name="row">The row messages name (CSV: the header, row 1), or null when no one row holds the names.</param>
    /// <param name="note">Appended to both messages, e.g. how nested keys are named.</param>
    public void CheckDeclared(IReadOnlyCollection<string> names, string where, long? row, string note = "")
    {
        var present = names.ToHashSet(StringComparer.Ordinal);
        if (LabelRequired && !present.Contains(LabelColumn))
        {
            throw Error($"{where} has no label column '{LabelColumn}' (columns: {List(names)}); name the label column, matching case{note}", row);
        }
        foreach (var hint in Hints)
        {
            if (!present.Contains(hint.Name))
            {
                throw Error($"the upload declares column '{hint.Name}', which {where} does not have (columns: {List(names)}){note}", row);
            }
        }
    }

    /// <summary>The schema of <paramref name="columns"/>, checked (<see cref="DatasetSchema.Validate"/>); a broken rule is a <see cref="DataFormatException"/>.</summary>
    public DatasetSchema Validate(IReadOnlyList<ColumnSchema> columns, long? row)
    {
        try
        {
            return new DatasetSchema(columns).Validate();
        }
        catch (ArgumentException e)
        {
            throw Error(e.Message, row);
        }
    }

    private DataFormatException Error(string reason, long? row) =>
        row is { } r ? new DataFormatException(FileName, reason, row: r, lineNumbered: LineNumbered) : DataFormatException.ForWholeFile(FileName, reason);

    private static string List(IReadOnlyCollection<string> names) =>
        string.Join(", ", names.Take(MaxListedColumns)) + (names.Count > MaxListedColumns ? ", ..." : "");
}
