-- The cluster runs on Orleans: import grains hand units to unit grains on any silo, and silo
-- membership lives in Orleans' table (005). What the home-made work queue needed goes: node rows,
-- leases and heartbeats. A unit records the silo that claimed it; its claim still bumps
-- lease_token, the fencing token its completion must match.

ALTER TABLE ingest.units DROP COLUMN node_id;
ALTER TABLE ingest.units DROP COLUMN lease_until;
ALTER TABLE ingest.units ADD COLUMN silo text;       -- "ip:port@generation" of the claiming silo
ALTER TABLE ingest.units ADD COLUMN dispatch text;   -- the key of the unit grain that claimed it
CREATE INDEX units_by_silo ON ingest.units (silo) WHERE state = 'running';
DROP TABLE ingest.nodes;

ALTER TABLE ingest.events RENAME COLUMN node_id TO silo;
ALTER TABLE ingest.events ALTER COLUMN silo TYPE text USING NULL;

-- W3C traceparent of the submit: planning and every unit, on whichever silo and after any
-- reactivation, join the import's one trace.
ALTER TABLE ingest.imports ADD COLUMN trace_parent text;
