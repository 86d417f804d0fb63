using System.Text.Json;
using BigDataAI.Datasets;
using BigDataAI.Ingestion.Appends;

namespace BigDataAI.UnitTests.Ingestion;

/// <summary>The back-pressure gate and the bus rows' decoding of streaming appends, without servers.</summary>
public sealed class AppendTests
{
    private static readonly DatasetSchema Schema = new([
        new ColumnSchema("id", ColumnType.Int64, ColumnRole.Id, Nullable: false),
        new ColumnSchema("score", ColumnType.Double, ColumnRole.Feature),
        new ColumnSchema("at", ColumnType.Timestamp, ColumnRole.Feature),
        new ColumnSchema("image", ColumnType.Binary, ColumnRole.Image),
        new ColumnSchema("embedding", ColumnType.Tensor, ColumnRole.Feature, Nullable: false, Shape: [3]),
    ]);

    private static IReadOnlyDictionary<string, JsonElement> Row(string json) =>
        JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(json)!;

    [Fact]
    public void Bus_rows_are_typed_by_the_schema_and_a_missing_or_null_key_is_a_null()
    {
        var table = new AppendRowDecoder("d", Schema).Decode(7, [
            Row("""{"id": 1, "score": 0.5, "at": "2026-12-02T01:00:00Z", "image": "AQID", "embedding": [1, 2, 3]}"""),
            Row("""{"id": 2, "score": null, "embedding": [0.5, 0, -1]}"""),
        ]);
        Assert.Equal([0L, 1], table.RowIds);
        Assert.Equal([1L, 2], ((long?[])table["id"].Values).Select(v => v!.Value));
        Assert.Equal([0.5, null], (double?[])table["score"].Values);
        Assert.Equal(new DateTime(2026, 12, 2, 1, 0, 0, DateTimeKind.Utc), ((DateTime?[])table["at"].Values)[0]);
        Assert.Null(((DateTime?[])table["at"].Values)[1]);
        Assert.Equal([1, 2, 3], ((byte[]?[])table["image"].Values)[0]!);
        Assert.Equal([1f, 2, 3, 0.5f, 0, -1], (float[])table["embedding"].Values);
    }

    [Theory]
    [InlineData("""{"id": 1, "embedding": [1, 2]}""", "Batch 7, row 0, column 'embedding': 2 values for a tensor[3] column, which holds 3.")]
    [InlineData("""{"score": 1, "embedding": [1, 2, 3]}""", "Batch 7, row 0, column 'id': the column holds no nulls, and this row has none for it.")]
    [InlineData("""{"id": 1.5, "embedding": [1, 2, 3]}""", "Batch 7, row 0, column 'id': a JSON number does not fit a int64 column.")]
    [InlineData("""{"id": 1, "colour": "red", "embedding": [1, 2, 3]}""", "Batch 7, row 0: 'colour' is not a column of dataset 'd'")]
    [InlineData("""{"id": 1, "image": "not base64!", "embedding": [1, 2, 3]}""", "Batch 7, row 0, column 'image': the string is not base64.")]
    [InlineData("""{"id": 1, "at": "yesterday", "embedding": [1, 2, 3]}""", "Batch 7, row 0, column 'at': 'yesterday' is not an ISO 8601 time.")]
    public void A_cell_that_does_not_fit_is_refused_naming_batch_row_and_column(string json, string message)
    {
        var e = Assert.Throws<AppendRejectedException>(() => new AppendRowDecoder("d", Schema).Decode(7, [Row(json)]));
        Assert.Equal(AppendRejection.Invalid, e.Kind);
        Assert.StartsWith(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_gate_holds_callers_beyond_its_batches_or_bytes_and_lets_them_in_as_earlier_ones_leave()
    {
        var gate = new AppendGate(maxBatches: 2, maxBytes: 100);
        var first = await gate.EnterAsync(60, CancellationToken.None);
        var over = gate.EnterAsync(60, CancellationToken.None); // 120 bytes > 100: waits
        Assert.False(over.IsCompleted);
        Assert.Equal((1, 60L, 1), (gate.PendingBatches, gate.PendingBytes, gate.Waiting));
        first.Dispose();
        var second = await over.WaitAsync(TimeSpan.FromSeconds(5));
        var third = await gate.EnterAsync(10, CancellationToken.None);
        var blocked = gate.EnterAsync(1, CancellationToken.None); // two batches in: waits
        Assert.False(blocked.IsCompleted);
        using var cancel = new CancellationTokenSource();
        var cancelled = gate.EnterAsync(1, cancel.Token);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        second.Dispose();
        (await blocked.WaitAsync(TimeSpan.FromSeconds(5))).Dispose();
        third.Dispose();
        Assert.Equal((0, 0L, 0), (gate.PendingBatches, gate.PendingBytes, gate.Waiting));
        // One batch larger than the byte bound still passes alone.
        (await gate.EnterAsync(1000, CancellationToken.None)).Dispose();
    }

    [Theory]
    [InlineData("datasets/x/appends/staged/p-1/000000000042.parquet", "p-1", 42)]
    [InlineData("datasets/x/appends/staged/A.b_c/000000000001.parquet", "A.b_c", 1)]
    public void Staged_paths_name_producer_and_sequence(string path, string producer, long sequence)
    {
        Assert.True(AppendPaths.TryParseStaged(path, out var p, out var s));
        Assert.Equal((producer, sequence), (p, s));
        Assert.Equal(path, AppendPaths.Staged("x", producer, sequence));
        Assert.False(AppendPaths.IsValidProducer(".."));
        Assert.False(AppendPaths.IsValidProducer("a/b"));
    }
}
