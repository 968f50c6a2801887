using System.Text;
using System.Text.Json;

namespace Ingest.Bench;

/// <summary>
/// Writes RAWG-like API pages (<c>{"count":…,"results":[…]}</c>) with deterministic content, so a
/// demo, a test or a benchmark can be reproduced exactly. Game ids run 1..files×perFile.
/// </summary>
public static class RawgSample
{
    private static readonly string[] Ratings = ["Everyone", "Everyone 10+", "Teen", "Mature", "Adults Only"];
    private static readonly string[] Genres = ["Action", "Indie", "Adventure", "RPG", "Strategy", "Shooter", "Casual", "Puzzle"];

    /// <summary>The spec that loads what <see cref="Write"/> produces.</summary>
    /// <param name="keyed">Upsert on <c>id</c>; false: plain insert.</param>
    public static string Spec(string name, string folder, string table, int parallelism = 4, bool keyed = true) => $$"""
        {
          "name": "{{name}}",
          "source": { "kind": "files", "path": {{JsonSerializer.Serialize(folder)}}, "pattern": "*.json", "records": "results" },
          "target": {
            "table": "{{table}}", "schema": "public", {{(keyed ? "\"key\": [\"id\"], " : "")}}"create": true,
            "columns": {
              "id":       { "path": "id",               "type": "bigint" },
              "name":     { "path": "name",             "type": "text" },
              "released": { "path": "released",         "type": "date" },
              "rating":   { "path": "rating",           "type": "double" },
              "esrb":     { "path": "esrb_rating.name", "type": "text" },
              "raw":      { "path": "$",                "type": "jsonb" }
            }
          },
          "parallelism": {{parallelism}},
          "retry": { "attempts": 3, "backoffSeconds": 1 }
        }
        """;

    /// <summary>Writes <paramref name="files"/> pages of <paramref name="perFile"/> games into <paramref name="folder"/>.</summary>
    public static void Write(string folder, int files, int perFile)
    {
        Directory.CreateDirectory(folder);
        for (var f = 0; f < files; f++)
        {
            using var stream = File.Create(Path.Combine(folder, $"page-{f + 1:D5}.json"));
            using var w = new Utf8JsonWriter(stream);
            w.WriteStartObject();
            w.WriteNumber("count", (long)files * perFile);
            w.WriteString("next", f + 1 < files ? $"https://api.example/games?page={f + 2}" : null);
            w.WriteStartArray("results");
            for (var i = 0; i < perFile; i++) WriteGame(w, (long)f * perFile + i + 1);
            w.WriteEndArray();
            w.WriteEndObject();
        }
    }

    /// <summary>One game, a pure function of its id.</summary>
    public static void WriteGame(Utf8JsonWriter w, long id)
    {
        var r = new Random((int)(id * 7919 % int.MaxValue));
        w.WriteStartObject();
        w.WriteNumber("id", id);
        w.WriteString("slug", $"game-{id}");
        w.WriteString("name", $"Game {id} {Genres[r.Next(Genres.Length)]}");
        w.WriteString("released", new DateOnly(1990, 1, 1).AddDays(r.Next(12000)).ToString("yyyy-MM-dd"));
        w.WriteNumber("rating", Math.Round(r.NextDouble() * 5, 2));
        w.WriteNumber("ratings_count", r.Next(10000));
        w.WriteNumber("metacritic", r.Next(40, 100));
        w.WriteNumber("playtime", r.Next(100));
        if (r.Next(5) == 0) w.WriteNull("esrb_rating");
        else
        {
            w.WriteStartObject("esrb_rating");
            var e = r.Next(Ratings.Length);
            w.WriteNumber("id", e + 1);
            w.WriteString("name", Ratings[e]);
            w.WriteEndObject();
        }
        w.WriteStartArray("genres");
        for (var g = 0; g < 1 + r.Next(3); g++)
        {
            w.WriteStartObject();
            w.WriteString("name", Genres[r.Next(Genres.Length)]);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteString("background_image", $"https://media.example/games/{id}.jpg");
        w.WriteEndObject();
    }
}
