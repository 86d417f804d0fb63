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
