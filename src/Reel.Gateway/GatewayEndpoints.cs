using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Reel.Abstractions;
using Reel.Storage;

namespace Reel.Gateway;

/// <summary>
/// The OpenAI-compatible Videos API (docs/contracts.md, "Gateway"): every call under <c>/v1</c> carries a tenant's
/// bearer key; ids are resolved within that tenant only, so another tenant's id is a 404 like any unknown one.
/// </summary>
public static class GatewayEndpoints
{
    private const string TenantItem = "reel.tenant";

    /// <summary>The gateway's services: the tenants it reads from <paramref name="tenantsFile"/>, the session client, snake_case JSON.</summary>
    public static IServiceCollection AddReelGateway(this IServiceCollection services, string tenantsFile)
    {
        services.AddSingleton(sp => new TenantDirectory(tenantsFile, TimeSpan.FromSeconds(2), sp.GetRequiredService<ILogger<TenantDirectory>>()));
        services.AddHostedService(sp => sp.GetRequiredService<TenantDirectory>());
        services.AddSingleton(sp => new ReelSessions(sp.GetRequiredService<IGrainFactory>()));
        // The OpenAI wire format: created_at, remixed_from_video_id, has_more.
        services.ConfigureHttpJsonOptions(o => o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower);
        services.AddOpenApi();
        return services;
    }

    public static IEndpointRouteBuilder MapReelGateway(this IEndpointRouteBuilder app)
    {
        app.MapGet("/health", () => Results.Ok(new { status = "ok" }));
        // The OpenAPI document of this API, at /openapi/v1.json (no key: it describes, it serves nothing).
        app.MapOpenApi();
        var v1 = app.MapGroup("/v1").AddEndpointFilter(Authenticate).AddEndpointFilter(ClusterUnavailable);
        v1.MapPost("/videos", Create).DisableAntiforgery();
        v1.MapGet("/videos", List);
        v1.MapGet("/videos/{id}", Retrieve);
        v1.MapDelete("/videos/{id}", Delete);
        v1.MapGet("/videos/{id}/content", Content);
        v1.MapPost("/videos/{id}/cancel", Cancel);
        v1.MapGet("/models", Models);
        // Characters are a Sora feature Reel does not have: a clear error the SDK does not retry.
        v1.MapPost("/videos/characters", () => ApiError.Invalid("Characters are not supported by Reel.", "characters", "unsupported"));
        v1.MapGet("/videos/characters/{id}", (string id) => ApiError.Invalid("Characters are not supported by Reel.", "characters", "unsupported"));
        return app;
    }

    private static async ValueTask<object?> Authenticate(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var header = context.HttpContext.Request.Headers.Authorization.ToString();
        var key = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header["Bearer ".Length..].Trim() : null;
        var tenant = context.HttpContext.RequestServices.GetRequiredService<TenantDirectory>().Authenticate(key);
        if (tenant is null) return ApiError.Unauthorized();
        context.HttpContext.Items[TenantItem] = tenant;
        return await next(context);
    }

    /// <summary>The cluster cannot answer (no silo for the pool, a silo dying): 503, which the SDK retries.</summary>
    private static async ValueTask<object?> ClusterUnavailable(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        try
        {
            return await next(context);
        }
        catch (Exception e) when (e is OrleansException or TimeoutException)
        {
            return ApiError.Unavailable("The cluster cannot serve this request right now; retry shortly.");
        }
    }

    private static Tenant TenantOf(HttpContext http) => (Tenant)http.Items[TenantItem]!;

    private static bool TryKey(HttpContext http, string id, out SessionKey key)
    {
        var found = SessionKey.TryFromVideoId(TenantOf(http).Name, id, out var parsed);
        key = parsed!;
        return found;
    }

    /// <summary>Request bodies above this are refused before they are read (413).</summary>
    public const long MaxBodyBytes = 25 * 1024 * 1024;

    private static async Task<IResult> Create(HttpContext http, ReelSessions sessions)
    {
        if (http.Request.ContentLength > MaxBodyBytes)
            return ApiError.TooLarge($"The request body is larger than {MaxBodyBytes / (1024 * 1024)} MB.");
        Dictionary<string, string> fields;
        if (http.Request.HasFormContentType)
        {
            IFormCollection form;
            try
            {
                form = await http.Request.ReadFormAsync(http.RequestAborted);
            }
            catch (Exception e) when (e is InvalidDataException or IOException or BadHttpRequestException)
            {
                return ApiError.Invalid($"The multipart form cannot be read: {e.Message}");
            }
            if (form.ContainsKey("input_reference[file_id]"))
                return ApiError.Invalid("Reel has no Files API: upload the image as 'input_reference' instead of a file id.", "input_reference", "unsupported");
            if (form.Files.Count > 0 || form.ContainsKey("input_reference[image_url]"))
                return ApiError.Invalid("input_reference is not supported by this gateway yet.", "input_reference", "unsupported");
            fields = form.ToDictionary(f => f.Key, f => f.Value.ToString());
        }
        else
        {
            try
            {
                using var body = await JsonDocument.ParseAsync(http.Request.Body, cancellationToken: http.RequestAborted);
                if (body.RootElement.ValueKind != JsonValueKind.Object) return ApiError.Invalid("The body must be a JSON object or a multipart form.");
                fields = body.RootElement.EnumerateObject().ToDictionary(p => p.Name,
                    p => p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText());
            }
            catch (JsonException)
            {
                return ApiError.Invalid("The body is not valid JSON.");
            }
        }
        if (fields.ContainsKey("input_reference")) return ApiError.Invalid("input_reference is not supported by this gateway yet.", "input_reference", "unsupported");
        if (!fields.TryGetValue("prompt", out var prompt) || string.IsNullOrWhiteSpace(prompt))
            return ApiError.Invalid("'prompt' is required.", "prompt", "missing_required_parameter");
        var tenant = TenantOf(http);
        // Validated against what the pool's newest model serves; with no model silo yet the session waits and its silo checks it.
        var served = await sessions.ServedAsync(tenant.Pool);
        fields.TryGetValue("model", out var model);
        if (served is not null && !ServedRequests.AcceptsModel(served, model))
            return ApiError.Invalid($"Model '{model}' is not served here; use '{ServedRequests.ModelId(served.Name)}' (or a sora-2 name).", "model", "model_not_found");
        double? seconds = null;
        if (fields.TryGetValue("seconds", out var secondsText))
        {
            if (!double.TryParse(secondsText, NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed) || !(parsed > 0))
                return ApiError.Invalid($"'seconds' must be a positive number of seconds, got '{secondsText}'.", "seconds", "invalid_value");
            if (parsed > (served?.MaxSeconds ?? double.MaxValue))
                return ApiError.Invalid($"'seconds' is at most {served!.MaxSeconds} for model '{ServedRequests.ModelId(served.Name)}', got {secondsText}.", "seconds", "invalid_value");
            seconds = parsed;
        }
        (int Width, int Height)? size = null;
        if (fields.TryGetValue("size", out var sizeText))
        {
            size = served is null ? ServedRequests.Parse(sizeText) : ServedRequests.MapSize(served, sizeText);
            if (size is null)
                return ApiError.Invalid(served is null ? $"'size' must be WIDTHxHEIGHT in pixels, got '{sizeText}'."
                    : $"Size '{sizeText}' is not served by '{ServedRequests.ModelId(served.Name)}'; use one of {string.Join(", ", served.Sizes.Concat(ServedRequests.StandardSizes))}.",
                    "size", "invalid_value");
        }
        ulong seed;
        if (fields.TryGetValue("seed", out var seedText))
        {
            if (!ulong.TryParse(seedText, out seed)) return ApiError.Invalid($"'seed' must be a whole number, got '{seedText}'.", "seed", "invalid_value");
        }
        else
        {
            seed = (ulong)Random.Shared.NextInt64();
        }
        var created = await sessions.CreateAsync(tenant.Name, tenant.Pool, new VideoRequest
        {
            Prompt = prompt, Width = size?.Width, Height = size?.Height, Seconds = seconds, Seed = seed,
        });
        return Results.Ok(VideoObject.From(created));
    }

    private static async Task<IResult> Retrieve(HttpContext http, string id, ReelSessions sessions) =>
        TryKey(http, id, out var key) && await sessions.GetAsync(key) is { } snapshot
            ? Results.Ok(VideoObject.From(snapshot))
            : ApiError.NotFound(id);

    private static async Task<IResult> List(HttpContext http, ReelSessions sessions, string? after, int? limit, string? order)
    {
        if (limit is < 1 or > 100) return ApiError.Invalid("'limit' must be between 1 and 100.", "limit", "invalid_value");
        if (order is not (null or "asc" or "desc")) return ApiError.Invalid("'order' must be 'asc' or 'desc'.", "order", "invalid_value");
        var page = await sessions.ListAsync(TenantOf(http).Name, after, limit ?? 20, order == "asc");
        var videos = new List<VideoObject>();
        foreach (var key in page.Keys)
            if (await sessions.GetAsync(key) is { } snapshot) videos.Add(VideoObject.From(snapshot));
        return Results.Ok(new { @object = "list", data = videos, first_id = videos.FirstOrDefault()?.Id, last_id = videos.LastOrDefault()?.Id, has_more = page.HasMore });
    }

    private static async Task<IResult> Delete(HttpContext http, string id, ReelSessions sessions)
    {
        if (!TryKey(http, id, out var key) || await sessions.GetAsync(key) is null) return ApiError.NotFound(id);
        if (!await sessions.DeleteAsync(key)) return ApiError.Conflict("The video is queued or in progress: cancel it first.", "video_in_progress");
        return Results.Ok(new { id, @object = "video.deleted", deleted = true });
    }

    private static async Task<IResult> Content(HttpContext http, string id, string? variant, ReelSessions sessions, IArtifactStore artifacts)
    {
        if (!TryKey(http, id, out var key) || await sessions.GetAsync(key) is not { } snapshot) return ApiError.NotFound(id);
        (Func<SessionKey, ArtifactName>? name, string? type) = (variant ?? "video") switch
        {
            "video" => (SessionArtifacts.Video, "video/mp4"),
            "thumbnail" => (SessionArtifacts.Thumbnail, "image/webp"),
            "spritesheet" => (SessionArtifacts.Spritesheet, "image/jpeg"),
            _ => ((Func<SessionKey, ArtifactName>?)null, (string?)null),
        };
        if (name is null) return ApiError.Invalid("'variant' must be video, thumbnail or spritesheet.", "variant", "invalid_value");
        if (snapshot.Status != SessionStatus.Completed) return ApiError.Conflict("The video is not completed.", "video_not_ready");
        var stream = await artifacts.OpenReadAsync(name(key), http.RequestAborted);
        return stream is null ? ApiError.NotFound(id) : Results.Stream(stream, type);
    }

    private static async Task<IResult> Models(HttpContext http, ReelSessions sessions)
    {
        var served = await sessions.ServedAsync(TenantOf(http).Pool);
        object[] data = served is null ? [] :
            [new { id = ServedRequests.ModelId(served.Name), @object = "model", created = 0, owned_by = "reel", sizes = served.Sizes, max_seconds = served.MaxSeconds, fps = served.FrameRate }];
        return Results.Ok(new { @object = "list", data });
    }

    private static async Task<IResult> Cancel(HttpContext http, string id, ReelSessions sessions) =>
        TryKey(http, id, out var key) && await sessions.CancelAsync(key) is { } snapshot
            ? Results.Ok(VideoObject.From(snapshot))
            : ApiError.NotFound(id);
}
