using BigDataAI.Protos.Labeling.V1;

namespace BigDataAI.Labeling.Projects;

/// <summary>One person's label of one row as stored: classes sorted ordinally, joined by '|'.</summary>
public sealed record StoredLabel(long Row, string Annotator, string[] Classes, long At, long DurationMs, bool Adjudication);

/// <summary>Where a task stands after its labels: still open, in conflict (waiting for the adjudicator), or resolved.</summary>
public sealed record TaskState(bool Open, bool Conflict, int Needed, string[]? Resolved, IReadOnlyList<string> Deciders);

/// <summary>
/// How a row's labels end, from all of them at once (so submitting and undoing give the same answer in any order).
/// Majority: once the row has its k labels, the most frequent label wins (multi-label: each class that more than half
/// the labels hold); a tie asks for one more label. Adjudicator: k labels that agree end the row; otherwise it waits for
/// the adjudicator, whose label decides.
/// </summary>
public static class TaskResolution
{
    public static TaskState Resolve(IReadOnlyList<StoredLabel> labels, int k, ConflictRule rule, bool multiLabel)
    {
        if (labels.FirstOrDefault(l => l.Adjudication) is { } decided)
        {
            return new TaskState(false, false, k, decided.Classes, [decided.Annotator]);
        }
        if (labels.Count < k)
        {
            return new TaskState(true, false, k, null, []);
        }
        var keys = labels.Select(l => Key(l.Classes)).ToList();
        if (rule == ConflictRule.Adjudicator)
        {
            return keys.Distinct(StringComparer.Ordinal).Count() == 1
                ? new TaskState(false, false, k, labels[0].Classes, [.. labels.Select(l => l.Annotator)])
                : new TaskState(true, true, k, null, []);
        }
        if (!multiLabel)
        {
            var counts = keys.GroupBy(x => x, StringComparer.Ordinal).Select(g => (Key: g.Key, Count: g.Count())).OrderByDescending(g => g.Count).ToList();
            if (counts.Count > 1 && counts[0].Count == counts[1].Count)
            {
                // A tie: one more label decides.
                return new TaskState(true, false, labels.Count + 1, null, []);
            }
            var winner = counts[0].Key;
            return new TaskState(false, false, k, Split(winner), [.. labels.Where(l => Key(l.Classes) == winner).Select(l => l.Annotator)]);
        }
        var classes = labels.SelectMany(l => l.Classes).Distinct(StringComparer.Ordinal).ToList();
        var chosen = new List<string>();
        foreach (var c in classes)
        {
            var votes = labels.Count(l => l.Classes.Contains(c, StringComparer.Ordinal));
            if (votes * 2 == labels.Count)
            {
                return new TaskState(true, false, labels.Count + 1, null, []);
            }
            if (votes * 2 > labels.Count)
            {
                chosen.Add(c);
            }
        }
        var set = Key([.. chosen]);
        var agreeing = labels.Where(l => Key(l.Classes) == set).Select(l => l.Annotator).ToList();
        return new TaskState(false, false, k, Split(set), agreeing.Count > 0 ? agreeing : [.. labels.Select(l => l.Annotator)]);
    }

    public static string Key(IEnumerable<string> classes) => string.Join('|', classes.Order(StringComparer.Ordinal));

    public static string[] Split(string key) => key.Length == 0 ? [] : key.Split('|');
}
