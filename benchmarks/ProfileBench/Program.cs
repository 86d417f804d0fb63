// Profile benchmark: BigDataAI's streaming profile (ProfileBuilder over DatasetStore.StreamAsync) against DuckDB over a
// local copy of the same shards. Usage: dotnet run --project benchmarks/ProfileBench -c Release -- [rows] [folder] [--wide] [--no-duckdb]
// --wide: an MNIST-like table instead (an int64 label 0-9 and 784 int64 pixels 0-255, about 80 % zeros); DuckDB is then
// skipped unless asked for, its 784 histogram queries would dominate.
using System.Diagnostics;
using System.Globalization;
using BigDataAI.Datasets;
using BigDataAI.Datasets.Profiling;
using BigDataAI.Storage;
using DuckDB.NET.Data;

var inv = CultureInfo.InvariantCulture;
var positional = args.Where(a => !a.StartsWith("--", StringComparison.Ordinal)).ToArray();
var wide = args.Contains("--wide");
var withDuck = wide ? args.Contains("--duckdb") : !args.Contains("--no-duckdb");
var rows = positional.Length > 0 ? int.Parse(positional[0], inv) : 1_000_000;
var folder = positional.Length > 1 ? positional[1] : Path.Combine(Path.GetTempPath(), "bigdataai-profile-bench");
if (Directory.Exists(folder))
{
    Directory.Delete(folder, recursive: true);
}
var store = new DatasetStore(new FileSystemObjectStore(folder));

// 1. A generated version. Default: 4 int64, 4 double, a categorical string, a text string, a string label; 1 in 20 cells
//    null, the last 1 % of rows repeating the first. Wide: MNIST's shape as a CSV upload gives it (label first, then
//    784 pixels; the border of the 28x28 image always 0, inside 35 % of pixels 1-255), the last 1 % of rows repeating the
//    first. Written through VersionWriter in shards of 4,096 rows (the default).
var schema = wide
    ? new DatasetSchema([
        new ColumnSchema("label", ColumnType.Int64, ColumnRole.Label),
        .. Enumerable.Range(0, 784).Select(i => new ColumnSchema($"p{i}", ColumnType.Int64, ColumnRole.Feature)),
    ])
    : new DatasetSchema([
        .. Enumerable.Range(0, 4).Select(i => new ColumnSchema($"i{i}", ColumnType.Int64, ColumnRole.Feature)),
        .. Enumerable.Range(0, 4).Select(i => new ColumnSchema($"d{i}", ColumnType.Double, ColumnRole.Feature)),
        new ColumnSchema("city", ColumnType.String, ColumnRole.Feature),
        new ColumnSchema("note", ColumnType.String, ColumnRole.Text),
        new ColumnSchema("label", ColumnType.String, ColumnRole.Label),
    ]);
var watch = Stopwatch.StartNew();
var writer = store.BeginVersion("bench", schema, "0123456789abcdef0123456789abcdef");
const int Chunk = 50_000;
string[] cities = [.. Enumerable.Range(0, 200).Select(i => $"city-{i}")];
var repeatFrom = rows - rows / 100;
for (var start = 0; start < rows; start += Chunk)
{
    var n = Math.Min(Chunk, rows - start);
    await writer.AppendAsync(wide ? WideChunk(start, n) : NarrowChunk(start, n));
}
var manifest = await writer.CommitAsync(new DatasetSource("generated", [], "0123456789abcdef0123456789abcdef", null), new DatasetLineage("bench", []));
Console.WriteLine($"Generated {manifest.Rows.ToString("N0", inv)} rows x {schema.Columns.Count} columns in {manifest.Shards.Count} shards " +
    $"({manifest.Shards.Sum(s => s.Bytes) / 1e6:F1} MB of Parquet) in {watch.Elapsed.TotalSeconds:F1} s");

// 2. Both ways, each run twice (the first warms the disk cache and the JIT); the second run counts.
double ours = 0, duck = 0, built = 0, ourCpu = 0, live = 0;
DatasetProfile? profile = null;
for (var run = 0; run < 2; run++)
{
    GC.Collect();
    var cpu = Process.GetCurrentProcess().TotalProcessorTime;
    var baseline = GC.GetTotalMemory(forceFullCollection: true);
    watch.Restart();
    using var builder = new ProfileBuilder(manifest.EffectiveSchema);
    await foreach (var shard in store.StreamAsync(manifest))
    {
        builder.Observe(shard);
    }
    var streamed = watch.Elapsed.TotalSeconds;
    // What the builder holds once every shard is observed (a full collection, so only live objects count). In the
    // first run only: the second run's baseline would still count the first run's builder (a hoisted local).
    if (run == 0)
    {
        live = GC.GetTotalMemory(forceFullCollection: true) - baseline;
    }
    profile = builder.Build("bench", manifest.Version);
    ours = watch.Elapsed.TotalSeconds;
    built = ours - streamed;
    ourCpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;

    if (withDuck)
    {
        watch.Restart();
        DuckProfile(Path.Combine(folder, "datasets", "bench", "data"), schema);
        duck = watch.Elapsed.TotalSeconds;
    }
    Console.WriteLine($"run {run + 1}: BigDataAI {ours:F2} s ({(double)rows * schema.Columns.Count / ours / 1e6:F2} M cells/s; build {built:F2} s of it; {ourCpu:F2} s of CPU; builder {live / (1 << 20):F1} MiB live before the build in run 1)" + (withDuck ? $", DuckDB {duck:F2} s" : ""));
}
if (Environment.GetEnvironmentVariable("BENCH_BREAKDOWN") == "1")
{
    // Per column (with the label, as the profile sees it): where the profile's time goes.
    var shards = new List<Table>();
    await foreach (var shard in store.StreamAsync(manifest))
    {
        shards.Add(shard);
    }
    var labelIndex = schema.Columns.ToList().IndexOf(schema.Label!);
    // Every column of the narrow table; 12 spread over the wide one (border pixels are all 0, the middle ones are not).
    var step = Math.Max(1, schema.Columns.Count / 12);
    for (var c = 0; c < schema.Columns.Count; c += step)
    {
        if (c == labelIndex)
        {
            continue;
        }
        var sub = new DatasetSchema([schema.Columns[c], schema.Columns[labelIndex]]);
        watch.Restart();
        var b = new ProfileBuilder(sub);
        foreach (var shard in shards)
        {
            b.Observe(new Table(sub, [shard.Columns[c], shard.Columns[labelIndex]], shard.RowIds));
        }
        var observed = watch.Elapsed.TotalSeconds;
        b.Build("bench", 1);
        Console.WriteLine($"  {schema.Columns[c].Name}: observe {observed:F3} s ({observed * 1e9 / rows:F0} ns/row), build {watch.Elapsed.TotalSeconds - observed:F3} s");
    }
}

// What reading alone costs (fetch, SHA-256 check, Parquet decode), so the profile's own share is known.
watch.Restart();
await foreach (var shard in store.StreamAsync(manifest))
{
    GC.KeepAlive(shard);
}
var reading = watch.Elapsed.TotalSeconds;
Console.WriteLine($"Reading the shards alone: {reading:F2} s");
Console.WriteLine($"Profile of {rows.ToString("N0", inv)} rows x {schema.Columns.Count} columns: BigDataAI streaming ProfileBuilder {ours:F2} s" +
    (withDuck ? $"; DuckDB {duck:F2} s; ratio DuckDB/BigDataAI {duck / ours:F2} (above 1: BigDataAI is faster)" : "") +
    $". Peak working set {Process.GetCurrentProcess().PeakWorkingSet64 / (1 << 20)} MiB.");
var (probe, median) = wide ? (400, 406) : (8, 0);
Console.WriteLine($"BigDataAI found {profile!.Duplicates.DuplicateRows.ToString("N0", inv)} duplicate rows in {profile.Duplicates.Groups} groups (first {string.Join(",", profile.Duplicates.Examples.FirstOrDefault() ?? [])}); " +
    $"'{profile.Columns[probe].Name}' ~{profile.Columns[probe].Distinct} distinct, top {profile.Columns[probe].TopValues.FirstOrDefault()}; " +
    $"'{profile.Columns[median].Name}' median {profile.Columns[median].Values!.Quantiles[5].Value}, mean {profile.Columns[median].Values!.Mean:F4}; leakage hints {profile.Leakage.Count}");
Directory.Delete(folder, recursive: true);
return 0;

int Source(int row) => row >= repeatFrom ? row - repeatFrom : row;

Table NarrowChunk(int start, int n)
{
    var columns = new List<Column>();
    for (var c = 0; c < 4; c++)
    {
        var v = new long?[n];
        for (var r = 0; r < n; r++)
        {
            var row = Source(start + r);
            v[r] = (row * 7 + c) % 20 == 0 ? null : (long)(Noise(row, c) * 1000);
        }
        columns.Add(new Column(schema.Columns[c], v));
    }
    for (var c = 0; c < 4; c++)
    {
        var v = new double?[n];
        for (var r = 0; r < n; r++)
        {
            var row = Source(start + r);
            v[r] = (row * 3 + c) % 20 == 0 ? null : Noise(row, c + 4) * (c + 1);
        }
        columns.Add(new Column(schema.Columns[4 + c], v));
    }
    columns.Add(new Column(schema.Columns[8], Enumerable.Range(start, n).Select(i => (string?)cities[Source(i) % cities.Length]).ToArray()));
    columns.Add(new Column(schema.Columns[9], Enumerable.Range(start, n).Select(i => (string?)$"note {Source(i)} about {cities[Source(i) * 31 % cities.Length]}").ToArray()));
    columns.Add(new Column(schema.Columns[10], Enumerable.Range(start, n).Select(i => (string?)(Source(i) % 10 < 7 ? "a" : Source(i) % 10 < 9 ? "b" : "c")).ToArray()));
    return new Table(schema, columns, [.. Enumerable.Range(start, n).Select(i => (long)i)]);
}

Table WideChunk(int start, int n)
{
    var columns = new List<Column> { new(schema.Columns[0], Enumerable.Range(start, n).Select(i => (long?)(Source(i) % 10)).ToArray()) };
    for (var p = 0; p < 784; p++)
    {
        var (y, x) = (p / 28, p % 28);
        var border = y < 4 || y >= 24 || x < 4 || x >= 24;
        var v = new long?[n];
        for (var r = 0; r < n; r++)
        {
            var noise = Noise(Source(start + r), p);
            v[r] = border || noise >= 35 ? 0 : (long)(noise / 35 * 255) + 1;
        }
        columns.Add(new Column(schema.Columns[1 + p], v));
    }
    return new Table(schema, columns, [.. Enumerable.Range(start, n).Select(i => (long)i)]);
}

static double Noise(int row, int column)
{
    var x = (ulong)(row * 2654435761L + column * 40503L);
    x ^= x >> 33;
    x *= 0xFF51AFD7ED558CCDUL;
    x ^= x >> 33;
    return (x % 1_000_000) / 1_000_000.0 * 100;
}

// The same statistics with DuckDB: SUMMARIZE (count, nulls, approx_unique, min, max, avg, std, q25, q50, q75 per
// column), exact duplicate rows, a 20-bin histogram per numeric column, the top 10 values of each string column and
// the class counts. No extensions: the shards are local files.
static void DuckProfile(string shards, DatasetSchema schema)
{
    using var connection = new DuckDBConnection("Data Source=:memory:;autoinstall_known_extensions=false;autoload_known_extensions=false");
    connection.Open();
    var source = $"read_parquet('{shards}/**/*.parquet')";
    var data = schema.Columns.Select(c => $"\"{c.Name}\"").ToArray();
    void Run(string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
        }
    }
    Run($"CREATE VIEW t AS SELECT {string.Join(", ", data)} FROM {source}");
    Run("SUMMARIZE SELECT * FROM t");
    Run("SELECT (SELECT count(*) FROM t) - (SELECT count(*) FROM (SELECT DISTINCT * FROM t))");
    foreach (var c in schema.Columns.Where(c => c.Type is ColumnType.Int64 or ColumnType.Double))
    {
        var x = $"\"{c.Name}\"";
        Run($"WITH b AS (SELECT min({x}) AS lo, max({x}) AS hi FROM t) SELECT least(floor(({x} - lo) / greatest((hi - lo) / 20, 1e-300)), 19) AS bin, count(*) FROM t, b WHERE {x} IS NOT NULL GROUP BY bin");
    }
    foreach (var c in schema.Columns.Where(c => c.Type == ColumnType.String))
    {
        Run($"SELECT \"{c.Name}\", count(*) AS n FROM t GROUP BY 1 ORDER BY n DESC LIMIT 10");
    }
}
