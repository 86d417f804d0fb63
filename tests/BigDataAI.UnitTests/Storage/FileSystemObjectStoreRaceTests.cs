namespace BigDataAI.UnitTests.Storage;

/// <summary>Create-only writes on a folder must have exactly one winner, however the threads interleave.</summary>
public sealed class FileSystemObjectStoreRaceTests : IDisposable
{
    private readonly TempObjectStore _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Concurrent_creates_of_one_path_have_exactly_one_winner_every_time()
    {
        // CI once saw two winners with File.Move(overwrite: false), which checks and then renames; many rounds make
        // such a window show up here rather than in production.
        for (var round = 0; round < 150; round++)
        {
            var path = $"race/{round}/manifest.json";
            using var start = new ManualResetEventSlim();
            var contenders = Enumerable.Range(0, 6).Select(i => Task.Run(async () =>
            {
                start.Wait();
                using var content = new MemoryStream([(byte)i]);
                return (Writer: i, Won: await _temp.Store.TryCreateAsync(path, content));
            })).ToArray();
            start.Set();
            var results = await Task.WhenAll(contenders);

            var winner = Assert.Single(results, r => r.Won);
            await using var stored = await _temp.Store.OpenReadAsync(path);
            Assert.Equal(winner.Writer, stored!.ReadByte());
        }
        Assert.Empty(Directory.EnumerateFiles(_temp.Store.Location, ".tmp-*", SearchOption.AllDirectories));
    }
}
