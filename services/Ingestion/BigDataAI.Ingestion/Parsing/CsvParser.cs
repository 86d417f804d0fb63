using BigDataAI.Datasets;
using System.Globalization;
using System.Text;

namespace BigDataAI.Ingestion.Parsing;

/// <summary>
/// Reads a CSV upload (one header row, numeric feature columns, one label column) into a <see cref="DatasetTable"/>,
/// streaming: memory is the result plus one row and a 64 KB buffer (plus, while the row count is unknown, the
/// rows in 4 MB chunks that are copied once at the end).
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>UTF-8, with or without a byte order mark; gzip-compressed data is recognised by its magic bytes.</item>
/// <item>Comma separator; RFC 4180 quoting (a cell in double quotes may hold commas, line breaks and "" for one
/// quote). Nothing is trimmed except one CR before each line end, so header names and labels are taken verbatim
/// and the label column name is matched case-sensitively.</item>
/// <item>Every column except the label column is a feature and must hold a finite number in invariant culture
/// (<c>1</c>, <c>-2.5</c>, <c>1e-3</c>; spaces around a number are tolerated, NaN and Infinity are not).</item>
/// <item>Rows are numbered from 1 with the header as row 1, so the first data row is row 2 (what a spreadsheet
/// shows). Blank lines at the end of the file are ignored; a blank line followed by more data is an error
/// (it usually means a damaged file, and silently skipping it would hide that).</item>
/// <item>Classes are the distinct labels, sorted numerically when all of them are numbers (so "10" comes after
/// "9"), otherwise by ordinal string order; a row's label is the index of its class.</item>
/// </list>
/// </remarks>
public static class CsvParser
{
    public const string DefaultLabelColumn = "label";

    private const int MaxShownValueChars = 40;
    private const int MaxListedColumns = 20;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static DatasetTable Parse(Stream data, string fileName, string labelColumn = DefaultLabelColumn, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(fileName);
        ArgumentException.ThrowIfNullOrEmpty(labelColumn);

        using var input = ParserInput.Open(data, fileName);
        var reader = new CsvRecordReader(input, fileName, cancellationToken);
        reader.SkipByteOrderMark();
        if (!reader.ReadRecord())
        {
            throw new DataFormatException(fileName,
                $"the file is empty; a CSV upload needs a header row naming its columns (one of them '{labelColumn}') and at least one data row",
                row: 1);
        }
        var header = ReadHeader(reader, fileName, labelColumn, out var labelIndex);
        reader.ColumnNames = header;

        var featureCount = header.Length - 1;
        var featureNames = new string[featureCount];
        for (int c = 0, f = 0; c < header.Length; c++)
        {
            if (c != labelIndex)
            {
                featureNames[f++] = header[c];
            }
        }

        var features = new FloatRowBuffer(featureCount);
        var labelIds = new List<int>();
        var classIds = new Dictionary<string, int>(StringComparer.Ordinal);
        var classLookup = classIds.GetAlternateLookup<ReadOnlySpan<char>>();
        var classNames = new List<string>();
        var chars = new char[256];
        long? blankRow = null;

        while (reader.ReadRecord())
        {
            if (reader.IsBlank)
            {
                blankRow ??= reader.Row;
                continue;
            }
            if (blankRow is { } blank)
            {
                throw new DataFormatException(fileName,
                    $"the row is blank; blank lines are only allowed at the end of the file (row {reader.Row} after it has data)",
                    row: blank);
            }
            if (reader.CellCount != header.Length)
            {
                throw new DataFormatException(fileName,
                    $"expected {header.Length} cells (one per header column) but found {reader.CellCount}",
                    row: reader.Row);
            }
            if (features.Rows >= features.MaxRows)
            {
                throw new DataFormatException(fileName,
                    $"too many rows: one data set holds at most {features.MaxRows} rows of {featureCount} features; split the file",
                    row: reader.Row);
            }

            var row = features.AppendRow();
            var next = 0;
            for (var c = 0; c < header.Length; c++)
            {
                if (c == labelIndex)
                {
                    continue;
                }
                var cell = reader.Cell(c);
                if (!TryParseFeature(cell, out var value))
                {
                    throw new DataFormatException(fileName, DescribeBadNumber(cell), row: reader.Row, column: header[c]);
                }
                row[next++] = value;
            }

            var label = reader.Cell(labelIndex);
            if (label.IsEmpty)
            {
                throw new DataFormatException(fileName, "the label is empty; every row needs a class label", row: reader.Row, column: header[labelIndex]);
            }
            var maxChars = StrictUtf8.GetMaxCharCount(label.Length);
            if (chars.Length < maxChars)
            {
                chars = new char[Math.Max(maxChars, chars.Length * 2)];
            }
            int charCount;
            try
            {
                charCount = StrictUtf8.GetChars(label, chars);
            }
            catch (DecoderFallbackException)
            {
                throw new DataFormatException(fileName, "the label is not valid UTF-8 text; save the file as UTF-8", row: reader.Row, column: header[labelIndex]);
            }
            var key = chars.AsSpan(0, charCount);
            if (!classLookup.TryGetValue(key, out var id))
            {
                id = classNames.Count;
                var name = key.ToString();
                classIds.Add(name, id);
                classNames.Add(name);
            }
            labelIds.Add(id);
        }

        if (features.Rows == 0)
        {
            throw new DataFormatException(fileName, "the file has a header row but no data rows", row: 2);
        }

        var (classes, remap) = SortClasses(classNames);
        var labels = new long[labelIds.Count];
        for (var i = 0; i < labels.Length; i++)
        {
            labels[i] = remap[labelIds[i]];
        }
        return new DatasetTable(features.ToArray(), labels, featureCount, [featureCount], classes, featureNames);
    }

    /// <summary>A finite float in invariant culture; short integers (most cells of image-like data) take a fast, exact path.</summary>
    private static bool TryParseFeature(ReadOnlySpan<byte> cell, out float value)
    {
        // Up to 7 digits stays below 2^24, so the integer converts to float exactly, as float.Parse would.
        if (cell.Length is > 0 and <= 7)
        {
            var negative = cell[0] == (byte)'-';
            var i = negative ? 1 : 0;
            var integer = 0;
            for (; i < cell.Length; i++)
            {
                var digit = (uint)(cell[i] - (byte)'0');
                if (digit > 9)
                {
                    break;
                }
                integer = integer * 10 + (int)digit;
            }
            if (i == cell.Length && cell.Length > (negative ? 1 : 0))
            {
                value = negative ? -(float)integer : integer;
                return true;
            }
        }
        return float.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && float.IsFinite(value);
    }

    private static string[] ReadHeader(CsvRecordReader reader, string fileName, string labelColumn, out int labelIndex)
    {
        if (reader.IsBlank)
        {
            throw new DataFormatException(fileName,
                $"the header row is blank; the first line must name the columns, e.g. 'px0,px1,{labelColumn}'", row: 1);
        }
        var names = new string[reader.CellCount];
        var seen = new Dictionary<string, int>(reader.CellCount, StringComparer.Ordinal);
        for (var c = 0; c < names.Length; c++)
        {
            string name;
            try
            {
                name = StrictUtf8.GetString(reader.Cell(c));
            }
            catch (DecoderFallbackException)
            {
                throw new DataFormatException(fileName, $"the name of column {c + 1} is not valid UTF-8 text; save the file as UTF-8", row: 1);
            }
            if (name.Length == 0)
            {
                throw new DataFormatException(fileName,
                    $"column {c + 1} has an empty name; every column needs a header name (an unnamed first column is often an exported row index: remove it)",
                    row: 1);
            }
            if (seen.TryGetValue(name, out var first))
            {
                throw new DataFormatException(fileName,
                    $"the column name appears twice (columns {first + 1} and {c + 1}); column names must be unique",
                    row: 1, column: name);
            }
            seen.Add(name, c);
            names[c] = name;
        }

        if (!seen.TryGetValue(labelColumn, out labelIndex))
        {
            var similar = names.FirstOrDefault(n => string.Equals(n.Trim(), labelColumn, StringComparison.OrdinalIgnoreCase));
            var hint = similar is null ? "" : $" (did you mean '{similar}'? names must match exactly)";
            throw new DataFormatException(fileName,
                $"there is no label column '{labelColumn}'{hint}; the columns found are {ListColumns(names)}",
                row: 1);
        }
        if (names.Length == 1)
        {
            throw new DataFormatException(fileName,
                $"the only column is the label column '{labelColumn}'; at least one numeric feature column is needed",
                row: 1);
        }
        return names;
    }

    private static string ListColumns(string[] names)
    {
        var listed = string.Join(", ", names.Take(MaxListedColumns).Select(n => $"'{Shorten(n)}'"));
        return names.Length > MaxListedColumns ? $"{listed} and {names.Length - MaxListedColumns} more" : listed;
    }

    private static string DescribeBadNumber(ReadOnlySpan<byte> cell)
    {
        if (cell.IsEmpty)
        {
            return "the cell is empty; every feature cell needs a number";
        }
        var text = Encoding.UTF8.GetString(cell);
        var shown = Shorten(text);
        if (float.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
        {
            if (float.IsNaN(value) || text.Contains("inf", StringComparison.OrdinalIgnoreCase))
            {
                return $"'{shown}' is not allowed: feature values must be finite numbers (no NaN or Infinity)";
            }
            return $"'{shown}' is too large for a 32-bit float (the limit is about ±3.4e38)";
        }
        if (text.Contains(',') && double.TryParse(text.Replace(',', '.'), NumberStyles.Float, CultureInfo.InvariantCulture, out _))
        {
            return $"'{shown}' is not a number (use a dot as the decimal separator)";
        }
        return $"'{shown}' is not a number";
    }

    /// <summary>At most 40 characters, control characters made visible, so a message stays one readable line.</summary>
    private static string Shorten(string text)
    {
        var cut = text.Length > MaxShownValueChars;
        var part = cut ? text[..MaxShownValueChars] : text;
        var builder = new StringBuilder(part.Length + 4);
        foreach (var ch in part)
        {
            builder.Append(ch switch
            {
                '\r' => "\\r",
                '\n' => "\\n",
                '\t' => "\\t",
                _ when char.IsControl(ch) => "?",
                _ => ch.ToString(),
            });
        }
        return cut ? builder.Append('…').ToString() : builder.ToString();
    }

    /// <summary>Classes sorted numerically when every name is a number, else ordinally; remap[firstSeenId] = sorted index.</summary>
    private static (string[] Classes, int[] Remap) SortClasses(List<string> names)
    {
        var count = names.Count;
        var order = new int[count];
        for (var i = 0; i < count; i++)
        {
            order[i] = i;
        }
        var numbers = new double[count];
        var allNumeric = true;
        for (var i = 0; i < count && allNumeric; i++)
        {
            allNumeric = double.TryParse(names[i], NumberStyles.Float, CultureInfo.InvariantCulture, out numbers[i]) && double.IsFinite(numbers[i]);
        }
        Array.Sort(order, allNumeric
            ? (a, b) => numbers[a].CompareTo(numbers[b]) is var byValue and not 0 ? byValue : string.CompareOrdinal(names[a], names[b])
            : (a, b) => string.CompareOrdinal(names[a], names[b]));
        var classes = new string[count];
        var remap = new int[count];
        for (var sorted = 0; sorted < count; sorted++)
        {
            classes[sorted] = names[order[sorted]];
            remap[order[sorted]] = sorted;
        }
        return (classes, remap);
    }
}
