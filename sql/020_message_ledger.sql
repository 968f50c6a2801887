-- The message ids a queue's imports committed, per (import name, queue): a redelivered message
-- whose id is here was loaded already, and is skipped and acked. Keyed by the import's name, not
-- its id, so that a new import of the same name and queue goes on skipping what the last one
-- loaded; kept for source.dedupHours after its commit, then pruned.
CREATE TABLE ingest.message_ledger (
    import_name  text        NOT NULL,
    queue        text        NOT NULL,
    message_id   text        NOT NULL,
    -- The delivery that committed it (a hash of its message_id property and body): a message skipped
    -- with the same one and the broker's redelivered flag is that delivery again, not a second publish.
    delivery     text        NOT NULL,
    import_id    bigint      NOT NULL,
    committed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (import_name, queue, message_id)
);
CREATE INDEX message_ledger_by_age ON ingest.message_ledger (import_name, queue, committed_at);

-- A queue's depth as a consumer saw it last, for status (the console does not reach the broker).
ALTER TABLE ingest.imports ADD COLUMN backlog bigint, ADD COLUMN backlog_at timestamptz;
