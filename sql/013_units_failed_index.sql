-- A status lists an import's failed units (the first 100). With no index on them it went through
-- every unit of the import by its primary key to find them: 10,000 unit rows read for a status of
-- 10,000 units, where a status otherwise reads its counters and its running units. Failed units
-- are few, and only they are in this index.
CREATE INDEX units_failed ON ingest.units (import_id, unit_no) WHERE state = 'failed';
