-- An event the outbox could not publish keeps its last error, for status; one still unpublished
-- past the silos' INGEST_EVENT_MAX_AGE_SECONDS is given up (kept, never sent), so that a target
-- that never comes back neither holds an import's later events nor keeps it from cleanup forever.
ALTER TABLE ingest.events ADD COLUMN publish_error text, ADD COLUMN given_up_at timestamptz;
DROP INDEX ingest.events_unsent;
CREATE INDEX events_unsent ON ingest.events (import_id, id) WHERE payload IS NOT NULL AND sent_at IS NULL AND given_up_at IS NULL;
