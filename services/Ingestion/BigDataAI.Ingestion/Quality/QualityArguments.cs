using BigDataAI.Datasets;

namespace BigDataAI.Ingestion.Quality;

/// <summary>The argument checks every data-quality request shares, each a <see cref="QualityRequestException"/> naming the field.</summary>
internal static class QualityArguments
{
    /// <summary>A dataset name the store accepts (DatasetPaths.IsValidName).</summary>
    public static void Dataset(string field, string name)
    {
        if (!DatasetPaths.IsValidName(name))
        {
            throw new QualityRequestException(field, $"'{name}' is not a dataset name (1-64 characters of [a-z0-9-], starting with a letter).");
        }
    }

    /// <summary>A version number: 1 and up, or 0 for the newest.</summary>
    public static void Version(string field, long version)
    {
        if (version < 0)
        {
            throw new QualityRequestException(field, $"{version} is below 0 (0 = the newest).");
        }
    }
}
