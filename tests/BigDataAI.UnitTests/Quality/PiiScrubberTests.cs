using BigDataAI.Ingestion.Quality;

namespace BigDataAI.UnitTests.Quality;

public sealed class PiiScrubberTests
{
    private static readonly PiiScrubber Mask = new(Enum.GetValues<PiiKind>(), hashKey: null);

    [Theory]
    [InlineData("4111111111111111", true)]   // the classic Visa test number
    [InlineData("4539148803436467", true)]
    [InlineData("79927398713", true)]        // the Luhn article's example
    [InlineData("4111111111111112", false)]
    [InlineData("79927398710", false)]
    [InlineData("12a4", false)]
    public void Luhn(string digits, bool valid) => Assert.Equal(valid, PiiScrubber.IsLuhnValid(digits));

    [Theory]
    [InlineData("DE89 3704 0044 0532 0130 00", true)]
    [InlineData("GB82WEST12345698765432", true)]
    [InlineData("gb82 west 1234 5698 7654 32", true)]
    [InlineData("DE89 3704 0044 0532 0130 01", false)] // one digit off: mod 97 is not 1
    [InlineData("DE89370400", false)]                  // too short
    [InlineData("1289 3704 0044 0532 0130 00", false)] // no country code
    public void Iban_mod_97(string iban, bool valid) => Assert.Equal(valid, PiiScrubber.IsValidIban(iban));

    [Fact]
    public void Every_kind_is_masked_and_counted()
    {
        var found = new Dictionary<PiiKind, long>();
        var text = "Mail Jane.Doe+x@example.co.uk or call +47 912 34 567, card 4111-1111-1111-1111, "
            + "IBAN DE89 3704 0044 0532 0130 00 THANKS, from 192.168.10.254 and 2001:db8::8a2e:370:7334.";
        var scrubbed = Mask.Scrub(text, found);
        Assert.Equal("Mail [EMAIL] or call [PHONE], card [CARD], IBAN [IBAN] THANKS, from [IP] and [IP].", scrubbed);
        Assert.Equal(new Dictionary<PiiKind, long> { [PiiKind.Email] = 1, [PiiKind.Phone] = 1, [PiiKind.Card] = 1, [PiiKind.Iban] = 1, [PiiKind.Ip] = 2 }, found);
    }

    [Theory]
    [InlineData("order 4111111111111112 shipped")]  // fails Luhn: not a card, and 16 digits are too many for a phone
    [InlineData("on 2024-01-05 at 12:30:45")]       // a date and a time are neither phones nor IPv6
    [InlineData("version 1.2.3.4.5 and 300.1.1.1")] // not dotted quads
    [InlineData("IBAN DE89370400440532013001")]       // fails mod 97 (its digits alone would pass Luhn as a card when spaced)
    [InlineData("no at sign: jane.doe.example.com")]
    [InlineData("id 12345678")]                     // 8 digits without +: not a phone
    public void Look_alikes_are_left_alone(string text)
    {
        var found = new Dictionary<PiiKind, long>();
        Assert.Same(text, Mask.Scrub(text, found));
        Assert.Empty(found);
    }

    [Fact]
    public void Hashing_is_keyed_and_keeps_equal_values_equal()
    {
        var a = new PiiScrubber([PiiKind.Email, PiiKind.Card], "a key of sixteen+ chars");
        var b = new PiiScrubber([PiiKind.Email, PiiKind.Card], "another key, also long");
        var found = new Dictionary<PiiKind, long>();
        var first = a.Scrub("jane@example.com paid with 4111 1111 1111 1111", found);
        var second = a.Scrub("JANE@example.com paid with 4111-1111-1111-1111", found);
        Assert.Equal(first, second);
        Assert.Matches(@"^\[EMAIL:[0-9a-f]{16}\] paid with \[CARD:[0-9a-f]{16}\]$", first);
        Assert.NotEqual(first, b.Scrub("jane@example.com paid with 4111 1111 1111 1111", found));
        // Only the kinds asked for: the phone number stays.
        Assert.Equal("call +47 912 34 567", a.Scrub("call +47 912 34 567", found));
        Assert.NotEqual(PiiScrubber.KeyFingerprint("a key of sixteen+ chars"), PiiScrubber.KeyFingerprint("another key, also long"));
    }

    [Fact]
    public void Normalizing_text_composes_collapses_and_trims()
    {
        // "e" + combining acute (NFD) becomes the single code point é (NFC); tabs, newlines and runs of spaces become one.
        Assert.Equal("caf\u00e9 au lait", NormalizeTextStep.Normalize("  cafe\u0301 \t au\n\n lait  "));
        Assert.Equal("", NormalizeTextStep.Normalize(" \t "));
    }
}
