using System.Net;
using System.Net.Sockets;
using Azure;
using Reel.Storage;
using StackExchange.Redis;

namespace Reel.Hosting;

/// <summary>
/// The stores a process is configured with, checked once before its silo or client starts: a Redis that does not
/// answer or a blob store that refuses the credentials is a <see cref="ReelConfigurationException"/> (one line, exit 1),
/// not a process that looks healthy and fails its first video.
/// </summary>
public static class StoreChecks
{
    /// <summary>How long each store has to answer: one across a network does so well within it.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    /// <summary>Throws a <see cref="ReelConfigurationException"/> naming the first store (Redis, then blobs) that cannot work.</summary>
    public static async Task RequireAsync(ReelSiloOptions options, CancellationToken cancel)
    {
        var redis = options.Redis is { } redisConnection ? RedisAsync(redisConnection, cancel) : Task.CompletedTask;
        var blob = options.Blob is { } blobConnection ? BlobAsync(blobConnection, options.BlobContainer, cancel) : Task.CompletedTask;
        await Task.WhenAll(redis, blob);
    }

    private static async Task RedisAsync(string connection, CancellationToken cancel)
    {
        ConfigurationOptions configuration;
        try
        {
            configuration = ConfigurationOptions.Parse(connection);
        }
        catch (ArgumentException e)
        {
            throw new ReelConfigurationException($"The Redis connection string is not valid: {OneLine(e)}");
        }
        configuration.SetDefaultPorts();
        // The connection string may hold a password: only the servers are named.
        var where = string.Join(", ", configuration.EndPoints.Select(Describe));
        if (where.Length == 0) throw new ReelConfigurationException("The Redis connection string names no server.");
        configuration.AbortOnConnectFail = true;
        configuration.ConnectRetry = 1;
        configuration.ConnectTimeout = (int)Timeout.TotalMilliseconds;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        timeout.CancelAfter(Timeout);
        try
        {
            // A plain connection first says at once why nothing answers (refused, no such host); the Redis client only
            // says that it could not connect, once its whole timeout has passed.
            await ReachAnyAsync(configuration.EndPoints, timeout.Token);
            await using var redis = await ConnectionMultiplexer.ConnectAsync(configuration).WaitAsync(timeout.Token);
            await redis.GetDatabase().PingAsync().WaitAsync(timeout.Token);
        }
        catch (RedisConnectionException e) when (e.FailureType == ConnectionFailureType.AuthenticationFailure)
        {
            throw new ReelConfigurationException($"Redis at {where} refused the credentials: {OneLine(e.InnerException ?? e)}");
        }
        catch (Exception e) when (e is RedisException or SocketException or TimeoutException)
        {
            throw new ReelConfigurationException($"Redis at {where} is unreachable: {OneLine(e)}");
        }
        catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
        {
            throw new ReelConfigurationException($"Redis at {where} is unreachable: no answer within {Timeout.TotalSeconds:0} s.");
        }
    }

    private static async Task ReachAnyAsync(EndPointCollection endpoints, CancellationToken cancel)
    {
        SocketException? refused = null;
        foreach (var endpoint in endpoints.Where(e => e is IPEndPoint or DnsEndPoint))
        {
            using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await socket.ConnectAsync(endpoint, cancel);
                return;
            }
            catch (SocketException e)
            {
                refused = e;
            }
        }
        if (refused is not null) throw refused;
    }

    private static string Describe(EndPoint endpoint) => endpoint is DnsEndPoint name ? $"{name.Host}:{name.Port}" : endpoint.ToString() ?? "";

    private static async Task BlobAsync(string connection, string container, CancellationToken cancel)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        timeout.CancelAfter(Timeout);
        try
        {
            await BlobArtifactStore.CreateContainerOnceAsync(connection, container, timeout.Token);
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            throw new ReelConfigurationException($"The blob connection string is not valid: {OneLine(e)}");
        }
        catch (RequestFailedException e) when (e.Status is 401 or 403)
        {
            throw new ReelConfigurationException($"The blob store refused the credentials: {OneLine(e)} ({e.ErrorCode})");
        }
        catch (RequestFailedException e) when (e.Status == 0)
        {
            throw new ReelConfigurationException($"The blob store is unreachable: {OneLine(e)}");
        }
        catch (RequestFailedException e)
        {
            throw new ReelConfigurationException($"The blob store refused container '{container}' ({e.Status} {e.ErrorCode}): {OneLine(e)}");
        }
        catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
        {
            throw new ReelConfigurationException($"The blob store is unreachable: no answer within {Timeout.TotalSeconds:0} s.");
        }
    }

    /// <summary>A message's first line: the stores' messages go on with request ids, headers and bodies.</summary>
    private static string OneLine(Exception e) => e.Message.Split('\n', 2)[0].Trim();
}
