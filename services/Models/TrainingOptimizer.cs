using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BigDataAI.Models;

/// <summary>
/// Adam and SGD with momentum, with the update rules of <c>torch.optim.Adam</c> (amsgrad off, no weight decay) and
/// <c>torch.optim.SGD</c> (dampening 0, not Nesterov).
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
    private readonly Parameter[] _parameters;
    private readonly bool _adam;
    private readonly double _learningRate;
    private readonly Tensor?[] _first;   // Adam: first moment; SGD: momentum buffer (created at the first step)
    private readonly Tensor[] _second;   // Adam: second moment
    private readonly Scalar _one = 1.0.ToScalar();
    private readonly Scalar _beta1 = 0.9.ToScalar();
    private readonly Scalar _oneMinusBeta1 = (1 - 0.9).ToScalar();
    private readonly Scalar _beta2 = 0.999.ToScalar();
    private readonly Scalar _oneMinusBeta2 = (1 - 0.999).ToScalar();
    private readonly Scalar _epsilon = 1e-8.ToScalar();
    private readonly Scalar _momentum = 0.9.ToScalar();
    private readonly Scalar _minusLearningRate;
    private long _steps;

    public TrainingOptimizer(nn.Module model, string optimizer, double learningRate)
    {
        _parameters = model.parameters().ToArray();
        _adam = optimizer == "adam";
        _learningRate = learningRate;
        _minusLearningRate = (-learningRate).ToScalar();
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

    /// <summary>Applies one update from the current gradients. Call inside the batch's dispose scope.</summary>
    public void Step()
    {
        _steps++;
        using var _ = no_grad();
        if (_adam)
        {
            AdamStep();
        }
        else
        {
            SgdStep();
        }
    }

    private void AdamStep()
    {
        var biasCorrection1 = 1 - Math.Pow(0.9, _steps);
        var biasCorrection2 = 1 - Math.Pow(0.999, _steps);
        using var denominatorScale = (1 / Math.Sqrt(biasCorrection2)).ToScalar();
        using var minusStepSize = (-_learningRate / biasCorrection1).ToScalar();
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

    private void SgdStep()
    {
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
            _parameters[i].add_(buffer, _minusLearningRate);
        }
    }

    public void Dispose()
    {
        foreach (var tensor in _first.Concat(_second))
        {
            tensor?.Dispose();
        }
        foreach (var scalar in new[] { _one, _beta1, _oneMinusBeta1, _beta2, _oneMinusBeta2, _epsilon, _momentum, _minusLearningRate })
        {
            scalar.Dispose();
        }
    }
}
