using System.Collections.Frozen;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Net.Http.Headers;

namespace BigDataAI.Labeling.Page;

/// <summary>
/// The labeling web page (docs/decisions/0014-labeling-page.md): three static files embedded in this assembly and served
/// at <c>/labeling/</c>, with no log-in (the page has the log-in form; the JSON API under <c>/labeling/api/</c> is what
/// needs a token). Every answer carries a strong ETag (SHA-256 of the bytes) and <c>Cache-Control: no-cache</c>, so a
/// browser revalidates and gets 304 until a deployment changes a file; and a Content-Security-Policy that lets the
/// page load nothing but itself and the data: URLs of task images.
/// </summary>
public static class PageEndpoints
{
    /// <summary>Where the page is served; the page calls the API relative to it (<c>api/...</c>).</summary>
    public const string BasePath = "/labeling/";

    /// <summary>Nothing from another origin, no plug-ins, no framing, no inline script or style.</summary>
    public const string ContentSecurityPolicy =
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    private const string ResourcePrefix = "BigDataAI.Labeling.Page.";

    private static readonly FrozenDictionary<string, string> ContentTypes = new Dictionary<string, string>
    {
        [".html"] = "text/html; charset=utf-8",
        [".js"] = "text/javascript; charset=utf-8",
        [".css"] = "text/css; charset=utf-8",
    }.ToFrozenDictionary(StringComparer.Ordinal);

    private static readonly Lazy<FrozenDictionary<string, PageFile>> Files = new(LoadFiles);

    /// <summary>
    /// Maps <c>GET /labeling</c> (a redirect to <c>/labeling/</c>, keeping the query, so relative URLs resolve),
    /// <c>GET /labeling/</c> (index.html) and <c>GET /labeling/{file}</c> (404 for a file the page does not have).
    /// </summary>
    public static IEndpointConventionBuilder MapLabelingPage(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        _ = Files.Value; // a missing embedded file fails at start, not on the first request
        var group = endpoints.MapGroup("/labeling").AllowAnonymous().ExcludeFromDescription();
        // Routing does not tell "/labeling" from "/labeling/": one endpoint, which looks at the path itself.
        group.MapGet("/", (HttpContext context) => context.Request.Path.Value?.EndsWith('/') == true
            ? Serve(context, "index.html")
            : Results.Redirect(context.Request.PathBase + BasePath + context.Request.QueryString.Value, permanent: false, preserveMethod: true));
        group.MapGet("/{file}", (HttpContext context, string file) => Serve(context, file));
        return group;
    }

    private static IResult Serve(HttpContext context, string name)
    {
        if (!Files.Value.TryGetValue(name, out var file))
        {
            return Results.NotFound();
        }
        var headers = context.Response.Headers;
        headers.ETag = file.ETag.ToString();
        headers.CacheControl = "no-cache";
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        var ifNoneMatch = context.Request.GetTypedHeaders().IfNoneMatch;
        if (ifNoneMatch.Any(tag => tag.Equals(EntityTagHeaderValue.Any) || tag.Compare(file.ETag, useStrongComparison: false)))
        {
            return Results.StatusCode(StatusCodes.Status304NotModified);
        }
        return Results.Bytes(file.Content, file.ContentType);
    }

    private static FrozenDictionary<string, PageFile> LoadFiles()
    {
        var assembly = typeof(PageEndpoints).Assembly;
        var files = new Dictionary<string, PageFile>(StringComparer.Ordinal);
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal)))
        {
            var name = resource[ResourcePrefix.Length..];
            if (!ContentTypes.TryGetValue(Path.GetExtension(name), out var contentType))
            {
                throw new InvalidOperationException($"The page resource '{resource}' has no known content type.");
            }
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            var content = copy.ToArray();
            var hash = Convert.ToBase64String(SHA256.HashData(content), 0, 16).TrimEnd('=').Replace('+', '-').Replace('/', '_');
            files[name] = new PageFile(content, contentType, new EntityTagHeaderValue($"\"{hash}\""));
        }
        if (!files.ContainsKey("index.html"))
        {
            throw new InvalidOperationException($"The labeling page is not embedded in {assembly.GetName().Name} (no {ResourcePrefix}index.html).");
        }
        return files.ToFrozenDictionary(StringComparer.Ordinal);
    }

    private sealed record PageFile(byte[] Content, string ContentType, EntityTagHeaderValue ETag);
}
