-- Imports are heard as they come and go, not at the next poll: a silo wakes the grain of an import
-- as soon as it is submitted (the console need not reach the cluster to submit), and a console
-- waiting for an import (submit --wait) hears it end, however it ended.
CREATE FUNCTION ingest.notify_import() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify(TG_ARGV[0], NEW.id::text);
  RETURN NULL;
END $$;

CREATE TRIGGER import_submitted AFTER INSERT ON ingest.imports FOR EACH ROW
  EXECUTE FUNCTION ingest.notify_import('ingest_import_submitted');

CREATE TRIGGER import_ended AFTER UPDATE OF state ON ingest.imports FOR EACH ROW
  WHEN (NEW.state IN ('completed', 'completed_with_errors', 'failed', 'cancelled') AND OLD.state IS DISTINCT FROM NEW.state)
  EXECUTE FUNCTION ingest.notify_import('ingest_import_ended');
