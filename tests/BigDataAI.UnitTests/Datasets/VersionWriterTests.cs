using BigDataAI.Datasets;
using BigDataAI.Storage;
using BigDataAI.UnitTests.Storage;
using static BigDataAI.UnitTests.Datasets.TestTables;

namespace BigDataAI.UnitTests.Datasets;

/// <summary>
/// The version writer stores each full shard in the background while the caller fills the next: a caller that refills
/// its own arrays at once must still get the rows it appended, and a store that fails must fail the commit.
/// </summary>
public sealed class VersionWriterTests : IDisposable
{
    private const string Sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    private readonly TempObjectStore _temp = new();

    public void Dispose() => _temp.Dispose();

    private static readonly DatasetSchema Schema = new([
        new ColumnSchema("x", ColumnType.Int64, ColumnRole.Feature, Nullable: false), // never null: the writer's buffers must not be checked before they are filled
        new ColumnSchema("label", ColumnType.String, ColumnRole.Label),
    ]);

    [Fact]
    public async Task A_chunk_refilled_as_soon_as_it_is_appended_is_stored_as_it_was_appended()
    {
        var store = new DatasetStore(_temp.Store);
        var writer = store.BeginVersion("reuse", Schema, Sha, rowsPerShard: 4);
        // The same arrays, refilled before each append, as the ingestion parsers do with `reuse`.
        var x = new long?[4];
        var labels = new string?[4];
        var ids = new long[4];
        for (var c = 0; c < 5; c++)
        {
            for (var r = 0; r < 4; r++)
            {
                x[r] = c * 100 + r;
                labels[r] = (r % 2 == 0) ? "even" : "odd";
                ids[r] = c * 4 + r;
            }
            await writer.AppendAsync(new Table(Schema, [new Column(Schema.Columns[0], x), new Column(Schema.Columns[1], labels)], ids));
        }
        var manifest = await writer.CommitAsync(Source("reuse"), new DatasetLineage("ingest", ["data"]));

        Assert.Equal(20, manifest.Rows);
        Assert.Equal(5, manifest.Shards.Count);
        Assert.Equal(["even", "odd"], manifest.Classes);
        var stored = await store.ReadAsync(manifest);
        Assert.Equal(Enumerable.Range(0, 20).Select(i => (long)i), stored.RowIds);
        Assert.Equal(Enumerable.Range(0, 20).Select(i => (long?)(i / 4 * 100 + i % 4)), (long?[])stored["x"].Values);
    }

    [Fact]
    public async Task A_shard_that_cannot_be_stored_fails_the_commit_and_abandoning_lists_what_was_stored()
    {
        var failing = new FailingPuts(_temp.Store, failFromPut: 2);
        var store = new DatasetStore(failing);
        var writer = store.BeginVersion("fails", Schema, Sha, rowsPerShard: 2);
        var error = await Assert.ThrowsAsync<IOException>(async () =>
        {
            for (var c = 0; c < 4; c++)
            {
                await writer.AppendAsync(new Table(Schema,
                    [new Column(Schema.Columns[0], new long?[] { c, c + 1 }), new Column(Schema.Columns[1], new string?[] { "a", "b" })],
                    [2L * c, 2L * c + 1]));
            }
            await writer.CommitAsync(Source("fails"), new DatasetLineage("ingest", ["data"]));
        });
        Assert.Contains("injected", error.Message, StringComparison.Ordinal);

        var stored = await writer.AbandonAsync();
        Assert.Equal(2, stored.Count); // the first two shards; the third and fourth failed
        Assert.All(stored, s => Assert.True(File.Exists(_temp.FileOf(s.Path))));
        Assert.Empty(await store.ListAsync("fails"));
    }

    /// <summary>The real file-system store, whose shard writes fail from the n-th on (0-based), as a full disk would.</summary>
    private sealed class FailingPuts(IObjectStore inner, int failFromPut) : IObjectStore
    {
        private int _puts;
        public string Location => inner.Location;
        public Task<bool> TryCreateAsync(string path, Stream content, CancellationToken cancellationToken = default) => inner.TryCreateAsync(path, content, cancellationToken);
        public Task PutAsync(string path, Stream content, CancellationToken cancellationToken = default) =>
            Interlocked.Increment(ref _puts) - 1 >= failFromPut ? throw new IOException($"injected: no space left for {path}") : inner.PutAsync(path, content, cancellationToken);
        public Task<Stream?> OpenReadAsync(string path, CancellationToken cancellationToken = default) => inner.OpenReadAsync(path, cancellationToken);
        public IAsyncEnumerable<string> ListAsync(string prefix, CancellationToken cancellationToken = default) => inner.ListAsync(prefix, cancellationToken);
        public Task<bool> ExistsAsync(string path, CancellationToken cancellationToken = default) => inner.ExistsAsync(path, cancellationToken);
        public Task DeleteAsync(string path, CancellationToken cancellationToken = default) => inner.DeleteAsync(path, cancellationToken);
        public Task<ObjectLease?> TryAcquireLeaseAsync(string path, TimeSpan duration, CancellationToken cancellationToken = default) => inner.TryAcquireLeaseAsync(path, duration, cancellationToken);
        public Task RenewLeaseAsync(ObjectLease lease, CancellationToken cancellationToken = default) => inner.RenewLeaseAsync(lease, cancellationToken);
        public Task ReleaseLeaseAsync(ObjectLease lease, CancellationToken cancellationToken = default) => inner.ReleaseLeaseAsync(lease, cancellationToken);
        public Task PutAsync(string path, Stream content, ObjectLease lease, CancellationToken cancellationToken = default) => inner.PutAsync(path, content, lease, cancellationToken);
    }
}
