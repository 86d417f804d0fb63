using BigDataAI.Datasets;
using BigDataAI.Labeling.Rules;
using BigDataAI.Protos.Labeling.V1;
using Grpc.Core;

namespace BigDataAI.Labeling.Apis;

/// <summary>ApplyRules: labeling functions declared as data, a label model over their votes, a new version of probabilistic labels.</summary>
internal sealed partial class LabelingApi
{
    /// <summary>INVALID_ARGUMENT names the function, column or row that cannot run as declared; NOT_FOUND for an unknown dataset or version.</summary>
    [Microsoft.AspNetCore.Authorization.Authorize(Policy = Auth.LabelingRoles.AdminPolicy)]
    public override async Task<ApplyRulesReply> ApplyRules(ApplyRulesRequest request, ServerCallContext context)
    {
        if (string.IsNullOrEmpty(request.Dataset))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "dataset is empty: name the dataset to apply rules to."));
        }
        // With a project, the labels people gave there (resolved per row) are the gold labels; else the version's own.
        IReadOnlyDictionary<long, string[]>? gold = string.IsNullOrEmpty(request.ProjectId) ? null : Get<Projects.ProjectService>().ResolvedLabels(request.ProjectId);
        try
        {
            return await Get<RulesApplier>().ApplyAsync(request, gold, context.CancellationToken).ConfigureAwait(false);
        }
        catch (RulesException e)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, e.Message));
        }
        catch (DatasetNotFoundException e)
        {
            throw new RpcException(new Status(StatusCode.NotFound, e.Message));
        }
    }
}
