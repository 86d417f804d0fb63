namespace BigDataAI.Ingestion.Services;

public sealed class IngestionOptions
{
    public const string Section = "Ingestion";

    /// <summary>Largest upload accepted, all files together, in bytes (default 2 GiB).</summary>
    public long MaxUploadBytes { get; set; } = 2L << 30;

    /// <summary>Rows per Parquet shard.</summary>
    public int RowsPerShard { get; set; } = BigDataAI.Datasets.DatasetStore.DefaultRowsPerShard;

    /// <summary>Folder for upload buffers; the system temp folder when empty.</summary>
    public string? TempDirectory { get; set; }
}
