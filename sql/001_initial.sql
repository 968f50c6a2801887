-- Cluster state. Every node coordinates only through these tables.
-- Totals are never kept on a row that every unit completion updates: they are
-- aggregated from ingest.units on demand, so completions of one import do not
-- serialise on its imports row.

CREATE TABLE ingest.nodes (
    id            uuid        PRIMARY KEY,
    host          text        NOT NULL,
    pid           int         NOT NULL,
    slots         int         NOT NULL,
    lease_seconds double precision NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT now(),
    heartbeat_at  timestamptz NOT NULL DEFAULT now(),
    stopped_at    timestamptz
);

CREATE TABLE ingest.imports (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text        NOT NULL,
    spec            jsonb       NOT NULL,
    state           text        NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending','running','paused','completed','completed_with_errors','failed','cancelled')),
    parallelism     int         NOT NULL CHECK (parallelism > 0),
    max_attempts    int         NOT NULL CHECK (max_attempts > 0),
    backoff_seconds double precision NOT NULL CHECK (backoff_seconds >= 0),
    error           text,
    submitted_at    timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz
);
CREATE INDEX imports_active ON ingest.imports (id) WHERE state IN ('pending','running','paused');

CREATE TABLE ingest.units (
    import_id     bigint      NOT NULL REFERENCES ingest.imports (id) ON DELETE CASCADE,
    unit_no       int         NOT NULL,
    key           text        NOT NULL,
    size_bytes    bigint      NOT NULL DEFAULT 0,
    state         text        NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending','running','done','failed','cancelled')),
    attempts      int         NOT NULL DEFAULT 0,   -- counted at claim, so a poison unit still ends
    lease_token   bigint      NOT NULL DEFAULT 0,   -- fencing: bumped by every claim
    node_id       uuid,
    lease_until   timestamptz,
    not_before    timestamptz NOT NULL DEFAULT '-infinity',
    error         text,
    rows_read     bigint      NOT NULL DEFAULT 0,
    rows_inserted bigint      NOT NULL DEFAULT 0,
    rows_updated  bigint      NOT NULL DEFAULT 0,
    rows_unchanged bigint     NOT NULL DEFAULT 0,
    rows_rejected bigint      NOT NULL DEFAULT 0,
    bytes_read    bigint      NOT NULL DEFAULT 0,
    started_at    timestamptz,
    finished_at   timestamptz,
    PRIMARY KEY (import_id, unit_no),
    UNIQUE (import_id, key)
);
CREATE INDEX units_claimable ON ingest.units (import_id, unit_no) WHERE state IN ('pending','running');
CREATE INDEX units_by_node ON ingest.units (node_id) WHERE state = 'running';

CREATE TABLE ingest.rejects (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    import_id     bigint      NOT NULL REFERENCES ingest.imports (id) ON DELETE CASCADE,
    unit_no       int         NOT NULL,
    record_index  bigint      NOT NULL,
    column_name   text,
    reason        text        NOT NULL,
    raw           text,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rejects_by_import ON ingest.rejects (import_id, unit_no);

CREATE TABLE ingest.events (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    import_id  bigint      REFERENCES ingest.imports (id) ON DELETE CASCADE,
    unit_no    int,
    node_id    uuid,
    kind       text        NOT NULL,
    message    text
);
CREATE INDEX events_by_import ON ingest.events (import_id, id);
