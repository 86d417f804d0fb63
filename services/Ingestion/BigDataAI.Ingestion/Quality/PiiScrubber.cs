using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace BigDataAI.Ingestion.Quality;

/// <summary>The kinds of personal data <see cref="PiiScrubber"/> finds in text.</summary>
public enum PiiKind
{
    Email,
    Phone,
    Card,
    Iban,
    Ip,
}

/// <summary>
/// Finds personal data in text and replaces it: emails, card numbers (13-19 digits, spaces or dashes allowed, that pass
/// the Luhn check), IBANs (country code, check digits and 11-30 letters or digits, grouped by 4 or not, that pass ISO
/// 13616's mod-97 check), IPv4 and IPv6 addresses, and phone numbers (a leading + and 7-15 digits, or 9-15 digits, with
/// spaces, dots, dashes or one parenthesised area code between them, not starting like a date, not next to a colon).
/// Matches never overlap: where two kinds could claim the same characters the first of email, IBAN, card, IP, phone wins
/// (a card number is not also a phone number).
/// </summary>
/// <remarks>
/// Masking writes <c>[EMAIL]</c>, <c>[PHONE]</c>, <c>[CARD]</c>, <c>[IBAN]</c> or <c>[IP]</c>. Hashing writes
/// <c>[EMAIL:0f3a...]</c>: the first 16 hex digits of HMAC-SHA256 under the caller's key of the value as written
/// (for cards and IBANs without spaces and dashes, IBANs upper-cased; emails lower-cased), so equal values stay equal
/// across rows and versions cleaned with the same key, and nobody without the key can test a guess.
/// </remarks>
public sealed partial class PiiScrubber
{
    private readonly IReadOnlySet<PiiKind> _kinds;
    private readonly byte[]? _key;

    /// <param name="kinds">The kinds to find.</param>
    /// <param name="hashKey">Null to mask; else the HMAC key (UTF-8) values are hashed with.</param>
    public PiiScrubber(IEnumerable<PiiKind> kinds, string? hashKey)
    {
        _kinds = kinds.ToHashSet();
        _key = hashKey is null ? null : Encoding.UTF8.GetBytes(hashKey);
    }

    [GeneratedRegex(@"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])")]
    private static partial Regex EmailPattern();

    [GeneratedRegex(@"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")]
    private static partial Regex CardPattern();

    [GeneratedRegex(@"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?:(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,3})?|[A-Z0-9]{11,30})(?![A-Za-z0-9])", RegexOptions.IgnoreCase)]
    private static partial Regex IbanPattern();

    [GeneratedRegex(@"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?!\.?\d)")]
    private static partial Regex Ipv4Pattern();

    [GeneratedRegex(@"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?![\w:])")]
    private static partial Regex Ipv6Pattern();

    [GeneratedRegex(@"(?<![\w+:.])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){1,5}(?![\w:])")]
    private static partial Regex PhonePattern();

    [GeneratedRegex(@"^\d{4}[-./]\d{1,2}[-./]\d{1,2}")]
    private static partial Regex DatePrefix();

    /// <summary>Replaces the personal data in <paramref name="text"/>; <paramref name="found"/> counts each replacement by kind.</summary>
    public string Scrub(string text, IDictionary<PiiKind, long> found)
    {
        var spans = Find(text);
        if (spans.Count == 0)
        {
            return text;
        }
        var result = new StringBuilder(text.Length);
        var at = 0;
        foreach (var (start, length, kind) in spans)
        {
            result.Append(text, at, start - at);
            result.Append(Replacement(kind, text.Substring(start, length)));
            at = start + length;
            found[kind] = found.TryGetValue(kind, out var n) ? n + 1 : 1;
        }
        result.Append(text, at, text.Length - at);
        return result.ToString();
    }

    /// <summary>The personal data in <paramref name="text"/>, in order, as (start, length, kind).</summary>
    public List<(int Start, int Length, PiiKind Kind)> Find(string text)
    {
        var taken = new List<(int Start, int Length, PiiKind Kind)>();
        Claim(PiiKind.Email, EmailPattern(), _ => true);
        Claim(PiiKind.Iban, IbanPattern(), IsValidIban);
        Claim(PiiKind.Card, CardPattern(), v => IsLuhnValid(Digits(v)));
        Claim(PiiKind.Ip, Ipv4Pattern(), _ => true);
        Claim(PiiKind.Ip, Ipv6Pattern(), v => v.Count(c => c == ':') >= 2 && IPAddress.TryParse(v, out var a) && a.AddressFamily == AddressFamily.InterNetworkV6);
        Claim(PiiKind.Phone, PhonePattern(), v => Digits(v).Length is >= 7 and <= 15 && (v.StartsWith('+') || Digits(v).Length >= 9) && !DatePrefix().IsMatch(v));
        return [.. taken.OrderBy(t => t.Start)];

        void Claim(PiiKind kind, Regex pattern, Func<string, bool> valid)
        {
            if (!_kinds.Contains(kind))
            {
                return;
            }
            foreach (Match match in pattern.Matches(text))
            {
                if (match.Length > 0 && valid(match.Value) && !taken.Any(t => match.Index < t.Start + t.Length && t.Start < match.Index + match.Length))
                {
                    taken.Add((match.Index, match.Length, kind));
                }
            }
        }
    }

    /// <summary>The Luhn check (ISO/IEC 7812): from the right, every second digit doubled (less 9 when over 9); the sum ends in 0.</summary>
    public static bool IsLuhnValid(string digits)
    {
        if (digits.Length < 2 || !digits.All(char.IsAsciiDigit))
        {
            return false;
        }
        var sum = 0;
        for (var i = 0; i < digits.Length; i++)
        {
            var d = digits[digits.Length - 1 - i] - '0';
            if (i % 2 == 1)
            {
                d *= 2;
                if (d > 9)
                {
                    d -= 9;
                }
            }
            sum += d;
        }
        return sum % 10 == 0;
    }

    /// <summary>
    /// ISO 13616's check: 15-34 letters and digits (spaces ignored) starting with two letters and two digits; the first four
    /// moved to the end, letters as 10-35, the number mod 97 is 1.
    /// </summary>
    public static bool IsValidIban(string iban)
    {
        var compact = iban.Replace(" ", "", StringComparison.Ordinal).ToUpperInvariant();
        if (compact.Length is < 15 or > 34 || !char.IsAsciiLetterUpper(compact[0]) || !char.IsAsciiLetterUpper(compact[1])
            || !char.IsAsciiDigit(compact[2]) || !char.IsAsciiDigit(compact[3]) || !compact.All(char.IsAsciiLetterOrDigit))
        {
            return false;
        }
        var remainder = 0;
        foreach (var ch in compact[4..] + compact[..4])
        {
            var value = char.IsAsciiDigit(ch) ? ch - '0' : ch - 'A' + 10;
            remainder = value >= 10 ? (remainder * 100 + value) % 97 : (remainder * 10 + value) % 97;
        }
        return remainder == 1;
    }

    private string Replacement(PiiKind kind, string value)
    {
        var tag = kind.ToString().ToUpperInvariant();
        if (_key is null)
        {
            return $"[{tag}]";
        }
        var canonical = kind switch
        {
            PiiKind.Card => Digits(value),
            PiiKind.Iban => value.Replace(" ", "", StringComparison.Ordinal).ToUpperInvariant(),
            PiiKind.Email => value.ToLowerInvariant(),
            _ => value,
        };
        var mac = HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes($"{tag}:{canonical}"));
        return $"[{tag}:{Convert.ToHexStringLower(mac)[..16]}]";
    }

    private static string Digits(string value) => new([.. value.Where(char.IsAsciiDigit)]);

    /// <summary>A fingerprint of a hash key, for a recipe (never the key): the first 16 hex digits of its SHA-256.</summary>
    public static string KeyFingerprint(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("bigdataai-pii-key:" + key)))[..16];
}
