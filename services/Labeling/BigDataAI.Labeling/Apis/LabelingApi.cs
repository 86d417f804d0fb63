using BigDataAI.Protos.Labeling.V1;

namespace BigDataAI.Labeling.Apis;

/// <summary>
/// The labeling gRPC service (protos/labeling.proto). A partial class: each capability implements its RPCs in its own
/// file beside this one (projects and tasks, rules, label errors, augmentation), over services the module registers.
/// </summary>
internal sealed partial class LabelingApi(IServiceProvider services) : LabelingService.LabelingServiceBase
{
    private T Get<T>() where T : notnull => Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<T>(services);
}
