using System.Runtime.Versioning;
using BigDataAI.Models;
using TorchSharp;

namespace BigDataAI.IntegrationTests.Models;

[SupportedOSPlatform("linux")] // the test project references the Linux libtorch only
public sealed class TorchRuntimeTests
{
    private const string Version = TorchRuntime.RequiredLibStdCxxVersion;

    [Fact]
    public void EnsureLoadable_makes_torch_work_and_patches_only_when_the_host_libstdcxx_lacks_the_version()
    {
        var status = TorchRuntime.EnsureLoadable();

        using (var ones = torch.ones(3, 4))
        using (var sum = ones.sum())
        {
            Assert.Equal(12f, sum.item<float>());
        }

        var hostHasVersion = ElfVersionDefinitions.Contains(File.ReadAllBytes(TestFiles.HostLibStdCxx), Version);
        Assert.Equal(TestFiles.HostLibStdCxx, status.LibStdCxx);
        Assert.Contains("ready", status.Description);
        if (hostHasVersion)
        {
            Assert.Equal(TorchRuntimeAction.NotNeeded, status.Action);
        }
        else
        {
            // Patched by this process, or already by an earlier run over the same output folder.
            Assert.Contains(status.Action, new[] { TorchRuntimeAction.Patched, TorchRuntimeAction.AlreadyPatched });
            Assert.Contains(TestFiles.LibTorchSharp, status.Libraries);
            Assert.Contains(Version, status.Description);
            Assert.True(ElfVersionNeeds.Find(File.ReadAllBytes(TestFiles.LibTorchSharp), Version)!.IsWeak);
        }
    }

    [Fact]
    public async Task EnsureLoadable_is_idempotent_across_threads()
    {
        var statuses = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(TorchRuntime.EnsureLoadable)));

        Assert.All(statuses, status => Assert.Same(statuses[0], status));
        Assert.Same(statuses[0], TorchRuntime.EnsureLoadable());
    }

    [Fact]
    public void Status_ToString_lists_the_library_paths()
    {
        var status = new TorchRuntimeStatus(
            TorchRuntimeAction.Patched, new List<string> { "/app/libLibTorchSharp.so", "/app/cpu/libLibTorchSharp.so" }, "/usr/lib/libstdc++.so.6", "patched.");

        var text = status.ToString();

        Assert.Contains("Libraries = [/app/libLibTorchSharp.so, /app/cpu/libLibTorchSharp.so]", text);
        Assert.Contains("Action = Patched", text);
        Assert.Contains("LibStdCxx = /usr/lib/libstdc++.so.6", text);
        Assert.DoesNotContain("System.Collections.Generic", text);
    }

    [Fact]
    public void PatchFile_replaces_a_copy_with_the_weak_version_keeping_its_mode_and_leaving_no_temporary_file()
    {
        using var folder = new TempFolder();
        var copy = Path.Combine(folder.Path, "libLibTorchSharp.so");
        File.WriteAllBytes(copy, UnpatchedLibrary());
        File.SetUnixFileMode(copy, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead);

        Assert.Equal(TorchRuntimeAction.Patched, TorchRuntime.PatchFile(copy, "test"));

        Assert.True(ElfVersionNeeds.Find(File.ReadAllBytes(copy), Version)!.IsWeak);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead, File.GetUnixFileMode(copy));
        Assert.Equal([copy], Directory.GetFiles(folder.Path));
        Assert.Equal(TorchRuntimeAction.AlreadyPatched, TorchRuntime.PatchFile(copy, "test"));
    }

    [Fact]
    public void PatchFile_refuses_a_copy_inside_a_NuGet_package_folder_and_leaves_it_unchanged()
    {
        using var folder = new TempFolder();
        var package = Path.Combine(folder.Path, "torchsharp", "0.107.0");
        var native = Directory.CreateDirectory(Path.Combine(package, "runtimes", "linux-x64", "native")).FullName;
        File.WriteAllText(Path.Combine(package, ".nupkg.metadata"), "{}");
        var copy = Path.Combine(native, "libLibTorchSharp.so");
        var original = UnpatchedLibrary();
        File.WriteAllBytes(copy, original);

        var error = Assert.Throws<InvalidOperationException>(() => TorchRuntime.PatchFile(copy, "libstdc++ lacks it"));

        Assert.Contains("NuGet package cache", error.Message);
        Assert.Contains(copy, error.Message);
        Assert.Equal(original, File.ReadAllBytes(copy));
    }

    [Fact]
    public void PatchFile_leaves_a_library_alone_that_does_not_need_the_version()
    {
        using var folder = new TempFolder();
        var copy = Path.Combine(folder.Path, "libstdc++.so.6");
        var original = File.ReadAllBytes(TestFiles.HostLibStdCxx);
        File.WriteAllBytes(copy, original);

        Assert.Equal(TorchRuntimeAction.NotNeeded, TorchRuntime.PatchFile(copy, "test"));
        Assert.Equal(original, File.ReadAllBytes(copy));
    }

    private static byte[] UnpatchedLibrary()
    {
        var bytes = File.ReadAllBytes(TestFiles.LibTorchSharp);
        ElfVersionNeeds.SetWeak(bytes, Version, weak: false);
        return bytes;
    }
}
