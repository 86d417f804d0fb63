using System.Globalization;
using System.Text.RegularExpressions;
using BigDataAI.Datasets;

namespace BigDataAI.Ingestion.Appends;

/// <summary>
/// Where appends live in the object store:
/// <code>
/// datasets/{name}/appends/staged/{producer}/{sequence:D12}.parquet   one staged batch (create-only; deleted once committed)
/// datasets/_appends/{name}                                          the dataset's append lease (and the list of datasets that take appends)
/// </code>
/// A staged batch's path is its producer and sequence, so a retried batch finds its path taken. <c>_appends</c> cannot
/// be a dataset name (names start with a letter).
/// </summary>
public static partial class AppendPaths
{
    public const string LeaseRoot = DatasetPaths.Root + "_appends/";
    public const long MaxSequence = 999_999_999_999;

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\z")]
    private static partial Regex ProducerPattern();

    [GeneratedRegex(@"/appends/staged/(?<producer>[A-Za-z0-9][A-Za-z0-9._-]{0,63})/(?<sequence>\d{12})\.parquet\z")]
    private static partial Regex StagedPattern();

    public static bool IsValidProducer(string producer) => ProducerPattern().IsMatch(producer);

    public static string StagedRoot(string dataset) => $"{DatasetPaths.Root}{dataset}/appends/staged/";

    public static string StagedFolder(string dataset, string producer) => $"{StagedRoot(dataset)}{producer}/";

    public static string Staged(string dataset, string producer, long sequence) =>
        StagedFolder(dataset, producer) + sequence.ToString("D12", CultureInfo.InvariantCulture) + ".parquet";

    public static string Lease(string dataset) => LeaseRoot + dataset;

    public static bool TryParseStaged(string path, out string producer, out long sequence)
    {
        var match = StagedPattern().Match(path);
        producer = match.Success ? match.Groups["producer"].Value : "";
        sequence = match.Success ? long.Parse(match.Groups["sequence"].Value, CultureInfo.InvariantCulture) : 0;
        return match.Success;
    }
}
