using Microsoft.AspNetCore.Http;

namespace Reel.Gateway;

/// <summary>The OpenAI error envelope: <c>{"error": {"message", "type", "param", "code"}}</c> with the fitting status.</summary>
public static class ApiError
{
    public static IResult Invalid(string message, string? param = null, string code = "invalid_request") =>
        Envelope(StatusCodes.Status400BadRequest, message, "invalid_request_error", param, code, retry: false);

    public static IResult NotFound(string id, string param = "id") =>
        Envelope(StatusCodes.Status404NotFound, $"No video found with id '{id}'.", "invalid_request_error", param, "not_found", retry: false);

    public static IResult Forbidden(string message, string code) =>
        Envelope(StatusCodes.Status403Forbidden, message, "invalid_request_error", null, code, retry: false);

    public static IResult Conflict(string message, string code) =>
        Envelope(StatusCodes.Status409Conflict, message, "invalid_request_error", null, code, retry: false);

    public static IResult TooLarge(string message) =>
        Envelope(StatusCodes.Status413PayloadTooLarge, message, "invalid_request_error", null, "request_too_large", retry: false);

    public static IResult UnsupportedMediaType(string message) =>
        Envelope(StatusCodes.Status415UnsupportedMediaType, message, "invalid_request_error", null, "unsupported_media_type", retry: false);

    /// <summary>A limit is reached: 429 with <c>Retry-After</c> (whole seconds), which the SDK honours when it retries.</summary>
    public static IResult LimitReached(string message, string code, TimeSpan retryAfter) =>
        new RetryAfterResult(Envelope(StatusCodes.Status429TooManyRequests, message, "rate_limit_error", null, code, retry: null),
            (long)Math.Ceiling(Math.Max(1, retryAfter.TotalSeconds)));

    public static IResult Unauthorized() =>
        Envelope(StatusCodes.Status401Unauthorized, "Incorrect or missing API key. Pass 'Authorization: Bearer <key>'.", "invalid_request_error", null, "invalid_api_key", retry: false);

    public static IResult Unavailable(string message) =>
        Envelope(StatusCodes.Status503ServiceUnavailable, message, "server_error", null, "unavailable", retry: null);

    /// <summary>What the framework answered without a body (no such route, a method the route does not take, a malformed request).</summary>
    public static IResult Framework(int status) => status switch
    {
        StatusCodes.Status404NotFound => Envelope(status, "No such endpoint.", "invalid_request_error", null, "unknown_url", retry: false),
        StatusCodes.Status405MethodNotAllowed => Envelope(status, "This endpoint does not take this method.", "invalid_request_error", null, "method_not_allowed", retry: false),
        < 500 => Envelope(status, "The request is malformed.", "invalid_request_error", null, "invalid_request", retry: false),
        _ => Envelope(status, "The server failed to answer this request.", "server_error", null, "server_error", retry: null),
    };

    /// <summary><c>x-should-retry: false</c> where a retry cannot succeed: the SDK otherwise retries 409, 429 and 5xx.</summary>
    private static IResult Envelope(int status, string message, string type, string? param, string code, bool? retry) =>
        new EnvelopeResult(status, new { error = new { message, type, param, code } }, retry);

    private sealed class RetryAfterResult(IResult inner, long seconds) : IResult
    {
        public Task ExecuteAsync(HttpContext context)
        {
            context.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return inner.ExecuteAsync(context);
        }
    }

    private sealed class EnvelopeResult(int status, object body, bool? retry) : IResult
    {
        public Task ExecuteAsync(HttpContext context)
        {
            if (retry is { } value) context.Response.Headers["x-should-retry"] = value ? "true" : "false";
            return Results.Json(body, statusCode: status).ExecuteAsync(context);
        }
    }
}
