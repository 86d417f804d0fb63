using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace BigDataAI.Models;

/// <summary>
/// Saves and loads model weights in TorchSharp's format (<c>Module.save</c>/<c>Module.load</c>: the state dict, keyed by the
/// models' field names) to and from any stream, e.g. a blob upload or download stream. Streams are left open.
/// </summary>
public static class ModelWeights
{
    /// <summary>Writes the weights of <paramref name="model"/> (any device) to <paramref name="destination"/>, which stays open.</summary>
    public static void Save(nn.Module<Tensor, Tensor> model, Stream destination)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(destination);
        using var writer = new BinaryWriter(destination, Encoding.UTF8, leaveOpen: true);
        model.save(writer);
        writer.Flush();
    }

    /// <summary>
    /// Builds the model of <paramref name="spec"/>, loads the weights from <paramref name="source"/> (which stays open) on the
    /// CPU, then moves the model to <paramref name="device"/> and puts it in eval mode.
    /// </summary>
    /// <param name="spec">The architecture the weights were saved from.</param>
    /// <param name="source">Stream positioned at the weights.</param>
    /// <param name="device">"cpu", "cuda" or "cuda:N"; null picks CUDA when available, else the CPU.</param>
    /// <exception cref="ArgumentException">Invalid spec or device.</exception>
    /// <exception cref="InvalidDataException">The stream does not hold weights of this architecture (the message says what differs).</exception>
    public static nn.Module<Tensor, Tensor> Load(ModelSpec spec, Stream source, string? device = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(source);
        var target = Devices.Resolve(device);
        var model = ModelFactory.Create(spec);
        try
        {
            LoadInto(model, spec, source);
            model.to(target);
            model.eval();
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Loads weights from <paramref name="source"/> (left open) into <paramref name="model"/>, a model of <paramref name="spec"/>.</summary>
    /// <exception cref="InvalidDataException">The stream does not hold weights of this architecture.</exception>
    internal static void LoadInto(nn.Module<Tensor, Tensor> model, ModelSpec spec, Stream source)
    {
        try
        {
            using var reader = new BinaryReader(source, Encoding.UTF8, leaveOpen: true);
            model.load(reader, strict: true);
        }
        catch (Exception e) when (e is ArgumentException or EndOfStreamException or IOException or FormatException or NotImplementedException)
        {
            throw new InvalidDataException($"The weights do not fit the model {spec}: {e.Message}", e);
        }
    }
}

/// <summary>
/// Serves one trained model: probabilities for batches of feature rows. Thread-safe: any number of threads may call
/// <see cref="Predict"/> at once (forward passes run concurrently, under <c>inference_mode</c>); <see cref="Dispose"/>
/// waits for running calls.
/// </summary>
public sealed class Predictor : IDisposable
{
    private readonly nn.Module<Tensor, Tensor> _model;
    private readonly Device _device;
    private readonly ReaderWriterLockSlim _gate = new(LockRecursionPolicy.NoRecursion);
    private bool _disposed;

    /// <summary>Loads the weights (see <see cref="ModelWeights.Load"/>) for serving.</summary>
    /// <param name="spec">The architecture the weights were saved from.</param>
    /// <param name="weights">Stream positioned at the weights; read to the end of the weights and left open.</param>
    /// <param name="device">"cpu", "cuda" or "cuda:N"; null picks CUDA when available, else the CPU.</param>
    /// <exception cref="ArgumentException">Invalid spec or device.</exception>
    /// <exception cref="InvalidDataException">The weights do not fit the spec.</exception>
    public Predictor(ModelSpec spec, Stream weights, string? device = null)
    {
        _model = ModelWeights.Load(spec, weights, device);
        _device = Devices.Of(_model);
        Spec = spec;
        Device = _device.ToString();
    }

    /// <summary>The architecture served.</summary>
    public ModelSpec Spec { get; }

    /// <summary>The device the model runs on, e.g. "cpu".</summary>
    public string Device { get; }

    /// <summary>Floats per input row (<see cref="ModelSpec.FeatureCount"/>).</summary>
    public int FeatureCount => Spec.FeatureCount;

    /// <summary>Probabilities per row (<see cref="ModelSpec.Classes"/>).</summary>
    public int Classes => Spec.Classes;

    /// <summary>Class probabilities (softmax) of <paramref name="count"/> rows; for a regression (<see cref="ModelSpec.Regression"/>) each row's predicted value.</summary>
    /// <param name="features">Row-major, exactly <paramref name="count"/> x <see cref="FeatureCount"/> floats.</param>
    /// <param name="count">Number of rows (0 gives an empty result).</param>
    /// <returns>Row-major [count x <see cref="Classes"/>] probabilities; each row sums to 1.</returns>
    /// <exception cref="ArgumentException">The number of floats is not count x FeatureCount (the message gives both).</exception>
    /// <exception cref="ObjectDisposedException">The predictor was disposed.</exception>
    public float[] Predict(ReadOnlySpan<float> features, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var expected = (long)count * FeatureCount;
        if (features.Length != expected)
        {
            throw new ArgumentException(
                $"Expected {expected} feature values ({count} rows x {FeatureCount} features for {Spec}) but got {features.Length}.",
                nameof(features));
        }
        _gate.EnterReadLock();
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return Inference.Probabilities(_model, _device, features, count, FeatureCount, Classes, softmax: !Spec.Regression);
        }
        finally
        {
            _gate.ExitReadLock();
        }
    }

    /// <summary>
    /// Integrated gradients (Sundararajan et al. 2017) of output <paramref name="target"/> (a class's softmax probability,
    /// or a regression's value) for one input row, from an all-zero baseline: the attribution of input i is
    /// (x_i - 0) times the mean, over <paramref name="steps"/> points on the straight path from the baseline to x
    /// (midpoint rule), of d output / d x_i. The attributions add up to output(x) - output(baseline), up to the path's
    /// discretisation (<see cref="Explanation.CompletenessGap"/>). Gradients come from TorchSharp's autograd through
    /// <c>autograd.grad</c>, which never writes the parameters' <c>.grad</c>, so explanations and predictions may run at
    /// once on the same model.
    /// </summary>
    /// <exception cref="NotSupportedException">The model's input is token ids (fastText): no gradient flows to them.</exception>
    /// <exception cref="ArgumentException">A row of the wrong width, a target outside the outputs, or steps outside 1-1024.</exception>
    public Explanation Explain(ReadOnlySpan<float> input, int target, int steps = 64)
    {
        if (Spec.Architecture == "fasttext")
        {
            throw new NotSupportedException(
                $"The model ({Spec}) reads token ids through an embedding lookup: its output cannot be differentiated with respect to its input, so integrated gradients do not apply.");
        }
        if (input.Length != FeatureCount)
        {
            throw new ArgumentException($"Expected {FeatureCount} feature values for {Spec} but got {input.Length}.", nameof(input));
        }
        var outputs = Spec.Regression ? 1 : Classes;
        if (target < 0 || target >= outputs)
        {
            throw new ArgumentException($"Output {target} does not exist; the model has {outputs} output(s).", nameof(target));
        }
        if (steps is < 1 or > 1024)
        {
            throw new ArgumentException($"Steps {steps} is out of range; use 1 to 1024.", nameof(steps));
        }
        _gate.EnterReadLock();
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var scope = NewDisposeScope();
            using var grad = enable_grad();
            var x = tensor(input.ToArray(), [1, FeatureCount]).to(_device);
            var alphas = arange(steps, dtype: ScalarType.Float32, device: _device).add(0.5).div(steps).reshape(steps, 1);
            var path = alphas.mul(x).detach().requires_grad_(true); // baseline 0: the points alpha * x
            var output = Output(_model.call(path));
            var gradients = autograd.grad([output.select(1, target).sum()], [path])[0];
            var attributions = gradients.mean([0L]).mul(x.squeeze(0)).cpu();
            float[] ends;
            using (no_grad())
            {
                ends = Output(_model.call(cat([x, zeros_like(x)], 0))).select(1, target).cpu().data<float>().ToArray();
            }
            var values = attributions.data<float>().ToArray();
            return new Explanation(target, values, ends[0], ends[1], values.Sum() - (ends[0] - ends[1]));
        }
        finally
        {
            _gate.ExitReadLock();
        }
    }

    private Tensor Output(Tensor raw) => Spec.Regression ? raw : nn.functional.softmax(raw, 1);

    /// <summary>Releases the model after running <see cref="Predict"/> calls finish.</summary>
    public void Dispose()
    {
        _gate.EnterWriteLock();
        try
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            _model.Dispose();
        }
        finally
        {
            _gate.ExitWriteLock();
        }
    }
}

/// <summary>Integrated-gradient attributions of one output for one input row (<see cref="Predictor.Explain"/>).</summary>
/// <param name="Target">The output explained (class index; 0 for a regression).</param>
/// <param name="Attributions">One per model input float, in the input's order.</param>
/// <param name="Output">The output at the row (the class's probability, or the regression's value).</param>
/// <param name="BaselineOutput">The output at the all-zero baseline.</param>
/// <param name="CompletenessGap">Sum of the attributions minus (Output - BaselineOutput): near 0 when the steps suffice.</param>
public sealed record Explanation(int Target, float[] Attributions, float Output, float BaselineOutput, float CompletenessGap);
