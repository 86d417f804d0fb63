using BigDataAI.Labeling.Auth;
using BigDataAI.Protos.Labeling.V1;
using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.DependencyInjection;

namespace BigDataAI.Labeling.Apis;

/// <summary>
/// The labeling gRPC service (protos/labeling.proto). A partial class: each capability implements its RPCs in its own
/// file beside this one (projects and tasks, rules, label errors, augmentation), over services the module registers.
/// Every RPC needs an annotator or an admin (<see cref="LabelingRoles"/>); those that change datasets or start jobs
/// say <c>[Authorize(Policy = LabelingRoles.AdminPolicy)]</c>, and Login needs nobody.
/// </summary>
[Authorize(Policy = LabelingRoles.AnnotatorPolicy)]
internal sealed partial class LabelingApi(IServiceProvider services) : LabelingService.LabelingServiceBase
{
    private T Get<T>() where T : notnull => services.GetRequiredService<T>();

    private static string UserOf(ServerCallContext context) => LabelingAuthentication.UserName(context.GetHttpContext().User);
}
