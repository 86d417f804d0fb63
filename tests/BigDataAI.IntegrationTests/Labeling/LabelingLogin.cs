using BigDataAI.IntegrationTests.Services;
using BigDataAI.Protos.Labeling.V1;
using Grpc.Core;
using LabelingClient = BigDataAI.Protos.Labeling.V1.LabelingService.LabelingServiceClient;

namespace BigDataAI.IntegrationTests.Labeling;

/// <summary>The labeling users of the tests (created by the host at start from configuration) and their log-in.</summary>
public static class LabelingLogin
{
    public const string Admin = "admin";
    public static readonly IReadOnlyList<string> Annotators = ["alice", "bob", "carol"];

    public static string PasswordOf(string user) => $"{user}-secret-{user.Length}";

    /// <summary>Host settings that create the admin and the three annotators.</summary>
    public static IReadOnlyDictionary<string, string?> Settings(IReadOnlyDictionary<string, string?>? more = null)
    {
        var settings = new Dictionary<string, string?>
        {
            [$"Labeling:Users:{Admin}:Password"] = PasswordOf(Admin),
            [$"Labeling:Users:{Admin}:Roles"] = "admin",
        };
        foreach (var user in Annotators)
        {
            settings[$"Labeling:Users:{user}:Password"] = PasswordOf(user);
            settings[$"Labeling:Users:{user}:Roles"] = "annotator";
        }
        foreach (var (key, value) in more ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }
        return settings;
    }

    /// <summary>Logs <paramref name="user"/> in over gRPC and returns the metadata that carries its token.</summary>
    public static async Task<Metadata> HeadersAsync(ServiceHost host, string user)
    {
        var reply = await new LabelingClient(host.Channel).LoginAsync(new LoginRequest { User = user, Password = PasswordOf(user) });
        return new Metadata { { "authorization", "Bearer " + reply.Token } };
    }
}
