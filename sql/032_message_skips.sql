-- The deliveries a queue's imports skipped as duplicates (another publish of a committed id), per
-- (import name, queue), committed with their batch: one that the broker delivers again, after a
-- crash between the batch's commit and its ack, counts as redelivered, not as a second duplicate.
-- Pruned with the message ledger.
CREATE TABLE ingest.message_skips (
    import_name  text        NOT NULL,
    queue        text        NOT NULL,
    delivery     text        NOT NULL,
    committed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (import_name, queue, delivery)
);
CREATE INDEX message_skips_by_age ON ingest.message_skips (import_name, queue, committed_at);
