using BigDataAI.Datasets;
using BigDataAI.Labeling.Rules;
using BigDataAI.Protos.Labeling.V1;
using Grpc.Core;

namespace BigDataAI.Labeling.Apis;

/// <summary>ApplyRules: labeling functions declared as data, a label model over their votes, a new version of probabilistic labels.</summary>
internal sealed partial class LabelingApi
{
    /// <summary>INVALID_ARGUMENT names the function, column or row that cannot run as declared; NOT_FOUND for an unknown dataset or version.</summary>
    public override async Task<ApplyRulesReply> ApplyRules(ApplyRulesRequest request, ServerCallContext context)
    {
        if (string.IsNullOrEmpty(request.Dataset))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "dataset is empty: name the dataset to apply rules to."));
        }
        // Seam for projects: with project_id set, the labels people gave in that project are the gold labels (row id ->
        // classes); until projects pass them, the version's own labels are.
        IReadOnlyDictionary<long, string[]>? gold = null;
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
