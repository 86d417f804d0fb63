using System.Text.Json;
using BigDataAI.Datasets;
using BigDataAI.Models;
using BigDataAI.Models.Features;
using BigDataAI.Models.Registry;
using BigDataAI.UnitTests.Storage;

namespace BigDataAI.UnitTests.Models;

public sealed class ModelRegistryTests : IDisposable
{
    private readonly TempObjectStore _temp = new();

    public void Dispose() => _temp.Dispose();

    private static ModelRecord Record(string id, string dataset, string? name = null) =>
        new(id, new ModelSpec { Architecture = "mlp", InputShape = [3], Classes = 2 }, "", dataset, 1, ["a", "b"], [3], 0.5,
            JsonSerializer.SerializeToElement(new { accuracy = 0.5 }), id, DateTimeOffset.UtcNow)
        {
            Name = name,
            Features = new FeaturePipeline
            {
                LabelColumn = "label",
                Steps = [new NumericFeature { Column = "x", Type = ColumnType.Double, Mean = 1, Scale = 2, MissingIndicator = true },
                         new CategoricalFeature { Column = "c", Type = ColumnType.String, Categories = ["p"] }],
            },
        };

    [Fact]
    public async Task Registrations_get_versions_per_name_in_order_and_a_repeated_one_keeps_its_version()
    {
        var registry = new ModelRegistry(_temp.Store);

        var first = await registry.RegisterAsync(Record("job-1", "people"), [1, 2, 3]);
        var second = await registry.RegisterAsync(Record("job-2", "people"), [4, 5, 6]);
        var other = await registry.RegisterAsync(Record("job-3", "digits"), [7]);
        var again = await registry.RegisterAsync(Record("job-1", "people"), [1, 2, 3]);

        Assert.Equal(("people", 1), (first.Name, first.ModelVersion));
        Assert.Equal(("people", 2), (second.Name, second.ModelVersion));
        Assert.Equal(("digits", 1), (other.Name, other.ModelVersion));
        Assert.Equal(1, again.ModelVersion);
        var stored = await registry.GetAsync("job-2");
        Assert.NotNull(stored);
        Assert.Equal(("people", 2, "people@2"), (stored.Name, stored.ModelVersion, stored.Reference));
        Assert.True(ModelRegistry.IsNewer(stored, first));
        Assert.Equal(first.Features!.Width, stored.Features!.Width);
        Assert.IsType<CategoricalFeature>(stored.Features.Steps[1]);
    }

    [Fact]
    public async Task Concurrent_registrations_of_one_name_get_distinct_versions()
    {
        var registry = new ModelRegistry(_temp.Store);

        var records = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(() => registry.RegisterAsync(Record($"job-{i}", "people"), [(byte)i]))));

        Assert.Equal(Enumerable.Range(1, 8), records.Select(r => r.ModelVersion).Order());
    }

    [Fact]
    public async Task A_name_must_be_a_valid_dataset_style_name()
    {
        var registry = new ModelRegistry(_temp.Store);
        var e = await Assert.ThrowsAsync<ArgumentException>(() => registry.RegisterAsync(Record("job-1", "people", name: "Not Valid"), [1]));
        Assert.Contains("'Not Valid'", e.Message);
    }
}
