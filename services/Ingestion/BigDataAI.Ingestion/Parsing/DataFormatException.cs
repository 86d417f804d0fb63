using System.Globalization;
using System.Text;

namespace BigDataAI.Ingestion.Parsing;

/// <summary>
/// An uploaded file is not what its format requires. The message is meant for the person who uploaded it and
/// always names the file and where the problem is: a row (CSV, JSON Lines, Parquet), a byte offset (IDX, gzip), a
/// column (a Parquet column whose type cannot be stored), or, for a problem of the file as a whole (two label columns,
/// an override for a column no line has, no rows), says so by naming none (<see cref="ForWholeFile"/>).
/// </summary>
/// <remarks>
/// <para>
/// <see cref="Row"/> is 1-based. A CSV counts its header as row 1, so the first data row is row 2: the number a
/// spreadsheet shows; a quoted cell that spans several lines is still one row. In JSON Lines the row is the line
/// number (blank lines counted, as an editor shows it), and the message says "line". In Parquet row 1 is the file's first row (across row groups).
/// </para>
/// <para>
/// <see cref="ByteOffset"/> is 0-based. For a gzipped IDX file it counts bytes of the decompressed data (the reason
/// says so); for a corrupt or truncated gzip stream it counts bytes of the compressed file.
/// </para>
/// Message shapes: <c>data.csv: row 17, column 'px3': 'abc' is not a number</c>,
/// <c>train-images.gz: byte offset 0: ...</c>, <c>data: line 3 (byte offset 57): ...</c>, <c>data: column 'price': ...</c>.
/// </remarks>
public sealed class DataFormatException : Exception
{
    /// <param name="lineNumbered">The row is a line number (JSON Lines): the message says "line" where it would say "row".</param>
    /// <param name="entry">The archive entry the problem is in, if any.</param>
    public DataFormatException(string file, string reason, long? row = null, long? byteOffset = null, string? column = null, Exception? innerException = null, bool lineNumbered = false, string? entry = null)
        : base(Format(file, reason, row, byteOffset, column, wholeFile: false, lineNumbered, entry), innerException)
    {
        Entry = entry;
        File = file;
        Reason = reason;
        Row = row;
        ByteOffset = byteOffset;
        Column = column;
    }

    private DataFormatException(string file, string reason, Exception? innerException)
        : base(Format(file, reason, null, null, null, wholeFile: true, lineNumbered: false), innerException)
    {
        File = file;
        Reason = reason;
    }

    /// <summary>A problem of the file as a whole (its columns together, or no rows), which no one row, offset or column locates.</summary>
    public static DataFormatException ForWholeFile(string file, string reason, Exception? innerException = null) => new(file, reason, innerException);

    /// <summary>The file the problem is in, as the caller named it (upload role or file name).</summary>
    public string File { get; }

    /// <summary>1-based row (the CSV header being row 1, a JSON Lines row being its line); null when not about one row.</summary>
    public long? Row { get; }

    /// <summary>The column (CSV header name or "column N" before the header is known, JSON key, Parquet column); null when not about one column.</summary>
    public string? Column { get; }

    /// <summary>0-based byte offset of the problem; null for row-oriented errors.</summary>
    public long? ByteOffset { get; }

    /// <summary>The archive entry the problem is in (its path inside the archive), or null.</summary>
    public string? Entry { get; }

    /// <summary>What is wrong, without the file and location prefix.</summary>
    public string Reason { get; }

    private static string Format(string file, string reason, long? row, long? byteOffset, string? column, bool wholeFile, bool lineNumbered, string? entry = null)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(reason);
        if (row is null && byteOffset is null && column is null && entry is null && !wholeFile)
        {
            throw new ArgumentException("A data format error must name a row, a byte offset, a column or an archive entry (or be about the whole file: ForWholeFile).", nameof(row));
        }
        var text = new StringBuilder(file.Length + reason.Length + 48);
        text.Append(file).Append(": ");
        if (entry is not null)
        {
            text.Append("entry '").Append(entry).Append('\'');
            if (row is null && byteOffset is null)
            {
                return text.Append(": ").Append(reason).ToString();
            }
            text.Append(", ");
        }
        if (row is { } r)
        {
            text.Append(lineNumbered ? "line " : "row ").Append(r.ToString(CultureInfo.InvariantCulture));
            if (byteOffset is { } o)
            {
                text.Append(" (byte offset ").Append(o.ToString(CultureInfo.InvariantCulture)).Append(')');
            }
        }
        else if (byteOffset is { } o)
        {
            text.Append("byte offset ").Append(o.ToString(CultureInfo.InvariantCulture));
        }
        if (column is not null)
        {
            text.Append(row is null && byteOffset is null ? "" : ", ").Append("column '").Append(column).Append('\'');
        }
        if (!wholeFile)
        {
            text.Append(": ");
        }
        return text.Append(reason).ToString();
    }
}
