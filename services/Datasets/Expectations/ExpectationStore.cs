using System.Text.Json;
using BigDataAI.Storage;

namespace BigDataAI.Datasets.Expectations;

/// <summary>
/// A dataset's expectations in the object store, at <c>datasets/{name}/expectations.json</c> (one document, replaced
/// whole by each <see cref="PutAsync"/>; versions already stored are not checked again).
/// </summary>
public sealed class ExpectationStore(IObjectStore store)
{
    public static string PathOf(string dataset) => DatasetPaths.Expectations(DatasetPaths.EnsureValidName(dataset));

    /// <summary>The dataset's expectations; <see cref="DatasetExpectations.None"/> when none were set.</summary>
    public async Task<DatasetExpectations> GetAsync(string dataset, CancellationToken cancellationToken = default)
    {
        await using var stream = await store.OpenReadAsync(PathOf(dataset), cancellationToken).ConfigureAwait(false);
        if (stream is null)
        {
            return DatasetExpectations.None;
        }
        return await JsonSerializer.DeserializeAsync<DatasetExpectations>(stream, ManifestJson.Options, cancellationToken).ConfigureAwait(false)
            ?? DatasetExpectations.None;
    }

    public async Task PutAsync(string dataset, DatasetExpectations expectations, CancellationToken cancellationToken = default)
    {
        using var content = new MemoryStream(JsonSerializer.SerializeToUtf8Bytes(expectations, ManifestJson.Options), writable: false);
        await store.PutAsync(PathOf(dataset), content, cancellationToken).ConfigureAwait(false);
    }
}
