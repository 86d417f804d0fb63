using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using BigDataAI.Datasets;

namespace BigDataAI.Ingestion.Parsing;

/// <summary>
/// How a cell's UTF-8 text becomes a typed value, for every format that reads text: the null tokens, the type
/// inference of a delimited column, and the conversion of one cell to int64, double, bool, timestamp or string.
/// </summary>
internal static partial class TextCells
{
    private const int MaxShownValueChars = 40;

    private static readonly string[] NullTokens = ["", "NA", "N/A", "NaN", "null", "None"];

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?(Z|[+-]\d{2}:?\d{2})?)?\z")]
    private static partial Regex IsoTimestamp();

    /// <summary>Whether the cell is one of the null tokens (after trimming spaces), compared without case.</summary>
    public static bool IsNull(ReadOnlySpan<byte> cell)
    {
        // Fast path: no null token starts with a digit, a sign or a dot, and most cells of a numeric table do.
        if (cell.Length > 0 && cell[0] is (>= (byte)'0' and <= (byte)'9') or (byte)'-' or (byte)'+' or (byte)'.')
        {
            return false;
        }
        cell = cell.Trim((byte)' ');
        if (cell.Length > 4)
        {
            return false;
        }
        Span<char> chars = stackalloc char[4];
        var n = Encoding.ASCII.GetChars(cell, chars);
        foreach (var token in NullTokens)
        {
            if (chars[..n].Equals(token, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// Whether the cell is 1-18 ASCII digits, as most cells of a numeric table are: such a cell is valid UTF-8, holds no
    /// NUL, is not null, and is an int64 (and a double); <paramref name="value"/> is its value.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)] // once per cell
    public static bool IsPlainDigits(ReadOnlySpan<byte> cell, out long value)
    {
        value = 0;
        if (cell.Length is 0 or > 18)
        {
            return false;
        }
        long result = 0;
        foreach (var b in cell)
        {
            var digit = (uint)(b - '0');
            if (digit > 9)
            {
                return false;
            }
            result = result * 10 + digit;
        }
        value = result;
        return true;
    }

    /// <summary>Whether the text is a culture-invariant integer (an optional sign and digits) that fits an int64.</summary>
    public static bool IsInt64(ReadOnlySpan<byte> v) => TryInt64(v, out _);

    /// <summary>
    /// Reads a culture-invariant integer (an optional sign and digits) that fits an int64: short unsigned digit runs, as
    /// most numeric cells are, are read here directly; anything else goes through <see cref="long.TryParse(ReadOnlySpan{byte}, NumberStyles, IFormatProvider?, out long)"/>.
    /// </summary>
    public static bool TryInt64(ReadOnlySpan<byte> v, out long value) =>
        IsPlainDigits(v, out value) || long.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);

    public static bool IsBool(ReadOnlySpan<byte> v, out bool value)
    {
        value = v.Length == 4;
        return (v.Length == 4 && Ascii.EqualsIgnoreCase(v, "true"u8)) || (v.Length == 5 && Ascii.EqualsIgnoreCase(v, "false"u8));
    }

    /// <summary>An ISO 8601 date or date-time (a space may stand for the T), as UTC; a time without offset is taken as UTC.</summary>
    public static bool TryTimestamp(ReadOnlySpan<byte> utf8, out DateTime value)
    {
        value = default;
        if (utf8.Length is < 10 or > 40 || !char.IsAsciiDigit((char)utf8[0]))
        {
            return false;
        }
        Span<char> text = stackalloc char[40];
        var n = Encoding.UTF8.GetChars(utf8, text);
        return TryTimestamp(text[..n], out value);
    }

    private static bool TryTimestamp(ReadOnlySpan<char> text, out DateTime value)
    {
        value = default;
        if (!IsoTimestamp().IsMatch(text))
        {
            return false;
        }
        if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed))
        {
            return false;
        }
        value = parsed.UtcDateTime;
        return true;
    }

    /// <summary>Whether the cell's text is of <paramref name="type"/> (as <see cref="TrySet"/> would read it), without storing it.</summary>
    public static bool Fits(ColumnType type, ReadOnlySpan<byte> cell)
    {
        var v = cell.Trim((byte)' ');
        return type switch
        {
            ColumnType.Int64 => IsInt64(v),
            ColumnType.Double => double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d),
            ColumnType.Bool => IsBool(v, out _),
            ColumnType.Timestamp => TryTimestamp(v, out _),
            ColumnType.String => true,
            _ => false,
        };
    }

    /// <summary>Sets row <paramref name="row"/> of <paramref name="column"/> from the cell's text; false when the text is not of the column's type.</summary>
    public static bool TrySet(Column column, int row, ReadOnlySpan<byte> cell)
    {
        var v = cell.Trim((byte)' ');
        switch (column.Schema.Type)
        {
            case ColumnType.Int64:
                if (!TryInt64(v, out var l))
                {
                    return false;
                }
                ((long?[])column.Values)[row] = l;
                return true;
            case ColumnType.Double:
                if (!double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) || !double.IsFinite(d))
                {
                    return false;
                }
                ((double?[])column.Values)[row] = d;
                return true;
            case ColumnType.Bool:
                if (!IsBool(v, out var b))
                {
                    return false;
                }
                ((bool?[])column.Values)[row] = b;
                return true;
            case ColumnType.Timestamp:
                if (!TryTimestamp(v, out var t))
                {
                    return false;
                }
                ((DateTime?[])column.Values)[row] = t;
                return true;
            case ColumnType.String:
                ((string?[])column.Values)[row] = Encoding.UTF8.GetString(cell);
                return true;
            default:
                return false;
        }
    }

    /// <summary>A value as messages show it: at most 40 characters.</summary>
    public static string Shorten(string value) => value.Length <= MaxShownValueChars ? value : value[..MaxShownValueChars] + "...";

    public static string Article(ColumnType type) => type is ColumnType.Int64 ? "an" : "a";
}

/// <summary>
/// What the first pass keeps of a text column to choose its type: how many non-null cells fit int64, double, bool and
/// timestamp (never the cells themselves).
/// </summary>
internal struct TypeVotes
{
    public long Values;
    public long Nulls;
    public long Ints;
    public long Doubles;
    public long Bools;
    public long Times;

    /// <summary>Counts a cell known to be an integer (e.g. plain digits).</summary>
    public void AddInteger()
    {
        Values++;
        Ints++;
        Doubles++;
    }

    public void Add(ReadOnlySpan<byte> cell)
    {
        Values++;
        var v = cell.Trim((byte)' ');
        if (TextCells.IsInt64(v))
        {
            Ints++;
            Doubles++;
            return; // an integer is never true/false or a date
        }
        if (double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d))
        {
            Doubles++;
            return;
        }
        if (TextCells.IsBool(v, out _))
        {
            Bools++;
            return;
        }
        if (TextCells.TryTimestamp(v, out _))
        {
            Times++;
        }
    }

    /// <summary>
    /// The first type that fits every value: int64, double, bool, timestamp, else string (also for no values). When up
    /// to <paramref name="allowedMisfits"/> values may be bad rows (quarantine), a type that fits more than half the
    /// values and misses at most that many is chosen instead of string: a numeric column with a few "abc" stays numeric.
    /// </summary>
    public readonly ColumnType Choose(long allowedMisfits)
    {
        if (Values == 0)
        {
            return ColumnType.String;
        }
        if (Ints == Values) return ColumnType.Int64;
        if (Doubles == Values) return ColumnType.Double;
        if (Bools == Values) return ColumnType.Bool;
        if (Times == Values) return ColumnType.Timestamp;
        if (allowedMisfits > 0)
        {
            (ColumnType Type, long Fits)[] candidates = [(ColumnType.Int64, Ints), (ColumnType.Double, Doubles), (ColumnType.Bool, Bools), (ColumnType.Timestamp, Times)];
            var best = candidates[0];
            foreach (var candidate in candidates)
            {
                if (candidate.Fits > best.Fits)
                {
                    best = candidate;
                }
            }
            if (best.Fits * 2 > Values && Values - best.Fits <= allowedMisfits)
            {
                return best.Type;
            }
        }
        return ColumnType.String;
    }
}

