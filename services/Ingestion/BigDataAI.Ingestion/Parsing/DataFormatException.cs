using System.Globalization;
using System.Text;

namespace BigDataAI.Ingestion.Parsing;

/// <summary>
/// An uploaded file is not what its format requires. The message is meant for the person who uploaded it and
/// always names the file and where the problem is: a row (CSV) or a byte offset (IDX, gzip).
/// </summary>
/// <remarks>
/// <para>
/// <see cref="Row"/> is 1-based and counts the CSV header as row 1, so the first data row is row 2: the number a
/// spreadsheet shows. A quoted cell that spans several lines is still one row.
/// </para>
/// <para>
/// <see cref="ByteOffset"/> is 0-based. For a gzipped IDX file it counts bytes of the decompressed data (the reason
/// says so); for a corrupt or truncated gzip stream it counts bytes of the compressed file.
/// </para>
/// Message shapes: <c>data.csv: row 17, column 'px3': 'abc' is not a number</c>,
/// <c>train-images.gz: byte offset 0: ...</c>.
/// </remarks>
public sealed class DataFormatException : Exception
{
    public DataFormatException(string file, string reason, long? row = null, long? byteOffset = null, string? column = null, Exception? innerException = null, string? entry = null)
        : base(Format(file, reason, row, byteOffset, column, entry), innerException)
    {
        Entry = entry;
        File = file;
        Reason = reason;
        Row = row;
        ByteOffset = byteOffset;
        Column = column;
    }

    /// <summary>The file the problem is in, as the caller named it (upload role or file name).</summary>
    public string File { get; }

    /// <summary>1-based CSV row, the header being row 1; null for byte-oriented formats.</summary>
    public long? Row { get; }

    /// <summary>The CSV column (header name, or "column N" before the header is known); null when not about one column.</summary>
    public string? Column { get; }

    /// <summary>0-based byte offset of the problem; null for row-oriented errors.</summary>
    public long? ByteOffset { get; }

    /// <summary>The archive entry the problem is in (its path inside the archive), or null.</summary>
    public string? Entry { get; }

    /// <summary>What is wrong, without the file and location prefix.</summary>
    public string Reason { get; }

    private static string Format(string file, string reason, long? row, long? byteOffset, string? column, string? entry)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(reason);
        if (row is null && byteOffset is null && entry is null)
        {
            throw new ArgumentException("A data format error must name a row, a byte offset or an archive entry.", nameof(row));
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
            text.Append("row ").Append(r.ToString(CultureInfo.InvariantCulture));
            if (byteOffset is { } o)
            {
                text.Append(" (byte offset ").Append(o.ToString(CultureInfo.InvariantCulture)).Append(')');
            }
        }
        else
        {
            text.Append("byte offset ").Append(byteOffset!.Value.ToString(CultureInfo.InvariantCulture));
        }
        if (column is not null)
        {
            text.Append(", column '").Append(column).Append('\'');
        }
        return text.Append(": ").Append(reason).ToString();
    }
}
