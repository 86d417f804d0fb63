using BigDataAI.Models;

namespace BigDataAI.IntegrationTests.Models;

/// <summary>
/// The ELF routine on a real copy of TorchSharp 0.107's libLibTorchSharp.so from the test output (read into memory, or
/// copied to a temporary folder: the output's own file is never changed here) and on the host's libstdc++.
/// </summary>
public sealed class ElfVersionNeedsTests
{
    private const string Version = TorchRuntime.RequiredLibStdCxxVersion;

    /// <summary>The library as shipped: its GLIBCXX_3.4.32 need cleared of the weak bit, since another test may have patched the output copy.</summary>
    private static byte[] ShippedLibrary()
    {
        var bytes = File.ReadAllBytes(TestFiles.LibTorchSharp);
        Assert.NotNull(ElfVersionNeeds.SetWeak(bytes, Version, weak: false));
        return bytes;
    }

    [Fact]
    public void The_shipped_library_needs_GLIBCXX_3_4_32_from_libstdcxx_once()
    {
        var needs = ElfVersionNeeds.ReadAll(ShippedLibrary());

        var need = Assert.Single(needs, n => n.Version == Version);
        Assert.Equal("libstdc++.so.6", need.File);
        Assert.False(need.IsWeak);
        // Other needs read correctly too (readelf -V lists 20 libstdc++ versions and GLIBC ones from libc).
        Assert.Contains(needs, n => n is { File: "libc.so.6", Version: "GLIBC_2.2.5" });
        Assert.Equal(20, needs.Count(n => n.File == "libstdc++.so.6"));
        Assert.All(needs, n => Assert.False(n.IsWeak));
    }

    [Fact]
    public void SetWeak_sets_exactly_the_weak_bit_of_that_entry_and_clearing_it_restores_the_original_bytes()
    {
        var original = ShippedLibrary();
        var bytes = (byte[])original.Clone();

        var patched = ElfVersionNeeds.SetWeak(bytes, Version);

        Assert.NotNull(patched);
        Assert.True(patched.IsWeak);
        var differing = Enumerable.Range(0, bytes.Length).Where(i => bytes[i] != original[i]).ToList();
        Assert.Equal([patched.FlagsOffset], differing);
        Assert.Equal(ElfVersionNeeds.WeakFlag, bytes[patched.FlagsOffset] ^ original[patched.FlagsOffset]);
        Assert.True(ElfVersionNeeds.Find(bytes, Version)!.IsWeak);
        Assert.All(ElfVersionNeeds.ReadAll(bytes).Where(n => n.Version != Version), n => Assert.False(n.IsWeak));

        Assert.False(ElfVersionNeeds.SetWeak(bytes, Version, weak: false)!.IsWeak);
        Assert.Equal(original, bytes);
    }

    [Fact]
    public void A_patched_copy_written_to_disk_reads_back_weak()
    {
        using var folder = new TempFolder();
        var bytes = ShippedLibrary();
        ElfVersionNeeds.SetWeak(bytes, Version);
        var copy = Path.Combine(folder.Path, "libLibTorchSharp.so");
        File.WriteAllBytes(copy, bytes);

        var need = ElfVersionNeeds.Find(File.ReadAllBytes(copy), Version);

        Assert.NotNull(need);
        Assert.True(need.IsWeak);
    }

    [Fact]
    public void A_version_the_library_does_not_need_is_reported_as_absent_and_nothing_changes()
    {
        var bytes = ShippedLibrary();
        var before = (byte[])bytes.Clone();

        Assert.Null(ElfVersionNeeds.Find(bytes, "GLIBCXX_9.9.99"));
        Assert.Null(ElfVersionNeeds.SetWeak(bytes, "GLIBCXX_9.9.99"));
        Assert.Null(ElfVersionNeeds.Find(bytes, "glibcxx_3.4.32")); // names are exact
        Assert.Equal(before, bytes);
    }

    [Fact]
    public void Input_that_is_not_a_whole_64_bit_ELF_file_is_rejected_with_the_reason()
    {
        var notElf = Assert.Throws<InvalidDataException>(() => ElfVersionNeeds.ReadAll("hello, world, this is not an ELF file at all......................"u8));
        Assert.Contains("Not an ELF file", notElf.Message);

        var truncated = ShippedLibrary()[..4096];
        var cut = Assert.Throws<InvalidDataException>(() => ElfVersionNeeds.ReadAll(truncated));
        Assert.Contains("truncated", cut.Message);
    }

    [Fact]
    public void The_host_libstdcxx_defines_its_GLIBCXX_versions()
    {
        var libStdCxx = File.ReadAllBytes(TestFiles.HostLibStdCxx);

        var versions = ElfVersionDefinitions.ReadAll(libStdCxx);

        Assert.Contains("GLIBCXX_3.4", versions);
        Assert.Contains("CXXABI_1.3", versions);
        Assert.True(ElfVersionDefinitions.Contains(libStdCxx, "GLIBCXX_3.4.30")); // GCC 12 (Debian 12) and later
        Assert.False(ElfVersionDefinitions.Contains(libStdCxx, "GLIBCXX_9.9.99"));
    }

    [Fact]
    public void Every_libstdcxx_version_the_library_needs_except_GLIBCXX_3_4_32_is_defined_by_the_host()
    {
        // The premise of the one-bit fix: GLIBCXX_3.4.32 is the only need a GCC 12 libstdc++ (Debian 12) cannot meet.
        var defined = ElfVersionDefinitions.ReadAll(File.ReadAllBytes(TestFiles.HostLibStdCxx));
        var needed = ElfVersionNeeds.ReadAll(ShippedLibrary()).Where(n => n.File == "libstdc++.so.6" && n.Version != Version).ToList();

        Assert.NotEmpty(needed);
        Assert.All(needed, n => Assert.Contains(n.Version, defined));
    }
}
