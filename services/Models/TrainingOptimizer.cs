using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BigDataAI.Models;

/// <summary>
/// Adam and SGD with momentum, with the update rules of <c>torch.optim.Adam</c> (amsgrad off) and <c>torch.optim.SGD</c>
/// (dampening 0, not Nesterov), both with their L2 <c>weight_decay</c>, and gradient clipping as
/// <c>torch.nn.utils.clip_grad_norm_</c>. The learning rate is given to each step, so a schedule can change it.
/// </summary>
/// <remarks>
/// Why not TorchSharp's own optimizers: in TorchSharp 0.107 their <c>step()</c> passes implicitly converted
/// <see cref="Scalar"/> temporaries (e.g. <c>exp_avg.mul_(beta1)</c>) to native code without keeping them alive, so the
/// garbage collector may finalize, and free, a scalar while libtorch still reads it. That was seen here as
/// "Unknown scalar type" thrown from Adam's step (dotnet/TorchSharp PRs #1434 and #1496 are about these temporaries).
/// Here every scalar is a field, alive as long as the optimizer, or a local disposed after its last use.
/// </remarks>
internal sealed class TrainingOptimizer : IDisposable
{
    private readonly string[] _names;
    private readonly Parameter[] _parameters;
    private readonly bool _adam;
    private readonly Scalar? _weightDecay;
    private readonly Tensor?[] _first;   // Adam: first moment; SGD: momentum buffer (created at the first step)
    private readonly Tensor[] _second;   // Adam: second moment
    private readonly Scalar _one = 1.0.ToScalar();
    private readonly Scalar _beta1 = 0.9.ToScalar();
    private readonly Scalar _oneMinusBeta1 = (1 - 0.9).ToScalar();
    private readonly Scalar _beta2 = 0.999.ToScalar();
    private readonly Scalar _oneMinusBeta2 = (1 - 0.999).ToScalar();
    private readonly Scalar _epsilon = 1e-8.ToScalar();
    private readonly Scalar _momentum = 0.9.ToScalar();
    private readonly Scalar _clipEpsilon = 1e-6.ToScalar();
    private long _steps;

    /// <param name="model">The model whose parameters are optimized.</param>
    /// <param name="optimizer">"adam" or "sgd".</param>
    /// <param name="weightDecay">L2 weight decay (0: none): <c>decay x weight</c> is added to each gradient before the update.</param>
    public TrainingOptimizer(nn.Module model, string optimizer, double weightDecay = 0)
    {
        var named = model.named_parameters().ToArray();
        _names = named.Select(p => p.name).ToArray();
        _parameters = named.Select(p => p.parameter).ToArray();
        _adam = optimizer == "adam";
        _weightDecay = weightDecay > 0 ? weightDecay.ToScalar() : null;
        _first = new Tensor?[_parameters.Length];
        _second = new Tensor[_adam ? _parameters.Length : 0];
        using (no_grad())
        {
            for (var i = 0; i < _second.Length; i++)
            {
                _first[i] = zeros_like(_parameters[i]).DetachFromDisposeScope();
                _second[i] = zeros_like(_parameters[i]).DetachFromDisposeScope();
            }
        }
    }

    /// <summary>Zeroes the gradients of all parameters.</summary>
    public void ZeroGrad()
    {
        foreach (var parameter in _parameters)
        {
            using var gradient = parameter.grad;
            gradient?.zero_();
        }
    }

    /// <summary>
    /// Scales the gradients down so that their total L2 norm (over all parameters, as one vector) is at most
    /// <paramref name="maxNorm"/>, as <c>torch.nn.utils.clip_grad_norm_</c>: each is multiplied by
    /// <c>min(1, maxNorm / (norm + 1e-6))</c>, computed on the device (no synchronisation). Call after backward, before
    /// <see cref="Step"/>.
    /// </summary>
    public void ClipGradients(double maxNorm)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var gradients = _parameters.Select(parameter => parameter.grad).Where(gradient => gradient is not null).Select(gradient => gradient!).ToArray();
        if (gradients.Length == 0)
        {
            return;
        }
        var norms = gradients.Select(gradient => gradient.norm()).ToArray();
        var total = stack(norms).norm();
        using var limit = maxNorm.ToScalar();
        using var ceiling = 1.0.ToScalar();
        var coefficient = total.add(_clipEpsilon).reciprocal_().mul_(limit).clamp_max_(ceiling);
        foreach (var gradient in gradients)
        {
            gradient.mul_(coefficient);
        }
    }

    /// <summary>Applies one update from the current gradients with <paramref name="learningRate"/>. Call inside the batch's dispose scope.</summary>
    public void Step(double learningRate)
    {
        _steps++;
        using var _ = no_grad();
        if (_weightDecay is not null)
        {
            // L2 as torch.optim: gradient += decay x weight, before the moments (Adam) or the momentum buffer (SGD).
            foreach (var parameter in _parameters)
            {
                using var gradient = parameter.grad;
                gradient?.add_(parameter, _weightDecay);
            }
        }
        if (_adam)
        {
            AdamStep(learningRate);
        }
        else
        {
            SgdStep(learningRate);
        }
    }

    private void AdamStep(double learningRate)
    {
        var biasCorrection1 = 1 - Math.Pow(0.9, _steps);
        var biasCorrection2 = 1 - Math.Pow(0.999, _steps);
        using var denominatorScale = (1 / Math.Sqrt(biasCorrection2)).ToScalar();
        using var minusStepSize = (-learningRate / biasCorrection1).ToScalar();
        for (var i = 0; i < _parameters.Length; i++)
        {
            using var gradient = _parameters[i].grad;
            if (gradient is null)
            {
                continue;
            }
            var first = _first[i]!;
            var second = _second[i];
            first.mul_(_beta1).add_(gradient, _oneMinusBeta1);
            second.mul_(_beta2).addcmul_(gradient, gradient, _oneMinusBeta2);
            using var denominator = second.sqrt();
            denominator.mul_(denominatorScale).add_(_epsilon, _one);
            _parameters[i].addcdiv_(first, denominator, minusStepSize);
        }
    }

    private void SgdStep(double learningRate)
    {
        using var minusLearningRate = (-learningRate).ToScalar();
        for (var i = 0; i < _parameters.Length; i++)
        {
            using var gradient = _parameters[i].grad;
            if (gradient is null)
            {
                continue;
            }
            if (_first[i] is not { } buffer)
            {
                _first[i] = buffer = gradient.detach().clone().DetachFromDisposeScope();
            }
            else
            {
                buffer.mul_(_momentum).add_(gradient, _one);
            }
            _parameters[i].add_(buffer, minusLearningRate);
        }
    }

    /// <summary>
    /// Copies the state out to managed memory (on the CPU): the step count and, per parameter in
    /// <c>named_parameters()</c> order, its buffers: Adam's first and second moments, or SGD's momentum buffer (none
    /// before the first step that saw a gradient for the parameter).
    /// </summary>
    public OptimizerState Export()
    {
        var parameters = new ParameterState[_parameters.Length];
        for (var i = 0; i < _parameters.Length; i++)
        {
            float[][] buffers = _adam ? [ToArray(_first[i]!), ToArray(_second[i])] : _first[i] is { } buffer ? [ToArray(buffer)] : [];
            parameters[i] = new ParameterState(_names[i], _parameters[i].shape, buffers);
        }
        return new OptimizerState(_adam ? "adam" : "sgd", _steps, parameters);
    }

    /// <summary>
    /// Replaces the state with <paramref name="state"/> (from <see cref="Export"/> of an optimizer of the same kind over a
    /// model of the same architecture); values are copied bit for bit, to each parameter's device.
    /// </summary>
    /// <exception cref="InvalidDataException">The state does not fit this optimizer or model; the message says what differs.</exception>
    public void Import(OptimizerState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        var name = _adam ? "adam" : "sgd";
        if (state.Optimizer != name)
        {
            throw new InvalidDataException($"The optimizer state is for '{state.Optimizer}', not '{name}'.");
        }
        if (state.Steps < 0)
        {
            throw new InvalidDataException($"The optimizer state has a negative step count ({state.Steps}).");
        }
        if (state.Parameters.Count != _parameters.Length)
        {
            throw new InvalidDataException(
                $"The optimizer state has {state.Parameters.Count} parameters but the model has {_parameters.Length}.");
        }
        for (var i = 0; i < _parameters.Length; i++)
        {
            var saved = state.Parameters[i];
            var shape = _parameters[i].shape;
            if (saved.Name != _names[i] || !saved.Shape.AsSpan().SequenceEqual(shape))
            {
                throw new InvalidDataException(
                    $"Optimizer state parameter {i} is '{saved.Name}' [{string.Join(", ", saved.Shape)}] but the model's is " +
                    $"'{_names[i]}' [{string.Join(", ", shape)}].");
            }
            var expected = _adam ? "2 (first and second moments)" : "0 or 1 (momentum buffer)";
            if (_adam ? saved.Buffers.Count != 2 : saved.Buffers.Count > 1)
            {
                throw new InvalidDataException(
                    $"Optimizer state parameter '{saved.Name}' has {saved.Buffers.Count} buffers; {name} keeps {expected}.");
            }
            var elements = shape.Aggregate(1L, (product, size) => product * size);
            if (saved.Buffers.FirstOrDefault(buffer => buffer.LongLength != elements) is { } wrong)
            {
                throw new InvalidDataException(
                    $"Optimizer state parameter '{saved.Name}' has a buffer of {wrong.LongLength} values; its shape needs {elements}.");
            }
        }

        using var _ = no_grad();
        for (var i = 0; i < _parameters.Length; i++)
        {
            var saved = state.Parameters[i];
            var device = _parameters[i].device;
            if (_adam)
            {
                using var first = tensor(saved.Buffers[0], saved.Shape, device: device);
                using var second = tensor(saved.Buffers[1], saved.Shape, device: device);
                _first[i]!.copy_(first);
                _second[i].copy_(second);
            }
            else
            {
                _first[i]?.Dispose();
                _first[i] = saved.Buffers.Count == 1
                    ? tensor(saved.Buffers[0], saved.Shape, device: device).DetachFromDisposeScope()
                    : null;
            }
        }
        _steps = state.Steps;
    }

    private static float[] ToArray(Tensor values)
    {
        if (values.dtype != ScalarType.Float32)
        {
            throw new NotSupportedException($"Optimizer state of type {values.dtype} cannot be saved; only float32 is supported.");
        }
        using var cpu = values.cpu();
        using var contiguous = cpu.contiguous();
        return contiguous.data<float>().ToArray();
    }

    public void Dispose()
    {
        foreach (var tensor in _first.Concat(_second))
        {
            tensor?.Dispose();
        }
        foreach (var scalar in new[] { _one, _beta1, _oneMinusBeta1, _beta2, _oneMinusBeta2, _epsilon, _momentum, _clipEpsilon })
        {
            scalar.Dispose();
        }
        _weightDecay?.Dispose();
    }
}

/// <summary>An optimizer's state in managed memory: what <see cref="TrainingOptimizer.Export"/> gives and <see cref="TrainingOptimizer.Import"/> takes.</summary>
/// <param name="Optimizer">"adam" or "sgd".</param>
/// <param name="Steps">Updates applied so far (Adam's bias correction depends on it).</param>
/// <param name="Parameters">One entry per model parameter, in <c>named_parameters()</c> order.</param>
internal sealed record OptimizerState(string Optimizer, long Steps, IReadOnlyList<ParameterState> Parameters);

/// <summary>The optimizer's buffers for one parameter.</summary>
/// <param name="Name">The parameter's state-dict name, e.g. <c>layers.fc1.weight</c>.</param>
/// <param name="Shape">The parameter's shape; every buffer has it.</param>
/// <param name="Buffers">Adam: first moment, second moment. SGD: the momentum buffer, or none before the first update.</param>
internal sealed record ParameterState(string Name, long[] Shape, IReadOnlyList<float[]> Buffers);
