using BigDataAI.Labeling.Auth;
using BigDataAI.Labeling.Projects;
using BigDataAI.Protos.Labeling.V1;
using Grpc.Core;

using Microsoft.AspNetCore.Authorization;

namespace BigDataAI.Labeling.Apis;

internal sealed partial class LabelingApi
{
    [AllowAnonymous]
    public override Task<LoginReply> Login(LoginRequest request, ServerCallContext context) => Task.FromResult(LogIn(Get<AnnotatorDirectory>(), Get<TokenIssuer>(), request));

    /// <summary>The one log-in, for gRPC and the page: UNAUTHENTICATED, saying nothing about which part was wrong.</summary>
    internal static LoginReply LogIn(AnnotatorDirectory directory, TokenIssuer issuer, LoginRequest request)
    {
        var roles = string.IsNullOrEmpty(request.User) ? null : directory.Verify(request.User, request.Password);
        if (roles is null)
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, "Unknown user or wrong password."));
        }
        var reply = new LoginReply { Token = issuer.Issue(request.User, roles), User = request.User, ExpiresIn = (long)issuer.Lifetime.TotalSeconds };
        reply.Roles.AddRange(roles);
        return reply;
    }

    [Authorize(Policy = LabelingRoles.AdminPolicy)]
    public override Task<Project> CreateProject(CreateProjectRequest request, ServerCallContext context) =>
        Get<ProjectService>().CreateAsync(request, UserOf(context), context.CancellationToken);

    public override Task<Project> GetProject(GetProjectRequest request, ServerCallContext context) =>
        Get<ProjectService>().GetAsync(request.ProjectId, context.CancellationToken);

    public override Task<ListProjectsReply> ListProjects(ListProjectsRequest request, ServerCallContext context) =>
        Get<ProjectService>().ListAsync(request.Dataset, context.CancellationToken);

    public override Task<NextTasksReply> NextTasks(NextTasksRequest request, ServerCallContext context) =>
        Get<ProjectService>().NextTasksAsync(request.ProjectId, UserOf(context), request.Count, request.AfterPosition, context.CancellationToken);

    public override Task<SubmitLabelReply> SubmitLabel(SubmitLabelRequest request, ServerCallContext context) =>
        Get<ProjectService>().SubmitAsync(request.ProjectId, UserOf(context), request, context.CancellationToken);

    public override Task<UndoLabelReply> UndoLabel(UndoLabelRequest request, ServerCallContext context) =>
        Get<ProjectService>().UndoAsync(request.ProjectId, UserOf(context), request.Row, context.CancellationToken);

    public override Task<AgreementReport> GetAgreement(GetProjectRequest request, ServerCallContext context) =>
        Get<ProjectService>().AgreementAsync(request.ProjectId, context.CancellationToken);

    [Authorize(Policy = LabelingRoles.AdminPolicy)]
    public override Task<ExportReply> Export(ExportRequest request, ServerCallContext context) =>
        Get<ProjectService>().ExportAsync(request.ProjectId, UserOf(context), request.AcceptPreLabelsMinConfidence, context.CancellationToken);

    [Authorize(Policy = LabelingRoles.AdminPolicy)]
    public override Task<PreLabelReply> PreLabel(PreLabelRequest request, ServerCallContext context) =>
        Get<PreLabeler>().PreLabelAsync(request.ProjectId, request.ModelName, context.CancellationToken);
}
