namespace BigDataAI.Datasets.Similarity;

/// <summary>
/// Locality-sensitive hashing of MinHash signatures by banding: a signature of b x r slots is cut into b bands of r
/// slots, and two items become candidates when any band is equal. Candidates are then kept only when their estimated
/// Jaccard similarity is at least the threshold, so the index returns near-duplicate pairs without comparing every pair.
/// </summary>
/// <remarks>
/// The band count is chosen for the threshold t as the divisor b of the slots whose S-curve midpoint (1/b)^(1/r) is the
/// largest one at most t - 0.05 (or the smallest midpoint available), so pairs at the threshold are found with high probability
/// (for 128 slots and t = 0.8: b = 16, r = 8, midpoint 0.707; a pair is a candidate with probability 1 - (1 - J^8)^16:
/// 0.947 at J = 0.8, 0.9999 at J = 0.9, 0.04 at J = 0.5).
/// Memory: the signatures of the items added (8 bytes per slot) plus one list entry per band per item.
/// </remarks>
public sealed class MinHashLsh
{
    private readonly Dictionary<ulong, List<int>>[] _bands;
    private readonly List<(long Id, ulong[] Signature)> _items = [];

    public MinHashLsh(int slots, double threshold)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(slots, 1);
        if (!(threshold > 0 && threshold <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(threshold), threshold, "The Jaccard threshold must be in (0, 1].");
        }
        Slots = slots;
        Threshold = threshold;
        (Bands, RowsPerBand) = ChooseBands(slots, threshold);
        _bands = [.. Enumerable.Range(0, Bands).Select(_ => new Dictionary<ulong, List<int>>())];
    }

    public int Slots { get; }
    public double Threshold { get; }
    public int Bands { get; }
    public int RowsPerBand { get; }
    public int Count => _items.Count;

    /// <summary>The banding (b, r), b x r = slots, for a similarity threshold (see the remarks).</summary>
    public static (int Bands, int Rows) ChooseBands(int slots, double threshold)
    {
        (int B, int R)? best = null;
        var bestMidpoint = double.NaN;
        for (var b = 1; b <= slots; b++)
        {
            if (slots % b != 0)
            {
                continue;
            }
            var r = slots / b;
            var midpoint = Math.Pow(1.0 / b, 1.0 / r);
            var fits = midpoint <= threshold - 0.05;
            var bestFits = best is not null && bestMidpoint <= threshold - 0.05;
            if (best is null
                || (fits && (!bestFits || midpoint > bestMidpoint))
                || (!fits && !bestFits && midpoint < bestMidpoint))
            {
                best = (b, r);
                bestMidpoint = midpoint;
            }
        }
        return best!.Value;
    }

    /// <summary>
    /// The items already added whose estimated similarity to <paramref name="signature"/> is at least the threshold,
    /// most similar first (ties by the order they were added).
    /// </summary>
    public List<(long Id, double Similarity)> Query(ulong[] signature)
    {
        CheckLength(signature);
        var seen = new HashSet<int>();
        var result = new List<(long Id, double Similarity, int Index)>();
        for (var b = 0; b < Bands; b++)
        {
            if (!_bands[b].TryGetValue(BandKey(signature, b), out var members))
            {
                continue;
            }
            foreach (var index in members)
            {
                if (seen.Add(index))
                {
                    var similarity = MinHash.Similarity(signature, _items[index].Signature);
                    if (similarity >= Threshold)
                    {
                        result.Add((_items[index].Id, similarity, index));
                    }
                }
            }
        }
        return [.. result.OrderByDescending(r => r.Similarity).ThenBy(r => r.Index).Select(r => (r.Id, r.Similarity))];
    }

    /// <summary>Adds an item (its id is the caller's; ids need not be unique).</summary>
    public void Add(long id, ulong[] signature)
    {
        CheckLength(signature);
        var index = _items.Count;
        _items.Add((id, signature));
        for (var b = 0; b < Bands; b++)
        {
            var key = BandKey(signature, b);
            if (!_bands[b].TryGetValue(key, out var members))
            {
                _bands[b][key] = members = [];
            }
            members.Add(index);
        }
    }

    /// <summary>Every near-duplicate pair (earlier id first) among <paramref name="items"/>, in the order found.</summary>
    public static List<(long A, long B, double Similarity)> Pairs(IEnumerable<(long Id, ulong[] Signature)> items, int slots, double threshold)
    {
        var index = new MinHashLsh(slots, threshold);
        var pairs = new List<(long, long, double)>();
        foreach (var (id, signature) in items)
        {
            foreach (var (other, similarity) in index.Query(signature))
            {
                pairs.Add((other, id, similarity));
            }
            index.Add(id, signature);
        }
        return pairs;
    }

    private ulong BandKey(ulong[] signature, int band)
    {
        var h = 0xCBF29CE484222325UL ^ (ulong)band;
        for (var i = band * RowsPerBand; i < (band + 1) * RowsPerBand; i++)
        {
            h = MinHash.Mix(h ^ signature[i]);
        }
        return h;
    }

    private void CheckLength(ulong[] signature)
    {
        ArgumentNullException.ThrowIfNull(signature);
        if (signature.Length != Slots)
        {
            throw new ArgumentException($"A signature of {signature.Length} slots for an index of {Slots}.", nameof(signature));
        }
    }
}
