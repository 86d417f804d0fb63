using BigDataAI.Datasets;
using BigDataAI.Labeling.LabelErrors;
using BigDataAI.Protos.Labeling.V1;
using Grpc.Core;

namespace BigDataAI.Labeling.Apis;

internal sealed partial class LabelingApi
{
    /// <summary>
    /// Confident learning over k-fold out-of-fold probabilities (<see cref="LabelErrorSearch"/>). INVALID_ARGUMENT for
    /// folds outside 2..100, a negative max_rows or a regression dataset; NOT_FOUND for an unknown dataset version;
    /// FAILED_PRECONDITION when it is not labeled yet; INTERNAL with the job's error when a fold job failed; a fold job
    /// the training service refuses answers with its status. With a project id, the flagged rows that are tasks of that
    /// project go to the head of its queue, open for one more label (a review); NOT_FOUND for an unknown project.
    /// </summary>
    [Microsoft.AspNetCore.Authorization.Authorize(Policy = Auth.LabelingRoles.AdminPolicy)]
    public override async Task<FindLabelErrorsReply> FindLabelErrors(FindLabelErrorsRequest request, ServerCallContext context)
    {
        if (!string.IsNullOrEmpty(request.ProjectId))
        {
            // Unknown project: NOT_FOUND before any job starts.
            _ = await Get<Projects.ProjectService>().GetAsync(request.ProjectId, context.CancellationToken).ConfigureAwait(false);
        }
        LabelErrorSearchResult result;
        try
        {
            result = await Get<LabelErrorSearch>().RunAsync(
                new LabelErrorSearchRequest(request.Dataset, request.Version, request.Folds, request.Model, request.Epochs, request.Seed, request.MaxRows),
                context.CancellationToken).ConfigureAwait(false);
        }
        catch (ArgumentException e)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, e.Message));
        }
        catch (DatasetNotFoundException e)
        {
            throw new RpcException(new Status(StatusCode.NotFound, e.Message));
        }
        catch (DatasetNotLabeledException e)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, e.Message));
        }
        catch (FoldJobFailedException e)
        {
            throw new RpcException(new Status(StatusCode.Internal, e.Message));
        }
        var reply = ToReply(result);
        if (!string.IsNullOrEmpty(request.ProjectId))
        {
            reply.Queued = await Get<Projects.ProjectService>().QueueForReviewAsync(request.ProjectId, [.. reply.Issues.Select(i => i.Row)], context.CancellationToken).ConfigureAwait(false);
        }
        return reply;
    }

    internal static FindLabelErrorsReply ToReply(LabelErrorSearchResult result)
    {
        var found = result.Found;
        var reply = new FindLabelErrorsReply { Flagged = found.Flagged, Rows = found.Rows };
        reply.Issues.AddRange(found.Issues.Select(i => new LabelIssue
        {
            Row = i.Row,
            Given = result.Classes[i.Given],
            Suggested = result.Classes[i.Suggested],
            SelfConfidence = i.SelfConfidence,
            SuggestedProbability = i.SuggestedProbability,
        }));
        reply.Thresholds.AddRange(found.Thresholds);
        reply.ConfidentJoint.AddRange(found.ConfidentJoint);
        reply.Classes.AddRange(result.Classes);
        reply.JobIds.AddRange(result.JobIds);
        return reply;
    }
}
