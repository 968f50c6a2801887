using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Ingest.GrainInterfaces;

/// <summary>
/// Where each loaded file's raw bytes are copied to (<c>archive</c>, beside source and target): an S3
/// bucket, and a key template with <c>{file}</c>, <c>{name}</c>, <c>{import}</c>, <c>{tenant}</c>, the
/// load date in UTC (<c>{yyyy}</c>, <c>{MM}</c>, <c>{dd}</c>) and <c>{record:PATH}</c>, a value of the
/// file's first record.
/// </summary>
/// <param name="Bucket">The bucket, on the S3 endpoint the silos' S3 sources use (their AWS environment).</param>
/// <param name="Key">The key template.</param>
/// <param name="Tenant">What <c>{tenant}</c> stands for.</param>
public sealed partial record ArchiveSpec(string Bucket, string Key, string? Tenant = null)
{
    /// <summary>The longest S3 key, in UTF-8 bytes.</summary>
    public const int MaxKeyBytes = 1024;

    private const string Record = "record:";
    private static readonly string[] Names = ["file", "name", "import", "tenant", "yyyy", "MM", "dd"];

    [GeneratedRegex(@"\{([^{}]*)\}")]
    private static partial Regex Placeholder();

    // S3's rules for a bucket name (virtual-host style too): 3-63 lowercase letters, digits, dots and
    // hyphens, starting and ending with a letter or digit.
    [GeneratedRegex(@"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
    private static partial Regex BucketName();

    /// <summary>The paths the template reads from a file's first record (<c>{record:PATH}</c>), each once.</summary>
    public IReadOnlyList<string> RecordPaths =>
        Placeholder().Matches(Key).Select(m => m.Groups[1].Value).Where(n => n.StartsWith(Record, StringComparison.Ordinal))
            .Select(n => n[Record.Length..]).Distinct(StringComparer.Ordinal).ToList();

    /// <summary>What is wrong with an archive: its bucket's name, its template's placeholders, <c>{tenant}</c> without a tenant.</summary>
    public static IEnumerable<string> Problems(string? bucket, string? template, string? tenant)
    {
        if (bucket is not null && (!BucketName().IsMatch(bucket) || bucket.Contains("..", StringComparison.Ordinal)))
            yield return $"archive.bucket: '{bucket}' is not an S3 bucket name (3 to 63 lowercase letters, digits, '.' and '-', starting and ending with a letter or digit)";
        if (tenant is not null && (tenant.Length == 0 || !IsSegment(tenant)))
            yield return "archive.tenant: must not be empty, nor hold '/', '\\' or control characters (it is one segment of the key)";
        if (template is null) yield break;
        foreach (Match m in Placeholder().Matches(template))
        {
            var name = m.Groups[1].Value;
            if (name.StartsWith(Record, StringComparison.Ordinal))
            {
                if (name.Length == Record.Length) yield return "archive.key: {record:} needs a path into the record, e.g. {record:id}";
            }
            else if (!Names.Contains(name, StringComparer.Ordinal))
                yield return $"archive.key: unknown placeholder {{{name}}} (expected {string.Join(", ", Names.Select(n => $"{{{n}}}"))} or {{record:PATH}})";
            else if (name == "tenant" && tenant is null) yield return "archive.key: {tenant} needs archive.tenant";
        }
        if (Placeholder().Replace(template, "").IndexOfAny(['{', '}']) >= 0) yield return "archive.key: a '{' or '}' that opens or closes no placeholder";
        if (template.StartsWith('/')) yield return "archive.key: must not start with '/'";
        if (!template.Contains("{file}", StringComparison.Ordinal) && !template.Contains("{" + Record, StringComparison.Ordinal))
            yield return "archive.key: must hold {file} or a {record:PATH}, or every file would go to one key";
        if (Encoding.UTF8.GetByteCount(template) > MaxKeyBytes) yield return $"archive.key: longer than an S3 key may be ({MaxKeyBytes} bytes)";
    }

    /// <summary>
    /// The key of one file: the template with its placeholders filled. Every value is one segment of
    /// the key: a <c>/</c>, <c>\</c> or control character in it becomes <c>_</c>.
    /// </summary>
    /// <param name="file">The file's name or object key (its last segment is <c>{file}</c>).</param>
    /// <param name="importName">The import's name, <c>{name}</c>.</param>
    /// <param name="importId">The import's id, <c>{import}</c>.</param>
    /// <param name="loadedAt">When the file's load committed: its UTC date is <c>{yyyy}</c>, <c>{MM}</c>, <c>{dd}</c>.</param>
    /// <param name="record">The values of the first record at <see cref="RecordPaths"/>.</param>
    public string KeyOf(string file, string importName, long importId, DateTimeOffset loadedAt, IReadOnlyDictionary<string, string?> record)
    {
        var day = loadedAt.UtcDateTime;
        return Placeholder().Replace(Key, m => Segment(m.Groups[1].Value switch
        {
            "file" => file[(file.LastIndexOfAny(['/', '\\']) + 1)..],
            "name" => importName,
            "import" => importId.ToString(CultureInfo.InvariantCulture),
            "tenant" => Tenant ?? "",
            "yyyy" => day.ToString("yyyy", CultureInfo.InvariantCulture),
            "MM" => day.ToString("MM", CultureInfo.InvariantCulture),
            "dd" => day.ToString("dd", CultureInfo.InvariantCulture),
            var name => record.GetValueOrDefault(name[Record.Length..]) ?? "",
        }));
    }

    private static bool IsSegment(string value) => value.All(c => c is not ('/' or '\\') && !char.IsControl(c));

    private static string Segment(string value) =>
        IsSegment(value) ? value : string.Concat(value.Select(c => c is '/' or '\\' || char.IsControl(c) ? '_' : c));
}
