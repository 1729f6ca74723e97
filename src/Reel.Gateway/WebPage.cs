using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Reel.Gateway;

/// <summary>
/// The page at <c>/</c> (docs/contracts.md, "Web page"): three files embedded in this assembly, served with a
/// Content-Security-Policy that allows nothing but this gateway: no third-party assets, no inline script.
/// </summary>
public static class WebPage
{
    public const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; media-src 'self'; connect-src 'self'; " +
        "form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

    /// <summary>
    /// The API reference at <c>/docs</c> (Swagger UI, its assets embedded): the same, but for the <c>data:</c> images its
    /// stylesheet carries and, by its hash, the one inline style it writes (the <c>&lt;style&gt;</c> inside its logo's
    /// SVG; a Swagger UI update that changes it shows in the browser test). Its index page loads its script from a
    /// file, so no inline script is allowed.
    /// </summary>
    public const string DocsContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self' 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='; " +
        "img-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

    /// <summary>The headers every page this gateway serves carries: its policy, no type sniffing, no referrer.</summary>
    public static void Protect(HttpResponse response, string policy)
    {
        response.Headers.ContentSecurityPolicy = policy;
        response.Headers.XContentTypeOptions = "nosniff";
        response.Headers["Referrer-Policy"] = "no-referrer";
    }

    private static readonly (string Path, string File, string Type)[] Files =
    [
        ("/", "index.html", "text/html; charset=utf-8"),
        ("/app.js", "app.js", "text/javascript; charset=utf-8"),
        ("/app.css", "app.css", "text/css; charset=utf-8"),
    ];

    public static void MapWebPage(this WebApplication app)
    {
        foreach (var (path, file, type) in Files)
        {
            var content = Read(file);
            app.MapGet(path, (HttpContext http) =>
            {
                Protect(http.Response, ContentSecurityPolicy);
                return Results.Bytes(content, type);
            }).ExcludeFromDescription();
        }
        // Browsers ask for it unprompted; the page has none.
        app.MapGet("/favicon.ico", () => Results.NoContent()).ExcludeFromDescription();
    }

    private static byte[] Read(string file)
    {
        using var stream = typeof(WebPage).Assembly.GetManifestResourceStream($"Reel.Gateway.Page.{file}")
            ?? throw new InvalidOperationException($"The page file {file} is not embedded.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
