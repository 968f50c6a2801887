-- Imports the cluster submits on a cron schedule (ingest schedule add SPEC). One row per import
-- name; next_at is the next time it is due (a time missed while no silo ran is due once).
CREATE TABLE ingest.schedules (
    name           text        PRIMARY KEY,
    spec           jsonb       NOT NULL,
    cron           text        NOT NULL,
    time_zone      text        NOT NULL,
    paused         boolean     NOT NULL DEFAULT false,
    next_at        timestamptz NOT NULL,
    runs           int         NOT NULL DEFAULT 0,
    skipped        int         NOT NULL DEFAULT 0,
    last_run_at    timestamptz,
    last_import_id bigint,
    last_skipped_at timestamptz,
    last_skip      text,
    created_at     timestamptz NOT NULL DEFAULT now()
);
