using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace BigDataAI.IntegrationTests.Infrastructure;

/// <summary>Sends a test host's logs to the xunit test output (shown for a failing test).</summary>
public sealed class TestOutputLoggerProvider(ITestOutputHelper output, LogLevel minimum = LogLevel.Information) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new Logger(output, categoryName, minimum);

    public void Dispose()
    {
    }

    private sealed class Logger(ITestOutputHelper output, string category, LogLevel minimum) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }
            try
            {
                output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel,-11} {category}: {formatter(state, exception)}{(exception is null ? string.Empty : "\n" + exception)}");
            }
            catch (InvalidOperationException)
            {
                // The test has finished; a late log line (a bus stopping) has nowhere to go.
            }
        }
    }
}

public static class TestOutputLoggingExtensions
{
    public static ILoggingBuilder AddTestOutput(this ILoggingBuilder logging, ITestOutputHelper output, LogLevel minimum = LogLevel.Information) =>
        logging.AddProvider(new TestOutputLoggerProvider(output, minimum));
}
