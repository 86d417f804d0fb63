using BigDataAI.Labeling.Auth;
using BigDataAI.Labeling.Projects;
using BigDataAI.Protos.Labeling.V1;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace BigDataAI.Labeling.Apis;

/// <summary>
/// The JSON API the labeling page uses, under <c>/labeling/api</c>: the same <see cref="ProjectService"/> as the gRPC
/// service, and the same messages (protos/labeling.proto) in proto3 JSON. Errors are the gRPC status as an HTTP status
/// with <c>{"error": message}</c>.
/// </summary>
internal static class LabelingHttpApi
{
    private static readonly JsonFormatter Formatter = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(true));

    public static void Map(IEndpointRouteBuilder endpoints)
    {
        var api = endpoints.MapGroup("/labeling/api");
        api.MapPost("/login", async (HttpContext http, AnnotatorDirectory directory, TokenIssuer issuer) =>
            Proto(LabelingApi.LogIn(directory, issuer, await BodyAsync<LoginRequest>(http).ConfigureAwait(false)))).AllowAnonymous();

        var projects = api.MapGroup("/projects").RequireAuthorization(LabelingRoles.AnnotatorPolicy);
        projects.MapGet("/", async (string? dataset, ProjectService service, CancellationToken ct) => Proto(await service.ListAsync(dataset, ct).ConfigureAwait(false)));
        projects.MapGet("/{id}", async (string id, ProjectService service, CancellationToken ct) => Proto(await service.GetAsync(id, ct).ConfigureAwait(false)));
        projects.MapGet("/{id}/tasks", async (string id, int? count, long? after, HttpContext http, ProjectService service, CancellationToken ct) =>
            Proto(await service.NextTasksAsync(id, User(http), count ?? 10, after ?? 0, ct).ConfigureAwait(false)));
        projects.MapPost("/{id}/labels", async (string id, HttpContext http, ProjectService service, CancellationToken ct) =>
            Proto(await service.SubmitAsync(id, User(http), await BodyAsync<SubmitLabelRequest>(http).ConfigureAwait(false), ct).ConfigureAwait(false)));
        projects.MapDelete("/{id}/labels/{row:long}", async (string id, long row, HttpContext http, ProjectService service, CancellationToken ct) =>
            Proto(await service.UndoAsync(id, User(http), row, ct).ConfigureAwait(false)));
        projects.MapGet("/{id}/agreement", async (string id, ProjectService service, CancellationToken ct) => Proto(await service.AgreementAsync(id, ct).ConfigureAwait(false)));
        api.AddEndpointFilter(async (context, next) =>
        {
            try
            {
                return await next(context).ConfigureAwait(false);
            }
            catch (RpcException e)
            {
                return Results.Json(new { error = e.Status.Detail }, statusCode: HttpStatus(e.StatusCode));
            }
        });
    }

    private static string User(HttpContext http) => LabelingAuthentication.UserName(http.User);

    private static IResult Proto(IMessage message) => Results.Text(Formatter.Format(message), "application/json");

    private static async Task<T> BodyAsync<T>(HttpContext http) where T : IMessage<T>, new()
    {
        using var reader = new StreamReader(http.Request.Body);
        var text = await reader.ReadToEndAsync(http.RequestAborted).ConfigureAwait(false);
        try
        {
            return JsonParser.Default.Parse<T>(text);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"The body is not a {typeof(T).Name} in JSON: {e.Message}"));
        }
        catch (InvalidJsonException e)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"The body is not JSON: {e.Message}"));
        }
    }

    public static int HttpStatus(StatusCode code) => code switch
    {
        StatusCode.InvalidArgument or StatusCode.OutOfRange => StatusCodes.Status400BadRequest,
        StatusCode.Unauthenticated => StatusCodes.Status401Unauthorized,
        StatusCode.PermissionDenied => StatusCodes.Status403Forbidden,
        StatusCode.NotFound => StatusCodes.Status404NotFound,
        StatusCode.AlreadyExists or StatusCode.Aborted => StatusCodes.Status409Conflict,
        StatusCode.FailedPrecondition => StatusCodes.Status412PreconditionFailed,
        StatusCode.ResourceExhausted => StatusCodes.Status429TooManyRequests,
        StatusCode.Unavailable => StatusCodes.Status503ServiceUnavailable,
        StatusCode.DeadlineExceeded => StatusCodes.Status504GatewayTimeout,
        _ => StatusCodes.Status500InternalServerError,
    };
}
