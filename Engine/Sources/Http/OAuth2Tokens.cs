using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Sources.Http;

/// <summary>
/// Bearer tokens of OAuth2 client credentials (<c>source.auth</c>), fetched once per client and
/// shared by its requests until a minute before they expire, or until the API refuses one.
/// </summary>
public sealed class OAuth2Tokens(HttpClient client)
{
    private sealed record Token(string Value, DateTimeOffset Expires);

    private readonly ConcurrentDictionary<string, Task<Token>> _tokens = new(StringComparer.Ordinal);

    /// <summary>A valid token; <paramref name="refused"/>: the API refused this one, fetch another.</summary>
    /// <exception cref="HttpFetchException">The token endpoint refused the credentials (fatal) or could not be reached.</exception>
    public async Task<string> GetAsync(OAuth2Spec auth, SecretMask mask, string? refused, CancellationToken cancellationToken = default)
    {
        var (url, id, secret) = (EnvironmentReference.Resolve(auth.TokenUrl), EnvironmentReference.Resolve(auth.ClientId), EnvironmentReference.Resolve(auth.ClientSecret));
        // Keyed by a hash: the secret itself is kept nowhere but in the environment.
        var key = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes($"{url}\n{id}\n{secret}")));
        while (true)
        {
            var pending = _tokens.GetOrAdd(key, _ => FetchAsync(url, id, secret, auth.Scope is null ? null : EnvironmentReference.Resolve(auth.Scope), mask));
            Token token;
            try { token = await pending.WaitAsync(cancellationToken); }
            catch
            {
                _tokens.TryRemove(KeyValuePair.Create(key, pending));
                throw;
            }
            if (token.Value != refused && token.Expires > DateTimeOffset.UtcNow.AddMinutes(1)) return token.Value;
            _tokens.TryRemove(KeyValuePair.Create(key, pending));
            refused = null;
        }
    }

    private async Task<Token> FetchAsync(string url, string id, string secret, string? scope, SecretMask mask)
    {
        var form = new List<KeyValuePair<string, string>> { new("grant_type", "client_credentials"), new("client_id", id), new("client_secret", secret) };
        if (scope is not null) form.Add(new("scope", scope));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        HttpResponseMessage response;
        try
        {
            response = await client.PostAsync(url, new FormUrlEncodedContent(form), timeout.Token);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or OperationCanceledException)
        {
            throw new HttpFetchException($"POST {mask.Mask(url)} (OAuth2 token): {mask.Mask(e.Message)}", ErrorKind.Attempt, e);
        }
        using (response)
        {
            var body = await response.Content.ReadAsStringAsync(timeout.Token);
            if (response.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
                throw new HttpFetchException(
                    $"POST {mask.Mask(url)} (OAuth2 token): HTTP {(int)response.StatusCode}: the token endpoint refused the client credentials " +
                    $"(check source.auth and the variables it references on the silos): {PageFetcher.Excerpt(body, mask)}", ErrorKind.Fatal);
            if (!response.IsSuccessStatusCode)
                throw new HttpFetchException($"POST {mask.Mask(url)} (OAuth2 token): HTTP {(int)response.StatusCode}: {PageFetcher.Excerpt(body, mask)}", ErrorKind.Attempt);
            try
            {
                using var json = JsonDocument.Parse(body);
                var value = json.RootElement.GetProperty("access_token").GetString()!;
                var seconds = json.RootElement.TryGetProperty("expires_in", out var e) && e.TryGetInt64(out var s) ? s : 3600;
                return new Token(value, DateTimeOffset.UtcNow.AddSeconds(seconds));
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                throw new HttpFetchException($"POST {mask.Mask(url)} (OAuth2 token): the response has no access_token", ErrorKind.Fatal, e);
            }
        }
    }
}
