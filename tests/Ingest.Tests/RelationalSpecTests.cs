using Ingest.Bench;
using Ingest.GrainInterfaces;
using Xunit;

namespace Ingest.Tests;

/// <summary>Relational specs: the example parses as written; every mistake is named at submit.</summary>
public class RelationalSpecTests
{
    [Fact]
    public void The_nested_RAWG_spec_parses_with_children_references_constants_and_lineage()
    {
        var spec = ImportSpecParser.ParseJson(RawgSample.NestedSpec("rawg-nested", "/data/rawg"));

        var target = spec.Target;
        Assert.True(target.IsRelational);
        Assert.True(target.ForeignKeys);
        Assert.Equal(new ColumnSpec("tenant", null, ColumnType.Text, "rawg"), target.Columns.Single(c => c.Name == "tenant"));
        Assert.Equal(new ColumnSpec("source_file", null, ColumnType.Text, null, UnitMeta.File), target.Columns.Single(c => c.Name == "source_file"));
        Assert.Equal(["game_platforms", "game_genres", "game_tags", "game_stores", "game_screenshots", "game_aliases", "game_store_scores"],
            target.Children.Select(c => c.Table));
        Assert.All(target.Children, c => Assert.Equal(["game_id"], c.ParentKey));
        var genres = target.Children.Single(c => c.Table == "game_genres").References.Single();
        Assert.Equal(("genres", "genre_sk"), (genres.Dimension.Table, genres.Dimension.Surrogate));
        Assert.Equal(["genre_sk"], genres.Columns);
        // Stored and read back as the silos read it.
        var roundTrip = ImportSpecJson.Deserialize(ImportSpecJson.Serialize(spec));
        Assert.Equal(ImportSpecJson.Serialize(spec), ImportSpecJson.Serialize(roundTrip));
        Assert.Equal(7, roundTrip.Target.Children.Count);
    }

    [Fact]
    public void A_child_without_parentKey_gets_parent_table_underscore_key_column()
    {
        var spec = ImportSpecParser.ParseJson(Spec("""
            "key": ["id"], "columns": { "id": { "path": "id", "type": "bigint" } },
            "children": [ { "table": "tags", "path": "tags", "columns": { "tag": { "path": "$", "type": "text" } },
                            "children": [ { "table": "tag_notes", "path": "notes", "columns": { "note": { "path": "$", "type": "text" } } } ] } ]
            """));

        var child = spec.Target.Children.Single();
        Assert.Equal(["games_id"], child.ParentKey);
        Assert.Equal(["tags_games_id", "tags_tag"], child.Children.Single().ParentKey);
    }

    [Theory]
    [InlineData("""
        "key": ["id"], "columns": { "id": { "path": "id", "type": "bigint" } },
        "references": [ { "columns": ["esrb_id"], "dimension": { "table": "esrb", "path": "esrb", "key": ["id"], "columns": { "id": { "path": "id", "type": "int" } } } } ]
        """, "target.references[0].columns: 'esrb_id' is not one of the columns")]
    [InlineData("""
        "key": ["id"], "columns": { "id": { "path": "id", "type": "bigint" } },
        "children": [ { "table": "gg", "path": "genres", "key": ["genre_sk"],
          "references": [ { "columns": ["genre_sk"], "dimension": { "table": "genres", "key": ["slug"], "surrogate": "genre_sk", "columns": { "slug": { "path": "slug", "type": "text" } } } } ] } ]
        """, "has a surrogate key; name the one column that stores it with 'column', not 'columns'")]
    [InlineData("""
        "key": ["id"], "columns": { "id": { "path": "id", "type": "bigint" }, "k": { "path": "$key", "type": "text" } }
        """, "target.columns.k.path: '$key' is only meaningful in a child's columns")]
    [InlineData("""
        "key": ["id"], "columns": { "id": { "path": "id", "type": "bigint" } },
        "children": [ { "table": "tags", "columns": { "tag": { "path": "$", "type": "text" } } } ]
        """, "target.children[tags].path: required")]
    [InlineData("""
        "key": ["id"], "columns": { "id": { "path": "id", "type": "bigint" } },
        "children": [ { "table": "games", "path": "tags", "columns": { "tag": { "path": "$", "type": "text" } } } ]
        """, "'games' names a table that the spec already uses")]
    [InlineData("""
        "key": ["id"], "columns": { "id": { "path": "id", "type": "bigint" } },
        "children": [ { "table": "shots", "path": "shots", "key": ["shot_id"], "columns": { "image": { "path": "image", "type": "text" } } } ]
        """, "target.children[shots].key: 'shot_id' is not a mapped column")]
    [InlineData("""
        "columns": { "id": { "path": "id", "type": "bigint" } },
        "children": [ { "table": "tags", "path": "tags", "columns": { "tag": { "path": "$", "type": "text" } } } ]
        """, "target.children: the target needs a key")]
    [InlineData("""
        "key": ["id"], "columns": { "id": { "path": "id", "type": "bigint" }, "t": { "value": "x", "meta": "file" } }
        """, "target.columns.t: needs exactly one of path, value or meta (has value and meta)")]
    [InlineData("""
        "key": ["id"], "columns": { "id": { "path": "id", "type": "bigint" }, "t": { "meta": "owner" } }
        """, "target.columns.t.meta: unknown 'owner'")]
    [InlineData("""
        "key": ["id"], "columns": { "id": { "path": "id", "type": "bigint" }, "esrb_id": { "path": "esrb.id", "type": "text" } },
        "references": [ { "columns": ["esrb_id"], "dimension": { "table": "esrb", "path": "esrb", "key": ["id"], "columns": { "id": { "path": "id", "type": "int" } } } } ]
        """, "'esrb_id' is text, but the dimension's key 'id' is int")]
    public void Relational_mistakes_are_named(string target, string expected)
    {
        var e = Assert.Throws<SpecException>(() => ImportSpecParser.ParseJson(Spec(target)));
        Assert.Contains(e.Problems, p => p.Contains(expected));
    }

    private static string Spec(string target) => $$"""
        { "name": "x", "source": { "kind": "files", "path": "/d" }, "target": { "table": "games", {{target}} } }
        """;
}
