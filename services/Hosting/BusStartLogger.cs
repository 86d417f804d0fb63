using MassTransit;
using Microsoft.Extensions.Logging;

namespace BigDataAI.Hosting;

/// <summary>Says which transport the bus starts on, when it is ready, and why a host did not start.</summary>
internal sealed partial class BusStartLogger(MessagingSettings settings, ILogger<BusStartLogger> logger) : IBusObserver
{
    private string Target => settings.Transport == MessagingTransport.RabbitMq ? $"RabbitMQ at {settings.Broker}" : "the in-memory transport";

    public void PostCreate(IBus bus)
    {
    }

    public void CreateFaulted(Exception exception) => LogCreateFaulted(exception, Target);

    public Task PreStart(IBus bus)
    {
        LogStarting(Target, settings.StartTimeout.TotalSeconds);
        return Task.CompletedTask;
    }

    public async Task PostStart(IBus bus, Task<BusReady> busReady)
    {
        try
        {
            await busReady.ConfigureAwait(false);
            LogReady(Target);
        }
        catch (Exception e)
        {
            LogStartFailed(e, Target, settings.StartTimeout.TotalSeconds);
        }
    }

    public Task StartFaulted(IBus bus, Exception exception)
    {
        LogStartFailed(exception, Target, settings.StartTimeout.TotalSeconds);
        return Task.CompletedTask;
    }

    public Task PreStop(IBus bus) => Task.CompletedTask;

    public Task PostStop(IBus bus) => Task.CompletedTask;

    public Task StopFaulted(IBus bus, Exception exception)
    {
        LogStopFailed(exception, Target);
        return Task.CompletedTask;
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Starting the message bus on {Transport}; the host waits at most {TimeoutSeconds} s for it")]
    private partial void LogStarting(string transport, double timeoutSeconds);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Message bus ready on {Transport}")]
    private partial void LogReady(string transport);

    [LoggerMessage(EventId = 3, Level = LogLevel.Critical, Message = "The message bus did not start on {Transport} within {TimeoutSeconds} s: check that the broker is running and reachable and that ConnectionStrings:messaging is right (Messaging:StartTimeout sets the wait)")]
    private partial void LogStartFailed(Exception exception, string transport, double timeoutSeconds);

    [LoggerMessage(EventId = 4, Level = LogLevel.Critical, Message = "The message bus could not be created for {Transport}")]
    private partial void LogCreateFaulted(Exception exception, string transport);

    [LoggerMessage(EventId = 5, Level = LogLevel.Error, Message = "The message bus on {Transport} did not stop cleanly")]
    private partial void LogStopFailed(Exception exception, string transport);
}
