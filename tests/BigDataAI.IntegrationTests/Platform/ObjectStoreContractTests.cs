using System.Text;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Specialized;
using BigDataAI.IntegrationTests.Infrastructure;
using BigDataAI.Storage;

namespace BigDataAI.IntegrationTests.Platform;

/// <summary>
/// What every <see cref="IObjectStore"/> promises, run against each backend: create-only writes, one winner among
/// concurrent creators, replacing puts, null for a missing object, ordered listing without half-written objects, and
/// the same path rules everywhere.
/// </summary>
public abstract class ObjectStoreContractTests
{
    protected abstract IObjectStore Store { get; }

    /// <summary>Leaves what a writer that crashed mid-write leaves behind for <paramref name="path"/>.</summary>
    protected abstract Task LeaveHalfWrittenObjectAsync(string path);

    [Fact]
    public async Task TryCreate_writes_once_and_a_second_create_leaves_the_content_unchanged()
    {
        Assert.True(await Store.TryCreateAsync("datasets/mnist/v1/manifest.json", Text("first")));
        Assert.False(await Store.TryCreateAsync("datasets/mnist/v1/manifest.json", Text("second")));

        Assert.Equal("first", await ReadAsync("datasets/mnist/v1/manifest.json"));
        Assert.True(await Store.ExistsAsync("datasets/mnist/v1/manifest.json"));
    }

    [Fact]
    public async Task Concurrent_TryCreate_of_one_path_has_exactly_one_winner_whose_content_is_stored()
    {
        const int writers = 8;
        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var attempts = Enumerable.Range(0, writers).Select(async i =>
        {
            await start.Task;
            var content = new string((char)('a' + i), 64 * 1024);
            return (Writer: i, Won: await Store.TryCreateAsync("models/cnn/v7/model.bin", Text(content)));
        }).ToArray();
        start.SetResult();
        var results = await Task.WhenAll(attempts);

        var winners = results.Where(r => r.Won).ToList();
        Assert.Single(winners);
        Assert.Equal(new string((char)('a' + winners[0].Writer), 64 * 1024), await ReadAsync("models/cnn/v7/model.bin"));
    }

    [Fact]
    public async Task Put_replaces_an_existing_object()
    {
        await Store.PutAsync("registry/latest.json", Text("v1"));
        await Store.PutAsync("registry/latest.json", Text("v2 is longer than v1"));

        Assert.Equal("v2 is longer than v1", await ReadAsync("registry/latest.json"));
    }

    [Fact]
    public async Task Objects_larger_than_one_upload_block_are_written_whole_create_only_and_under_a_lease()
    {
        // 9 MiB: more than the Azure store's 4 MiB blocks, so the blob is staged in blocks and committed at once.
        var big = new byte[9 << 20];
        new Random(3).NextBytes(big);
        Assert.True(await Store.TryCreateAsync("jobs/j1/checkpoints/epoch-001.ckpt", new MemoryStream(big)));
        Assert.False(await Store.TryCreateAsync("jobs/j1/checkpoints/epoch-001.ckpt", new MemoryStream(new byte[10 << 20])));
        Assert.Equal(big, await ReadBytesAsync("jobs/j1/checkpoints/epoch-001.ckpt"));

        await Store.PutAsync("jobs/j1/job.json", Text("{}"));
        var lease = await Store.TryAcquireLeaseAsync("jobs/j1/job.json", TimeSpan.FromSeconds(15));
        Assert.NotNull(lease);
        await Store.PutAsync("jobs/j1/job.json", new MemoryStream(big), lease);
        Assert.Equal(big, await ReadBytesAsync("jobs/j1/job.json"));
        await Assert.ThrowsAsync<ObjectLeasedException>(() => Store.PutAsync("jobs/j1/job.json", new MemoryStream(big)));
        await Store.ReleaseLeaseAsync(lease);
    }

    private async Task<byte[]> ReadBytesAsync(string path)
    {
        await using var stream = await Store.OpenReadAsync(path) ?? throw new InvalidOperationException($"{path} is missing");
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        return copy.ToArray();
    }

    [Fact]
    public async Task OpenRead_of_a_missing_object_returns_null()
    {
        Assert.Null(await Store.OpenReadAsync("nothing/here.bin"));
        Assert.False(await Store.ExistsAsync("nothing/here.bin"));
    }

    [Fact]
    public async Task Delete_removes_an_object_and_is_quiet_when_there_is_none()
    {
        await Store.PutAsync("scratch/a.bin", Text("x"));
        await Store.DeleteAsync("scratch/a.bin");
        await Store.DeleteAsync("scratch/a.bin");

        Assert.Null(await Store.OpenReadAsync("scratch/a.bin"));
    }

    [Fact]
    public async Task List_returns_the_objects_under_a_prefix_in_ordinal_order_without_half_written_ones()
    {
        foreach (var path in new[] { "ds/c.bin", "ds/a/2.bin", "other/x.bin", "ds/b.bin", "dsx.bin", "ds/a/10.bin" })
        {
            Assert.True(await Store.TryCreateAsync(path, Text(path)));
        }
        await LeaveHalfWrittenObjectAsync("ds/d.bin");

        Assert.Equal(["ds/a/10.bin", "ds/a/2.bin", "ds/b.bin", "ds/c.bin"], await ListAsync("ds/"));
        Assert.Equal(["ds/a/10.bin"], await ListAsync("ds/a/1"));
        Assert.Empty(await ListAsync("missing/"));
        Assert.Null(await Store.OpenReadAsync("ds/d.bin"));
    }

    [Theory]
    [InlineData("/absolute/path")]
    [InlineData("trailing/")]
    [InlineData("empty//segment")]
    [InlineData("back\\slash")]
    [InlineData("up/../escape")]
    [InlineData("./here")]
    public async Task Invalid_paths_are_rejected_with_the_path_in_the_message(string path)
    {
        var create = await Assert.ThrowsAsync<ArgumentException>(() => Store.TryCreateAsync(path, Text("x")));
        Assert.Contains(path, create.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ArgumentException>(() => Store.PutAsync(path, Text("x")));
        await Assert.ThrowsAsync<ArgumentException>(() => Store.OpenReadAsync(path));
        await Assert.ThrowsAsync<ArgumentException>(() => Store.ExistsAsync(path));
    }

    [Fact]
    public async Task An_empty_path_is_rejected()
    {
        await Assert.ThrowsAsync<ArgumentException>(() => Store.TryCreateAsync(string.Empty, Text("x")));
    }

    /// <summary>The shortest lease the backend grants (Azure: 15 s), for the expiry test.</summary>
    protected virtual TimeSpan ShortestLease => ObjectLease.MinimumAzureDuration;

    [Fact]
    public async Task A_lease_excludes_other_holders_and_writers_until_released()
    {
        await Store.PutAsync("jobs/j1/job.json", Text("queued"));
        var lease = await Store.TryAcquireLeaseAsync("jobs/j1/job.json", TimeSpan.FromSeconds(30));
        Assert.NotNull(lease);

        Assert.Null(await Store.TryAcquireLeaseAsync("jobs/j1/job.json", TimeSpan.FromSeconds(30)));
        var put = await Assert.ThrowsAsync<ObjectLeasedException>(() => Store.PutAsync("jobs/j1/job.json", Text("stolen")));
        Assert.Contains("jobs/j1/job.json", put.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ObjectLeasedException>(() => Store.DeleteAsync("jobs/j1/job.json"));

        await Store.PutAsync("jobs/j1/job.json", Text("running"), lease);
        await Store.RenewLeaseAsync(lease);
        Assert.Equal("running", await ReadAsync("jobs/j1/job.json"));
        Assert.Equal(["jobs/j1/job.json"], await ListAsync("jobs/"));

        await Store.ReleaseLeaseAsync(lease);
        await Store.ReleaseLeaseAsync(lease); // quiet when already given up
        await Assert.ThrowsAsync<LeaseLostException>(() => Store.RenewLeaseAsync(lease));
        var next = await Store.TryAcquireLeaseAsync("jobs/j1/job.json", TimeSpan.FromSeconds(30));
        Assert.NotNull(next);
        await Assert.ThrowsAsync<LeaseLostException>(() => Store.PutAsync("jobs/j1/job.json", Text("late"), lease));
        await Store.ReleaseLeaseAsync(next);
        await Store.PutAsync("jobs/j1/job.json", Text("free again"));
        Assert.Equal("free again", await ReadAsync("jobs/j1/job.json"));
    }

    [Fact]
    public async Task A_lease_that_is_not_renewed_lapses_and_another_holder_takes_it()
    {
        await Store.PutAsync("jobs/j2/job.json", Text("running"));
        var dead = await Store.TryAcquireLeaseAsync("jobs/j2/job.json", ShortestLease);
        Assert.NotNull(dead);
        var clock = System.Diagnostics.Stopwatch.StartNew();

        ObjectLease? taken = null;
        while (taken is null && clock.Elapsed < ShortestLease * 3)
        {
            taken = await Store.TryAcquireLeaseAsync("jobs/j2/job.json", ShortestLease);
            if (taken is null)
            {
                await Task.Delay(ShortestLease / 20);
            }
        }

        Assert.NotNull(taken);
        Assert.True(clock.Elapsed >= ShortestLease * 0.9, $"taken over after {clock.Elapsed}, before the {ShortestLease} lease lapsed");
        await Assert.ThrowsAsync<LeaseLostException>(() => Store.RenewLeaseAsync(dead));
        await Assert.ThrowsAsync<LeaseLostException>(() => Store.PutAsync("jobs/j2/job.json", Text("zombie"), dead));
        Assert.Equal("running", await ReadAsync("jobs/j2/job.json"));
    }

    [Fact]
    public async Task Leasing_a_missing_object_names_it()
    {
        var e = await Assert.ThrowsAsync<FileNotFoundException>(() => Store.TryAcquireLeaseAsync("jobs/none/job.json", TimeSpan.FromSeconds(30)));
        Assert.Contains("jobs/none/job.json", e.Message, StringComparison.Ordinal);
    }

    protected static MemoryStream Text(string text) => new(Encoding.UTF8.GetBytes(text));

    private async Task<string> ReadAsync(string path)
    {
        await using var stream = await Store.OpenReadAsync(path) ?? throw new Xunit.Sdk.XunitException($"{path} is missing");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return await reader.ReadToEndAsync();
    }

    private async Task<List<string>> ListAsync(string prefix)
    {
        var paths = new List<string>();
        await foreach (var path in Store.ListAsync(prefix))
        {
            paths.Add(path);
        }
        return paths;
    }
}

/// <summary>The contract over a local folder (the embedded mode).</summary>
public sealed class FileSystemObjectStoreContractTests : ObjectStoreContractTests, IDisposable
{
    private readonly string _root = ServerTools.CreateTempFolder("bigdataai-store");

    public FileSystemObjectStoreContractTests()
    {
        Store = new FileSystemObjectStore(_root);
    }

    protected override IObjectStore Store { get; }

    protected override TimeSpan ShortestLease => TimeSpan.FromSeconds(1);

    protected override async Task LeaveHalfWrittenObjectAsync(string path)
    {
        // FileSystemObjectStore writes "<folder>/.tmp-<guid>" and renames it into place; a crash leaves the temp file.
        var folder = Path.GetDirectoryName(Path.Combine(_root, path))!;
        Directory.CreateDirectory(folder);
        await File.WriteAllTextAsync(Path.Combine(folder, ".tmp-" + Guid.NewGuid().ToString("N")), "half");
    }

    public void Dispose() => ServerTools.DeleteFolder(_root);
}

/// <summary>The contract over Azure Blob Storage (Azurite), one fresh container per test.</summary>
[Collection(ServersCollection.Name)]
public sealed class AzureBlobObjectStoreContractTests : ObjectStoreContractTests, IAsyncLifetime
{
    private readonly BlobContainerClient _container;

    public AzureBlobObjectStoreContractTests(ServersFixture servers)
    {
        _container = servers.Azurite.CreateServiceClient().GetBlobContainerClient("contract-" + Guid.NewGuid().ToString("N"));
        Store = new AzureBlobObjectStore(_container);
    }

    protected override IObjectStore Store { get; }

    protected override async Task LeaveHalfWrittenObjectAsync(string path)
    {
        // A block upload that never got its commit: staged blocks exist, the blob does not.
        await _container.CreateIfNotExistsAsync();
        var blob = _container.GetBlockBlobClient(path);
        await blob.StageBlockAsync(Convert.ToBase64String(Guid.NewGuid().ToByteArray()), Text("half"));
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => _container.DeleteIfExistsAsync();
}
