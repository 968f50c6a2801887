-- Incremental imports read by cursor (an HTTP API's source.incremental; a query's key range later).

-- The greatest cursor among the records a unit committed, written under its fence in the
-- transaction of each chunk (greatest(cursor, the chunk's)). When the import ends completed, the
-- greatest over its units goes to the name's watermark store (ingest.watermarks.cursor).
ALTER TABLE ingest.units ADD COLUMN cursor jsonb;

-- The lower bound the import reads from: the store's cursor less the lag, or the spec's initial
-- value; fixed once when its planning starts, so that every unit, retry and takeover reads from the
-- same one. JSON null: fixed, with no bound (everything is read); SQL NULL: not an import read by
-- cursor, or not planned yet.
ALTER TABLE ingest.imports ADD COLUMN since jsonb;
