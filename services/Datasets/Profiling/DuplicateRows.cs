using System.Buffers.Binary;
using BigDataAI.Storage;

namespace BigDataAI.Datasets.Profiling;

/// <summary>A sorted run of (row hash, row id) pairs stored in the object store beside a partial profile.</summary>
public sealed record DuplicateRun(string Path, long Rows);

/// <summary>
/// Exact duplicate rows in memory bounded by <see cref="MaxPairsInMemory"/>, not by the rows: each row's 64-bit hash and
/// id (16 bytes) are buffered up to that many pairs; a full buffer is sorted by (hash, id) and spilled as a run to a
/// local temporary file (deleted when closed). A partial profile stores its runs in the object store
/// (<see cref="StoreAsync"/>) and its state names them; a merge adopts the parts' runs. <see cref="ReportAsync"/> streams
/// a k-way merge over every run, counting the groups of equal hashes and keeping the <see cref="ProfileBuilder.Examples"/>
/// groups with the lowest first rows: the same report as sorting every pair at once, in 64 KiB per run.
/// </summary>
public sealed class DuplicateRows : IDisposable
{
    /// <summary>Pairs sorted in memory before a run is spilled (16 MiB).</summary>
    public const int DefaultMaxPairsInMemory = 1 << 20;

    private static ReadOnlySpan<byte> Magic => "BDDUPRN1"u8;
    private const int HeaderBytes = 16;
    private const int PairBytes = 16;
    private const int BufferPairs = 4096;

    private ulong[] _hashes = [];
    private long[] _ids = [];
    private readonly List<FileStream> _spilled = [];

    /// <summary>Runs read at once by a merge (64 KiB each); more are first merged in passes into local runs.</summary>
    public const int DefaultMaxOpenRuns = 64;

    public DuplicateRows(int maxPairsInMemory = DefaultMaxPairsInMemory, int maxOpenRuns = DefaultMaxOpenRuns)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPairsInMemory, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxOpenRuns, 2);
        MaxPairsInMemory = maxPairsInMemory;
        MaxOpenRuns = maxOpenRuns;
    }

    public int MaxPairsInMemory { get; }

    public int MaxOpenRuns { get; }

    /// <summary>Pairs in the buffer now.</summary>
    public int Buffered { get; private set; }

    /// <summary>Runs spilled to local files and not yet stored.</summary>
    public int LocalRuns => _spilled.Count;

    /// <summary>Runs in the object store (a stored part's, or adopted from merged parts).</summary>
    public List<DuplicateRun> StoredRuns { get; } = [];

    /// <summary>Every pair counted, wherever it is.</summary>
    public long Rows { get; private set; }

    public void Add(ReadOnlySpan<ulong> hashes, ReadOnlySpan<long> ids)
    {
        if (hashes.Length != ids.Length)
        {
            throw new ArgumentException($"{hashes.Length} hashes but {ids.Length} row ids.", nameof(ids));
        }
        Rows += hashes.Length;
        while (!hashes.IsEmpty)
        {
            if (Buffered == MaxPairsInMemory)
            {
                Spill();
            }
            var n = Math.Min(hashes.Length, MaxPairsInMemory - Buffered);
            Reserve(Buffered + n);
            hashes[..n].CopyTo(_hashes.AsSpan(Buffered));
            ids[..n].CopyTo(_ids.AsSpan(Buffered));
            Buffered += n;
            hashes = hashes[n..];
            ids = ids[n..];
        }
    }

    /// <summary>Takes <paramref name="other"/>'s pairs: its buffer is copied, its local and stored runs adopted (it is left empty).</summary>
    public void Merge(DuplicateRows other)
    {
        ArgumentNullException.ThrowIfNull(other);
        var rows = Rows + other.Rows;
        Add(other._hashes.AsSpan(0, other.Buffered), other._ids.AsSpan(0, other.Buffered));
        _spilled.AddRange(other._spilled);
        StoredRuns.AddRange(other.StoredRuns);
        Rows = rows;
        other._spilled.Clear();
        other.StoredRuns.Clear();
        (other.Buffered, other.Rows) = (0, 0);
    }

    /// <summary>The buffered pairs as little-endian bytes (a small state carried in JSON), and back.</summary>
    internal (byte[] Hashes, byte[] Ids) Pack()
    {
        if (_spilled.Count > 0)
        {
            throw new InvalidOperationException($"{_spilled.Count} duplicate-row runs are in local files; store them (ProfileStore.SavePartStateAsync) before carrying the state.");
        }
        return (System.Runtime.InteropServices.MemoryMarshal.AsBytes(_hashes.AsSpan(0, Buffered)).ToArray(),
            System.Runtime.InteropServices.MemoryMarshal.AsBytes(_ids.AsSpan(0, Buffered)).ToArray());
    }

    internal void Unpack(byte[]? hashes, byte[]? ids, IEnumerable<DuplicateRun>? runs)
    {
        var h = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(hashes ?? []);
        var i = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(ids ?? []);
        if (h.Length != i.Length)
        {
            throw new InvalidDataException($"A profile state holds {h.Length} row hashes but {i.Length} row ids.");
        }
        Add(h, i);
        foreach (var run in runs ?? [])
        {
            StoredRuns.Add(run);
            Rows += run.Rows;
        }
    }

    /// <summary>
    /// Writes the local runs and the sorted buffer to the object store, create-only, at <paramref name="pathOf"/>(0),
    /// (1), ...: the same rows give the same runs, so a second writer of a path (a redelivery, another replica) finds
    /// the same bytes there. Afterwards every pair is in <see cref="StoredRuns"/>.
    /// </summary>
    public async Task StoreAsync(IObjectStore objects, Func<int, string> pathOf, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(objects);
        ArgumentNullException.ThrowIfNull(pathOf);
        if (Buffered > 0)
        {
            Spill();
        }
        var index = 0;
        foreach (var file in _spilled)
        {
            var path = pathOf(index++);
            file.Position = 0;
            var rows = (file.Length - HeaderBytes) / PairBytes;
            await objects.TryCreateAsync(path, file, cancellationToken).ConfigureAwait(false);
            StoredRuns.Add(new DuplicateRun(path, rows));
            await file.DisposeAsync().ConfigureAwait(false);
        }
        _spilled.Clear();
    }

    /// <summary>
    /// The duplicate rows among every pair: a streamed k-way merge over the runs (stored ones read from
    /// <paramref name="objects"/>). More than <see cref="MaxOpenRuns"/> runs are first merged, that many at a time, into
    /// local runs, so memory and open streams stay bounded however many parts there are.
    /// </summary>
    public async Task<DuplicateReport> ReportAsync(IObjectStore? objects, CancellationToken cancellationToken = default)
    {
        if (StoredRuns.Count > 0 && objects is null)
        {
            throw new InvalidOperationException($"The duplicate rows are in {StoredRuns.Count} stored runs: build the profile through ProfileStore.BuildAsync, which reads them.");
        }
        SortBuffer();
        var sources = new List<Func<Task<Cursor>>> { () => Task.FromResult(new Cursor(_hashes, _ids, Buffered)) };
        foreach (var file in _spilled)
        {
            sources.Add(() => Task.FromResult(Local(file, "a local run")));
        }
        foreach (var run in StoredRuns)
        {
            sources.Add(async () => new Cursor(await objects!.OpenReadAsync(run.Path, cancellationToken).ConfigureAwait(false)
                ?? throw new InvalidDataException($"Duplicate-row run '{run.Path}' is missing from storage."), run.Path, ownsStream: true));
        }
        var passes = new List<FileStream>();
        try
        {
            while (sources.Count > MaxOpenRuns)
            {
                var group = sources[..MaxOpenRuns];
                sources.RemoveRange(0, MaxOpenRuns);
                var file = NewRunFile();
                passes.Add(file);
                using (var writer = new RunWriter(file))
                {
                    await MergeAsync(group, writer.Write, cancellationToken).ConfigureAwait(false);
                }
                sources.Add(() => Task.FromResult(Local(file, "a merged run")));
            }
            var counter = new GroupCounter();
            await MergeAsync(sources, counter.Add, cancellationToken).ConfigureAwait(false);
            return counter.Report();
        }
        finally
        {
            foreach (var file in passes)
            {
                await file.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private static Cursor Local(FileStream file, string name)
    {
        file.Position = 0;
        return new Cursor(file, name, ownsStream: false);
    }

    private static async Task MergeAsync(List<Func<Task<Cursor>>> sources, Action<ulong, long> sink, CancellationToken cancellationToken)
    {
        var cursors = new List<Cursor>();
        try
        {
            var queue = new PriorityQueue<Cursor, (ulong, long)>();
            foreach (var open in sources)
            {
                var c = await open().ConfigureAwait(false);
                cursors.Add(c);
                if (await c.MoveNextAsync(cancellationToken).ConfigureAwait(false))
                {
                    queue.Enqueue(c, (c.Hash, c.Id));
                }
            }
            while (queue.TryDequeue(out var c, out _))
            {
                sink(c.Hash, c.Id);
                if (await c.MoveNextAsync(cancellationToken).ConfigureAwait(false))
                {
                    queue.Enqueue(c, (c.Hash, c.Id));
                }
            }
        }
        finally
        {
            foreach (var c in cursors)
            {
                await c.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    public void Dispose()
    {
        foreach (var file in _spilled)
        {
            file.Dispose();
        }
        _spilled.Clear();
    }

    private void Reserve(int count)
    {
        if (_hashes.Length >= count)
        {
            return;
        }
        var size = (int)Math.Min(MaxPairsInMemory, Math.Max(count, Math.Max(4096, 2L * _hashes.Length)));
        Array.Resize(ref _hashes, size);
        Array.Resize(ref _ids, size);
    }

    /// <summary>Sorts the buffer by hash, then id within equal hashes (the merge's order).</summary>
    private void SortBuffer()
    {
        var hashes = _hashes.AsSpan(0, Buffered);
        var ids = _ids.AsSpan(0, Buffered);
        hashes.Sort(ids);
        for (var i = 0; i < hashes.Length;)
        {
            var j = i + 1;
            while (j < hashes.Length && hashes[j] == hashes[i])
            {
                j++;
            }
            if (j - i > 1)
            {
                ids[i..j].Sort();
            }
            i = j;
        }
    }

    private void Spill()
    {
        SortBuffer();
        var file = NewRunFile();
        using (var writer = new RunWriter(file))
        {
            for (var k = 0; k < Buffered; k++)
            {
                writer.Write(_hashes[k], _ids[k]);
            }
        }
        _spilled.Add(file);
        Buffered = 0;
    }

    private static FileStream NewRunFile() =>
        new(Path.Combine(Path.GetTempPath(), $"bigdataai-duplicates-{Guid.NewGuid():N}.run"), FileMode.CreateNew,
            FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.DeleteOnClose);

    /// <summary>Writes a run: the header (magic, then the pair count, filled in at the end) and 16-byte pairs, little-endian.</summary>
    private sealed class RunWriter : IDisposable
    {
        private readonly FileStream _file;
        private readonly byte[] _bytes = new byte[BufferPairs * PairBytes];
        private int _used;
        private long _count;

        public RunWriter(FileStream file)
        {
            _file = file;
            Span<byte> header = stackalloc byte[HeaderBytes];
            Magic.CopyTo(header);
            _file.Write(header);
        }

        public void Write(ulong hash, long id)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(_bytes.AsSpan(_used), hash);
            BinaryPrimitives.WriteInt64LittleEndian(_bytes.AsSpan(_used + 8), id);
            _count++;
            if ((_used += PairBytes) == _bytes.Length)
            {
                _file.Write(_bytes, 0, _used);
                _used = 0;
            }
        }

        /// <summary>Flushes the pairs and writes their count into the header (the stream stays open: it is the run).</summary>
        public void Dispose()
        {
            _file.Write(_bytes, 0, _used);
            _file.Position = 8;
            Span<byte> count = stackalloc byte[8];
            BinaryPrimitives.WriteInt64LittleEndian(count, _count);
            _file.Write(count);
            _file.Flush();
        }
    }

    /// <summary>Reads one sorted run, from memory or a stream, 4,096 pairs at a time.</summary>
    private sealed class Cursor : IAsyncDisposable
    {
        private readonly ulong[]? _hashes;
        private readonly long[]? _ids;
        private readonly Stream? _stream;
        private readonly bool _ownsStream;
        private readonly string _name;
        private readonly byte[] _bytes = [];
        private long _left;
        private int _count;
        private int _next;
        private bool _headerRead;

        public Cursor(ulong[] hashes, long[] ids, int count) => (_hashes, _ids, _left, _name) = (hashes, ids, count, "the buffer");

        public Cursor(Stream stream, string name, bool ownsStream) => (_stream, _name, _ownsStream, _bytes) = (stream, name, ownsStream, new byte[BufferPairs * PairBytes]);

        public ulong Hash { get; private set; }

        public long Id { get; private set; }

        public async ValueTask<bool> MoveNextAsync(CancellationToken cancellationToken)
        {
            if (_stream is null)
            {
                if (_next == _left)
                {
                    return false;
                }
                (Hash, Id) = (_hashes![_next], _ids![_next]);
                _next++;
                return true;
            }
            if (!_headerRead)
            {
                await ReadExactlyAsync(HeaderBytes, cancellationToken).ConfigureAwait(false);
                if (!_bytes.AsSpan(0, 8).SequenceEqual(Magic))
                {
                    throw new InvalidDataException($"Duplicate-row run '{_name}' does not start with the run format's magic bytes.");
                }
                _left = BinaryPrimitives.ReadInt64LittleEndian(_bytes.AsSpan(8));
                _headerRead = true;
            }
            if (_next == _count)
            {
                if (_left == 0)
                {
                    return false;
                }
                _count = (int)Math.Min(BufferPairs, _left);
                await ReadExactlyAsync(_count * PairBytes, cancellationToken).ConfigureAwait(false);
                (_left, _next) = (_left - _count, 0);
            }
            var at = _next++ * PairBytes;
            (Hash, Id) = (BinaryPrimitives.ReadUInt64LittleEndian(_bytes.AsSpan(at)), BinaryPrimitives.ReadInt64LittleEndian(_bytes.AsSpan(at + 8)));
            return true;
        }

        private async Task ReadExactlyAsync(int count, CancellationToken cancellationToken)
        {
            try
            {
                await _stream!.ReadExactlyAsync(_bytes.AsMemory(0, count), cancellationToken).ConfigureAwait(false);
            }
            catch (EndOfStreamException e)
            {
                throw new InvalidDataException($"Duplicate-row run '{_name}' ends before the pairs its header counts.", e);
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (_ownsStream && _stream is not null)
            {
                await _stream.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>Counts groups of equal hashes in (hash, id) order and keeps the groups with the lowest first rows.</summary>
    private sealed class GroupCounter
    {
        private readonly PriorityQueue<List<long>, long> _lowest = new(Comparer<long>.Create((a, b) => b.CompareTo(a)));
        private ulong _hash;
        private long _size;
        private List<long> _ids = [];
        private long _duplicates;
        private long _groups;

        public void Add(ulong hash, long id)
        {
            if (_size > 0 && hash == _hash)
            {
                _size++;
                if (_ids.Count < ProfileBuilder.Examples)
                {
                    _ids.Add(id);
                }
                return;
            }
            Close();
            (_hash, _size, _ids) = (hash, 1, [id]);
        }

        private void Close()
        {
            if (_size < 2)
            {
                return;
            }
            _groups++;
            _duplicates += _size - 1;
            // A max-heap on the first row: the group with the highest first row leaves when a lower one comes.
            _lowest.Enqueue(_ids, _ids[0]);
            if (_lowest.Count > ProfileBuilder.Examples)
            {
                _lowest.Dequeue();
            }
        }

        public DuplicateReport Report()
        {
            Close();
            _size = 0;
            var examples = new List<IReadOnlyList<long>>();
            while (_lowest.TryDequeue(out var ids, out _))
            {
                examples.Add(ids);
            }
            examples.Reverse();
            return new DuplicateReport(_duplicates, _groups, examples);
        }
    }
}
