-- An import's totals without a hot row: every transaction that changes a unit adds what it changed
-- (units ended, rows, bytes, each table's counts, quality) to one of 16 shards of the import's
-- counters, chosen by unit number, so concurrent commits seldom meet on a row; status sums the
-- shards instead of every unit row. scope: units, bytes, rows, table:<name>, violations, defaults.
CREATE TABLE ingest.import_counters (
    import_id bigint   NOT NULL REFERENCES ingest.imports (id) ON DELETE CASCADE,
    scope     text     NOT NULL,
    counter   text     NOT NULL,
    shard     smallint NOT NULL,
    value     bigint   NOT NULL,
    PRIMARY KEY (import_id, scope, counter, shard)
);

-- The totals of imports stored before, summed from their units once.
INSERT INTO ingest.import_counters (import_id, scope, counter, shard, value)
SELECT import_id, scope, counter, 0, sum(value)
FROM (
  SELECT u.import_id, c.scope, c.counter, c.value
  FROM ingest.units u CROSS JOIN LATERAL (VALUES
    ('units', 'total', 1::bigint), ('units', 'done', (u.state = 'done')::int::bigint),
    ('units', 'failed', (u.state = 'failed')::int::bigint), ('units', 'cancelled', (u.state = 'cancelled')::int::bigint),
    ('units', 'unsized', (u.size_bytes IS NULL)::int::bigint),
    ('bytes', 'total', coalesce(u.size_bytes, 0)), ('bytes', 'ended', CASE WHEN u.state IN ('done', 'failed') THEN coalesce(u.size_bytes, 0) ELSE 0 END),
    ('bytes', 'read', u.bytes_read), ('rows', 'read', u.rows_read), ('rows', 'inserted', u.rows_inserted),
    ('rows', 'updated', u.rows_updated), ('rows', 'unchanged', u.rows_unchanged), ('rows', 'rejected', u.rows_rejected)) AS c(scope, counter, value)
  UNION ALL
  SELECT u.import_id, 'table:' || (t->>'table'), k.counter, (t->>k.counter)::bigint
  FROM ingest.units u CROSS JOIN LATERAL jsonb_array_elements(u.table_counts) t
  CROSS JOIN (VALUES ('inserted'), ('updated'), ('unchanged'), ('deleted')) AS k(counter)
  WHERE u.table_counts IS NOT NULL
  UNION ALL
  SELECT u.import_id, k.scope, e.key, e.value::bigint
  FROM ingest.units u
  CROSS JOIN LATERAL (VALUES ('violations', u.quality->'violations'), ('defaults', u.quality->'defaults')) AS k(scope, counts)
  CROSS JOIN LATERAL jsonb_each_text(k.counts) AS e
  WHERE u.quality IS NOT NULL
) c
GROUP BY import_id, scope, counter;
