namespace BigDataAI.Labeling.Augmentation;

/// <summary>
/// A small deterministic generator (SplitMix64) whose stream is fixed by this code, not by the runtime's
/// <see cref="Random"/> (whose seeded algorithm .NET may change). Each augmented row gets its own stream, keyed by the
/// request's seed and the row, so rows come out the same whatever order or thread makes them.
/// </summary>
internal sealed class SeededRandom
{
    private ulong _state;
    private double? _spareGaussian;

    public SeededRandom(long seed, params ReadOnlySpan<long> keys)
    {
        _state = Mix((ulong)seed ^ 0x9E3779B97F4A7C15UL);
        foreach (var key in keys)
        {
            _state = Mix(_state ^ Mix((ulong)key + 0x632BE59BD9B4E019UL));
        }
    }

    public ulong NextUInt64()
    {
        _state += 0x9E3779B97F4A7C15UL;
        return Mix(_state);
    }

    /// <summary>Uniform in [0, 1), 53 bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in [0, <paramref name="count"/>).</summary>
    public int Next(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        return (int)((NextUInt64() >> 11) % (ulong)count);
    }

    /// <summary>Uniform integer in [-<paramref name="max"/>, +<paramref name="max"/>].</summary>
    public int NextSymmetric(int max) => max <= 0 ? 0 : Next(2 * max + 1) - max;

    /// <summary>A standard normal draw (Box-Muller; the pair's second value is kept for the next call).</summary>
    public double NextGaussian()
    {
        if (_spareGaussian is { } spare)
        {
            _spareGaussian = null;
            return spare;
        }
        var u1 = 1.0 - NextDouble();
        var u2 = NextDouble();
        var radius = Math.Sqrt(-2.0 * Math.Log(u1));
        _spareGaussian = radius * Math.Sin(2 * Math.PI * u2);
        return radius * Math.Cos(2 * Math.PI * u2);
    }

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
