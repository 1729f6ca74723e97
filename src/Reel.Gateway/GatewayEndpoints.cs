using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Reel.Abstractions;
using Reel.Model;
using Reel.Requests;
using Reel.Storage;

namespace Reel.Gateway;

/// <summary>
/// The OpenAI-compatible Videos API (docs/contracts.md, "Gateway"): every call under <c>/v1</c> carries a tenant's
/// bearer key; ids are resolved within that tenant only, so another tenant's id is a 404 like any unknown one.
/// </summary>
public static class GatewayEndpoints
{
    private const string TenantItem = "reel.tenant";

    /// <summary>The gateway's services: its tenants, request inputs, the session client, snake_case JSON.</summary>
    public static IServiceCollection AddReelGateway(this IServiceCollection services, GatewayOptions options)
    {
        services.AddSingleton(options);
        services.AddSingleton<RequestInputs>();
        services.AddSingleton(sp => new TenantRateLimiter(TimeProvider.System));
        services.AddSingleton(sp => new FailedKeyThrottle(TimeProvider.System, sp.GetRequiredService<ILogger<FailedKeyThrottle>>()));
        services.AddSingleton<ContentUrls>();
        services.AddSingleton(sp => new TenantDirectory(options.TenantsFile, TimeSpan.FromSeconds(2), sp.GetRequiredService<ILogger<TenantDirectory>>()));
        services.AddHostedService(sp => sp.GetRequiredService<TenantDirectory>());
        services.AddHostedService<WebhookOutboxWaker>();
        services.AddSingleton(sp => new ReelSessions(sp.GetRequiredService<IGrainFactory>(), options.ReadTimeout));
        // The OpenAI wire format: created_at, remixed_from_video_id, has_more.
        services.ConfigureHttpJsonOptions(o => o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower);
        services.AddOpenApi();
        return services;
    }

    public static WebApplication MapReelGateway(this WebApplication app)
    {
        app.MapGet("/health", () => Results.Ok(new { status = "ok" }));
        app.MapWebPage();
        // The OpenAPI document of this API at /openapi/v1.json and a browsable reference of it at /docs (no key: they
        // describe, they serve nothing); the reference page's assets are embedded, so it works offline.
        app.MapOpenApi();
        app.Use((http, next) =>
        {
            if (http.Request.Path.StartsWithSegments("/docs")) WebPage.Protect(http.Response, WebPage.DocsContentSecurityPolicy);
            return next(http);
        });
        app.UseSwaggerUI(o =>
        {
            o.RoutePrefix = "docs";
            o.DocumentTitle = "Reel API reference";
            o.SwaggerEndpoint("/openapi/v1.json", "Reel Videos API");
        });
        // A route that does not exist, a method a route does not take, a request the framework refuses before any handler
        // runs: the envelope too, never an empty body.
        app.UseStatusCodePages(context => context.HttpContext.Request.Path.StartsWithSegments("/v1")
            ? ApiError.Framework(context.HttpContext.Response.StatusCode).ExecuteAsync(context.HttpContext)
            : Task.CompletedTask);
        var v1 = app.MapGroup("/v1").AddEndpointFilter(Authenticate).AddEndpointFilter(Refusals);
        // Create bodies (JSON or form, the SDK's bracketed fields) are read by hand: the descriptions say what they take.
        // No Accepts metadata: routing would answer other content types with a bare 415 instead of the error envelope.
        v1.MapPost("/videos", Create).DisableAntiforgery().Produces<VideoObject>()
            .WithSummary("Create a video").WithDescription("prompt (required), model, seconds, size, input_reference (image file or [image_url]); Reel's own: seed, steps, guidance, loop, connect (two video ids).");
        v1.MapPost("/videos/{id}/remix", Remix).DisableAntiforgery().Produces<VideoObject>()
            .WithSummary("Remix a completed video").WithDescription("prompt; Reel's own: strength in (0, 1], default 0.6 (SDEdit).");
        v1.MapPost("/videos/extensions", Extend).DisableAntiforgery().Produces<VideoObject>()
            .WithSummary("Extend a video").WithDescription("prompt, seconds (the new segment), video (a file or video[id]): the source, then the new segment by latent continuation; Reel's own: direction (forward, or backward: the new segment leads into the source).");
        v1.MapPost("/videos/edits", Edit).DisableAntiforgery().Produces<VideoObject>()
            .WithSummary("Edit a video").WithDescription("prompt, video (a file or video[id]); Reel's own: strength (SDEdit).");
        v1.MapGet("/videos", List).WithSummary("List the tenant's videos, a page at a time");
        v1.MapGet("/videos/{id}", Retrieve).Produces<VideoObject>().WithSummary("Retrieve a video");
        v1.MapDelete("/videos/{id}", Delete).WithSummary("Delete a completed or failed video");
        v1.MapGet("/videos/{id}/content", Content).WithSummary("Download the video, its thumbnail or its spritesheet");
        v1.MapPost("/videos/{id}/cancel", Cancel).Produces<VideoObject>().WithSummary("Cancel a queued or running video (Reel's own)");
        v1.MapGet("/models", Models).WithSummary("The model this tenant's pool serves, with its sizes and durations");
        v1.MapGet("/videos/{id}/content_url", ContentUrl).WithSummary("A short-lived signed URL of the video's content that needs no key (Reel's own)");
        app.MapGet("/content/{token}", SignedContent).WithSummary("Content by a signed URL (no key)");
        v1.MapGet("/videos/{id}/events", Events).WithSummary("Server-Sent Events of a video's progress until it ends (Reel's own)");
        v1.MapGet("/usage", Usage).WithSummary("The tenant's usage per UTC day (Reel's own)");
        // Characters are a Sora feature Reel does not have: a clear error the SDK does not retry.
        v1.MapPost("/videos/characters", () => ApiError.Invalid("Characters are not supported by Reel.", "characters", "unsupported"));
        v1.MapGet("/videos/characters/{id}", (string id) => ApiError.Invalid("Characters are not supported by Reel.", "characters", "unsupported"));
        return app;
    }

    private static async ValueTask<object?> Authenticate(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var header = context.HttpContext.Request.Headers.Authorization.ToString();
        var key = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header["Bearer ".Length..].Trim() : null;
        var throttle = context.HttpContext.RequestServices.GetRequiredService<FailedKeyThrottle>();
        var client = context.HttpContext.Connection.RemoteIpAddress;
        if (throttle.Wait(client) is { } wait)
            return ApiError.LimitReached("Too many wrong API keys from this address: wait before trying again.", "too_many_failed_keys", wait);
        var tenant = context.HttpContext.RequestServices.GetRequiredService<TenantDirectory>().Authenticate(key);
        if (tenant is null)
        {
            throttle.Failed(client);
            return ApiError.Unauthorized();
        }
        throttle.Succeeded(client);
        context.HttpContext.Items[TenantItem] = tenant;
        if (context.HttpContext.RequestServices.GetRequiredService<TenantRateLimiter>().TryAcquire(tenant) is { } retryAfter)
            return ApiError.LimitReached($"At most {tenant.RequestsPerMinute} requests per minute (per gateway replica).", "rate_limit_exceeded", retryAfter);
        return await next(context);
    }

    /// <summary>
    /// A request the client can fix answers its envelope (<see cref="ApiException"/>); when the cluster cannot answer
    /// (no silo for the pool, a silo dying) it is a 503, which the SDK retries.
    /// </summary>
    private static async ValueTask<object?> Refusals(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        try
        {
            return await next(context);
        }
        catch (ApiException e)
        {
            return e.Result;
        }
        catch (Exception e) when (ClusterCannotAnswer(e))
        {
            return ClusterUnavailable(context.HttpContext, e);
        }
    }

    /// <summary>The cluster has no answer now (no silo for the pool, a silo dying, a read past its timeout): worth a retry.</summary>
    private static bool ClusterCannotAnswer(Exception e) => e is OrleansException or TimeoutException;

    /// <summary>
    /// The 503 a retry may cure, logged with its cause (a run of them tells an operator the cluster is unwell); the
    /// route's pattern, not the path, which may carry a signed content token.
    /// </summary>
    private static IResult ClusterUnavailable(HttpContext http, Exception cause)
    {
        http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(GatewayEndpoints))
            .LogWarning("{Endpoint} answered 503: {Cause}: {Message}", http.GetEndpoint()?.DisplayName, cause.GetType().Name, cause.Message);
        return ApiError.Unavailable("The cluster cannot serve this request right now; retry shortly.");
    }

    private static Tenant TenantOf(HttpContext http) => (Tenant)http.Items[TenantItem]!;

    /// <summary>The tenant's video of this id; null for an unknown id, another tenant's, or anything that is not an id.</summary>
    private static Task<SessionSnapshot?> VideoAsync(HttpContext http, ReelSessions sessions, string id) => sessions.GetAsync(TenantOf(http).Name, id);

    /// <summary>Request bodies above this are refused before they are read (413).</summary>
    public const long MaxBodyBytes = 25 * 1024 * 1024;

    /// <summary>Text to video; with <c>input_reference</c> image to video; Reel's own <c>loop</c> and <c>connect</c>.</summary>
    private static async Task<IResult> Create(HttpContext http, ReelSessions sessions, RequestInputs inputs, IArtifactStore artifacts)
    {
        var form = await RequestFields.ReadAsync(http.Request);
        var (request, served) = await CommonAsync(http, form, sessions, length: true, size: true);
        var tenant = TenantOf(http);
        var connect = form.Values("connect");
        if (connect.Count is not (0 or 2))
            throw new ApiException(ApiError.Invalid($"'connect' names two video ids, got {connect.Count}.", "connect", "invalid_value"));
        var loop = Flag(form, "loop");
        if (connect.Count == 2 && (loop || form.Has("input_reference")))
            throw new ApiException(ApiError.Invalid("'connect' joins two videos: it takes no input_reference or loop.", "connect", "invalid_value"));
        var image = await inputs.ImageAsync(tenant, form, http.RequestAborted);
        var sources = new List<MediaInput>();
        foreach (var id in connect) sources.Add((await inputs.VideoIdAsync(tenant, id, "connect")).Input);
        return await CreateAsync(http, sessions, artifacts, form, request with { Image = image, Loop = loop, Connect = sources }, RequestCompiler.SecondsOf(request));
    }

    /// <summary>The source video re-generated under a new prompt (SDEdit at Reel's default strength unless <c>strength</c> is given).</summary>
    private static async Task<IResult> Remix(HttpContext http, string id, ReelSessions sessions, RequestInputs inputs, IArtifactStore artifacts)
    {
        var form = await RequestFields.ReadAsync(http.Request);
        var (request, _) = await CommonAsync(http, form, sessions, length: false, size: false);
        var source = await inputs.VideoIdAsync(TenantOf(http), id, "id");
        return await CreateAsync(http, sessions, artifacts, form, request with { Edit = source.Input, Strength = Strength(form), RemixedFrom = id }, source.Seconds);
    }

    /// <summary>
    /// A video (<c>video</c> file or <c>video[id]</c>) and <c>seconds</c> more after it, by latent continuation; Reel's own
    /// <c>direction=backward</c> makes the new part lead into the video instead.
    /// </summary>
    private static async Task<IResult> Extend(HttpContext http, ReelSessions sessions, RequestInputs inputs, IArtifactStore artifacts)
    {
        var form = await RequestFields.ReadAsync(http.Request);
        var (request, served) = await CommonAsync(http, form, sessions, length: true, size: false);
        var backward = form["direction"] switch
        {
            null or "forward" => false,
            "backward" => true,
            var other => throw new ApiException(ApiError.Invalid($"'direction' is forward or backward, got '{other}'.", "direction", "invalid_value")),
        };
        var source = await inputs.VideoAsync(TenantOf(http), form, served, http.RequestAborted);
        return await CreateAsync(http, sessions, artifacts, form, request with { Extend = source.Input, Backward = backward },
            RequestCompiler.SecondsOf(request));
    }

    /// <summary>Video to video: the <c>video</c> (file or <c>video[id]</c>) re-generated under the prompt by SDEdit.</summary>
    private static async Task<IResult> Edit(HttpContext http, ReelSessions sessions, RequestInputs inputs, IArtifactStore artifacts)
    {
        var form = await RequestFields.ReadAsync(http.Request);
        var (request, served) = await CommonAsync(http, form, sessions, length: false, size: false);
        var source = await inputs.VideoAsync(TenantOf(http), form, served, http.RequestAborted);
        return await CreateAsync(http, sessions, artifacts, form, request with { Edit = source.Input, Strength = Strength(form) }, source.Seconds);
    }

    /// <summary>
    /// Creates the video through the tenant's account, which checks the limits its counters hold for every gateway
    /// replica and the <c>Idempotency-Key</c>; <paramref name="charge"/> counts toward the tenant's seconds per day.
    /// </summary>
    private static async Task<IResult> CreateAsync(HttpContext http, ReelSessions sessions, IArtifactStore artifacts, RequestFields form,
        VideoRequest request, double charge)
    {
        var tenant = TenantOf(http);
        var idempotencyKey = http.Request.Headers["Idempotency-Key"].ToString() is { Length: > 0 } header ? header : null;
        if (idempotencyKey is { Length: > 255 })
            throw new ApiException(ApiError.Invalid("Idempotency-Key is at most 255 characters.", "Idempotency-Key", "invalid_value"));
        var command = new CreateVideo(tenant.Pool, request with { Retention = TimeSpan.FromHours(tenant.RetentionHours) }, tenant.Limits, charge,
            idempotencyKey, idempotencyKey is null ? null : await form.FingerprintAsync(http.Request.Path, http.RequestAborted), Webhook: tenant.Webhook);
        var result = await sessions.CreateAsync(tenant.Name, command);
        // Refused or replayed: no session will read this request's uploads.
        if (result.Video is null || result.Replayed)
            foreach (var input in request.Inputs)
                if (input.Upload is { } upload) await artifacts.DeleteAsync(ArtifactName.Parse(upload));
        if (result.Refusal is { } refusal)
            return refusal.RetryAfter is { } after ? ApiError.LimitReached(refusal.Message, refusal.Code, after) : ApiError.Conflict(refusal.Message, refusal.Code);
        return Results.Ok(VideoObject.From(result.Video!));
    }

    /// <summary>
    /// The fields every create call shares, checked against what the pool's newest model serves (with no model silo
    /// yet the session waits and its silo checks them). Remixes and edits keep their source's size and length.
    /// </summary>
    private static async Task<(VideoRequest Request, ServedModel? Served)> CommonAsync(HttpContext http, RequestFields form, ReelSessions sessions, bool length, bool size)
    {
        if (form["prompt"] is not { } prompt || string.IsNullOrWhiteSpace(prompt))
            throw new ApiException(ApiError.Invalid("'prompt' is required.", "prompt", "missing_required_parameter"));
        if (prompt.Length > RequestCompiler.MaxPromptLength)
            throw new ApiException(ApiError.Invalid($"'prompt' is at most {RequestCompiler.MaxPromptLength} characters, got {prompt.Length}.", "prompt", "string_above_max_length"));
        var served = await sessions.ServedAsync(TenantOf(http).Pool);
        var model = form["model"];
        if (served is not null && !ServedRequests.AcceptsModel(served, model))
            throw new ApiException(ApiError.Invalid($"Model '{model}' is not served here; use '{ServedRequests.ModelId(served.Name)}' (or a sora-2 name).", "model", "model_not_found"));
        foreach (var (name, allowed) in new[] { ("seconds", length), ("size", size) })
            if (!allowed && form.Has(name))
                throw new ApiException(ApiError.Invalid($"'{name}' cannot be set here: the video keeps its source's {(name == "size" ? "size" : "length")}.", name, "invalid_value"));
        double? seconds = null;
        if (form["seconds"] is { } secondsText)
        {
            if (!double.TryParse(secondsText, NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed) || !(parsed > 0) || double.IsInfinity(parsed))
                throw new ApiException(ApiError.Invalid($"'seconds' must be a positive number of seconds, got '{secondsText}'.", "seconds", "invalid_value"));
            seconds = served is null ? parsed : ServedRequests.MapSeconds(served, parsed)
                ?? throw new ApiException(ApiError.Invalid($"'seconds' is at most {served.MaxSeconds} for model '{ServedRequests.ModelId(served.Name)}' " +
                    $"(trained for {string.Join(", ", served.Durations)}), got {secondsText}.", "seconds", "invalid_value"));
            // A retry cannot make a longer video fit the tenant's limit: 400, not 429.
            if (TenantOf(http).MaxSecondsPerVideo is { } max && seconds > max)
                throw new ApiException(ApiError.Invalid($"'seconds' is at most {max} for this tenant, got {secondsText}.", "seconds", "seconds_above_tenant_limit"));
        }
        (int Width, int Height)? frameSize = null;
        if (form["size"] is { } sizeText)
        {
            var parsed = ServedRequests.Parse(sizeText)
                ?? throw new ApiException(ApiError.Invalid($"'size' must be WIDTHxHEIGHT in pixels, got '{sizeText}'.", "size", "invalid_value"));
            try
            {
                frameSize = served is null ? parsed : ServedRequests.MapSize(served, new VideoSize(parsed.Width, parsed.Height));
            }
            catch (ModelException e)
            {
                throw new ApiException(ApiError.Invalid(e.Message, "size", "invalid_value"));
            }
        }
        var request = new VideoRequest
        {
            Prompt = prompt, Width = frameSize?.Width, Height = frameSize?.Height, Seconds = seconds,
            Seed = Number<ulong>(form, "seed", ulong.TryParse, $"a whole number from 0 to {RequestCompiler.MaxSeed}", s => s <= RequestCompiler.MaxSeed)
                ?? RequestCompiler.RandomSeed(),
            Steps = Number<int>(form, "steps", int.TryParse, "a whole number from 1 to 200", s => s is >= 1 and <= 200),
            Guidance = Number<double>(form, "guidance", Parse, "a number from 0 to 50", g => g is >= 0 and <= 50),
        };
        return (request, served);
    }

    /// <summary>
    /// A whole-number query parameter in [min, max], <paramref name="fallback"/> when absent. Query parameters are read
    /// as text so a malformed one is answered with the envelope naming it, not the framework's empty 400.
    /// </summary>
    private static bool QueryNumber(string? text, int fallback, int min, int max, out int value)
    {
        value = fallback;
        return text is null || (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value) && value >= min && value <= max);
    }

    private delegate bool TryParser<T>(string text, out T value);

    private static bool Parse(string text, out double value) => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value);

    private static T? Number<T>(RequestFields form, string name, TryParser<T> parse, string what, Func<T, bool>? valid = null) where T : struct
    {
        if (form[name] is not { } text) return null;
        return parse(text, out var value) && (valid?.Invoke(value) ?? true)
            ? value
            : throw new ApiException(ApiError.Invalid($"'{name}' must be {what}, got '{text}'.", name, "invalid_value"));
    }

    private static double? Strength(RequestFields form) =>
        Number<double>(form, "strength", Parse, "a number in (0, 1]", s => s > 0 && s <= 1);

    private static bool Flag(RequestFields form, string name) => form[name] switch
    {
        null or "false" => false,
        "true" => true,
        var other => throw new ApiException(ApiError.Invalid($"'{name}' must be true or false, got '{other}'.", name, "invalid_value")),
    };

    private static async Task<IResult> Retrieve(HttpContext http, string id, ReelSessions sessions) =>
        await VideoAsync(http, sessions, id) is { } snapshot ? Results.Ok(VideoObject.From(snapshot)) : ApiError.NotFound(id);

    private static async Task<IResult> List(HttpContext http, ReelSessions sessions, string? after, string? limit, string? order)
    {
        if (!QueryNumber(limit, 20, 1, 100, out var pageSize)) return ApiError.Invalid($"'limit' must be a whole number from 1 to 100, got '{limit}'.", "limit", "invalid_value");
        if (order is not (null or "asc" or "desc")) return ApiError.Invalid("'order' must be 'asc' or 'desc'.", "order", "invalid_value");
        var page = await sessions.ListAsync(TenantOf(http).Name, after, pageSize, order == "asc");
        var videos = page.Videos.Select(VideoObject.From).ToList();
        return Results.Ok(new { @object = "list", data = videos, first_id = videos.FirstOrDefault()?.Id, last_id = videos.LastOrDefault()?.Id, has_more = page.HasMore });
    }

    private static async Task<IResult> Delete(HttpContext http, string id, ReelSessions sessions)
    {
        if (await VideoAsync(http, sessions, id) is not { } snapshot) return ApiError.NotFound(id);
        return await sessions.DeleteAsync(snapshot.Key) switch
        {
            DeleteOutcome.Unfinished => ApiError.Conflict("The video is queued or in progress: cancel it first.", "video_in_progress"),
            DeleteOutcome.NotFound => ApiError.NotFound(id),
            _ => Results.Ok(new { id, @object = "video.deleted", deleted = true }),
        };
    }

    private static async Task<IResult> Content(HttpContext http, string id, string? variant, ReelSessions sessions, IArtifactStore artifacts) =>
        await VideoAsync(http, sessions, id) is { } snapshot ? await StreamAsync(http, snapshot, variant ?? "video", artifacts) : ApiError.NotFound(id);

    private static readonly Dictionary<string, (Func<SessionKey, ArtifactName> Name, string Type)> Variants = new()
    {
        ["video"] = (SessionArtifacts.Video, "video/mp4"),
        ["thumbnail"] = (SessionArtifacts.Thumbnail, "image/webp"),
        ["spritesheet"] = (SessionArtifacts.Spritesheet, "image/jpeg"),
    };

    /// <summary>One of a completed video's files, with range requests (a video element seeks).</summary>
    private static async Task<IResult> StreamAsync(HttpContext http, SessionSnapshot snapshot, string variant, IArtifactStore artifacts)
    {
        if (!Variants.TryGetValue(variant, out var file)) return ApiError.Invalid("'variant' must be video, thumbnail or spritesheet.", "variant", "invalid_value");
        if (snapshot.Status != SessionStatus.Completed) return ApiError.Conflict("The video is not completed.", "video_not_ready");
        // Only opening the file is bounded: the download itself takes as long as the client reads.
        var opening = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
        http.Response.RegisterForDispose(opening);
        opening.CancelAfter(http.RequestServices.GetRequiredService<GatewayOptions>().ReadTimeout);
        Stream? stream;
        try
        {
            stream = await artifacts.OpenReadAsync(file.Name(snapshot.Key), opening.Token);
        }
        catch (Exception e) when (!http.RequestAborted.IsCancellationRequested && (e is OperationCanceledException || BlobArtifactStore.IsOutage(e)))
        {
            return ApiError.Unavailable("The artifact store cannot be reached right now; retry shortly.");
        }
        opening.CancelAfter(Timeout.InfiniteTimeSpan);
        return stream is null ? ApiError.NotFound(snapshot.Key.VideoId) : Results.Stream(stream, file.Type, enableRangeProcessing: stream.CanSeek);
    }

    /// <summary>A short-lived URL of one of the video's files that needs no key (for a video or image element).</summary>
    private static async Task<IResult> ContentUrl(HttpContext http, string id, string? variant, ReelSessions sessions, ContentUrls urls)
    {
        if (await VideoAsync(http, sessions, id) is not { } snapshot) return ApiError.NotFound(id);
        variant ??= "video";
        if (!Variants.ContainsKey(variant)) return ApiError.Invalid("'variant' must be video, thumbnail or spritesheet.", "variant", "invalid_value");
        var (url, expires) = urls.Sign(TenantOf(http).Name, snapshot.Key, variant, DateTimeOffset.UtcNow);
        return Results.Ok(new { url, expires_at = expires.ToUnixTimeSeconds() });
    }

    /// <summary>A signed content URL: no key, 403 once expired or when the signature does not match.</summary>
    private static async Task<IResult> SignedContent(HttpContext http, string token, ReelSessions sessions, IArtifactStore artifacts, ContentUrls urls)
    {
        var (tenant, videoId, variant, refusal) = urls.Verify(token, DateTimeOffset.UtcNow);
        if (refusal is not null)
            return ApiError.Forbidden(refusal == "expired" ? "This content URL has expired: ask for a new one." : "This content URL is not valid.", $"content_url_{refusal}");
        try
        {
            return await sessions.GetAsync(tenant!, videoId!) is { } snapshot ? await StreamAsync(http, snapshot, variant!, artifacts) : ApiError.NotFound(videoId!);
        }
        catch (Exception e) when (ClusterCannotAnswer(e))
        {
            return ClusterUnavailable(http, e);
        }
    }

    private static async Task<IResult> Models(HttpContext http, ReelSessions sessions)
    {
        var served = await sessions.ServedAsync(TenantOf(http).Pool);
        object[] data = served is null ? [] :
            [new { id = ServedRequests.ModelId(served.Name), @object = "model", created = 0, owned_by = "reel", sizes = served.Sizes, seconds = served.Durations, max_seconds = served.MaxSeconds, fps = served.FrameRate }];
        return Results.Ok(new { @object = "list", data });
    }

    /// <summary>
    /// Server-Sent Events: <c>progress</c> events (status, progress, chunk i of N, queue position) whose <c>id</c> is the
    /// session's sequence number, from after <c>Last-Event-ID</c> when the client reconnects, ending with the video object
    /// as a <c>done</c> event once it ends.
    /// </summary>
    private static async Task Events(HttpContext http, string id, ReelSessions sessions)
    {
        if (await VideoAsync(http, sessions, id) is not { } video)
        {
            await ApiError.NotFound(id).ExecuteAsync(http);
            return;
        }
        var key = video.Key;
        var after = long.TryParse(http.Request.Headers["Last-Event-ID"], out var last) ? last : -1;
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        var json = http.RequestServices.GetRequiredService<Microsoft.Extensions.Options.IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions>>().Value.SerializerOptions;
        int? position = null;
        while (!http.RequestAborted.IsCancellationRequested)
        {
            WatchResult? watched;
            try
            {
                watched = await sessions.WatchAsync(key, Math.Max(after, 0), TimeSpan.FromSeconds(15));
            }
            catch (Exception e) when (ClusterCannotAnswer(e))
            {
                // The stream has begun, so no status can say it: it ends, and the client reconnects with Last-Event-ID.
                break;
            }
            if (watched is null) break;
            var snapshot = watched.Snapshot;
            var events = watched.Events.Where(e => e.Seq > after).ToList();
            // A queued session has no events of its own yet: its place in the queue is the news.
            if (events.Count == 0 && snapshot.Status == SessionStatus.Queued && snapshot.QueuePosition != position)
                events = [new ProgressEvent(snapshot.Seq, snapshot.Status, 0, 0, 0, "queued", DateTimeOffset.UtcNow)];
            foreach (var e in events)
            {
                var data = new
                {
                    status = VideoObject.StatusOf(e.Status), progress = (int)Math.Round(e.Progress * 100), chunk = e.Chunk + (e.Chunks > 0 ? 1 : 0),
                    chunks = e.Chunks, queue_position = snapshot.Status == SessionStatus.Queued ? snapshot.QueuePosition : null, message = e.Message,
                };
                await http.Response.WriteAsync($"id: {e.Seq}\nevent: progress\ndata: {JsonSerializer.Serialize(data, json)}\n\n", http.RequestAborted);
                after = Math.Max(after, e.Seq);
            }
            position = snapshot.QueuePosition;
            if (snapshot.IsFinished)
            {
                await http.Response.WriteAsync($"id: {snapshot.Seq}\nevent: done\ndata: {JsonSerializer.Serialize(VideoObject.From(snapshot), json)}\n\n", http.RequestAborted);
                break;
            }
            await http.Response.Body.FlushAsync(http.RequestAborted);
            if (snapshot.Status == SessionStatus.Queued) await Task.Delay(TimeSpan.FromMilliseconds(500), http.RequestAborted);
        }
    }

    private static async Task<IResult> Usage(HttpContext http, ReelSessions sessions, string? days)
    {
        if (!QueryNumber(days, 7, 1, 366, out var count)) return ApiError.Invalid($"'days' must be a whole number from 1 to 366, got '{days}'.", "days", "invalid_value");
        var usage = await sessions.UsageAsync(TenantOf(http).Name, count);
        return Results.Ok(new
        {
            @object = "list",
            data = usage.Select(u => new { date = u.Day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), videos = u.Videos, seconds = u.Seconds, model_seconds = u.ModelSeconds, requested_seconds = u.RequestedSeconds }),
        });
    }

    private static async Task<IResult> Cancel(HttpContext http, string id, ReelSessions sessions, IArtifactStore artifacts)
    {
        if (await VideoAsync(http, sessions, id) is not { } video || await sessions.CancelAsync(video.Key) is not { } snapshot) return ApiError.NotFound(id);
        // A session cancelled while queued never reaches a model silo, which would delete its uploads when it ends.
        if (snapshot.Status == SessionStatus.Cancelled)
            foreach (var input in snapshot.Request.Inputs)
                if (input.Upload is { } upload) await artifacts.DeleteAsync(ArtifactName.Parse(upload));
        return Results.Ok(VideoObject.From(snapshot));
    }
}
