-- A console waiting for an import to end (submit --wait) hears it at once, not at its next poll:
-- every way an import ends (completed, failed, cancelled) notifies, whoever ended it.
CREATE FUNCTION ingest.notify_import_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('ingest_import_ended', NEW.id::text);
  RETURN NULL;
END $$;

CREATE TRIGGER import_ended AFTER UPDATE OF state ON ingest.imports FOR EACH ROW
  WHEN (NEW.state IN ('completed', 'completed_with_errors', 'failed', 'cancelled') AND OLD.state IS DISTINCT FROM NEW.state)
  EXECUTE FUNCTION ingest.notify_import_ended();
