-- A unit's end event locks its import's row before it takes its id, as a state change does by
-- updating that row: the events of one import then commit in the order of their ids, so a
-- dispatcher that sends them by id never sends one before an earlier one has committed.
CREATE OR REPLACE FUNCTION ingest.outbox_unit_end() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO ingest.events (import_id, unit_no, kind, payload)
  SELECT i.id, NEW.unit_no, 'unit.' || NEW.state, jsonb_build_object(
    'importId', i.id, 'name', i.name, 'state', i.state, 'at', now(), 'error', i.error,
    'traceId', nullif(split_part(coalesce(i.trace_parent, ''), '-', 2), ''),
    'unit', jsonb_build_object('unitNo', NEW.unit_no, 'key', NEW.key, 'state', NEW.state, 'attempts', NEW.attempts, 'error', NEW.error,
      'rows', jsonb_build_object('read', NEW.rows_read, 'inserted', NEW.rows_inserted, 'updated', NEW.rows_updated,
                                 'unchanged', NEW.rows_unchanged, 'rejected', NEW.rows_rejected))) || ingest.import_totals(i.id)
  FROM ingest.imports i
  WHERE i.id = NEW.import_id AND jsonb_typeof(i.spec->'notify') = 'array'
    AND EXISTS (SELECT 1 FROM jsonb_array_elements(i.spec->'notify') n WHERE (n->>'units')::boolean)
  FOR NO KEY UPDATE OF i;
  RETURN NULL;
END $$;
