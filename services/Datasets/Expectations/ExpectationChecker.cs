using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace BigDataAI.Datasets.Expectations;

/// <summary>One row that breaks an expectation.</summary>
/// <param name="Row">The row's index in the shard checked.</param>
/// <param name="RowId">The row's id (<see cref="Table.RowIds"/>).</param>
/// <param name="Column">The column.</param>
/// <param name="Expectation">type, not_null, min, max, allowed_values or unique.</param>
/// <param name="Reason">What is wrong, for a person: the value and the expectation.</param>
/// <param name="Value">The cell's invariant text, or null for a null.</param>
public sealed record ExpectationViolation(int Row, long RowId, string Column, string Expectation, string Reason, string? Value);

/// <summary>A version's rows break the dataset's expectations, or its schema cannot meet them.</summary>
public sealed class ExpectationException(string message, ExpectationViolation? violation = null) : Exception(message)
{
    public ExpectationViolation? Violation { get; } = violation;
}

/// <summary>
/// Checks the rows of one new version against its dataset's expectations, shard by shard, in order (uniqueness is
/// kept across shards, as 16-byte hashes of the values seen). Use <see cref="Check"/> to learn which rows fail (to
/// quarantine them), or add it to a <see cref="VersionWriter"/> as an <see cref="IShardObserver"/> that refuses the
/// first failing row.
/// </summary>
/// <remarks>
/// A row is checked against every column's expectations except uniqueness first; only a row that passes them is
/// checked for uniqueness and has its values remembered, so a row quarantined for another reason does not make a
/// later row a duplicate. One violation is reported per row: the first in column order.
/// </remarks>
public sealed class ExpectationChecker : IShardObserver
{
    private readonly (ColumnExpectation Expectation, ColumnSchema Schema, int Index, HashSet<UInt128>? Seen, HashSet<string>? Allowed)[] _checks;

    /// <summary>Binds <paramref name="expectations"/> to <paramref name="schema"/>; a column it lacks, or of another type than expected, is an <see cref="ExpectationException"/>.</summary>
    public ExpectationChecker(DatasetExpectations expectations, DatasetSchema schema)
    {
        ArgumentNullException.ThrowIfNull(expectations);
        ArgumentNullException.ThrowIfNull(schema);
        Expectations = expectations;
        var checks = new List<(ColumnExpectation, ColumnSchema, int, HashSet<UInt128>?, HashSet<string>?)>();
        foreach (var e in expectations.Columns)
        {
            var index = -1;
            for (var i = 0; i < schema.Columns.Count; i++)
            {
                if (schema.Columns[i].Name == e.Column)
                {
                    index = i;
                }
            }
            if (index < 0)
            {
                throw new ExpectationException($"column '{e.Column}', which the dataset's expectations name, is missing (columns: {string.Join(", ", schema.Columns.Select(c => c.Name))})");
            }
            var column = schema.Columns[index];
            if (e.Type is { } type && type != column.Type)
            {
                throw new ExpectationException($"column '{e.Column}' is {column.TypeName}, the dataset's expectations say {type.ToString().ToLowerInvariant()}");
            }
            if ((e.Min is not null || e.Max is not null) && column.Type is not (ColumnType.Int64 or ColumnType.Double))
            {
                throw new ExpectationException($"column '{e.Column}' is {column.TypeName}; its expected range (min/max) applies to int64 and double columns");
            }
            checks.Add((e, column, index, e.Unique ? [] : null, e.AllowedValues is null ? null : new HashSet<string>(e.AllowedValues, StringComparer.Ordinal)));
        }
        _checks = [.. checks];
    }

    public DatasetExpectations Expectations { get; }

    /// <summary>Rows checked so far.</summary>
    public long Rows { get; private set; }

    /// <summary>The rows of <paramref name="shard"/> that break an expectation, one violation per row, in row order.</summary>
    public IReadOnlyList<ExpectationViolation> Check(Table shard)
    {
        ArgumentNullException.ThrowIfNull(shard);
        var violations = new List<ExpectationViolation>();
        if (_checks.Length == 0)
        {
            Rows += shard.Rows;
            return violations;
        }
        Span<byte> hash = stackalloc byte[32];
        Span<UInt128> keys = _checks.Length <= 64 ? stackalloc UInt128[_checks.Length] : new UInt128[_checks.Length];
        for (var r = 0; r < shard.Rows; r++)
        {
            var violation = CheckValues(shard, r);
            if (violation is null)
            {
                // Uniqueness last, and remembered only for rows that pass everything.
                for (var c = 0; c < _checks.Length && violation is null; c++)
                {
                    var (e, _, index, seen, _) = _checks[c];
                    if (seen is null || shard.Columns[index].Format(r) is not { } text)
                    {
                        continue;
                    }
                    SHA256.HashData(Encoding.UTF8.GetBytes(text), hash);
                    keys[c] = new UInt128(BitConverter.ToUInt64(hash), BitConverter.ToUInt64(hash[8..]));
                    if (seen.Contains(keys[c]))
                    {
                        violation = new ExpectationViolation(r, shard.RowIds[r], e.Column, "unique", $"'{Shorten(text)}' appears in an earlier row; the column is expected to be unique", text);
                    }
                }
                if (violation is null)
                {
                    for (var c = 0; c < _checks.Length; c++)
                    {
                        if (_checks[c].Seen is { } seen && !shard.Columns[_checks[c].Index].IsNull(r))
                        {
                            seen.Add(keys[c]);
                        }
                    }
                }
            }
            if (violation is not null)
            {
                violations.Add(violation);
            }
        }
        Rows += shard.Rows;
        return violations;
    }

    /// <summary>Refuses the shard's first failing row (an <see cref="ExpectationException"/> naming its row id, column and expectation).</summary>
    public void Observe(Table shard)
    {
        if (Check(shard) is [var first, ..])
        {
            throw new ExpectationException($"row {first.RowId.ToString(CultureInfo.InvariantCulture)}, column '{first.Column}': {first.Reason}", first);
        }
    }

    private ExpectationViolation? CheckValues(Table shard, int r)
    {
        foreach (var (e, _, index, _, allowed) in _checks)
        {
            var column = shard.Columns[index];
            if (column.IsNull(r))
            {
                if (e.NotNull)
                {
                    return new ExpectationViolation(r, shard.RowIds[r], e.Column, "not_null", "the value is null; the column is expected never to be null", null);
                }
                continue;
            }
            if (e.Min is not null || e.Max is not null)
            {
                var value = column.Values switch
                {
                    long?[] l => (double)l[r]!.Value,
                    double?[] d => d[r]!.Value,
                    _ => double.NaN,
                };
                if (e.Min is { } min && value < min)
                {
                    return new ExpectationViolation(r, shard.RowIds[r], e.Column, "min", $"{column.Format(r)} is below the expected minimum {DatasetExpectations.Show(min)}", column.Format(r));
                }
                if (e.Max is { } max && value > max)
                {
                    return new ExpectationViolation(r, shard.RowIds[r], e.Column, "max", $"{column.Format(r)} is above the expected maximum {DatasetExpectations.Show(max)}", column.Format(r));
                }
            }
            if (allowed is not null && column.Format(r) is { } text && !allowed.Contains(text))
            {
                return new ExpectationViolation(r, shard.RowIds[r], e.Column, "allowed_values",
                    $"'{Shorten(text)}' is not one of the expected values ({string.Join(", ", e.AllowedValues!.Take(10))}{(e.AllowedValues!.Count > 10 ? ", ..." : "")})", text);
            }
        }
        return null;
    }

    private static string Shorten(string value) => value.Length <= 40 ? value : value[..40] + "...";
}
