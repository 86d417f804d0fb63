using BigDataAI.IntegrationTests.Infrastructure;
using Google.Protobuf.Reflection;
using Grpc.Core;
using Grpc.Reflection.V1Alpha;
using Xunit.Abstractions;

namespace BigDataAI.IntegrationTests.EndToEnd;

/// <summary>
/// Every service host, as its own process, answers gRPC server reflection (what grpcurl and Postman ask) with its
/// services, and the file descriptors it sends describe the same methods as the protos this repository compiles.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class ServerReflectionTests(ServersFixture servers, ITestOutputHelper output)
{
    private static readonly Dictionary<string, ServiceDescriptor[]> Expected = new()
    {
        ["Ingestion"] = [Protos.Ingestion.V1.IngestionService.Descriptor, Protos.Quality.V1.DataQualityService.Descriptor],
        ["Labeling"] = [Protos.Labeling.V1.LabelingService.Descriptor],
        ["Training"] = [Protos.Training.V1.TrainingService.Descriptor],
        ["Inference"] = [Protos.Inference.V1.InferenceService.Descriptor],
        ["worker"] = [],
    };

    [Fact]
    public async Task Every_host_lists_its_services_by_reflection_with_the_descriptors_of_the_protos()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        var ct = timeout.Token;
        await using var platform = await DistributedPlatform.StartAsync(servers, output, TimeSpan.FromSeconds(120), ct, autoTrain: false);
        foreach (var host in platform.Hosts)
        {
            var client = new ServerReflection.ServerReflectionClient(host.Channel);
            using var call = client.ServerReflectionInfo(cancellationToken: ct);
            await call.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" }, ct);
            Assert.True(await call.ResponseStream.MoveNext(ct));
            var listed = call.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name).ToArray();
            output.WriteLine($"{host.Name}: {string.Join(", ", listed)}");
            var expected = Expected[host.Name];
            Assert.Equal(
                expected.Select(s => s.FullName).Concat(["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"]).Order(StringComparer.Ordinal),
                listed.Order(StringComparer.Ordinal));

            foreach (var service in expected)
            {
                // The file that defines the service, as a client without the protos gets it: same methods, same types.
                await call.RequestStream.WriteAsync(new ServerReflectionRequest { FileContainingSymbol = service.FullName }, ct);
                Assert.True(await call.ResponseStream.MoveNext(ct));
                var files = call.ResponseStream.Current.FileDescriptorResponse.FileDescriptorProto.Select(FileDescriptorProto.Parser.ParseFrom).ToList();
                var defined = files.SelectMany(f => f.Service.Select(s => (File: f, Service: s))).Single(x => $"{x.File.Package}.{x.Service.Name}" == service.FullName);
                Assert.Equal(
                    service.Methods.Select(m => $"{m.Name}({m.InputType.FullName}{(m.IsClientStreaming ? " stream" : "")}) -> {m.OutputType.FullName}{(m.IsServerStreaming ? " stream" : "")}"),
                    defined.Service.Method.Select(m => $"{m.Name}({m.InputType.TrimStart('.')}{(m.ClientStreaming ? " stream" : "")}) -> {m.OutputType.TrimStart('.')}{(m.ServerStreaming ? " stream" : "")}"));
                output.WriteLine($"  {service.FullName}: {defined.Service.Method.Count} methods from {defined.File.Name}");
            }

            // An unknown symbol is an error answer on the stream, not a broken call.
            await call.RequestStream.WriteAsync(new ServerReflectionRequest { FileContainingSymbol = "bigdataai.no.such.Service" }, ct);
            Assert.True(await call.ResponseStream.MoveNext(ct));
            Assert.Equal((int)StatusCode.NotFound, call.ResponseStream.Current.ErrorResponse.ErrorCode);
            await call.RequestStream.CompleteAsync();
        }
    }
}
