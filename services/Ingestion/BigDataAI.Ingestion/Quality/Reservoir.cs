namespace BigDataAI.Ingestion.Quality;

/// <summary>
/// A uniform sample of at most <see cref="Capacity"/> items of a stream (Vitter's algorithm R) drawn from a seeded
/// generator: the same stream and seed give the same sample, and a stream no longer than the capacity is kept whole.
/// </summary>
public sealed class Reservoir<T>(int capacity, int seed)
{
    private readonly List<T> _items = [];
    private readonly Random _random = new(seed);

    public int Capacity { get; } = capacity > 0 ? capacity : throw new ArgumentOutOfRangeException(nameof(capacity));

    /// <summary>Items offered so far.</summary>
    public long Seen { get; private set; }

    public IReadOnlyList<T> Items => _items;

    public void Add(T item)
    {
        Seen++;
        if (_items.Count < Capacity)
        {
            _items.Add(item);
            return;
        }
        var j = _random.NextInt64(Seen);
        if (j < Capacity)
        {
            _items[(int)j] = item;
        }
    }
}
