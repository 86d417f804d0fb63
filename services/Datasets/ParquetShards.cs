using System.Security.Cryptography;
using Parquet;
using Parquet.Schema;

namespace BigDataAI.Datasets;

/// <summary>
/// Reads and writes one shard: a Parquet file with columns <c>row</c> (int64, the row's index in its source),
/// <c>features</c> (a list of float32) and <c>label</c> (int64 class index). Pandas, Polars, Spark and DuckDB
/// read it directly.
/// </summary>
public static class ParquetShards
{
    private static readonly DataField RowField = new("row", typeof(long), isNullable: false);
    private static readonly DataField FeaturesField = new("features", typeof(float), isNullable: false, isArray: true);
    private static readonly DataField LabelField = new("label", typeof(long), isNullable: false);
    private static readonly ParquetSchema Schema = new(RowField, FeaturesField, LabelField);
    private static readonly ParquetOptions WriteOptions = new() { CompressionMethod = CompressionMethod.Snappy };

    /// <summary>Encodes rows [start, start+count) of <paramref name="table"/>; <paramref name="rowIds"/> gives each row's source index.</summary>
    public static async Task<byte[]> EncodeAsync(DatasetTable table, int start, int count, long[] rowIds, CancellationToken cancellationToken = default)
    {
        var fc = table.FeatureCount;
        var repetition = new int[count * fc];
        for (var r = 0; r < count; r++)
        {
            repetition.AsSpan(r * fc + 1, fc - 1).Fill(1);
        }
        using var buffer = new MemoryStream();
        await using (var writer = await ParquetWriter.CreateAsync(Schema, buffer, WriteOptions, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            using var group = writer.CreateRowGroup();
            await group.WriteAsync<long>(RowField, rowIds.AsMemory(start, count), null, null, cancellationToken).ConfigureAwait(false);
            await group.WriteAsync<float>(FeaturesField, table.Features.AsMemory(start * fc, count * fc), repetition, null, cancellationToken).ConfigureAwait(false);
            await group.WriteAsync<long>(LabelField, table.Labels.AsMemory(start, count), null, null, cancellationToken).ConfigureAwait(false);
        }
        return buffer.ToArray();
    }

    /// <summary>
    /// Decodes a shard into <paramref name="features"/> and <paramref name="labels"/> starting at row <paramref name="offset"/>.
    /// Returns the number of rows read.
    /// </summary>
    public static async Task<int> DecodeAsync(Stream shard, string path, int featureCount, float[] features, long[] labels, int offset, CancellationToken cancellationToken = default)
    {
        await using var reader = await ParquetReader.CreateAsync(shard, cancellationToken: cancellationToken).ConfigureAwait(false);
        var fields = reader.Schema.GetDataFields();
        var featureField = fields.FirstOrDefault(f => f.Name == FeaturesField.Name)
            ?? throw new InvalidDataException($"Shard '{path}' has no 'features' column.");
        var labelField = fields.FirstOrDefault(f => f.Name == LabelField.Name)
            ?? throw new InvalidDataException($"Shard '{path}' has no 'label' column.");
        var rows = 0;
        for (var g = 0; g < reader.RowGroupCount; g++)
        {
            using var group = reader.OpenRowGroupReader(g);
            var count = checked((int)group.RowCount);
            if (offset + rows + count > labels.Length)
            {
                throw new InvalidDataException($"Shard '{path}' holds more rows than its manifest declares.");
            }
            // A list column carries definition and repetition levels; every row must hold exactly featureCount values.
            var levels = count * featureCount;
            var definitions = new int[levels];
            var repetitions = new int[levels];
            try
            {
                await group.ReadRawAsync<float>(featureField, features.AsMemory((offset + rows) * featureCount, levels), definitions, repetitions, cancellationToken).ConfigureAwait(false);
            }
            catch (ArgumentException e)
            {
                // Parquet.Net refuses a destination too small for the column: more values than rows times features.
                throw new InvalidDataException($"Shard '{path}': its feature values do not make {count} rows of exactly {featureCount} features ({e.Message}).", e);
            }
            var rowStarts = 0;
            for (var i = 0; i < levels; i++)
            {
                if (definitions[i] != featureField.MaxDefinitionLevel)
                {
                    throw new InvalidDataException($"Shard '{path}': row {offset + rows + rowStarts} has missing or empty features.");
                }
                rowStarts += repetitions[i] == 0 ? 1 : 0;
                if (i % featureCount == 0 && repetitions[i] != 0)
                {
                    throw new InvalidDataException($"Shard '{path}': a row does not hold exactly {featureCount} features.");
                }
            }
            if (rowStarts != count)
            {
                throw new InvalidDataException($"Shard '{path}': {rowStarts} feature lists for {count} rows; each row must hold exactly {featureCount} features.");
            }
            await group.ReadAsync<long>(labelField, labels.AsMemory(offset + rows, count), null, cancellationToken).ConfigureAwait(false);
            rows += count;
        }
        return rows;
    }

    /// <summary>A shard's <c>row</c> column: each row's index in the source it came from.</summary>
    public static async Task<long[]> ReadRowIdsAsync(Stream shard, string path, CancellationToken cancellationToken = default)
    {
        await using var reader = await ParquetReader.CreateAsync(shard, cancellationToken: cancellationToken).ConfigureAwait(false);
        var rowField = reader.Schema.GetDataFields().FirstOrDefault(f => f.Name == RowField.Name)
            ?? throw new InvalidDataException($"Shard '{path}' has no 'row' column.");
        var ids = new List<long>();
        for (var g = 0; g < reader.RowGroupCount; g++)
        {
            using var group = reader.OpenRowGroupReader(g);
            var chunk = new long[checked((int)group.RowCount)];
            await group.ReadAsync<long>(rowField, chunk, null, cancellationToken).ConfigureAwait(false);
            ids.AddRange(chunk);
        }
        return [.. ids];
    }

    public static string Sha256(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));
}
