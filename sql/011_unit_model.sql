-- Units of any source. descriptor: what the unit reads, as its connector planned it (a file's key
-- and version today; later a byte range, a page, a key range). checkpoint: how far its committed
-- chunks reached ({"records": n, "offset": bytes, "eTag": version}); a new attempt starts there.
-- Units planned before this version have neither: their key and size describe them, and they
-- start from the beginning, as they always did.
ALTER TABLE ingest.units RENAME COLUMN lease_token TO fence_token;
ALTER TABLE ingest.units ADD COLUMN descriptor jsonb;
ALTER TABLE ingest.units ADD COLUMN checkpoint jsonb;
-- NULL: the source does not say how large the unit is (an API page, a query); it is not batched.
ALTER TABLE ingest.units ALTER COLUMN size_bytes DROP NOT NULL;
ALTER TABLE ingest.units ALTER COLUMN size_bytes DROP DEFAULT;

-- Units are stored as the listing goes on; an import is planned once its listing has ended.
-- Until then it does not complete, and a new activation of its grain takes the listing up again.
ALTER TABLE ingest.imports ADD COLUMN planned_at timestamptz;
UPDATE ingest.imports SET planned_at = started_at WHERE started_at IS NOT NULL;
