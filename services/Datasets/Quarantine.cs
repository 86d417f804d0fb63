namespace BigDataAI.Datasets;

/// <summary>One row an upload could not store, with where it was and why.</summary>
/// <param name="SourceRow">Where the row is in the source, as error messages count: a CSV's row (the header is row 1), a JSON Lines line, a Parquet row (from 1).</param>
/// <param name="RowId">The row id (<c>_row</c>) the row would have had in the version.</param>
/// <param name="Column">The column at fault, or null when the whole row is (a wrong cell count, a line that is not JSON).</param>
/// <param name="Reason">A short code: type_mismatch, cell_count, invalid_utf8, nul_character, invalid_json, expectation_not_null, expectation_min, expectation_max, expectation_allowed_values, expectation_unique, expectation_type.</param>
/// <param name="Message">What is wrong, for a person.</param>
/// <param name="Raw">The row's raw text (the cell at fault, or the whole line or record when no one cell is), at most 4 KiB; null when unknown.</param>
public sealed record QuarantinedRow(long SourceRow, long RowId, string? Column, string Reason, string Message, string? Raw);

/// <summary>The quarantined rows of a version: how many, their shards (Parquet, <see cref="QuarantineShards.Schema"/>) and the count per reason.</summary>
public sealed record QuarantineInfo(long Rows, IReadOnlyList<ShardInfo> Shards, IReadOnlyDictionary<string, long> Reasons);

/// <summary>The columns of a quarantine shard, and the conversion of rows to and from them.</summary>
public static class QuarantineShards
{
    public const int MaxRawChars = 4096;

    public static readonly DatasetSchema Schema = new([
        new ColumnSchema("source_row", ColumnType.Int64, ColumnRole.Id, Nullable: false),
        new ColumnSchema("row_id", ColumnType.Int64, ColumnRole.Ignored, Nullable: false),
        new ColumnSchema("column", ColumnType.String, ColumnRole.Ignored),
        new ColumnSchema("reason", ColumnType.String, ColumnRole.Ignored, Nullable: false),
        new ColumnSchema("message", ColumnType.String, ColumnRole.Ignored, Nullable: false),
        new ColumnSchema("raw", ColumnType.String, ColumnRole.Ignored),
    ]);

    /// <summary>The rows as a table of <see cref="Schema"/>, with row ids from <paramref name="firstIndex"/>.</summary>
    public static Table ToTable(IReadOnlyList<QuarantinedRow> rows, long firstIndex)
    {
        var c = Schema.Columns;
        return new Table(Schema, [
            new Column(c[0], rows.Select(r => (long?)r.SourceRow).ToArray()),
            new Column(c[1], rows.Select(r => (long?)r.RowId).ToArray()),
            new Column(c[2], rows.Select(r => r.Column).ToArray()),
            new Column(c[3], rows.Select(r => (string?)r.Reason).ToArray()),
            new Column(c[4], rows.Select(r => (string?)r.Message).ToArray()),
            new Column(c[5], rows.Select(r => r.Raw is { Length: > MaxRawChars } raw ? raw[..MaxRawChars] : r.Raw).ToArray()),
        ], [.. Enumerable.Range(0, rows.Count).Select(i => firstIndex + i)]);
    }

    /// <summary>The rows of a quarantine shard read back.</summary>
    public static IEnumerable<QuarantinedRow> FromTable(Table table)
    {
        var (source, id, column, reason, message, raw) = ((long?[])table["source_row"].Values, (long?[])table["row_id"].Values, (string?[])table["column"].Values,
            (string?[])table["reason"].Values, (string?[])table["message"].Values, (string?[])table["raw"].Values);
        for (var r = 0; r < table.Rows; r++)
        {
            yield return new QuarantinedRow(source[r]!.Value, id[r]!.Value, column[r], reason[r]!, message[r]!, raw[r]);
        }
    }
}

/// <summary>
/// Collects a version's quarantined rows and stores them shard by shard as they fill (memory holds one shard's rows),
/// beside the version's own shards; <see cref="CompleteAsync"/> stores the rest and says what the manifest lists.
/// </summary>
public sealed class QuarantineWriter
{
    private readonly DatasetStore _store;
    private readonly string _prefix;
    private readonly int _rowsPerShard;
    private readonly List<QuarantinedRow> _pending = [];
    private readonly List<ShardInfo> _shards = [];
    private readonly Dictionary<string, long> _reasons = new(StringComparer.Ordinal);

    internal QuarantineWriter(DatasetStore store, string prefix, int rowsPerShard)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rowsPerShard, 1);
        _store = store;
        _prefix = prefix;
        _rowsPerShard = rowsPerShard;
    }

    /// <summary>Rows quarantined so far.</summary>
    public long Rows { get; private set; }

    /// <summary>Shards stored so far.</summary>
    public IReadOnlyList<ShardInfo> Shards => _shards;

    /// <summary>Rows per reason so far.</summary>
    public IReadOnlyDictionary<string, long> Reasons => _reasons;

    /// <summary>The first rows quarantined (at most 5), for messages.</summary>
    public List<QuarantinedRow> First { get; } = [];

    public async Task AddAsync(QuarantinedRow row, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(row);
        _pending.Add(row);
        Rows++;
        _reasons[row.Reason] = _reasons.GetValueOrDefault(row.Reason) + 1;
        if (First.Count < 5)
        {
            First.Add(row);
        }
        if (_pending.Count == _rowsPerShard)
        {
            await FlushAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Stores what remains; null when no row was quarantined.</summary>
    public async Task<QuarantineInfo?> CompleteAsync(CancellationToken cancellationToken = default)
    {
        await FlushAsync(cancellationToken).ConfigureAwait(false);
        return Rows == 0 ? null : new QuarantineInfo(Rows, [.. _shards], new SortedDictionary<string, long>(_reasons, StringComparer.Ordinal));
    }

    private async Task FlushAsync(CancellationToken cancellationToken)
    {
        if (_pending.Count == 0)
        {
            return;
        }
        var table = QuarantineShards.ToTable(_pending, Rows - _pending.Count);
        _pending.Clear();
        _shards.Add(await _store.WriteShardAsync(table, sha => $"{_prefix}{_shards.Count:D5}-{sha[..16]}.parquet", cancellationToken).ConfigureAwait(false));
    }
}
