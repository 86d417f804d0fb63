using System.Globalization;
using System.Text;
using BigDataAI.Client;
using BigDataAI.Protos.Ingestion.V1;

namespace BigDataAI.IntegrationTests.Appends;

/// <summary>A small table to append to (x: double, name: string, label: int64) and rows for it.</summary>
internal static class AppendTestData
{
    public const int FirstRows = 6;

    /// <summary>Uploads version 1: <see cref="FirstRows"/> rows, labels 0 and 1.</summary>
    public static async Task<UploadReply> UploadFirstVersionAsync(IngestionService.IngestionServiceClient client, string dataset)
    {
        var path = Path.Combine(Path.GetTempPath(), $"append-{Guid.NewGuid():N}.csv");
        var csv = new StringBuilder("x,name,label\n");
        for (var i = 0; i < FirstRows; i++)
        {
            csv.Append(CultureInfo.InvariantCulture, $"{i * 0.5},first-{i},{i % 2}\n");
        }
        await File.WriteAllTextAsync(path, csv.ToString());
        try
        {
            return await client.UploadCsvAsync(dataset, path, source: "generated (append tests)");
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>Batch <paramref name="sequence"/>: rows named "b{sequence}-{i}", label 2 (a new class) for odd rows.</summary>
    public static IReadOnlyList<AppendRow> Batch(long sequence, int rows, int padding = 0) =>
        [.. Enumerable.Range(0, rows).Select(i => AppendRowsClientExtensions.Row(
            ("x", AppendRowsClientExtensions.Double(sequence + i / 100.0)),
            ("name", AppendRowsClientExtensions.String($"b{sequence}-{i}" + new string('.', padding))),
            ("label", AppendRowsClientExtensions.Int64(i % 2 == 0 ? 0 : 2))))];
}
