using System.Text;
using BigDataAI.IntegrationTests.Infrastructure;
using BigDataAI.Protos.Ingestion.V1;
using Grpc.Core;
using Xunit.Abstractions;

namespace BigDataAI.IntegrationTests.Services;

/// <summary>ImportDataset reads files already in the service's blob container (real Azurite), never through the client.</summary>
[Collection(ServersCollection.Name)]
public sealed class ImportDatasetTests(ServersFixture servers, ITestOutputHelper output)
{
    [Fact]
    public async Task Files_in_the_container_become_a_version_by_path_or_by_blob_URI_and_bad_paths_are_refused()
    {
        await using var host = await ServiceHost.StartAsync(servers, output, Modules.Ingestion);
        await host.Blobs.CreateIfNotExistsAsync();
        var csv = "age,city,label\n41,Oslo,yes\n,Bergen,no\n33,NA,\n";
        await host.Blobs.UploadBlobAsync("incoming/people.csv", new BinaryData(Encoding.UTF8.GetBytes(csv)));
        var name = "imported-" + Guid.NewGuid().ToString("N")[..8];
        ImportDatasetRequest Request(string path) => new()
        {
            Header = new UploadHeader { Dataset = name, Format = DatasetFormat.Csv, Files = { "data" }, Source = "imported" },
            Files = { new StoredFile { File = "data", Path = path } },
        };

        var byPath = await host.Ingestion.ImportDatasetAsync(Request("incoming/people.csv"));
        Assert.Equal((1, 3L, 1L), (byPath.Dataset.Version, byPath.Dataset.Rows, byPath.Dataset.UnlabeledRows));
        Assert.Equal(["age", "city", "label"], byPath.Dataset.Columns.Select(c => c.Name));

        // The same bytes by their blob URI: the same content, so the same version.
        var byUri = await host.Ingestion.ImportDatasetAsync(Request(host.Blobs.Uri.ToString().TrimEnd('/') + "/incoming/people.csv"));
        Assert.True(byUri.Deduplicated);
        Assert.Equal(1, byUri.Dataset.Version);

        var missing = await Assert.ThrowsAsync<RpcException>(async () => await host.Ingestion.ImportDatasetAsync(Request("incoming/nothing.csv")));
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
        Assert.Contains("incoming/nothing.csv", missing.Status.Detail, StringComparison.Ordinal);

        var own = await Assert.ThrowsAsync<RpcException>(async () => await host.Ingestion.ImportDatasetAsync(Request("datasets/x/v000001/manifest.json")));
        Assert.Equal(StatusCode.InvalidArgument, own.StatusCode);
        Assert.Contains("platform's own folders", own.Status.Detail, StringComparison.Ordinal);

        var escape = await Assert.ThrowsAsync<RpcException>(async () => await host.Ingestion.ImportDatasetAsync(Request("incoming/../../etc/passwd")));
        Assert.Equal(StatusCode.InvalidArgument, escape.StatusCode);

        var elsewhere = await Assert.ThrowsAsync<RpcException>(async () => await host.Ingestion.ImportDatasetAsync(Request("https://other.blob.core.windows.net/data/people.csv")));
        Assert.Equal(StatusCode.InvalidArgument, elsewhere.StatusCode);
        Assert.Contains("not in this service's storage container", elsewhere.Status.Detail, StringComparison.Ordinal);

        var noFile = await Assert.ThrowsAsync<RpcException>(async () => await host.Ingestion.ImportDatasetAsync(new ImportDatasetRequest
        {
            Header = new UploadHeader { Dataset = name, Format = DatasetFormat.Csv, Files = { "data" } },
        }));
        Assert.Contains("no path for 'data'", noFile.Status.Detail, StringComparison.Ordinal);
    }
}
