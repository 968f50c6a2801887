using Ingest.GrainInterfaces;

namespace Ingest.Engine.Sources.Http;

/// <summary>
/// The values of the variables an HTTP source references, as this node resolves them, so that they
/// can be taken out of anything that leaves the request: masked (<c>***</c>) in URLs, errors,
/// events and spans, or put back as their <c>${VAR}</c> in a next-page URL a checkpoint stores.
/// A value is also found URL-encoded. Values shorter than four characters are not masked: they
/// would mask ordinary text, and are no secret.
/// </summary>
public sealed class SecretMask
{
    private const string Masked = "***";
    private readonly (string Value, string Name)[] _values;

    private SecretMask((string Value, string Name)[] values) => _values = values;

    /// <summary>The mask of every variable that <paramref name="http"/> references (a missing one fails here, naming it).</summary>
    public static SecretMask For(HttpSpec http)
    {
        var texts = new List<string> { http.Url };
        texts.AddRange(http.Query?.Values ?? []);
        texts.AddRange(http.Headers?.Values ?? []);
        if (http.Body is not null) texts.Add(http.Body);
        if (http.Auth is { } auth) texts.AddRange([auth.TokenUrl, auth.ClientId, auth.ClientSecret, auth.Scope ?? ""]);
        var values = new List<(string, string)>();
        foreach (var name in texts.SelectMany(EnvironmentReference.Names).Distinct(StringComparer.Ordinal))
        {
            var value = EnvironmentReference.Value(name);
            if (value.Length < 4) continue;
            values.Add((value, name));
            var escaped = Uri.EscapeDataString(value);
            if (escaped != value) values.Add((escaped, name));
        }
        // Longest first, so that a value inside another is not masked half.
        return new SecretMask([.. values.OrderByDescending(v => v.Item1.Length)]);
    }

    /// <summary><paramref name="text"/> with every secret value replaced by <c>***</c>.</summary>
    public string Mask(string text)
    {
        foreach (var (value, _) in _values) text = text.Replace(value, Masked, StringComparison.Ordinal);
        return text;
    }

    /// <summary><paramref name="text"/> with every secret value replaced by its <c>${VAR}</c>, to be resolved again when used.</summary>
    public string Placeholders(string text)
    {
        foreach (var (value, name) in _values) text = text.Replace(value, "${" + name + "}", StringComparison.Ordinal);
        return text;
    }
}
