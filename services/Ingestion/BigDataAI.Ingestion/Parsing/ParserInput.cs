using System.Buffers.Binary;
using System.IO.Compression;

namespace BigDataAI.Ingestion.Parsing;

/// <summary>
/// A forward-only view of an uploaded file that transparently decompresses gzip (recognised by its magic bytes
/// 0x1f 0x8b, never by the file name) and turns zlib failures into <see cref="DataFormatException"/>.
/// </summary>
/// <remarks>
/// .NET's GZipStream reports a gzip stream that was cut short as a normal end of data, and ignores bytes after the
/// last member. Both would silently lose rows, so at the end of the data this class checks the gzip trailer itself:
/// the last four bytes of the compressed file must equal the decompressed length modulo 2^32 (RFC 1952 ISIZE). A
/// file made of several concatenated gzip members fails that check and is rejected with a message saying so.
/// </remarks>
internal sealed class ParserInput : IDisposable
{
    private const int GzipMinimumLength = 18; // RFC 1952: a 10-byte header and an 8-byte trailer at least.

    private readonly string _fileName;
    private readonly RawStream _raw;
    private readonly GZipStream? _gzip;
    private bool _ended;

    private ParserInput(string fileName, RawStream raw, bool gzip)
    {
        _fileName = fileName;
        _raw = raw;
        _gzip = gzip ? new GZipStream(raw, CompressionMode.Decompress, leaveOpen: true) : null;
    }

    /// <summary>True when the data is gzip-compressed.</summary>
    public bool IsGzip => _gzip is not null;

    /// <summary>Bytes of (decompressed) data handed out so far: the byte offset of the next byte.</summary>
    public long Position { get; private set; }

    /// <summary>
    /// True when the raw stream is seekable and not compressed, so <see cref="RemainingLength"/> is the exact number
    /// of bytes still to come.
    /// </summary>
    public bool KnowsRemainingLength => _gzip is null && _raw.KnowsLength;

    public long RemainingLength => _raw.RemainingLength;

    public static ParserInput Open(Stream stream, string fileName)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(fileName);
        if (!stream.CanRead)
        {
            throw new ArgumentException($"The stream for '{fileName}' is not readable.", nameof(stream));
        }
        var raw = new RawStream(stream, fileName);
        var magic = raw.Peek2();
        return new ParserInput(fileName, raw, magic is [0x1f, 0x8b]);
    }

    /// <summary>Reads up to <paramref name="buffer"/>.Length bytes; 0 only at the verified end of the data.</summary>
    public int Read(Span<byte> buffer)
    {
        if (_ended || buffer.IsEmpty)
        {
            return 0;
        }
        int n;
        if (_gzip is null)
        {
            n = _raw.Read(buffer);
        }
        else
        {
            try
            {
                n = _gzip.Read(buffer);
            }
            catch (InvalidDataException e)
            {
                throw new DataFormatException(_fileName,
                    "the gzip data is corrupt (found by this offset in the compressed file); re-create the .gz file from the original",
                    byteOffset: _raw.Consumed, innerException: e);
            }
            if (n == 0)
            {
                VerifyGzipEnd();
            }
        }
        if (n == 0)
        {
            _ended = true;
        }
        Position += n;
        return n;
    }

    /// <summary>Fills <paramref name="buffer"/> as far as the data allows; returns how many bytes arrived.</summary>
    public int ReadUpTo(Span<byte> buffer)
    {
        var total = 0;
        while (total < buffer.Length)
        {
            var n = Read(buffer[total..]);
            if (n == 0)
            {
                break;
            }
            total += n;
        }
        return total;
    }

    /// <summary>Reads to the end of the data and returns how many bytes there were.</summary>
    public long Drain(CancellationToken cancellationToken)
    {
        Span<byte> scratch = stackalloc byte[4096];
        long total = 0;
        int n;
        while ((n = Read(scratch)) > 0)
        {
            total += n;
            if ((total & 0xFFFFF) < 4096)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }
        }
        return total;
    }

    private void VerifyGzipEnd()
    {
        // GZipStream may stop reading the raw stream once the trailer is consumed; whatever is left counts too.
        _raw.DrainToEnd();
        var compressed = _raw.Consumed;
        if (compressed < GzipMinimumLength || _raw.LastFour() != (uint)Position)
        {
            throw new DataFormatException(_fileName,
                $"the gzip data is incomplete (the file looks truncated) or has extra bytes after it: its trailer does not match the {Position} bytes it decompressed to "
                + "(offset counted in the compressed file; concatenated gzip streams are not supported); upload the complete .gz file",
                byteOffset: compressed);
        }
    }

    public void Dispose()
    {
        _gzip?.Dispose();
    }

    /// <summary>The caller's stream, with the two peeked bytes put back, a count of bytes read and the last four of them.</summary>
    private sealed class RawStream(Stream inner, string fileName) : Stream
    {
        private readonly byte[] _peeked = new byte[2];
        private int _peekedCount;
        private int _peekedPos;
        private uint _lastFour;
        private long _startPosition = -1;
        private long _length = -1;

        public long Consumed { get; private set; }

        public bool KnowsLength => _length >= 0;

        public long RemainingLength => _length - _startPosition - Consumed;

        public byte[] Peek2()
        {
            if (inner.CanSeek)
            {
                try
                {
                    _startPosition = inner.Position;
                    _length = inner.Length;
                }
                catch (NotSupportedException)
                {
                    _startPosition = _length = -1;
                }
            }
            _peekedCount = inner.ReadAtLeast(_peeked, 2, throwOnEndOfStream: false);
            return _peeked[.._peekedCount];
        }

        public uint LastFour() => _lastFour;

        public void DrainToEnd()
        {
            Span<byte> scratch = stackalloc byte[4096];
            while (Read(scratch) > 0)
            {
            }
        }

        public override int Read(Span<byte> buffer)
        {
            int n;
            if (_peekedPos < _peekedCount)
            {
                n = Math.Min(buffer.Length, _peekedCount - _peekedPos);
                _peeked.AsSpan(_peekedPos, n).CopyTo(buffer);
                _peekedPos += n;
            }
            else
            {
                try
                {
                    n = inner.Read(buffer);
                }
                catch (IOException e)
                {
                    throw new IOException($"Reading '{fileName}' failed after {Consumed} bytes: {e.Message}", e);
                }
            }
            Track(buffer[..n]);
            return n;
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int ReadByte()
        {
            Span<byte> one = stackalloc byte[1];
            return Read(one) == 1 ? one[0] : -1;
        }

        private void Track(ReadOnlySpan<byte> read)
        {
            Consumed += read.Length;
            if (read.Length >= 4)
            {
                _lastFour = BinaryPrimitives.ReadUInt32LittleEndian(read[^4..]);
            }
            else
            {
                foreach (var b in read)
                {
                    _lastFour = (_lastFour >> 8) | ((uint)b << 24);
                }
            }
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
