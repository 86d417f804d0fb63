using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using BigDataAI.IntegrationTests.EndToEnd;
using Xunit.Abstractions;

namespace BigDataAI.IntegrationTests.Labeling;

/// <summary>What tools/labeling-page-test/label.mjs did in the browser (the last line of its output).</summary>
internal sealed record PageRun(
    string UnauthenticatedBanner,
    string WrongPasswordBanner,
    IReadOnlyList<PageLabel> Labels,
    PageLabel? Undone,
    IReadOnlyList<string> ShownRows,
    IReadOnlyList<int>? NextTaskMs);

internal sealed record PageLabel(string Row, IReadOnlyList<string> Classes);

/// <summary>
/// Runs tools/labeling-page-test/label.mjs: Node.js with npm's playwright-core driving Debian's chromium. A missing
/// browser, node or playwright-core fails the test with what to run; it never skips.
/// </summary>
internal static class PageDriver
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);
    private static readonly JsonSerializerOptions Json = new() { PropertyNameCaseInsensitive = true, NumberHandling = JsonNumberHandling.AllowReadingFromString };

    public static string ToolFolder => Path.Combine(HostBuilds.RepositoryRoot(), "tools", "labeling-page-test");

    /// <summary>Fails with the command that installs them when chromium, node or playwright-core is missing.</summary>
    public static void RequireBrowser()
    {
        const string install = "run scripts/install-test-deps.sh (it installs Debian's chromium and npm's playwright-core into tools/labeling-page-test)";
        var chromium = Environment.GetEnvironmentVariable("CHROMIUM") ?? "/usr/bin/chromium";
        if (!File.Exists(chromium))
        {
            Assert.Fail($"The labeling page's browser test needs Chromium at {chromium} (or $CHROMIUM): {install}.");
        }
        if (FindOnPath("node") is null)
        {
            Assert.Fail($"The labeling page's browser test needs Node.js (node on PATH): install Node.js 20+, then {install}.");
        }
        if (!File.Exists(Path.Combine(ToolFolder, "node_modules", "playwright-core", "package.json")))
        {
            Assert.Fail($"The labeling page's browser test needs playwright-core in {ToolFolder}/node_modules: {install}.");
        }
    }

    public static async Task<PageRun> RunAsync(ITestOutputHelper output, string pageUrl, string project, string user, string password, int labels, string? screenshot = null, bool screenshotOnly = false)
    {
        RequireBrowser();
        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = ToolFolder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in new[] { "label.mjs", "--url", pageUrl, "--project", project, "--user", user, "--password", password, "--labels", labels.ToString(System.Globalization.CultureInfo.InvariantCulture) })
        {
            start.ArgumentList.Add(arg);
        }
        if (screenshot is not null)
        {
            start.ArgumentList.Add("--screenshot");
            start.ArgumentList.Add(screenshot);
        }
        if (screenshotOnly)
        {
            start.ArgumentList.Add("--screenshot-only");
        }
        using var process = Process.Start(start) ?? throw new InvalidOperationException("node did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(Timeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"label.mjs did not finish within {Timeout.TotalSeconds} s:\n{await stderr}");
        }
        var text = await stdout;
        var errors = await stderr;
        output.WriteLine($"label.mjs (exit {process.ExitCode}):\n{text}{errors}");
        Assert.True(process.ExitCode == 0, $"label.mjs failed (exit {process.ExitCode}):\n{errors}");
        var last = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)[^1];
        return JsonSerializer.Deserialize<PageRun>(last, Json) ?? throw new InvalidOperationException($"label.mjs wrote no result: {text}");
    }

    private static string? FindOnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Select(folder => Path.Combine(folder, program))
            .FirstOrDefault(File.Exists);
}
