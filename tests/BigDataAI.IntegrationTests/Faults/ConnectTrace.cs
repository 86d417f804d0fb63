using System.Globalization;
using System.Text.RegularExpressions;
using BigDataAI.IntegrationTests.Infrastructure;

namespace BigDataAI.IntegrationTests.Faults;

/// <summary>One connect(2) a traced process made to an IP address: where to, and the strace line it came from.</summary>
internal sealed record Connect(int Pid, string Address, int Port, string Line)
{
    public override string ToString() => $"{Address}:{Port} (pid {Pid}): {Line}";
}

/// <summary>
/// Records every connect(2) of a process and all its threads and children with strace (seccomp-filtered, so only that
/// one call stops the process), then lists the IPv4 and IPv6 destinations: a DNS query to the resolver is a connect to
/// port 53, a call home a connect to some other address. Unix sockets are not network traffic and are left out.
/// </summary>
internal static partial class ConnectTrace
{
    /// <summary>The program and arguments that run a command under strace, writing the trace to <paramref name="file"/>.</summary>
    public static IReadOnlyList<string> Launcher(string file)
    {
        var strace = ServerTools.FindExecutable("strace")
            ?? throw new InvalidOperationException("strace is not installed: scripts/install-test-deps.sh installs it (apt-get install strace).");
        return [strace, "-f", "-qq", "--seccomp-bpf", "-e", "trace=connect", "-o", file, "--"];
    }

    /// <summary>The IP destinations in a trace file written through <see cref="Launcher"/>.</summary>
    public static IReadOnlyList<Connect> Read(string file)
    {
        var connects = new List<Connect>();
        foreach (var line in File.ReadLines(file))
        {
            var match = ConnectLine().Match(line);
            if (!match.Success)
            {
                continue;
            }
            var address = match.Groups["v4"].Success ? match.Groups["v4"].Value : match.Groups["v6"].Value;
            if (address.StartsWith("::ffff:", StringComparison.Ordinal))
            {
                address = address["::ffff:".Length..]; // an IPv4 address on a dual-mode socket
            }
            connects.Add(new Connect(
                int.Parse(match.Groups["pid"].Value, CultureInfo.InvariantCulture),
                address,
                int.Parse(match.Groups["port"].Value, CultureInfo.InvariantCulture),
                line.Trim()));
        }
        return connects;
    }

    // 1234  connect(3, {sa_family=AF_INET, sin_port=htons(5672), sin_addr=inet_addr("127.0.0.1")}, 16) = 0
    // 1234  connect(3, {sa_family=AF_INET6, sin6_port=htons(53), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::1", &sin6_addr), ...
    [GeneratedRegex("""^(?<pid>\d+)\s+connect\(\d+, \{sa_family=AF_INET6?, sin6?_port=htons\((?<port>\d+)\),.*?(?:inet_addr\("(?<v4>[^"]+)"\)|inet_pton\(AF_INET6, "(?<v6>[^"]+)")""")]
    private static partial Regex ConnectLine();
}
