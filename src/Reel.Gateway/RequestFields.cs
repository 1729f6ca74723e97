using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Reel.Gateway;

/// <summary>
/// A request body, JSON or a form, as the flat field names the SDK's multipart encoding sends: a JSON object becomes
/// bracketed fields (<c>input_reference[image_url]</c>, <c>video[id]</c>) and an array repeated values.
/// </summary>
public sealed class RequestFields
{
    private readonly Dictionary<string, List<string>> _values = new(StringComparer.Ordinal);
    private readonly Dictionary<string, IFormFile> _files = new(StringComparer.Ordinal);

    public string? this[string name] => _values.TryGetValue(name, out var values) ? values[0] : null;

    /// <summary>Every value of a repeated field, sent as <c>name</c> or <c>name[]</c>.</summary>
    public IReadOnlyList<string> Values(string name) =>
        [.. _values.GetValueOrDefault(name) ?? [], .. _values.GetValueOrDefault(name + "[]") ?? []];

    public IFormFile? File(string name) => _files.GetValueOrDefault(name);

    public bool Has(string name) => _values.ContainsKey(name) || _files.ContainsKey(name);

    /// <summary>The body's fields; a body that is neither JSON nor a form is a 415, an unreadable one a 400.</summary>
    public static async Task<RequestFields> ReadAsync(HttpRequest request)
    {
        if (request.ContentLength > GatewayEndpoints.MaxBodyBytes)
            throw new ApiException(ApiError.TooLarge($"The request body is larger than {GatewayEndpoints.MaxBodyBytes / (1024 * 1024)} MB."));
        // A body without a length (chunked) is cut off by the server as it grows past the limit.
        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            limit.MaxRequestBodySize = GatewayEndpoints.MaxBodyBytes;
        var fields = new RequestFields();
        if (request.HasFormContentType)
        {
            IFormCollection form;
            try
            {
                form = await request.ReadFormAsync(request.HttpContext.RequestAborted);
            }
            catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
            {
                throw new ApiException(ApiError.TooLarge($"The request body is larger than {GatewayEndpoints.MaxBodyBytes / (1024 * 1024)} MB."));
            }
            catch (Exception e) when (e is InvalidDataException or IOException or BadHttpRequestException)
            {
                throw new ApiException(ApiError.Invalid($"The form cannot be read: {e.Message}"));
            }
            foreach (var (key, values) in form) fields._values[key] = [.. values.OfType<string>()];
            foreach (var file in form.Files) fields._files[file.Name] = file;
            return fields;
        }
        var type = request.ContentType;
        if (type is not null && !type.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
            throw new ApiException(ApiError.UnsupportedMediaType($"Content type '{type}' is not accepted: send application/json or multipart/form-data."));
        try
        {
            using var body = await JsonDocument.ParseAsync(request.Body, cancellationToken: request.HttpContext.RequestAborted);
            if (body.RootElement.ValueKind != JsonValueKind.Object) throw new ApiException(ApiError.Invalid("The body must be a JSON object or a form."));
            foreach (var property in body.RootElement.EnumerateObject()) fields.Add(property.Name, property.Value);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or DecoderFallbackException)
        {
            // InvalidOperationException: a string with invalid UTF-8, found when it is read.
            throw new ApiException(ApiError.Invalid("The body is not valid JSON in UTF-8."));
        }
        return fields;
    }

    /// <summary>
    /// What identifies the request for its <c>Idempotency-Key</c>: the route, the parsed fields sorted by name (a
    /// repeated field in its order) and each uploaded file's SHA-256, so JSON and multipart spellings of one request,
    /// or another boundary, are the same request.
    /// </summary>
    public async Task<string> FingerprintAsync(string route, CancellationToken cancel)
    {
        var text = new StringBuilder(route).Append('\n');
        foreach (var (name, values) in _values.OrderBy(f => f.Key, StringComparer.Ordinal))
            text.Append(name).Append('=').Append(JsonSerializer.Serialize(values)).Append('\n');
        foreach (var (name, file) in _files.OrderBy(f => f.Key, StringComparer.Ordinal))
        {
            await using var content = file.OpenReadStream();
            text.Append(name).Append("=@").Append(Convert.ToHexStringLower(await SHA256.HashDataAsync(content, cancel))).Append('\n');
        }
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    private void Add(string name, JsonElement value)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Null:
                break;
            case JsonValueKind.Object:
                foreach (var inner in value.EnumerateObject()) Add($"{name}[{inner.Name}]", inner.Value);
                break;
            case JsonValueKind.Array:
                foreach (var item in value.EnumerateArray()) Add(name, item);
                break;
            default:
                if (!_values.TryGetValue(name, out var values)) _values[name] = values = [];
                values.Add(value.ValueKind == JsonValueKind.String ? value.GetString()! : value.GetRawText());
                break;
        }
    }
}

/// <summary>A request a client can fix: answered with its error envelope instead of running on.</summary>
public sealed class ApiException(IResult result) : Exception("The request is refused.")
{
    public IResult Result { get; } = result;
}
