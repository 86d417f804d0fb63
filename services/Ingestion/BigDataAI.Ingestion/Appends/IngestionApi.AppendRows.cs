using BigDataAI.Ingestion.Appends;
using BigDataAI.Protos.Ingestion.V1;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;

namespace BigDataAI.Ingestion.Apis;

/// <summary>AppendRows, the streaming appends of IngestionService (Appends/).</summary>
internal sealed partial class IngestionApi
{
    public override Task AppendRows(IAsyncStreamReader<AppendRowsRequest> requestStream, IServerStreamWriter<AppendRowsReply> responseStream, ServerCallContext context) =>
        context.GetHttpContext().RequestServices.GetRequiredService<AppendRowsCall>().RunAsync(requestStream, responseStream, context);
}
