using System.Collections.Concurrent;
using Google.Protobuf;
using BigDataAI.Protos.Labeling.V1;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using LabelTask = BigDataAI.Protos.Labeling.V1.Task;

namespace BigDataAI.IntegrationTests.Labeling;

/// <summary>
/// An in-memory stand-in for the labeling service's JSON API under <c>/labeling/api/</c> (log-in, projects, paged
/// tasks, labels, undo), answering exactly as documented for the page: the proto3 JSON of protos/labeling.proto,
/// 401/403/400/404/409 with <c>{"error": ...}</c>. It lets the page's browser test run in a real host (the module serves
/// the page) before the project store exists; when the module maps the real API, the test uses that and this goes.
/// </summary>
internal sealed class StandInLabelingApi
{
    private static readonly JsonParser Parser = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(true));
    private readonly ConcurrentDictionary<string, (string Password, string[] Roles)> _users = new();
    private readonly ConcurrentDictionary<string, string> _tokens = new();
    private readonly ConcurrentDictionary<string, StandInProject> _projects = new();
    private readonly TimeProvider _time;

    public StandInLabelingApi(TimeProvider time) => _time = time;

    public void AddUser(string user, string password, params string[] roles) => _users[user] = (password, roles);

    public void AddProject(Project project, IEnumerable<LabelTask> tasks) =>
        _projects[project.ProjectId] = new StandInProject(project, [.. tasks.OrderBy(t => t.Position)]);

    /// <summary>The labels stored for a project, in the order they were stored.</summary>
    public IReadOnlyList<Label> Labels(string projectId)
    {
        var project = _projects[projectId];
        lock (project)
        {
            return [.. project.Labels.Values.OrderBy(l => l.At).ThenBy(l => l.Row)];
        }
    }

    public void Map(IEndpointRouteBuilder endpoints)
    {
        var api = endpoints.MapGroup("/labeling/api");
        api.MapPost("/login", async (HttpRequest request) =>
        {
            var login = Parser.Parse<LoginRequest>(await new StreamReader(request.Body).ReadToEndAsync());
            if (!_users.TryGetValue(login.User, out var user) || user.Password != login.Password)
            {
                return Error(StatusCodes.Status401Unauthorized, "Unknown user or wrong password.");
            }
            var token = Guid.NewGuid().ToString("N");
            _tokens[token] = login.User;
            return Json(new LoginReply { Token = token, User = login.User, Roles = { user.Roles }, ExpiresIn = 3600 });
        });
        api.MapGet("/projects", (HttpRequest request) => Authorized(request, _ =>
            Json(new ListProjectsReply { Projects = { _projects.Values.Select(p => p.Project) } })));
        api.MapGet("/projects/{id}", (HttpRequest request, string id) => Authorized(request, _ =>
            _projects.TryGetValue(id, out var p) ? Json(p.Project) : Error(StatusCodes.Status404NotFound, $"No project '{id}'.")));
        api.MapGet("/projects/{id}/tasks", (HttpRequest request, string id, int? count, long? after) => Authorized(request, user =>
        {
            if (!_projects.TryGetValue(id, out var p))
            {
                return Error(StatusCodes.Status404NotFound, $"No project '{id}'.");
            }
            lock (p)
            {
                var open = p.Tasks.Where(t => t.Position > (after ?? 0) && !p.Labels.ContainsKey((t.Row, user))).ToList();
                var take = Math.Clamp(count is null or 0 ? 10 : count.Value, 1, 100);
                return Json(new NextTasksReply { Tasks = { open.Take(take) }, Remaining = open.Count });
            }
        }));
        api.MapPost("/projects/{id}/labels", async (HttpRequest request, string id) =>
        {
            var body = await new StreamReader(request.Body).ReadToEndAsync();
            return Authorized(request, user =>
            {
                if (!_projects.TryGetValue(id, out var p))
                {
                    return Error(StatusCodes.Status404NotFound, $"No project '{id}'.");
                }
                var submit = Parser.Parse<SubmitLabelRequest>(body);
                var outside = submit.Classes.FirstOrDefault(c => !p.Project.Classes.Contains(c));
                if (outside is not null || (!p.Project.MultiLabel && submit.Classes.Count != 1))
                {
                    return Error(StatusCodes.Status400BadRequest, outside is null ? "A single-label project takes exactly one class." : $"'{outside}' is not a class of the project.");
                }
                lock (p)
                {
                    if (!p.Tasks.Any(t => t.Row == submit.Row))
                    {
                        return Error(StatusCodes.Status404NotFound, $"Row {submit.Row} is not a task of the project.");
                    }
                    if (p.Labels.ContainsKey((submit.Row, user)))
                    {
                        return Error(StatusCodes.Status409Conflict, $"You already labeled row {submit.Row}.");
                    }
                    var label = new Label
                    {
                        Row = submit.Row,
                        Classes = { submit.Classes },
                        Annotator = user,
                        At = _time.GetUtcNow().ToUnixTimeMilliseconds(),
                        DurationMs = submit.DurationMs,
                        Source = $"human:{user}",
                    };
                    p.Labels[(submit.Row, user)] = label;
                    return Json(new SubmitLabelReply { Label = label, Resolved = true, ResolvedClasses = { submit.Classes } });
                }
            });
        });
        api.MapDelete("/projects/{id}/labels/{row:long}", (HttpRequest request, string id, long row) => Authorized(request, user =>
        {
            if (!_projects.TryGetValue(id, out var p))
            {
                return Error(StatusCodes.Status404NotFound, $"No project '{id}'.");
            }
            lock (p)
            {
                return p.Labels.Remove((row, user), out var label)
                    ? Json(new UndoLabelReply { Label = label })
                    : Error(StatusCodes.Status404NotFound, $"You have no label on row {row}.");
            }
        }));
    }

    private IResult Authorized(HttpRequest request, Func<string, IResult> handle)
    {
        var header = request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.Ordinal))
        {
            return Error(StatusCodes.Status401Unauthorized, "Log in first: the request has no bearer token.");
        }
        return _tokens.TryGetValue(header["Bearer ".Length..], out var user)
            ? handle(user)
            : Error(StatusCodes.Status401Unauthorized, "The token is not valid (expired or from another server): log in again.");
    }

    private static IResult Json(IMessage message) => Results.Text(JsonFormatter.Default.Format(message), "application/json");

    private static IResult Error(int status, string message) => Results.Json(new { error = message }, statusCode: status);

    private sealed record StandInProject(Project Project, List<LabelTask> Tasks)
    {
        public Dictionary<(long Row, string User), Label> Labels { get; } = [];
    }
}
