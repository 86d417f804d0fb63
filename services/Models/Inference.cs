using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace BigDataAI.Models;

/// <summary>Device choice and host-to-device copies shared by training, evaluation and prediction.</summary>
internal static class Devices
{
    /// <summary>Parses <paramref name="name"/> ("cpu", "cuda", "cuda:N"); null picks CUDA when available, else the CPU.</summary>
    public static Device Resolve(string? name)
    {
        TorchRuntime.EnsureLoadable();
        if (name is null)
        {
            return cuda.is_available() ? new Device(DeviceType.CUDA, 0) : CPU;
        }
        Device device;
        try
        {
            device = new Device(name);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or InvalidOperationException)
        {
            throw new ArgumentException($"Device '{name}' is not a torch device; use \"cpu\", \"cuda\" or \"cuda:N\" ({e.Message}).", nameof(name), e);
        }
        if (device.type == DeviceType.CUDA && !cuda.is_available())
        {
            throw new ArgumentException(
                $"Device '{name}' asks for CUDA, but CUDA is not available in this process (torch.cuda.is_available() is false: no GPU, " +
                "or the host references the CPU build of libtorch). Use \"cpu\" or null (automatic).", nameof(name));
        }
        if (device.type is not (DeviceType.CPU or DeviceType.CUDA))
        {
            throw new ArgumentException($"Device '{name}' is not supported; use \"cpu\", \"cuda\" or \"cuda:N\".", nameof(name));
        }
        return device;
    }

    /// <summary>A [rows, columns] float tensor on <paramref name="device"/> holding a copy of <paramref name="data"/>.</summary>
    public static Tensor Upload(float[] data, long rows, long columns, Device device) => To(tensor(data, [rows, columns]), device);

    /// <summary>A 1-D float tensor on <paramref name="device"/> holding a copy of <paramref name="data"/>.</summary>
    public static Tensor Upload(float[] data, Device device) => To(tensor(data, [data.LongLength]), device);

    /// <summary>A 1-D int64 tensor on <paramref name="device"/> holding a copy of <paramref name="data"/>.</summary>
    public static Tensor Upload(long[] data, Device device) => To(tensor(data, [data.LongLength]), device);

    private static Tensor To(Tensor cpuTensor, Device device)
    {
        if (device.type == DeviceType.CPU)
        {
            return cpuTensor;
        }
        using (cpuTensor)
        {
            return cpuTensor.to(device);
        }
    }

    /// <summary>The device of the model's first parameter (the CPU for a model without parameters).</summary>
    public static Device Of(nn.Module model)
    {
        foreach (var parameter in model.parameters())
        {
            return parameter.device;
        }
        return CPU;
    }
}

/// <summary>Batched forward passes without autograd.</summary>
internal static class Inference
{
    /// <summary>The most likely class of every row of <paramref name="features"/> ([rows, F], on the model's device).</summary>
    public static long[] PredictClasses(nn.Module<Tensor, Tensor> model, Tensor features, int batchSize)
    {
        var rows = features.shape[0];
        var result = new long[rows];
        model.eval();
        using var _ = no_grad();
        for (long start = 0; start < rows; start += batchSize)
        {
            var count = Math.Min(batchSize, rows - start);
            using (NewDisposeScope())
            {
                var classes = model.call(features.narrow(0, start, count)).argmax(1);
                if (classes.device_type != DeviceType.CPU)
                {
                    classes = classes.cpu();
                }
                MemoryMarshal.Cast<byte, long>(classes.bytes).CopyTo(result.AsSpan((int)start, (int)count));
            }
        }
        return result;
    }

    /// <summary>A regression model's output for every row of <paramref name="features"/> ([rows, F], on the model's device).</summary>
    public static float[] PredictValues(nn.Module<Tensor, Tensor> model, Tensor features, int batchSize)
    {
        var rows = features.shape[0];
        var result = new float[rows];
        model.eval();
        using var _ = no_grad();
        for (long start = 0; start < rows; start += batchSize)
        {
            var count = Math.Min(batchSize, rows - start);
            using (NewDisposeScope())
            {
                var values = model.call(features.narrow(0, start, count)).reshape(count);
                if (values.device_type != DeviceType.CPU)
                {
                    values = values.cpu();
                }
                MemoryMarshal.Cast<byte, float>(values.bytes).CopyTo(result.AsSpan((int)start, (int)count));
            }
        }
        return result;
    }

    /// <summary>Softmax probabilities (or, with <paramref name="softmax"/> false, the raw outputs), [count, classes] row-major, for <paramref name="count"/> rows of <paramref name="featureCount"/> floats.</summary>
    public static float[] Probabilities(nn.Module<Tensor, Tensor> model, Device device, ReadOnlySpan<float> features, int count, int featureCount, int classes, bool softmax = true)
    {
        var result = new float[(long)count * classes];
        if (count == 0)
        {
            return result;
        }
        using var _ = inference_mode();
        using (NewDisposeScope())
        {
            var input = empty([count, featureCount]);
            features.CopyTo(MemoryMarshal.Cast<byte, float>(input.bytes));
            if (device.type != DeviceType.CPU)
            {
                input = input.to(device);
            }
            var probabilities = softmax ? nn.functional.softmax(model.call(input), 1) : model.call(input);
            if (probabilities.device_type != DeviceType.CPU)
            {
                probabilities = probabilities.cpu();
            }
            MemoryMarshal.Cast<byte, float>(probabilities.bytes).CopyTo(result);
        }
        return result;
    }
}
