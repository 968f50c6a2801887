using System.Text;
using Ingest.Engine.Mapping;
using Ingest.Engine.Relational;
using Ingest.Engine.Sources;
using Ingest.GrainInterfaces;
using Xunit;

namespace Ingest.Tests;

/// <summary>The relational mapper's one pass over a record, without a database: the rows it leaves in each table's sink.</summary>
public class RelationalMapperTests
{
    // Orders with lines (grandchildren) that reference a product dimension; "first_tag" reads inside the tags collection.
    private const string Spec = """
        {
          "name": "orders", "source": { "kind": "files", "path": "/data" },
          "target": {
            "table": "customers", "key": ["id"], "create": true,
            "columns": { "id": { "path": "id", "type": "bigint" }, "first_tag": { "path": "tags.0", "type": "text" } },
            "children": [
              { "table": "orders", "path": "orders", "parentKey": ["customer_id"], "key": ["no"],
                "columns": { "no": { "path": "no", "type": "int" } },
                "children": [
                  { "table": "lines", "path": "lines", "parentKey": ["customer_id", "order_no"], "key": ["sku"],
                    "columns": { "sku": { "path": "product.sku", "type": "text" }, "qty": { "path": "qty", "type": "int" } },
                    "references": [ { "columns": ["sku"],
                      "dimension": { "table": "products", "path": "product", "key": ["sku"],
                                     "columns": { "sku": { "path": "sku", "type": "text" }, "name": { "path": "name", "type": "text" } } } } ] } ] },
              { "table": "tags", "path": "tags", "parentKey": ["customer_id"], "columns": { "tag": { "path": "$", "type": "text" } } }
            ]
          }
        }
        """;

    private static readonly LoadPlan Plan = new(ImportSpecParser.ParseJson(Spec).Target);

    private static readonly UnitFacts Unit = new(1, new SourceObject("orders.json", 100));

    private static string[] Rows(RelationalMapper mapper, string table)
    {
        var sink = mapper.Sinks.Single(s => s.Table.Target.Name == table);
        var width = sink.Table.Target.Columns.Count;
        return Enumerable.Range(0, sink.Count)
            .Select(r => string.Join("|", Enumerable.Range(0, width).Select(c => sink[r][c]?.ToString() ?? "null")))
            .ToArray();
    }

    [Fact]
    public void A_key_that_comes_after_the_collections_reaches_children_and_grandchildren()
    {
        var mapper = new RelationalMapper(Plan);

        var ok = mapper.TryMap("""
            {"orders": [{"lines": [{"qty": 2, "product": {"sku": "a", "name": "Apple"}}, {"product": {"name": "Pear", "sku": "p"}, "qty": 1}], "no": 7},
                        {"no": 8, "lines": []}],
             "tags": ["vip", "new"],
             "id": 3}
            """u8, Unit, 0, out var reject);

        Assert.True(ok, reject?.Reason);
        Assert.Equal(["3|vip"], Rows(mapper, "customers"));
        Assert.Equal(["3|7", "3|8"], Rows(mapper, "orders"));
        Assert.Equal(["3|7|a|2", "3|7|p|1"], Rows(mapper, "lines"));
        Assert.Equal(["a|Apple", "p|Pear"], Rows(mapper, "products"));
        Assert.Equal(["3|vip", "3|new"], Rows(mapper, "tags"));
    }

    [Fact]
    public void A_collection_given_twice_rejects_its_record_and_leaves_no_row_of_it()
    {
        var mapper = new RelationalMapper(Plan);
        Assert.True(mapper.TryMap("""{"id": 1, "orders": [{"no": 1, "lines": [{"product": {"sku": "a"}}]}]}"""u8, Unit, 0, out _));

        var ok = mapper.TryMap("""{"id": 2, "orders": [{"no": 1, "lines": [{"product": {"sku": "b"}}], "lines": []}]}"""u8, Unit, 1, out var reject);

        Assert.False(ok);
        Assert.Equal("lines", reject!.Column);
        Assert.Equal("orders[0]: 'lines' occurs twice in one object: a nested collection or dimension is read once", reject.Reason);
        Assert.Equal(["1"], Rows(mapper, "customers").Select(r => r.Split('|')[0]));
        Assert.Equal(["1|1|a|null"], Rows(mapper, "lines"));
        Assert.Equal(["a|null"], Rows(mapper, "products"));

        // Tags are read again from their span ("first_tag" reads inside them): the same verdict.
        Assert.False(mapper.TryMap("""{"id": 3, "tags": ["a"], "tags": ["b"]}"""u8, Unit, 2, out reject));
        Assert.Equal("'tags' occurs twice in one object: a nested collection or dimension is read once", reject!.Reason);
        Assert.Empty(Rows(mapper, "tags"));
    }

    [Fact]
    public void A_rejected_grandchild_rejects_the_whole_record_and_names_where_it_is()
    {
        var mapper = new RelationalMapper(Plan);

        var ok = mapper.TryMap("""{"id": 4, "tags": ["x"], "orders": [{"no": 1, "lines": [{"product": {"sku": "a"}, "qty": "many"}]}]}"""u8, Unit, 0, out var reject);

        Assert.False(ok);
        Assert.Equal("qty", reject!.Column);
        Assert.StartsWith("orders[0]: lines[0]: column 'qty' (int)", reject.Reason);
        Assert.All(mapper.Sinks, sink => Assert.Equal(0, sink.Count));
    }

    [Fact]
    public void Sinks_that_encode_take_a_record_when_it_ends_and_nothing_of_a_rejected_one()
    {
        var sinks = RelationalMapper.CreateSinks(Plan);
        foreach (var sink in sinks) sink.EncodeRecords(RelationalLoad.Encoding(sink.Table, direct: true));
        var mapper = new RelationalMapper(Plan, sinks: sinks);
        var lines = sinks.Single(s => s.Table.Target.Name == "lines");
        var products = sinks.Single(s => s.Table.Target.Name == "products");
        Assert.NotNull(lines.Encoded);
        Assert.Null(products.Encoded); // a dimension's rows are deduplicated and sent as arrays: held

        Assert.True(mapper.TryMap("""{"orders": [{"no": 7, "lines": [{"qty": 2, "product": {"sku": "a"}}]}], "id": 3}"""u8, Unit, 0, out _));
        Assert.False(mapper.TryMap("""{"id": 4, "orders": [{"no": 1, "lines": [{"product": {"sku": "b"}, "qty": "many"}]}]}"""u8, Unit, 1, out _));

        Assert.Equal((1, 0, 1), (lines.Count, lines.Held, lines.Encoded!.Count));
        Assert.Equal((1, 1), (products.Count, products.Held));
        // customer_id, order_no, sku, qty: the parent keys were in the row before it was encoded.
        byte[] line = [0, 4, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 7, 0, 0, 0, 1, (byte)'a', 0, 0, 0, 4, 0, 0, 0, 2];
        Assert.Equal(line, lines.Encoded.Chunks.Single().ToArray());
        Assert.Equal(4, mapper.Buffered); // a customer, an order, a line, a product
        Assert.Equal((sinks.Sum(s => s.Encoded?.Chunks.Sum(c => (long)c.Length) ?? 0), 1), mapper.Waiting); // the product held
        Assert.True(mapper.Waiting.EncodedBytes > line.Length);

        foreach (var sink in sinks) sink.Clear();
        Assert.Equal(0, mapper.Buffered);
        Assert.Equal((0L, 0), mapper.Waiting);
        Assert.Empty(lines.Encoded.Chunks);
    }
}
