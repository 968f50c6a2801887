-- The event log as a transactional outbox. An import with notify targets gets an event, written by
-- a trigger in the very transaction that changes its state (whichever statement does), with the
-- payload to publish: the shapes of status --json. With a target that asks for units, each unit's
-- end too. The silos' dispatchers publish unsent events in id order per import, then mark them sent.
ALTER TABLE ingest.events ADD COLUMN payload jsonb, ADD COLUMN sent_at timestamptz;
CREATE INDEX events_unsent ON ingest.events (import_id, id) WHERE payload IS NOT NULL AND sent_at IS NULL;

-- An import's units and rows as status --json shows them, from its counters.
CREATE FUNCTION ingest.import_totals(import bigint) RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'units', jsonb_build_object('total', c.total, 'done', c.done, 'failed', c.failed, 'running', r.running,
                                'pending', greatest(0, c.total - c.done - c.failed - c.cancelled - r.running), 'cancelled', c.cancelled),
    'rows', jsonb_build_object('read', c.read, 'inserted', c.inserted, 'updated', c.updated, 'unchanged', c.unchanged, 'rejected', c.rejected))
  FROM (SELECT coalesce(sum(value) FILTER (WHERE scope = 'units' AND counter = 'total'), 0) AS total,
               coalesce(sum(value) FILTER (WHERE scope = 'units' AND counter = 'done'), 0) AS done,
               coalesce(sum(value) FILTER (WHERE scope = 'units' AND counter = 'failed'), 0) AS failed,
               coalesce(sum(value) FILTER (WHERE scope = 'units' AND counter = 'cancelled'), 0) AS cancelled,
               coalesce(sum(value) FILTER (WHERE scope = 'rows' AND counter = 'read'), 0) AS read,
               coalesce(sum(value) FILTER (WHERE scope = 'rows' AND counter = 'inserted'), 0) AS inserted,
               coalesce(sum(value) FILTER (WHERE scope = 'rows' AND counter = 'updated'), 0) AS updated,
               coalesce(sum(value) FILTER (WHERE scope = 'rows' AND counter = 'unchanged'), 0) AS unchanged,
               coalesce(sum(value) FILTER (WHERE scope = 'rows' AND counter = 'rejected'), 0) AS rejected
        FROM ingest.import_counters WHERE import_id = import) c,
       (SELECT count(*) AS running FROM ingest.units WHERE import_id = import AND state = 'running') r
$$;

CREATE FUNCTION ingest.outbox_import_state() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO ingest.events (import_id, kind, payload)
  VALUES (NEW.id, 'import.' || NEW.state, jsonb_build_object(
    'importId', NEW.id, 'name', NEW.name, 'state', NEW.state, 'previousState', OLD.state, 'at', now(),
    'error', NEW.error, 'traceId', nullif(split_part(coalesce(NEW.trace_parent, ''), '-', 2), '')) || ingest.import_totals(NEW.id));
  RETURN NULL;
END $$;

CREATE TRIGGER outbox_import_state AFTER UPDATE OF state ON ingest.imports FOR EACH ROW
  WHEN (OLD.state IS DISTINCT FROM NEW.state AND jsonb_typeof(NEW.spec->'notify') = 'array' AND jsonb_array_length(NEW.spec->'notify') > 0)
  EXECUTE FUNCTION ingest.outbox_import_state();

CREATE FUNCTION ingest.outbox_unit_end() RETURNS trigger LANGUAGE plpgsql AS $$
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
    AND EXISTS (SELECT 1 FROM jsonb_array_elements(i.spec->'notify') n WHERE (n->>'units')::boolean);
  RETURN NULL;
END $$;

CREATE TRIGGER outbox_unit_end AFTER UPDATE OF state ON ingest.units FOR EACH ROW
  WHEN (OLD.state IS DISTINCT FROM NEW.state AND NEW.state IN ('done', 'failed'))
  EXECUTE FUNCTION ingest.outbox_unit_end();
