using System.Globalization;
using System.Text;

namespace BigDataAI.Datasets.Similarity;

/// <summary>
/// MinHash signatures of text over word shingles: the fraction of equal slots of two signatures estimates the Jaccard
/// similarity of the two texts' shingle sets (|A ∩ B| / |A ∪ B|) with a standard error of about sqrt(J(1-J)/n) for n
/// slots (0.044 at J = 0.5 with the default 128).
/// </summary>
/// <remarks>
/// Words are the maximal runs of letters and digits, lower-cased (invariant); a shingle is <see cref="ShingleSize"/>
/// consecutive words (a text with fewer words is one shingle of all of them). Each shingle is hashed once with 64-bit
/// FNV-1a over its UTF-8 bytes and slot i takes the minimum of SplitMix64(hash XOR seed_i), so signatures are equal on
/// every machine and run. An empty text (no words) has the signature of all <see cref="ulong.MaxValue"/>, and two empty
/// texts are estimated identical.
/// </remarks>
public sealed class MinHash
{
    public const int DefaultSlots = 128;
    public const int DefaultShingleSize = 3;

    private readonly ulong[] _seeds;

    public MinHash(int slots = DefaultSlots, int shingleSize = DefaultShingleSize, ulong seed = 0x5EED_0F_B16DA7A1UL)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(slots, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(shingleSize, 1);
        ShingleSize = shingleSize;
        _seeds = new ulong[slots];
        var state = seed;
        for (var i = 0; i < slots; i++)
        {
            state += 0x9E3779B97F4A7C15UL;
            _seeds[i] = Mix(state);
        }
    }

    public int Slots => _seeds.Length;
    public int ShingleSize { get; }

    /// <summary>The signature of <paramref name="text"/>: <see cref="Slots"/> minimum hashes.</summary>
    public ulong[] Signature(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var signature = new ulong[_seeds.Length];
        Array.Fill(signature, ulong.MaxValue);
        foreach (var shingle in ShingleHashes(text, ShingleSize))
        {
            for (var i = 0; i < _seeds.Length; i++)
            {
                var h = Mix(shingle ^ _seeds[i]);
                if (h < signature[i])
                {
                    signature[i] = h;
                }
            }
        }
        return signature;
    }

    /// <summary>The estimated Jaccard similarity of two signatures of the same <see cref="MinHash"/>: equal slots / slots.</summary>
    public static double Similarity(ReadOnlySpan<ulong> a, ReadOnlySpan<ulong> b)
    {
        if (a.Length != b.Length || a.Length == 0)
        {
            throw new ArgumentException($"Signatures of {a.Length} and {b.Length} slots cannot be compared.");
        }
        var equal = 0;
        for (var i = 0; i < a.Length; i++)
        {
            if (a[i] == b[i])
            {
                equal++;
            }
        }
        return (double)equal / a.Length;
    }

    /// <summary>The exact Jaccard similarity of the two texts' shingle sets (what <see cref="Similarity"/> estimates).</summary>
    public static double ExactJaccard(string a, string b, int shingleSize = DefaultShingleSize)
    {
        var x = ShingleHashes(a, shingleSize).ToHashSet();
        var y = ShingleHashes(b, shingleSize).ToHashSet();
        if (x.Count == 0 && y.Count == 0)
        {
            return 1;
        }
        var intersection = x.Count(y.Contains);
        return (double)intersection / (x.Count + y.Count - intersection);
    }

    /// <summary>The words of <paramref name="text"/>: maximal runs of letters and digits, lower-cased.</summary>
    public static List<string> Words(string text)
    {
        var words = new List<string>();
        var current = new StringBuilder();
        foreach (var ch in text)
        {
            if (char.IsLetterOrDigit(ch))
            {
                current.Append(char.ToLower(ch, CultureInfo.InvariantCulture));
            }
            else if (current.Length > 0)
            {
                words.Add(current.ToString());
                current.Clear();
            }
        }
        if (current.Length > 0)
        {
            words.Add(current.ToString());
        }
        return words;
    }

    /// <summary>The distinct 64-bit hashes of the text's shingles (empty when the text has no words).</summary>
    public static HashSet<ulong> ShingleHashes(string text, int shingleSize)
    {
        var words = Words(text);
        var hashes = new HashSet<ulong>();
        if (words.Count == 0)
        {
            return hashes;
        }
        var k = Math.Min(shingleSize, words.Count);
        for (var start = 0; start + k <= words.Count; start++)
        {
            var h = FnvOffset;
            for (var w = start; w < start + k; w++)
            {
                if (w > start)
                {
                    h = Fnv(h, (byte)' ');
                }
                foreach (var b in Encoding.UTF8.GetBytes(words[w]))
                {
                    h = Fnv(h, b);
                }
            }
            hashes.Add(h);
        }
        return hashes;
    }

    private const ulong FnvOffset = 0xCBF29CE484222325UL;
    private static ulong Fnv(ulong h, byte b) => (h ^ b) * 0x100000001B3UL;

    /// <summary>SplitMix64's finalizer: a bijective 64-bit mix.</summary>
    internal static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
