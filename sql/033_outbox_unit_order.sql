-- One import's events commit in the order of their ids: each outbox trigger takes the import's
-- advisory lock (held to its transaction's end) before its event takes an id, so a dispatcher that
-- sends them by id never sends one before an earlier one has committed. An advisory lock, not the
-- import's row: a cancel locks the row, then the units, and a unit's end the other way round.
CREATE OR REPLACE FUNCTION ingest.outbox_import_state() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(1869573999, (NEW.id % 2147483647)::int);
  INSERT INTO ingest.events (import_id, kind, payload)
  VALUES (NEW.id, 'import.' || NEW.state, jsonb_build_object(
    'importId', NEW.id, 'name', NEW.name, 'state', NEW.state, 'previousState', OLD.state, 'at', now(),
    'error', NEW.error, 'traceId', nullif(split_part(coalesce(NEW.trace_parent, ''), '-', 2), '')) || ingest.import_totals(NEW.id));
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION ingest.outbox_unit_end() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM ingest.imports i, jsonb_array_elements(CASE WHEN jsonb_typeof(i.spec->'notify') = 'array' THEN i.spec->'notify' ELSE '[]' END) n
                 WHERE i.id = NEW.import_id AND (n->>'units')::boolean) THEN
    RETURN NULL;
  END IF;
  PERFORM pg_advisory_xact_lock(1869573999, (NEW.import_id % 2147483647)::int);
  INSERT INTO ingest.events (import_id, unit_no, kind, payload)
  SELECT i.id, NEW.unit_no, 'unit.' || NEW.state, jsonb_build_object(
    'importId', i.id, 'name', i.name, 'state', i.state, 'at', now(), 'error', i.error,
    'traceId', nullif(split_part(coalesce(i.trace_parent, ''), '-', 2), ''),
    'unit', jsonb_build_object('unitNo', NEW.unit_no, 'key', NEW.key, 'state', NEW.state, 'attempts', NEW.attempts, 'error', NEW.error,
      'rows', jsonb_build_object('read', NEW.rows_read, 'inserted', NEW.rows_inserted, 'updated', NEW.rows_updated,
                                 'unchanged', NEW.rows_unchanged, 'rejected', NEW.rows_rejected))) || ingest.import_totals(i.id)
  FROM ingest.imports i
  WHERE i.id = NEW.import_id;
  RETURN NULL;
END $$;
