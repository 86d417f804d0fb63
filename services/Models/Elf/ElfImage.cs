using System.Buffers.Binary;
using System.Text;

namespace BigDataAI.Models;

/// <summary>
/// Minimal reader of a 64-bit little-endian ELF image (x86-64, arm64 Linux): section headers and
/// NUL-terminated strings, every offset bounds-checked. Malformed input gives <see cref="InvalidDataException"/>.
/// </summary>
internal readonly ref struct ElfImage
{
    private const int SectionHeaderSize = 64;

    private readonly ReadOnlySpan<byte> _bytes;
    private readonly ulong _sectionHeaderOffset;
    private readonly int _sectionCount;

    public ElfImage(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < 64 || bytes[0] != 0x7f || bytes[1] != (byte)'E' || bytes[2] != (byte)'L' || bytes[3] != (byte)'F')
        {
            throw new InvalidDataException("Not an ELF file: the first four bytes are not 0x7F 'E' 'L' 'F'.");
        }
        if (bytes[4] != 2)
        {
            throw new InvalidDataException($"Unsupported ELF class {bytes[4]}: only 64-bit ELF (class 2) is supported.");
        }
        if (bytes[5] != 1)
        {
            throw new InvalidDataException($"Unsupported ELF data encoding {bytes[5]}: only little-endian ELF (1) is supported.");
        }

        _bytes = bytes;
        _sectionHeaderOffset = BinaryPrimitives.ReadUInt64LittleEndian(bytes[0x28..]);
        var entrySize = BinaryPrimitives.ReadUInt16LittleEndian(bytes[0x3A..]);
        _sectionCount = BinaryPrimitives.ReadUInt16LittleEndian(bytes[0x3C..]);
        if (_sectionCount == 0 || _sectionHeaderOffset == 0)
        {
            throw new InvalidDataException("The ELF file has no section headers (stripped with sstrip?), so its version sections cannot be found.");
        }
        if (entrySize != SectionHeaderSize)
        {
            throw new InvalidDataException($"Unexpected ELF section header size {entrySize} (expected {SectionHeaderSize}).");
        }
        Check(_sectionHeaderOffset, (ulong)_sectionCount * SectionHeaderSize, "section header table");
    }

    /// <summary>Finds the first section of the given <c>sh_type</c>; false when there is none.</summary>
    public bool TryFindSection(uint type, out ElfSection section)
    {
        for (var i = 0; i < _sectionCount; i++)
        {
            var header = _bytes.Slice(checked((int)_sectionHeaderOffset + i * SectionHeaderSize), SectionHeaderSize);
            if (BinaryPrimitives.ReadUInt32LittleEndian(header[4..]) != type)
            {
                continue;
            }
            var offset = BinaryPrimitives.ReadUInt64LittleEndian(header[24..]);
            var size = BinaryPrimitives.ReadUInt64LittleEndian(header[32..]);
            Check(offset, size, $"section {i} (type 0x{type:x})");
            section = new ElfSection(
                (int)offset,
                (int)size,
                BinaryPrimitives.ReadUInt32LittleEndian(header[40..]),
                BinaryPrimitives.ReadUInt32LittleEndian(header[44..]));
            return true;
        }
        section = default;
        return false;
    }

    /// <summary>The section at <paramref name="index"/> (used to follow <c>sh_link</c> to a string table).</summary>
    public ElfSection Section(uint index)
    {
        if (index >= _sectionCount)
        {
            throw new InvalidDataException($"ELF section index {index} is out of range (the file has {_sectionCount} sections).");
        }
        var header = _bytes.Slice(checked((int)_sectionHeaderOffset + (int)index * SectionHeaderSize), SectionHeaderSize);
        var offset = BinaryPrimitives.ReadUInt64LittleEndian(header[24..]);
        var size = BinaryPrimitives.ReadUInt64LittleEndian(header[32..]);
        Check(offset, size, $"section {index}");
        return new ElfSection((int)offset, (int)size,
            BinaryPrimitives.ReadUInt32LittleEndian(header[40..]),
            BinaryPrimitives.ReadUInt32LittleEndian(header[44..]));
    }

    public ushort ReadUInt16(int offset) => BinaryPrimitives.ReadUInt16LittleEndian(Slice(offset, 2));

    public uint ReadUInt32(int offset) => BinaryPrimitives.ReadUInt32LittleEndian(Slice(offset, 4));

    /// <summary>Reads the NUL-terminated string at <paramref name="offset"/> of the string table <paramref name="table"/>.</summary>
    public string ReadString(ElfSection table, uint offset)
    {
        if (offset >= (uint)table.Size)
        {
            throw new InvalidDataException($"ELF string offset {offset} lies outside its string table ({table.Size} bytes).");
        }
        var rest = _bytes.Slice(table.Offset + (int)offset, table.Size - (int)offset);
        var end = rest.IndexOf((byte)0);
        if (end < 0)
        {
            throw new InvalidDataException($"ELF string at offset {offset} is not NUL-terminated.");
        }
        return Encoding.ASCII.GetString(rest[..end]);
    }

    /// <summary>Throws unless [<paramref name="offset"/>, +<paramref name="length"/>) lies inside <paramref name="section"/>.</summary>
    public static void CheckInside(ElfSection section, long offset, int length, string what)
    {
        if (offset < section.Offset || offset + length > (long)section.Offset + section.Size)
        {
            throw new InvalidDataException($"Malformed ELF: {what} at byte {offset} lies outside its section.");
        }
    }

    private ReadOnlySpan<byte> Slice(int offset, int length)
    {
        Check((ulong)offset, (ulong)length, "field");
        return _bytes.Slice(offset, length);
    }

    private void Check(ulong offset, ulong length, string what)
    {
        if (offset > (ulong)_bytes.Length || length > (ulong)_bytes.Length - offset)
        {
            throw new InvalidDataException(
                $"Malformed or truncated ELF: the {what} at byte {offset} (+{length}) runs past the end of the file ({_bytes.Length} bytes).");
        }
    }
}

/// <summary>One section: file offset and size in bytes, <c>sh_link</c> and <c>sh_info</c>.</summary>
internal readonly record struct ElfSection(int Offset, int Size, uint Link, uint Info);
