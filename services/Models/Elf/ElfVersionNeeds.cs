namespace BigDataAI.Models;

/// <summary>
/// One symbol version that a shared object needs from one of its dependencies: an <c>Elf64_Vernaux</c> entry of the
/// <c>.gnu.version_r</c> (SHT_GNU_verneed) section, e.g. <c>GLIBCXX_3.4.32</c> from <c>libstdc++.so.6</c>.
/// </summary>
/// <param name="File">The dependency that must provide the version (<c>vn_file</c>), e.g. <c>libstdc++.so.6</c>.</param>
/// <param name="Version">The version name (<c>vna_name</c>), e.g. <c>GLIBCXX_3.4.32</c>.</param>
/// <param name="Flags">The entry's <c>vna_flags</c>.</param>
/// <param name="FlagsOffset">Byte offset of <c>vna_flags</c> (16-bit little-endian) in the file.</param>
public sealed record ElfVersionNeed(string File, string Version, ushort Flags, int FlagsOffset)
{
    /// <summary>
    /// Whether <c>VER_FLG_WEAK</c> is set: glibc's loader then only warns (under <c>LD_WARN</c>) instead of refusing
    /// to load the object when the dependency lacks this version.
    /// </summary>
    public bool IsWeak => (Flags & ElfVersionNeeds.WeakFlag) != 0;
}

/// <summary>
/// Reads and edits the version needs (<c>.gnu.version_r</c>) of a 64-bit little-endian ELF shared object held in memory.
/// Pure byte work: no I/O, no native code. Malformed input gives an <see cref="InvalidDataException"/> saying what is wrong.
/// </summary>
public static class ElfVersionNeeds
{
    /// <summary><c>VER_FLG_WEAK</c>, the bit of <c>vna_flags</c> that makes a needed version optional.</summary>
    public const ushort WeakFlag = 0x2;

    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const int VerneedSize = 16;
    private const int VernauxSize = 16;

    /// <summary>Every needed version of the image, in file order; empty when it has no <c>.gnu.version_r</c> section.</summary>
    public static IReadOnlyList<ElfVersionNeed> ReadAll(ReadOnlySpan<byte> elf)
    {
        var image = new ElfImage(elf);
        var result = new List<ElfVersionNeed>();
        if (!image.TryFindSection(ShtGnuVerneed, out var section))
        {
            return result;
        }
        var strings = image.Section(section.Link);

        // Elf64_Verneed { u16 vn_version; u16 vn_cnt; u32 vn_file; u32 vn_aux; u32 vn_next; }
        // Elf64_Vernaux { u32 vna_hash; u16 vna_flags; u16 vna_other; u32 vna_name; u32 vna_next; }
        long need = section.Offset;
        var maxEntries = section.Size / VernauxSize; // guards against cycles in a corrupt file
        for (var n = 0; n < maxEntries; n++)
        {
            ElfImage.CheckInside(section, need, VerneedSize, "an Elf64_Verneed entry");
            var count = image.ReadUInt16((int)need + 2);
            var file = image.ReadString(strings, image.ReadUInt32((int)need + 4));
            long aux = need + image.ReadUInt32((int)need + 8);
            for (var a = 0; a < count; a++)
            {
                ElfImage.CheckInside(section, aux, VernauxSize, "an Elf64_Vernaux entry");
                var flagsOffset = (int)aux + 4;
                result.Add(new ElfVersionNeed(
                    file,
                    image.ReadString(strings, image.ReadUInt32((int)aux + 8)),
                    image.ReadUInt16(flagsOffset),
                    flagsOffset));
                var nextAux = image.ReadUInt32((int)aux + 12);
                if (nextAux == 0)
                {
                    break;
                }
                aux += nextAux;
            }
            var next = image.ReadUInt32((int)need + 12);
            if (next == 0)
            {
                break;
            }
            need += next;
        }
        return result;
    }

    /// <summary>The needed version named <paramref name="version"/> (exact, case-sensitive), or null when the image does not need it.</summary>
    public static ElfVersionNeed? Find(ReadOnlySpan<byte> elf, string version)
    {
        ArgumentException.ThrowIfNullOrEmpty(version);
        foreach (var need in ReadAll(elf))
        {
            if (need.Version == version)
            {
                return need;
            }
        }
        return null;
    }

    /// <summary>
    /// Sets (or, with <paramref name="weak"/> false, clears) <see cref="WeakFlag"/> in the <c>vna_flags</c> of every
    /// needed version named <paramref name="version"/>, changing that one bit and nothing else.
    /// </summary>
    /// <returns>The entry as it is now, or null when the image does not need <paramref name="version"/> (the bytes are then unchanged).</returns>
    public static ElfVersionNeed? SetWeak(Span<byte> elf, string version, bool weak = true)
    {
        ArgumentException.ThrowIfNullOrEmpty(version);
        ElfVersionNeed? first = null;
        foreach (var need in ReadAll(elf))
        {
            if (need.Version != version)
            {
                continue;
            }
            var flags = weak ? (ushort)(need.Flags | WeakFlag) : (ushort)(need.Flags & ~WeakFlag);
            elf[need.FlagsOffset] = (byte)flags; // little-endian: the weak bit lives in the low byte
            first ??= need with { Flags = flags };
        }
        return first;
    }
}

/// <summary>
/// Reads the versions a 64-bit little-endian ELF shared object defines (<c>.gnu.version_d</c>, SHT_GNU_verdef), e.g. the
/// <c>GLIBCXX_3.4.x</c> versions of <c>libstdc++.so.6</c>.
/// </summary>
public static class ElfVersionDefinitions
{
    private const uint ShtGnuVerdef = 0x6ffffffd;
    private const int VerdefSize = 20;
    private const int VerdauxSize = 8;

    /// <summary>Every defined version name in file order (the first is usually the object's own soname); empty without a verdef section.</summary>
    public static IReadOnlyList<string> ReadAll(ReadOnlySpan<byte> elf)
    {
        var image = new ElfImage(elf);
        var result = new List<string>();
        if (!image.TryFindSection(ShtGnuVerdef, out var section))
        {
            return result;
        }
        var strings = image.Section(section.Link);

        // Elf64_Verdef { u16 vd_version; u16 vd_flags; u16 vd_ndx; u16 vd_cnt; u32 vd_hash; u32 vd_aux; u32 vd_next; }
        // Elf64_Verdaux { u32 vda_name; u32 vda_next; }  the first aux names the version, later ones its parents.
        long def = section.Offset;
        var maxEntries = section.Size / VerdauxSize;
        for (var n = 0; n < maxEntries; n++)
        {
            ElfImage.CheckInside(section, def, VerdefSize, "an Elf64_Verdef entry");
            if (image.ReadUInt16((int)def + 6) > 0)
            {
                long aux = def + image.ReadUInt32((int)def + 12);
                ElfImage.CheckInside(section, aux, VerdauxSize, "an Elf64_Verdaux entry");
                result.Add(image.ReadString(strings, image.ReadUInt32((int)aux)));
            }
            var next = image.ReadUInt32((int)def + 16);
            if (next == 0)
            {
                break;
            }
            def += next;
        }
        return result;
    }

    /// <summary>Whether the image defines the version named <paramref name="version"/> (exact, case-sensitive).</summary>
    public static bool Contains(ReadOnlySpan<byte> elf, string version)
    {
        ArgumentException.ThrowIfNullOrEmpty(version);
        return ReadAll(elf).Contains(version, StringComparer.Ordinal);
    }
}
