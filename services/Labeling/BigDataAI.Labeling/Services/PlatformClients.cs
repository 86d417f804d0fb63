using System.Collections.Concurrent;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using InferenceClient = BigDataAI.Protos.Inference.V1.InferenceService.InferenceServiceClient;
using TrainingClient = BigDataAI.Protos.Training.V1.TrainingService.TrainingServiceClient;

namespace BigDataAI.Labeling.Services;

/// <summary>
/// gRPC clients for the services labeling calls: inference (pre-labels, model votes) and training (retraining, k-fold
/// jobs). Addresses come from <c>Labeling:InferenceAddress</c> and <c>Labeling:TrainingAddress</c>, else from Aspire's
/// service discovery settings (<c>services:inference:grpc:0</c>, <c>services:training:grpc:0</c>). The value
/// <c>self</c> means this host's own address (the embedded mode and test hosts, where every module is in one process).
/// </summary>
public sealed class PlatformClients(IConfiguration configuration, IServer server) : IDisposable
{
    private readonly ConcurrentDictionary<string, GrpcChannel> _channels = new();

    public InferenceClient Inference => new(Channel("inference", "InferenceAddress"));

    public TrainingClient Training => new(Channel("training", "TrainingAddress"));

    private GrpcChannel Channel(string service, string setting)
    {
        var address = configuration[$"{LabelingOptions.Section}:{setting}"]
            ?? configuration[$"services:{service}:grpc:0"]
            ?? configuration[$"services:{service}:http:0"]
            ?? throw new InvalidOperationException(
                $"Labeling needs the {service} service's address: set {LabelingOptions.Section}:{setting} (or 'self' when {service} runs in this host), or reference {service} from the AppHost.");
        if (string.Equals(address, "self", StringComparison.OrdinalIgnoreCase))
        {
            address = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
                ?? throw new InvalidOperationException($"{LabelingOptions.Section}:{setting} is 'self' but this host listens on no address yet.");
            address = address.Replace("://0.0.0.0", "://127.0.0.1", StringComparison.Ordinal).Replace("://[::]", "://127.0.0.1", StringComparison.Ordinal)
                .Replace("://+", "://127.0.0.1", StringComparison.Ordinal).Replace("://*", "://127.0.0.1", StringComparison.Ordinal);
        }
        return _channels.GetOrAdd(address, a => GrpcChannel.ForAddress(a, new GrpcChannelOptions { MaxReceiveMessageSize = 64 * 1024 * 1024 }));
    }

    public void Dispose()
    {
        foreach (var channel in _channels.Values)
        {
            channel.Dispose();
        }
    }
}
