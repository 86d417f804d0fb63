using System.Net;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using BigDataAI.Labeling.Projects;
using BigDataAI.Labeling.Services;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace BigDataAI.Labeling.Auth;

/// <summary>The roles of the labeling service.</summary>
public static class LabelingRoles
{
    public const string Annotator = "annotator";
    public const string Admin = "admin";
    public static readonly IReadOnlyList<string> All = [Annotator, Admin];

    /// <summary>Policy: an annotator or an admin.</summary>
    public const string AnnotatorPolicy = "labeling-annotator";

    /// <summary>Policy: an admin.</summary>
    public const string AdminPolicy = "labeling-admin";
}

/// <summary>
/// Annotators: names, PBKDF2-SHA256 password hashes (600,000 iterations, per-user salt) and roles, in the project
/// database. Users named in configuration (<c>Labeling:Users</c>) are created or updated at start.
/// </summary>
public sealed class AnnotatorDirectory(ProjectDatabase database, IOptions<LabelingOptions> options, ILogger<AnnotatorDirectory> logger)
{
    private const int Iterations = 600_000;

    public async Task SeedAsync(CancellationToken cancellationToken)
    {
        foreach (var (name, user) in options.Value.Users)
        {
            if (string.IsNullOrEmpty(user.Password))
            {
                throw new InvalidOperationException($"Labeling:Users:{name}:Password is empty: every configured user needs a password.");
            }
            await SetAsync(name, user.Password, ParseRoles(name, user.Roles), cancellationToken).ConfigureAwait(false);
        }
        if (options.Value.Users.Count > 0)
        {
            logger.LogInformation("Labeling users from configuration: {Users}", string.Join(", ", options.Value.Users.Keys));
        }
    }

    public static IReadOnlyList<string> ParseRoles(string user, string roles)
    {
        var parsed = roles.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var role in parsed)
        {
            if (!LabelingRoles.All.Contains(role))
            {
                throw new InvalidOperationException($"User '{user}' has an unknown role '{role}': the roles are {string.Join(", ", LabelingRoles.All)}.");
            }
        }
        return parsed.Length == 0 ? [LabelingRoles.Annotator] : parsed;
    }

    /// <summary>Creates or updates a user.</summary>
    public Task SetAsync(string name, string password, IReadOnlyList<string> roles, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Length > 64 || name.Any(c => char.IsControl(c) || c == ':'))
        {
            throw new ArgumentException($"User name '{name}' is invalid: 1-64 characters, no control characters or ':'.", nameof(name));
        }
        var salt = RandomNumberGenerator.GetBytes(16);
        var hash = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, Iterations, HashAlgorithmName.SHA256, 32);
        return database.WriteAsync((c, t) =>
        {
            ProjectDatabase.Execute(c, "INSERT INTO users (name, salt, hash, roles) VALUES ($n, $s, $h, $r) ON CONFLICT(name) DO UPDATE SET salt = $s, hash = $h, roles = $r",
                t, ("$n", name), ("$s", salt), ("$h", hash), ("$r", string.Join(',', roles)));
            return 0;
        }, cancellationToken);
    }

    /// <summary>The user's roles when the password is right; null otherwise (unknown user or wrong password alike).</summary>
    public IReadOnlyList<string>? Verify(string name, string password)
    {
        using var connection = database.Open();
        using var command = ProjectDatabase.Command(connection, "SELECT salt, hash, roles FROM users WHERE name = $n", null, ("$n", name));
        using var reader = command.ExecuteReader();
        if (!reader.Read())
        {
            // Same work as a real check, so timing does not tell whether the user exists.
            Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), new byte[16], Iterations, HashAlgorithmName.SHA256, 32);
            return null;
        }
        var salt = (byte[])reader[0];
        var hash = (byte[])reader[1];
        var actual = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, Iterations, HashAlgorithmName.SHA256, 32);
        return CryptographicOperations.FixedTimeEquals(actual, hash) ? reader.GetString(2).Split(',') : null;
    }

    /// <summary>Whether <paramref name="name"/> exists and holds <paramref name="role"/>.</summary>
    public bool HasRole(string name, string role)
    {
        using var connection = database.Open();
        var roles = ProjectDatabase.Scalar(connection, "SELECT roles FROM users WHERE name = $n", null, ("$n", name)) as string;
        return roles is not null && roles.Split(',').Contains(role);
    }
}

/// <summary>Signs and describes the bearer tokens Login hands out (JWT, HMAC-SHA256).</summary>
public sealed class TokenIssuer
{
    public const string Issuer = "bigdataai-labeling";
    public const string Audience = "bigdataai";
    private readonly JsonWebTokenHandler _handler = new();
    private readonly LabelingAuthenticationOptions _options;

    public TokenIssuer(ProjectDatabase database, IOptions<LabelingOptions> options)
    {
        _options = options.Value.Authentication;
        Key = new SymmetricSecurityKey(LoadKey(database, _options.SigningKey));
    }

    public SymmetricSecurityKey Key { get; }

    public TimeSpan Lifetime => _options.TokenLifetime;

    public string Issue(string user, IReadOnlyList<string> roles)
    {
        var claims = new Dictionary<string, object>
        {
            [JwtRegisteredClaimNames.Sub] = user,
            [ClaimTypes.Role] = roles.ToArray(),
        };
        return _handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Audience = Audience,
            Claims = claims,
            Expires = DateTime.UtcNow + _options.TokenLifetime,
            SigningCredentials = new SigningCredentials(Key, SecurityAlgorithms.HmacSha256),
        });
    }

    private static byte[] LoadKey(ProjectDatabase database, string? configured)
    {
        if (!string.IsNullOrEmpty(configured))
        {
            byte[] bytes;
            try
            {
                bytes = Convert.FromBase64String(configured);
            }
            catch (FormatException)
            {
                throw new InvalidOperationException("Labeling:Authentication:SigningKey is not base64.");
            }
            return bytes.Length >= 32 ? bytes : throw new InvalidOperationException("Labeling:Authentication:SigningKey must be at least 32 bytes.");
        }
        // One key per database, made once: tokens stay valid across restarts of the same service.
        using var connection = database.Open();
        if (ProjectDatabase.Scalar(connection, "SELECT value FROM meta WHERE key = 'signing-key'") is string stored)
        {
            return Convert.FromBase64String(stored);
        }
        var key = RandomNumberGenerator.GetBytes(32);
        ProjectDatabase.Execute(connection, "INSERT OR IGNORE INTO meta (key, value) VALUES ('signing-key', $v)", null, ("$v", Convert.ToBase64String(key)));
        return Convert.FromBase64String((string)ProjectDatabase.Scalar(connection, "SELECT value FROM meta WHERE key = 'signing-key'")!);
    }
}

/// <summary>The embedded mode's local user: a loopback caller without a token is that user, with every role.</summary>
internal sealed class LocalUserHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, IOptions<LabelingOptions> labeling)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "BigDataAI.Labeling.Local";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var user = labeling.Value.Authentication.LocalUser;
        var remote = Context.Connection.RemoteIpAddress;
        // A caller it cannot place (no address) or one that came through a proxy is never the local user.
        if (string.IsNullOrEmpty(user) || remote is null || !IPAddress.IsLoopback(remote)
            || Request.Headers.ContainsKey("X-Forwarded-For") || Request.Headers.ContainsKey("Forwarded"))
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }
        var identity = new ClaimsIdentity([new Claim(ClaimTypes.Name, user), .. LabelingRoles.All.Select(r => new Claim(ClaimTypes.Role, r))], SchemeName);
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName)));
    }
}

public static class LabelingAuthentication
{
    /// <summary>The scheme labeling endpoints authenticate with: a bearer token when one is sent, else the local user (if any).</summary>
    public const string Scheme = "BigDataAI.Labeling";

    /// <summary>The signed-in user's name.</summary>
    public static string UserName(ClaimsPrincipal user) =>
        user.FindFirstValue(ClaimTypes.Name) ?? user.FindFirstValue(JwtRegisteredClaimNames.Sub) ?? user.FindFirstValue(ClaimTypes.NameIdentifier)
        ?? throw new InvalidOperationException("The caller is authenticated but has no name.");

    public static void Add(IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<AnnotatorDirectory>();
        builder.Services.AddSingleton<TokenIssuer>();
        builder.Services.AddOptions<JwtBearerOptions>(JwtBearerDefaults.AuthenticationScheme + ".Labeling")
            .Configure<TokenIssuer>((o, issuer) =>
            {
                o.MapInboundClaims = false;
                o.TokenValidationParameters = new TokenValidationParameters
                {
                    ValidIssuer = TokenIssuer.Issuer,
                    ValidAudience = TokenIssuer.Audience,
                    IssuerSigningKey = issuer.Key,
                    NameClaimType = JwtRegisteredClaimNames.Sub,
                    RoleClaimType = ClaimTypes.Role,
                    ClockSkew = TimeSpan.FromSeconds(30),
                };
                o.Events = new JwtBearerEvents
                {
                    OnChallenge = async context =>
                    {
                        context.HandleResponse();
                        var reason = context.AuthenticateFailure switch
                        {
                            SecurityTokenExpiredException => "The token has expired: log in again.",
                            null when string.IsNullOrEmpty(context.Request.Headers.Authorization) => "Log in first: this call needs 'authorization: Bearer <token>' (LabelingService.Login, or POST /labeling/api/login).",
                            _ => "The token is not valid here: log in again.",
                        };
                        await WriteDeniedAsync(context.HttpContext, StatusCodes.Status401Unauthorized, reason).ConfigureAwait(false);
                    },
                    OnForbidden = context => WriteDeniedAsync(context.HttpContext, StatusCodes.Status403Forbidden,
                        $"User '{context.HttpContext.User.Identity?.Name}' may not do this: it needs the admin role."),
                };
            });
        builder.Services.AddAuthentication()
            .AddJwtBearer(JwtBearerDefaults.AuthenticationScheme + ".Labeling", _ => { })
            .AddScheme<AuthenticationSchemeOptions, LocalUserHandler>(LocalUserHandler.SchemeName, _ => { })
            .AddPolicyScheme(Scheme, "BigDataAI labeling", o =>
            {
                o.ForwardDefaultSelector = context =>
                    !string.IsNullOrEmpty(context.Request.Headers.Authorization) || string.IsNullOrEmpty(context.RequestServices.GetRequiredService<IOptions<LabelingOptions>>().Value.Authentication.LocalUser)
                        ? JwtBearerDefaults.AuthenticationScheme + ".Labeling"
                        : LocalUserHandler.SchemeName;
                o.ForwardChallenge = JwtBearerDefaults.AuthenticationScheme + ".Labeling";
                o.ForwardForbid = JwtBearerDefaults.AuthenticationScheme + ".Labeling";
            });
        builder.Services.AddAuthorizationBuilder()
            .AddPolicy(LabelingRoles.AnnotatorPolicy, p => p.AddAuthenticationSchemes(Scheme).RequireAuthenticatedUser().RequireRole(LabelingRoles.Annotator, LabelingRoles.Admin))
            .AddPolicy(LabelingRoles.AdminPolicy, p => p.AddAuthenticationSchemes(Scheme).RequireAuthenticatedUser().RequireRole(LabelingRoles.Admin));
    }

    /// <summary>
    /// A refusal a caller can read: for gRPC a trailers-only reply with UNAUTHENTICATED or PERMISSION_DENIED and the
    /// message; for the page's JSON API the HTTP status with <c>{"error": message}</c>.
    /// </summary>
    private static async Task WriteDeniedAsync(HttpContext context, int status, string message)
    {
        if (context.Request.ContentType?.StartsWith("application/grpc", StringComparison.Ordinal) == true)
        {
            context.Response.StatusCode = StatusCodes.Status200OK;
            context.Response.ContentType = "application/grpc";
            context.Response.Headers["grpc-status"] = status == StatusCodes.Status401Unauthorized ? "16" : "7";
            context.Response.Headers["grpc-message"] = Uri.EscapeDataString(message);
            return;
        }
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(JsonSerializer.Serialize(new { error = message }), context.RequestAborted).ConfigureAwait(false);
    }
}

/// <summary>Creates the configured users at start, before any request is served.</summary>
internal sealed class AnnotatorSeeder(AnnotatorDirectory directory) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => directory.SeedAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
