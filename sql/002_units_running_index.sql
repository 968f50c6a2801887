-- A claim counts the import's running units (its parallelism). units_claimable also holds every
-- pending unit, so that count grew with the import's size: claims slowed from ~1,800/s at 2,000
-- units to ~500/s at 20,000. Running units are at most the import's parallelism.
CREATE INDEX units_running ON ingest.units (import_id) WHERE state = 'running';
