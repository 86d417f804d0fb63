using System.Text.Json;
using BigDataAI.Contracts.Training;
using BigDataAI.Models;
using BigDataAI.Models.Registry;
using Microsoft.Extensions.DependencyInjection;

namespace BigDataAI.IntegrationTests.Services;

/// <summary>Models registered without training: seeded weights of a spec, as a job would register them, and served.</summary>
internal static class SeededModels
{
    /// <summary>Registers a version of <paramref name="name"/> with seeded (untrained) weights and the given test score, and waits until inference has it.</summary>
    public static async Task<ModelRecord> RegisterAsync(ServiceHost host, string name, ModelSpec spec, int seed, double accuracy)
    {
        TorchRuntime.EnsureLoadable();
        byte[] weights;
        using (var model = ModelFactory.Create(spec, seed))
        using (var buffer = new MemoryStream())
        {
            ModelWeights.Save(model, buffer);
            weights = buffer.ToArray();
        }
        var id = $"{name}-m{seed}";
        string[] classes = [.. Enumerable.Range(0, spec.Classes).Select(c => new[] { "red", "green", "blue" }.ElementAtOrDefault(c) ?? $"class{c}")];
        var record = new ModelRecord(id, spec, WeightsPath: "", "colours", 1, classes, spec.InputShape, accuracy,
            JsonSerializer.SerializeToElement(new { accuracy }), "job-" + id, DateTimeOffset.UtcNow.AddSeconds(seed)) { Name = name };
        var registered = await host.Services.GetRequiredService<ModelRegistry>().RegisterAsync(record, weights);
        await host.Bus.Publish(new ModelTrained(registered.ModelId, ModelRegistry.RecordPath(registered.ModelId), spec.Architecture,
            registered.Dataset, registered.DatasetVersion, registered.TestAccuracy, registered.CreatedAt));
        await host.Messages.Consumed<ModelTrained>("inference", m => m.ModelId == registered.ModelId);
        return registered;
    }
}
