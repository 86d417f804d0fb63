using BigDataAI.Datasets;
using BigDataAI.Labeling.Augmentation;
using BigDataAI.Protos.Labeling.V1;
using Grpc.Core;

namespace BigDataAI.Labeling.Apis;

/// <summary>Augment: a seeded augmentation of a labeled version's train split, committed as a derived version.</summary>
internal sealed partial class LabelingApi
{
    /// <summary>
    /// INVALID_ARGUMENT naming the field (a recipe that does not fit the columns, a bound broken); NOT_FOUND for an
    /// unknown dataset or version; FAILED_PRECONDITION while the version is not labeled or has no train rows;
    /// UNAVAILABLE when the broker is away (nothing is committed then, or a retry finds what was).
    /// </summary>
    [Microsoft.AspNetCore.Authorization.Authorize(Policy = Auth.LabelingRoles.AdminPolicy)]
    public override async Task<AugmentReply> Augment(AugmentRequest request, ServerCallContext context)
    {
        AugmentationResult result;
        try
        {
            result = await Get<DatasetAugmenter>().AugmentAsync(request, context.CancellationToken).ConfigureAwait(false);
        }
        catch (AugmentationRecipeException e)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, e.Message));
        }
        catch (DatasetNotFoundException e)
        {
            throw new RpcException(new Status(StatusCode.NotFound, e.Message));
        }
        catch (AugmentationPreconditionException e)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, e.Message));
        }
        return new AugmentReply
        {
            Dataset = result.Version.Dataset,
            Version = result.Version.Version,
            TrainRows = result.ParentTrainRows,
            AddedRows = result.AddedRows,
            AddedPerClass = { result.AddedPerClass },
            Classes = { result.Classes },
            Recipe = result.Recipe,
        };
    }
}
