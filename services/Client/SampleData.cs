using System.Globalization;
using System.IO.Compression;
using System.Text;

namespace BigDataAI.Client;

/// <summary>
/// Sample datasets generated on the spot (seeded, so every run writes the same bytes; no outside source, so no licence
/// applies), for demos, benchmarks and tests: a table with every kind of awkward cell, and a text corpus.
/// </summary>
public static class SampleData
{
    private static readonly string[] Cities = ["Oslo", "Bergen", "Trondheim", "Stavanger"];

    /// <summary>
    /// Writes a table of people: id, age (5% empty), income (NA or NaN in 8%), city (3% empty), member (true/false), a
    /// free-text note (quoted, with commas, doubled quotes and line breaks) and a label "yes" when (age over 45 and city
    /// Oslo) or member, 3% of labels flipped, 8% empty (unlabeled). Returns its rows and how many have no label.
    /// </summary>
    public static (int Rows, int Unlabeled) WritePeopleCsv(string path, int rows, int seed)
    {
        var random = new Random(seed);
        var text = new StringBuilder("id,age,income,city,member,note,label\n");
        var unlabeled = 0;
        for (var i = 0; i < rows; i++)
        {
            var age = 18 + random.Next(60);
            var city = Cities[random.Next(Cities.Length)];
            var member = random.Next(4) == 0;
            var income = Math.Round(20_000 + age * 900 + random.NextDouble() * 15_000, 2);
            var yes = (age > 45 && city == "Oslo") || member;
            if (random.NextDouble() < 0.03)
            {
                yes = !yes;
            }
            var ageCell = random.Next(20) == 0 ? "" : age.ToString(CultureInfo.InvariantCulture);
            var incomeCell = random.Next(25) switch
            {
                0 => "NA",
                1 => "NaN",
                _ => income.ToString(CultureInfo.InvariantCulture),
            };
            var cityCell = random.Next(30) == 0 ? "" : city;
            var note = random.Next(5) switch
            {
                0 => "\"likes \"\"fjords\"\", hiking\"",
                1 => "\"two\nlines\"",
                2 => "",
                _ => "plain",
            };
            var label = random.NextDouble() < 0.08 ? "" : yes ? "yes" : "no";
            unlabeled += label.Length == 0 ? 1 : 0;
            text.Append(CultureInfo.InvariantCulture, $"{1000 + i},{ageCell},{incomeCell},{cityCell},{(member ? "true" : "false")},{note},{label}\n");
        }
        File.WriteAllText(path, text.ToString());
        return (rows, unlabeled);
    }


    /// <summary>The four topics of <see cref="WriteNotesZip"/>, its classes.</summary>
    public static readonly string[] NoteTopics = ["cooking", "sailing", "software", "weather"];

    private static readonly string[][] Words =
    [
        ["oven", "garlic", "simmer", "recipe", "butter", "onion", "bake", "pan", "salt", "flour", "roast", "sauce", "dough", "pepper", "stew"],
        ["boat", "harbour", "wind", "sail", "mast", "anchor", "tide", "crew", "knots", "deck", "rudder", "bay", "mooring", "keel", "jib"],
        ["compiler", "bug", "release", "server", "database", "code", "deploy", "tests", "branch", "memory", "thread", "library", "api", "build", "cache"],
        ["rain", "forecast", "cloudy", "storm", "sunny", "temperature", "snow", "fog", "humid", "frost", "drizzle", "thunder", "breeze", "heatwave", "showers"],
    ];

    private static readonly string[] Common = ["the", "a", "and", "we", "it", "was", "today", "then", "after", "with", "of", "on", "in", "very", "quite", "again", "this", "that", "for", "our", "some", "more", "before", "later", "really"];

    /// <summary>
    /// Writes a zip of <paramref name="documents"/> short notes as <c>{topic}/{n:D4}.txt</c>: 8 to 21 words, 30% from the
    /// topic's own words, 6% from any topic's, the rest common English words.
    /// </summary>
    public static void WriteNotesZip(string path, int documents, int seed)
    {
        var random = new Random(seed);
        using var file = File.Create(path);
        using var zip = new ZipArchive(file, ZipArchiveMode.Create);
        for (var d = 0; d < documents; d++)
        {
            var topic = d % NoteTopics.Length;
            var text = new StringBuilder();
            var length = 8 + random.Next(14);
            for (var w = 0; w < length; w++)
            {
                var roll = random.NextDouble();
                var word = roll < 0.30 ? Words[topic][random.Next(Words[topic].Length)]
                    : roll < 0.36 ? Words[random.Next(NoteTopics.Length)][random.Next(15)]
                    : Common[random.Next(Common.Length)];
                text.Append(w == 0 ? char.ToUpperInvariant(word[0]) + word[1..] : word).Append(w == length - 1 ? "." : " ");
            }
            var entry = zip.CreateEntry($"{NoteTopics[topic]}/{d:D4}.txt", CompressionLevel.Fastest);
            using var stream = entry.Open();
            stream.Write(Encoding.UTF8.GetBytes(text.ToString()));
        }
    }
}
