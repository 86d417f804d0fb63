using System.Text;

namespace BigDataAI.Labeling.Augmentation;

/// <summary>
/// Text augmentation, pure and seeded: the text's whitespace-separated tokens, each dropped with probability
/// <c>dropout</c> (never all of them: when every token would go, one drawn at random stays) and each kept one swapped,
/// with probability <c>swap</c>, for a synonym from the shipped list (synonyms.txt). A swap keeps the token's
/// punctuation around the word and a leading capital. Tokens are joined again by single spaces.
/// </summary>
internal sealed class TextAugmenter(IReadOnlyDictionary<string, string[]> synonyms)
{
    private static readonly Lazy<(TextAugmenter Augmenter, string Sha256)> Shipped = new(LoadShipped);

    /// <summary>The augmenter over the shipped synonym list.</summary>
    public static TextAugmenter Default => Shipped.Value.Augmenter;

    /// <summary>The SHA-256 of the shipped list's bytes (recorded in a recipe: a later list would swap other words).</summary>
    public static string ShippedSha256 => Shipped.Value.Sha256;

    public IReadOnlyDictionary<string, string[]> Synonyms => synonyms;

    public string? Augment(string? text, double dropout, double swap, SeededRandom random)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return text;
        }
        var tokens = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        var kept = new List<string>(tokens.Length);
        foreach (var token in tokens)
        {
            if (dropout > 0 && random.NextDouble() < dropout)
            {
                continue;
            }
            kept.Add(swap > 0 && random.NextDouble() < swap ? Swap(token, random) : token);
        }
        if (kept.Count == 0)
        {
            var token = tokens[random.Next(tokens.Length)];
            kept.Add(swap > 0 && random.NextDouble() < swap ? Swap(token, random) : token);
        }
        return string.Join(' ', kept);
    }

    /// <summary>The token with its word (letters, digits, apostrophes and hyphens inside) replaced by a synonym, if it has any.</summary>
    private string Swap(string token, SeededRandom random)
    {
        var start = 0;
        while (start < token.Length && !char.IsLetter(token[start]))
        {
            start++;
        }
        var end = token.Length;
        while (end > start && !char.IsLetter(token[end - 1]))
        {
            end--;
        }
        if (start >= end)
        {
            return token;
        }
        var word = token[start..end];
        if (!synonyms.TryGetValue(word.ToLowerInvariant(), out var choices) || choices.Length == 0)
        {
            return token;
        }
        var synonym = choices[random.Next(choices.Length)];
        if (char.IsUpper(word[0]))
        {
            synonym = char.ToUpperInvariant(synonym[0]) + synonym[1..];
        }
        return new StringBuilder(token.Length + synonym.Length).Append(token, 0, start).Append(synonym).Append(token, end, token.Length - end).ToString();
    }

    /// <summary>Parses the synonym list format: <c>word: synonym, synonym</c> a line; '#' starts a comment line.</summary>
    public static IReadOnlyDictionary<string, string[]> ParseSynonyms(TextReader reader)
    {
        var result = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var number = 0;
        while (reader.ReadLine() is { } line)
        {
            number++;
            line = line.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                throw new InvalidDataException($"Synonym list line {number}: expected 'word: synonym, ...', got '{line}'.");
            }
            var word = line[..colon].Trim().ToLowerInvariant();
            var choices = line[(colon + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Where(s => !string.Equals(s, word, StringComparison.OrdinalIgnoreCase)).ToArray();
            if (choices.Length == 0 || !result.TryAdd(word, choices))
            {
                throw new InvalidDataException($"Synonym list line {number}: '{word}' has no synonyms or appears twice.");
            }
        }
        return result;
    }

    private static (TextAugmenter, string) LoadShipped()
    {
        const string name = "BigDataAI.Labeling.Augmentation.synonyms.txt";
        using var stream = typeof(TextAugmenter).Assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"The embedded synonym list '{name}' is missing from the labeling module.");
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        // Hashed with LF line ends, so a checkout that turned them into CRLF names the same list.
        var text = Encoding.UTF8.GetString(buffer.ToArray()).Replace("\r\n", "\n", StringComparison.Ordinal);
        using var reader = new StringReader(text);
        return (new TextAugmenter(ParseSynonyms(reader)), Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(text))));
    }
}
