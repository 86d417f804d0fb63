namespace BigDataAI.Ingestion.Services;

public sealed class IngestionOptions
{
    public const string Section = "Ingestion";

    /// <summary>Largest upload accepted, all files together, in bytes (default 2 GiB).</summary>
    public long MaxUploadBytes { get; set; } = 2L << 30;

    /// <summary>Rows per Parquet shard.</summary>
    public int RowsPerShard { get; set; } = BigDataAI.Datasets.DatasetStore.DefaultRowsPerShard;

    /// <summary>Archives: the most bytes all entries may decompress to together (default 8 GiB).</summary>
    public long MaxDecompressedBytes { get; set; } = 8L << 30;

    /// <summary>Archives: the most entries (files and folders) one may hold (default 1,000,000).</summary>
    public int MaxArchiveEntries { get; set; } = 1_000_000;

    /// <summary>
    /// Archives: the largest ratio of an entry's decompressed to compressed size (default 100; PNG and JPEG files hardly
    /// compress, text rarely beyond 10). A higher one is a decompression bomb.
    /// </summary>
    public double MaxCompressionRatio { get; set; } = 100;

    /// <summary>
    /// Strict CSV and TSV uploads: convert and store the rows while the file still arrives, under the column types its
    /// first shard of rows suggests, and keep that work when the whole file has the same types (else the usual second
    /// pass runs). On by default; off makes every upload take the two passes one after the other.
    /// </summary>
    public bool Speculate { get; set; } = true;

    /// <summary>Folder for upload buffers; the system temp folder when empty.</summary>
    public string? TempDirectory { get; set; }
}
