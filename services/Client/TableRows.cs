using System.Text;
using BigDataAI.Protos.Inference.V1;
using CsvHelper;

namespace BigDataAI.Client;

/// <summary>
/// Reads rows of a CSV or TSV file (a header row) as Predict rows: every cell is sent as text and the service converts
/// it to its column's type, as ingestion did; an empty cell (or NA, N/A, NaN, null, None) is sent as null.
/// </summary>
public static class TableRows
{
    private static readonly string[] NullTokens = ["", "NA", "N/A", "NaN", "null", "None"];

    /// <summary>The rows at <paramref name="indices"/> (0-based data rows) and each one's cell in <paramref name="labelColumn"/> (null when absent).</summary>
    public static (IReadOnlyList<Row> Rows, IReadOnlyList<string?> Labels) Read(string path, IReadOnlyList<int> indices, string labelColumn = "label", char separator = ',')
    {
        var wanted = indices.Select((row, i) => (row, i)).ToLookup(p => p.row, p => p.i);
        var rows = new Row[indices.Count];
        var labels = new string?[indices.Count];
        using var reader = CsvReader.FromFile(path, new CsvReaderOptions { HasHeader = true, Separator = separator, MalformedData = CsvMalformedDataHandling.Throw });
        var header = reader.Headers.ToArray();
        var label = Array.IndexOf(header, labelColumn);
        var index = -1;
        var found = 0;
        while (found < indices.Count && reader.Read())
        {
            index++;
            if (!wanted.Contains(index))
            {
                continue;
            }
            var row = new Row();
            for (var c = 0; c < header.Length && c < reader.FieldCount; c++)
            {
                var text = Encoding.UTF8.GetString(reader.GetSpan(c));
                row.Cells[header[c]] = NullTokens.Any(t => text.Trim(' ').Equals(t, StringComparison.OrdinalIgnoreCase))
                    ? new Value { Null = Google.Protobuf.WellKnownTypes.NullValue.NullValue }
                    : new Value { Text = text };
            }
            foreach (var i in wanted[index])
            {
                rows[i] = row;
                labels[i] = label >= 0 && label < reader.FieldCount ? Encoding.UTF8.GetString(reader.GetSpan(label)) : null;
                found++;
            }
        }
        if (found < indices.Count)
        {
            throw new ArgumentException($"{path} has {index + 1} data rows; row {indices.First(i => i > index)} is not among them.");
        }
        return (rows, labels);
    }

    /// <summary>How many data rows the file has.</summary>
    public static int Count(string path, char separator = ',')
    {
        using var reader = CsvReader.FromFile(path, new CsvReaderOptions { HasHeader = true, Separator = separator, MalformedData = CsvMalformedDataHandling.Throw });
        var count = 0;
        while (reader.Read())
        {
            count++;
        }
        return count;
    }
}
