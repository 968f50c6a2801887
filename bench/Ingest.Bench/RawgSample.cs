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

    /// <summary>
    /// Writes <paramref name="files"/> pages of <paramref name="perFile"/> games into <paramref name="folder"/>.
    /// With <paramref name="repeatEvery"/> N, every Nth game appears again at the end of its page,
    /// renamed (a dump that repeats a record with a change: the last one wins).
    /// </summary>
    public static void Write(string folder, int files, int perFile, int repeatEvery = 0) =>
        WritePages(folder, files, perFile, repeatEvery, (w, id, revised) => WriteGame(w, id, revised));

    /// <summary>Writes <paramref name="files"/> pages of <paramref name="perFile"/> nested games (see <see cref="WriteNestedGame"/>), with repeats as <see cref="Write"/>.</summary>
    public static void WriteNested(string folder, int files, int perFile, int repeatEvery = 0) =>
        WritePages(folder, files, perFile, repeatEvery, (w, id, revised) => WriteNestedGame(w, id, revised));

    private static void WritePages(string folder, int files, int perFile, int repeatEvery, Action<Utf8JsonWriter, long, bool> writeGame)
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
            for (var i = 0; i < perFile; i++) writeGame(w, (long)f * perFile + i + 1, false);
            for (var i = 0; repeatEvery > 0 && i < perFile; i++)
                if (((long)f * perFile + i + 1) % repeatEvery == 0) writeGame(w, (long)f * perFile + i + 1, true);
            w.WriteEndArray();
            w.WriteEndObject();
        }
    }

    /// <summary>One game, a pure function of its id (renamed when <paramref name="revised"/>).</summary>
    public static void WriteGame(Utf8JsonWriter w, long id, bool revised = false)
    {
        var r = new Random((int)(id * 7919 % int.MaxValue));
        w.WriteStartObject();
        w.WriteNumber("id", id);
        w.WriteString("slug", $"game-{id}");
        w.WriteString("name", $"Game {id} {Genres[r.Next(Genres.Length)]}{(revised ? " (revised)" : "")}");
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

    private static readonly string[] Platforms = ["PC", "PlayStation 5", "Xbox Series S/X", "Nintendo Switch", "macOS", "Linux", "iOS", "Android"];
    private static readonly string[] Tags = ["Singleplayer", "Multiplayer", "Atmospheric", "Great Soundtrack", "Open World", "Co-op", "Story Rich", "Pixel Graphics", "Sci-fi", "Horror", "Sandbox", "Survival"];
    private static readonly string[] Stores = ["steam", "gog", "epic-games", "playstation-store", "xbox-store", "nintendo"];

    /// <summary>
    /// The spec that loads what <see cref="WriteNested"/> produces into eleven related tables: games,
    /// its ESRB dimension, platforms, genres (surrogate keys), tags and stores with their dimensions,
    /// screenshots, alternative names (an array of strings) and per-store scores (a map).
    /// </summary>
    public static string NestedSpec(string name, string folder, string prefix = "", bool foreignKeys = true, int parallelism = 4) => $$"""
        {
          "name": "{{name}}",
          "source": { "kind": "files", "path": {{JsonSerializer.Serialize(folder)}}, "records": "results" },
          "target": {
            "table": "{{prefix}}games", "key": ["id"], "create": true, "foreignKeys": {{(foreignKeys ? "true" : "false")}},
            "columns": {
              "id":          { "path": "id",             "type": "bigint" },
              "name":        { "path": "name",           "type": "text" },
              "released":    { "path": "released",       "type": "date" },
              "esrb_id":     { "path": "esrb_rating.id", "type": "int" },
              "tenant":      { "value": "rawg" },
              "source_file": { "meta": "file" }
            },
            "references": [
              { "columns": ["esrb_id"],
                "dimension": { "table": "{{prefix}}esrb_ratings", "path": "esrb_rating", "key": ["id"],
                               "columns": { "id": { "path": "id", "type": "int" }, "name": { "path": "name", "type": "text" } } } }
            ],
            "children": [
              { "table": "{{prefix}}game_platforms", "path": "platforms", "parentKey": ["game_id"], "key": ["platform_id"],
                "columns": { "platform_id": { "path": "platform.id", "type": "int" },
                             "released_at": { "path": "released_at", "type": "date" } },
                "references": [
                  { "columns": ["platform_id"],
                    "dimension": { "table": "{{prefix}}platforms", "path": "platform", "key": ["id"],
                                   "columns": { "id":   { "path": "id",   "type": "int" },
                                                "name": { "path": "name", "type": "text" },
                                                "slug": { "path": "slug", "type": "text" } } } } ] },
              { "table": "{{prefix}}game_genres", "path": "genres", "parentKey": ["game_id"], "key": ["genre_sk"],
                "references": [
                  { "column": "genre_sk",
                    "dimension": { "table": "{{prefix}}genres", "key": ["slug"], "surrogate": "genre_sk",
                                   "columns": { "slug": { "path": "slug", "type": "text" }, "name": { "path": "name", "type": "text" } } } } ] },
              { "table": "{{prefix}}game_tags", "path": "tags", "parentKey": ["game_id"], "key": ["tag_id"],
                "columns": { "tag_id": { "path": "id", "type": "int" } },
                "references": [
                  { "columns": ["tag_id"],
                    "dimension": { "table": "{{prefix}}tags", "key": ["id"],
                                   "columns": { "id": { "path": "id", "type": "int" }, "name": { "path": "name", "type": "text" },
                                                "language": { "path": "language", "type": "text" } } } } ] },
              { "table": "{{prefix}}game_stores", "path": "stores", "parentKey": ["game_id"], "key": ["store_id"],
                "columns": { "store_id": { "path": "store.id", "type": "int" }, "listing_id": { "path": "id", "type": "bigint" } },
                "references": [
                  { "columns": ["store_id"],
                    "dimension": { "table": "{{prefix}}stores", "path": "store", "key": ["id"],
                                   "columns": { "id": { "path": "id", "type": "int" }, "name": { "path": "name", "type": "text" },
                                                "slug": { "path": "slug", "type": "text" } } } } ] },
              { "table": "{{prefix}}game_screenshots", "path": "short_screenshots", "parentKey": ["game_id"], "key": ["id"],
                "columns": { "id": { "path": "id", "type": "bigint" }, "image": { "path": "image", "type": "text" } } },
              { "table": "{{prefix}}game_aliases", "path": "alternative_names", "parentKey": ["game_id"],
                "columns": { "alias": { "path": "$", "type": "text" } } },
              { "table": "{{prefix}}game_store_scores", "path": "score_by_store", "parentKey": ["game_id"], "key": ["store"],
                "columns": { "store": { "path": "$key", "type": "text" }, "score": { "path": "$value", "type": "double" } } }
            ]
          },
          "parallelism": {{parallelism}}
        }
        """;

    /// <summary>
    /// One game with nested relations, as RAWG's API returns them, a pure function of its id:
    /// platforms, genres, tags, stores (each with its own object), screenshots, alternative names
    /// (strings), an ESRB rating (null for a fifth of the games) and a score per store (a map).
    /// </summary>
    public static void WriteNestedGame(Utf8JsonWriter w, long id, bool revised = false)
    {
        var r = new Random((int)(id * 7919 % int.MaxValue));
        w.WriteStartObject();
        w.WriteNumber("id", id);
        w.WriteString("slug", $"game-{id}");
        w.WriteString("name", revised ? $"Game {id} (revised)" : $"Game {id}");
        w.WriteString("released", new DateOnly(1990, 1, 1).AddDays(r.Next(12000)).ToString("yyyy-MM-dd"));
        w.WriteNumber("rating", Math.Round(r.NextDouble() * 5, 2));
        if (r.Next(5) == 0) w.WriteNull("esrb_rating");
        else
        {
            var e = r.Next(Ratings.Length);
            w.WriteStartObject("esrb_rating");
            w.WriteNumber("id", e + 1);
            w.WriteString("name", Ratings[e]);
            w.WriteString("slug", Ratings[e].ToLowerInvariant().Replace(' ', '-'));
            w.WriteEndObject();
        }
        w.WriteStartArray("platforms");
        foreach (var p in Pick(r, Platforms.Length, 1 + r.Next(3)))
        {
            w.WriteStartObject();
            w.WriteStartObject("platform");
            w.WriteNumber("id", p + 1);
            w.WriteString("name", Platforms[p]);
            w.WriteString("slug", Platforms[p].ToLowerInvariant().Replace(' ', '-').Replace('/', '-'));
            w.WriteEndObject();
            w.WriteString("released_at", new DateOnly(1995, 1, 1).AddDays(r.Next(10000)).ToString("yyyy-MM-dd"));
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("genres");
        foreach (var g in Pick(r, Genres.Length, 1 + r.Next(2)))
        {
            w.WriteStartObject();
            w.WriteNumber("id", g + 1);
            w.WriteString("name", Genres[g]);
            w.WriteString("slug", Genres[g].ToLowerInvariant());
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("tags");
        foreach (var t in Pick(r, Tags.Length, r.Next(6)))
        {
            w.WriteStartObject();
            w.WriteNumber("id", t + 1);
            w.WriteString("name", Tags[t]);
            w.WriteString("slug", Tags[t].ToLowerInvariant().Replace(' ', '-'));
            w.WriteString("language", "eng");
            w.WriteNumber("games_count", 1000 + t);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        var stores = Pick(r, Stores.Length, r.Next(3)).ToArray();
        w.WriteStartArray("stores");
        foreach (var s in stores)
        {
            w.WriteStartObject();
            w.WriteNumber("id", id * 10 + s);
            w.WriteStartObject("store");
            w.WriteNumber("id", s + 1);
            w.WriteString("name", Stores[s]);
            w.WriteString("slug", Stores[s]);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("short_screenshots");
        for (var s = 0; s < r.Next(4); s++)
        {
            w.WriteStartObject();
            w.WriteNumber("id", id * 100 + s);
            w.WriteString("image", $"https://media.example/screenshots/{id}/{s}.jpg");
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("alternative_names");
        for (var a = 0; a < r.Next(3); a++) w.WriteStringValue($"Game {id} alias {a}");
        w.WriteEndArray();
        w.WriteStartObject("score_by_store");
        foreach (var s in stores) w.WriteNumber(Stores[s], Math.Round(r.NextDouble() * 5, 1));
        w.WriteEndObject();
        w.WriteEndObject();
    }

    // Distinct indexes below n, in ascending order.
    private static IEnumerable<int> Pick(Random r, int n, int count) =>
        Enumerable.Range(0, n).OrderBy(_ => r.Next()).Take(Math.Min(count, n)).Order().ToArray();
}
