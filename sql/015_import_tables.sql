-- A relational import's tables, in the order its status shows them (the root, its descendants,
-- the dimensions), stored when planning starts. Units keep per-table counts only while they
-- commit in chunks (to resume them): writing 13 tables' counts into every unit row as it ended
-- cost each small unit more than some of its rows. The import's counters hold the totals.
ALTER TABLE ingest.imports ADD COLUMN tables text[];

UPDATE ingest.imports i SET tables = (
  SELECT array_agg(e.t->>'table' ORDER BY e.n)
  FROM (SELECT table_counts FROM ingest.units u WHERE u.import_id = i.id AND u.table_counts IS NOT NULL LIMIT 1) u,
       jsonb_array_elements(u.table_counts) WITH ORDINALITY AS e(t, n))
WHERE EXISTS (SELECT 1 FROM ingest.units u WHERE u.import_id = i.id AND u.table_counts IS NOT NULL);
