namespace BigDataAI.Datasets.Similarity;

/// <summary>
/// Finds 64-bit hashes within a Hamming distance of each other without comparing every pair (multi-index hashing): a
/// hash is cut into d + 1 chunks, and by the pigeonhole principle two hashes at most d bits apart agree exactly on at
/// least one chunk, so only hashes sharing a chunk are compared.
/// </summary>
public sealed class HammingIndex
{
    private readonly int _chunks;
    private readonly int[] _starts;
    private readonly int[] _lengths;
    private readonly Dictionary<ulong, List<int>>[] _tables;
    private readonly List<(long Id, ulong Hash)> _items = [];

    public HammingIndex(int maxDistance)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxDistance);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxDistance, 32);
        MaxDistance = maxDistance;
        _chunks = maxDistance + 1;
        _starts = new int[_chunks];
        _lengths = new int[_chunks];
        for (var c = 0; c < _chunks; c++)
        {
            _starts[c] = c * 64 / _chunks;
            _lengths[c] = (c + 1) * 64 / _chunks - _starts[c];
        }
        _tables = [.. Enumerable.Range(0, _chunks).Select(_ => new Dictionary<ulong, List<int>>())];
    }

    public int MaxDistance { get; }
    public int Count => _items.Count;

    /// <summary>The items already added at most <see cref="MaxDistance"/> bits from <paramref name="hash"/>, nearest first.</summary>
    public List<(long Id, int Distance)> Query(ulong hash)
    {
        var seen = new HashSet<int>();
        var result = new List<(long Id, int Distance, int Index)>();
        for (var c = 0; c < _chunks; c++)
        {
            if (!_tables[c].TryGetValue(Chunk(hash, c), out var members))
            {
                continue;
            }
            foreach (var index in members)
            {
                if (seen.Add(index))
                {
                    var distance = PerceptualHash.Distance(hash, _items[index].Hash);
                    if (distance <= MaxDistance)
                    {
                        result.Add((_items[index].Id, distance, index));
                    }
                }
            }
        }
        return [.. result.OrderBy(r => r.Distance).ThenBy(r => r.Index).Select(r => (r.Id, r.Distance))];
    }

    public void Add(long id, ulong hash)
    {
        var index = _items.Count;
        _items.Add((id, hash));
        for (var c = 0; c < _chunks; c++)
        {
            var key = Chunk(hash, c);
            if (!_tables[c].TryGetValue(key, out var members))
            {
                _tables[c][key] = members = [];
            }
            members.Add(index);
        }
    }

    private ulong Chunk(ulong hash, int chunk)
    {
        var length = _lengths[chunk];
        var mask = length == 64 ? ulong.MaxValue : (1UL << length) - 1;
        return (hash >> _starts[chunk]) & mask;
    }
}
