using System.Globalization;
using System.Text.Json;
using BigDataAI.Datasets;
using BigDataAI.Protos.Ingestion.V1;

namespace BigDataAI.Ingestion.Appends;

/// <summary>
/// Turns a batch's rows (gRPC cells or the bus's JSON values) into a table of the dataset's columns, refusing a cell that
/// does not fit with a message naming the batch's sequence, the row (0-based, within the batch) and the column.
/// Row ids are 0..rows-1 within the batch (the commit gives them their ids in the version).
/// </summary>
internal sealed class AppendRowDecoder
{
    private readonly DatasetSchema _schema;
    private readonly Dictionary<string, int> _index;
    private readonly string _dataset;

    public AppendRowDecoder(string dataset, DatasetSchema schema)
    {
        _dataset = dataset;
        _schema = schema;
        _index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var c = 0; c < schema.Columns.Count; c++)
        {
            _index[schema.Columns[c].Name] = c;
        }
    }

    public Table Decode(long sequence, IReadOnlyList<AppendRow> rows)
    {
        var fill = new Fill(this, sequence, rows.Count);
        for (var r = 0; r < rows.Count; r++)
        {
            foreach (var (name, cell) in rows[r].Cells)
            {
                var c = fill.Column(r, name);
                var schema = _schema.Columns[c];
                switch (cell.ValueCase)
                {
                    case Cell.ValueOneofCase.None:
                        fill.Null(r, c);
                        break;
                    case Cell.ValueOneofCase.Int64Value when schema.Type == ColumnType.Int64:
                        fill.Set(r, c, (long?)cell.Int64Value);
                        break;
                    case Cell.ValueOneofCase.Int64Value when schema.Type == ColumnType.Double:
                        fill.Set(r, c, (double?)cell.Int64Value);
                        break;
                    case Cell.ValueOneofCase.DoubleValue when schema.Type == ColumnType.Double:
                        fill.SetDouble(r, c, cell.DoubleValue);
                        break;
                    case Cell.ValueOneofCase.BoolValue when schema.Type == ColumnType.Bool:
                        fill.Set(r, c, (bool?)cell.BoolValue);
                        break;
                    case Cell.ValueOneofCase.StringValue when schema.Type == ColumnType.String:
                        fill.Set(r, c, cell.StringValue);
                        break;
                    case Cell.ValueOneofCase.TimestampMicros when schema.Type == ColumnType.Timestamp:
                        fill.SetTimestamp(r, c, cell.TimestampMicros);
                        break;
                    case Cell.ValueOneofCase.BinaryValue when schema.Type == ColumnType.Binary:
                        fill.Set(r, c, cell.BinaryValue.ToByteArray());
                        break;
                    case Cell.ValueOneofCase.TensorValue when schema.Type == ColumnType.Tensor:
                        fill.SetTensor(r, c, cell.TensorValue.Values.Count, (target, offset) => cell.TensorValue.Values.CopyTo(target, offset));
                        break;
                    default:
                        throw fill.Error(r, c, $"a {ProtoName(cell.ValueCase)} cell does not fit a {schema.TypeName} column (set {Expected(schema.Type)})");
                }
            }
            fill.EndRow(r);
        }
        return fill.Table();
    }

    public Table Decode(long sequence, IReadOnlyList<IReadOnlyDictionary<string, JsonElement>> rows)
    {
        var fill = new Fill(this, sequence, rows.Count);
        for (var r = 0; r < rows.Count; r++)
        {
            foreach (var (name, value) in rows[r])
            {
                var c = fill.Column(r, name);
                var schema = _schema.Columns[c];
                if (value.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
                {
                    fill.Null(r, c);
                    continue;
                }
                switch (schema.Type)
                {
                    case ColumnType.Int64 when value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var l):
                        fill.Set(r, c, (long?)l);
                        break;
                    case ColumnType.Double when value.ValueKind == JsonValueKind.Number:
                        fill.SetDouble(r, c, value.GetDouble());
                        break;
                    case ColumnType.Bool when value.ValueKind is JsonValueKind.True or JsonValueKind.False:
                        fill.Set(r, c, (bool?)value.GetBoolean());
                        break;
                    case ColumnType.String when value.ValueKind == JsonValueKind.String:
                        fill.Set(r, c, value.GetString());
                        break;
                    case ColumnType.Timestamp when value.ValueKind == JsonValueKind.String:
                        if (!DateTimeOffset.TryParse(value.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time))
                        {
                            throw fill.Error(r, c, $"'{value.GetString()}' is not an ISO 8601 time");
                        }
                        fill.Set(r, c, (DateTime?)time.UtcDateTime);
                        break;
                    case ColumnType.Binary when value.ValueKind == JsonValueKind.String:
                        if (!value.TryGetBytesFromBase64(out var bytes))
                        {
                            throw fill.Error(r, c, "the string is not base64");
                        }
                        fill.Set(r, c, bytes);
                        break;
                    case ColumnType.Tensor when value.ValueKind == JsonValueKind.Array:
                        var items = value.GetArrayLength();
                        fill.SetTensor(r, c, items, (target, offset) =>
                        {
                            foreach (var item in value.EnumerateArray())
                            {
                                if (item.ValueKind != JsonValueKind.Number)
                                {
                                    throw fill.Error(r, c, $"a tensor holds numbers, not {item.ValueKind.ToString().ToLowerInvariant()}");
                                }
                                target[offset++] = item.GetSingle();
                            }
                        });
                        break;
                    default:
                        throw fill.Error(r, c, $"a JSON {value.ValueKind.ToString().ToLowerInvariant()} does not fit a {schema.TypeName} column");
                }
            }
            fill.EndRow(r);
        }
        return fill.Table();
    }

    private static string ProtoName(Cell.ValueOneofCase value) => value switch
    {
        Cell.ValueOneofCase.Int64Value => "int64_value",
        Cell.ValueOneofCase.DoubleValue => "double_value",
        Cell.ValueOneofCase.BoolValue => "bool_value",
        Cell.ValueOneofCase.StringValue => "string_value",
        Cell.ValueOneofCase.TimestampMicros => "timestamp_micros",
        Cell.ValueOneofCase.BinaryValue => "binary_value",
        Cell.ValueOneofCase.TensorValue => "tensor_value",
        _ => "empty",
    };

    private static string Expected(ColumnType type) => type switch
    {
        ColumnType.Int64 => "int64_value",
        ColumnType.Double => "double_value or int64_value",
        ColumnType.Bool => "bool_value",
        ColumnType.String => "string_value",
        ColumnType.Timestamp => "timestamp_micros",
        ColumnType.Binary => "binary_value",
        _ => "tensor_value",
    };

    /// <summary>The columns of one batch being filled, row by row.</summary>
    private sealed class Fill
    {
        private readonly AppendRowDecoder _owner;
        private readonly long _sequence;
        private readonly Column[] _columns;
        private readonly int[] _lastSet;
        private readonly int _rows;

        public Fill(AppendRowDecoder owner, long sequence, int rows)
        {
            _owner = owner;
            _sequence = sequence;
            _rows = rows;
            _columns = [.. owner._schema.Columns.Select(c => Datasets.Column.Allocate(c, rows))];
            _lastSet = new int[_columns.Length];
            Array.Fill(_lastSet, -1);
        }

        public int Column(int row, string name)
        {
            if (!_owner._index.TryGetValue(name, out var c))
            {
                throw new AppendRejectedException(AppendRejection.Invalid,
                    $"Batch {_sequence}, row {row}: '{name}' is not a column of dataset '{_owner._dataset}' (its columns: {string.Join(", ", _owner._schema.Columns.Select(x => $"{x.Name}:{x.TypeName}"))}).");
            }
            return c;
        }

        public AppendRejectedException Error(int row, int column, string reason) =>
            new(AppendRejection.Invalid, $"Batch {_sequence}, row {row}, column '{_owner._schema.Columns[column].Name}': {reason}.");

        public void Null(int row, int column)
        {
            // Left as allocated (null); EndRow refuses it for a column that holds no nulls.
        }

        public void Set<T>(int row, int column, T value)
        {
            ((T[])_columns[column].Values)[row] = value;
            _lastSet[column] = row;
        }

        public void SetDouble(int row, int column, double value)
        {
            if (double.IsInfinity(value))
            {
                throw Error(row, column, "an infinity is not a value");
            }
            // NaN is a null, as in an uploaded file.
            if (!double.IsNaN(value))
            {
                Set(row, column, (double?)value);
            }
        }

        public void SetTimestamp(int row, int column, long micros)
        {
            const long MaxMicros = 253_402_300_799_999_999; // 9999-12-31T23:59:59.999999Z
            const long MinMicros = -62_135_596_800_000_000; // 0001-01-01T00:00:00Z
            if (micros is < MinMicros or > MaxMicros)
            {
                throw Error(row, column, $"{micros} microseconds since 1970 is outside years 1 to 9999");
            }
            Set(row, column, (DateTime?)DateTime.UnixEpoch.AddTicks(micros * 10));
        }

        public void SetTensor(int row, int column, int count, Action<float[], int> copy)
        {
            var width = _owner._schema.Columns[column].Width;
            if (count != width)
            {
                throw Error(row, column, $"{count} values for a {_owner._schema.Columns[column].TypeName} column, which holds {width}");
            }
            copy((float[])_columns[column].Values, row * width);
            _lastSet[column] = row;
        }

        public void EndRow(int row)
        {
            for (var c = 0; c < _columns.Length; c++)
            {
                var schema = _owner._schema.Columns[c];
                if (_lastSet[c] != row && (!schema.Nullable || schema.Type == ColumnType.Tensor))
                {
                    throw Error(row, c, schema.Type == ColumnType.Tensor ? "a tensor column needs a value in every row" : "the column holds no nulls, and this row has none for it");
                }
            }
        }

        public Table Table() => new(_owner._schema, _columns, [.. Enumerable.Range(0, _rows).Select(i => (long)i)]);
    }
}
