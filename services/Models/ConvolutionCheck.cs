using static TorchSharp.torch;

namespace BigDataAI.Models;

/// <summary>
/// Guards CNN training against a defect seen with libtorch 2.10 (oneDNN 3.7.1) on some CPUs (found on an AMD EPYC
/// family 26 virtual machine with AVX-512): the float32 input gradient of a convolution whose number of output channels
/// is not a multiple of 16 comes out wrong, nondeterministic, sometimes NaN. Forward passes and weight gradients are
/// right, and so are input gradients of layers with 16, 32, 48... output channels. The defect is detected at run time
/// by comparing a few such gradients with float64 (computed without oneDNN); only specs that would hit it are refused.
/// </summary>
internal static class ConvolutionCheck
{
    private const int Block = 16;
    private static readonly Lazy<double> MaxError = new(Measure, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>
    /// Throws an <see cref="ArgumentException"/> when <paramref name="spec"/> has a convolution after the first (those
    /// whose input gradient training computes) with a channel count that is not a multiple of 16 and this host computes
    /// such gradients wrongly. Costs nothing for other specs; the check itself runs once per process (tens of ms).
    /// </summary>
    public static void EnsureTrainable(ModelSpec spec)
    {
        if (spec.Architecture != "cnn")
        {
            return;
        }
        var affected = Enumerable.Range(1, Math.Max(0, spec.Channels.Length - 1)).Where(i => spec.Channels[i] % Block != 0).ToList();
        if (affected.Count == 0 || MaxError.Value <= 1e-3)
        {
            return;
        }
        var i = affected[0];
        throw new ArgumentException(
            $"ModelSpec.Channels[{i}] = {spec.Channels[i]} cannot be trained correctly on this host: its libtorch (oneDNN) computes wrong " +
            $"input gradients for convolutions whose number of output channels is not a multiple of {Block} (checked at run time: " +
            $"error {MaxError.Value:G3} against float64). Use multiples of {Block} for every convolution after the first " +
            $"(e.g. Channels [16, 32]); the first convolution may have any number.");
    }

    /// <summary>Largest absolute error of float32 convolution input gradients against float64 over a few small layers.</summary>
    private static double Measure()
    {
        TorchRuntime.EnsureLoadable();
        var worst = 0.0;
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        using var generator = new Generator(1234);
        // (input channels, output channels, size): layers that showed the defect; the input gradient of a convolution is
        // the transposed convolution of its output gradient, which libtorch computes with the same oneDNN kernel.
        foreach (var (inputs, outputs, size) in new[] { (16, 4, 8), (1, 4, 14), (3, 12, 14) })
        {
            var weight = randn([outputs, inputs, 5, 5], generator: generator);
            var gradient = randn([2, outputs, size, size], generator: generator);
            var single = nn.functional.conv_transpose2d(gradient, weight, padding: [2, 2]);
            var reference = nn.functional.conv_transpose2d(gradient.to(ScalarType.Float64), weight.to(ScalarType.Float64), padding: [2, 2]);
            var error = (single.to(ScalarType.Float64) - reference).abs().max().item<double>();
            worst = double.IsNaN(error) ? double.PositiveInfinity : Math.Max(worst, error);
        }
        return worst;
    }
}
