using BigDataAI.Models;

namespace BigDataAI.IntegrationTests.Models;

/// <summary>Native files the model tests read, and small synthetic data sets.</summary>
internal static class TestFiles
{
    /// <summary>The copy of libLibTorchSharp.so the build put in the test output (runtimes/linux-x64/native/ or the root).</summary>
    public static string LibTorchSharp { get; } =
        new[] { Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native"), AppContext.BaseDirectory }
            .Select(folder => Path.Combine(folder, "libLibTorchSharp.so"))
            .FirstOrDefault(File.Exists)
        ?? throw new FileNotFoundException($"libLibTorchSharp.so is not in the test output {AppContext.BaseDirectory}.");

    /// <summary>The libstdc++ this test process runs with (the .NET host links it).</summary>
    public static string HostLibStdCxx { get; } =
        File.ReadLines("/proc/self/maps")
            .Select(line => line.IndexOf('/') is var slash and >= 0 ? line[slash..] : "")
            .FirstOrDefault(path => Path.GetFileName(path).StartsWith("libstdc++.so", StringComparison.Ordinal))
        ?? throw new FileNotFoundException("No libstdc++ is mapped into the test process.");
}

/// <summary>A temporary folder, deleted on dispose.</summary>
internal sealed class TempFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("bigdataai-models-").FullName;

    public void Dispose() => Directory.Delete(Path, recursive: true);
}

/// <summary>Collects progress reports synchronously (unlike <see cref="Progress{T}"/>, which posts them).</summary>
internal sealed class Recorder<T> : IProgress<T>
{
    public List<T> Items { get; } = [];

    public void Report(T value) => Items.Add(value);
}

/// <summary>Gaussian blobs: one random centre per class, examples scattered around it. Separable when the spread is small.</summary>
internal static class Synthetic
{
    public static TrainingData Blobs(int rows, int features, int classes, int seed, double spread = 0.5, int centreSeed = 42)
    {
        var centres = new double[classes, features];
        var centreRandom = new Random(centreSeed);
        for (var c = 0; c < classes; c++)
        {
            for (var f = 0; f < features; f++)
            {
                centres[c, f] = centreRandom.NextDouble() * 4 - 2;
            }
        }

        var random = new Random(seed);
        var x = new float[rows * features];
        var y = new long[rows];
        for (var r = 0; r < rows; r++)
        {
            var c = r % classes;
            y[r] = c;
            for (var f = 0; f < features; f++)
            {
                x[r * features + f] = (float)(centres[c, f] + spread * Gaussian(random));
            }
        }
        return new TrainingData(x, y, features);
    }

    private static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
