using Parquet;
using Parquet.Schema;
using Parquet.Serialization;

namespace BigDataAI.UnitTests.Ingestion;

/// <summary>Writes Parquet files with Parquet.Net, as the shards are written (ParquetShards), for the Parquet parser to read.</summary>
internal static class ParquetFiles
{
    /// <summary>A file of <paramref name="fields"/>; each of <paramref name="groups"/> writes one row group, given the leaf fields.</summary>
    public static async Task<byte[]> WriteAsync(Field[] fields, params Func<ParquetRowGroupWriter, DataField[], Task>[] groups)
    {
        var schema = new ParquetSchema(fields);
        using var buffer = new MemoryStream();
        await using (var writer = await ParquetWriter.CreateAsync(schema, buffer))
        {
            var leaves = schema.GetDataFields();
            foreach (var group in groups)
            {
                using var rowGroup = writer.CreateRowGroup();
                await group(rowGroup, leaves);
            }
        }
        return buffer.ToArray();
    }

    /// <summary>A file of one row group holding one nullable column of <paramref name="values"/>.</summary>
    public static Task<byte[]> ColumnAsync<T>(string name, params T?[] values) where T : struct =>
        WriteAsync([new DataField(name, typeof(T), isNullable: true)], (g, f) => g.WriteAsync<T>(f[0], values.AsMemory(), null, null, default));

    /// <summary>Rows of <typeparamref name="T"/> through Parquet.Net's serializer (structs, maps and nested lists in a few lines).</summary>
    public static async Task<byte[]> SerializeAsync<T>(params T[] rows)
    {
        using var buffer = new MemoryStream();
        await ParquetSerializer.SerializeAsync(rows, buffer);
        return buffer.ToArray();
    }

    /// <summary>
    /// Writes one row group's rows of a list column (a <see cref="ListField"/> leaf): a null row is a null list, an
    /// empty one an empty list, a null element a null (when the element is nullable).
    /// </summary>
    public static Task WriteListAsync<T>(ParquetRowGroupWriter group, DataField leaf, params T?[]?[] rows) where T : struct
    {
        var values = new List<T>();
        var definitions = new List<int>();
        var repetitions = new List<int>();
        var max = leaf.MaxDefinitionLevel;
        var elementNullable = leaf.IsNullable;
        foreach (var row in rows)
        {
            if (row is null || row.Length == 0)
            {
                definitions.Add(row is null ? max - (elementNullable ? 3 : 2) : max - (elementNullable ? 2 : 1));
                repetitions.Add(0);
                continue;
            }
            for (var i = 0; i < row.Length; i++)
            {
                repetitions.Add(i == 0 ? 0 : 1);
                if (row[i] is { } v)
                {
                    values.Add(v);
                    definitions.Add(max);
                }
                else
                {
                    definitions.Add(max - 1);
                }
            }
        }
        return group.WriteAllPartsAsync<T>(leaf, values.ToArray(), definitions.ToArray(), repetitions.ToArray(), default);
    }
}
