-- The registry of raw files archived to S3 (an import's "archive"): one row per bucket and key
-- across all imports. A row is registered (pending) before anything is uploaded, so that a crash
-- leaves a row to finish and never a second object. A pending row is held by the claim of the
-- silo archiving it (claim = ingest.archived_files.claim of a file whose claim is still fresh).
-- Rows outlive the imports that wrote them.
CREATE TABLE ingest.archive (
    bucket       text        NOT NULL,
    key          text        NOT NULL,
    file         text        NOT NULL,
    size_bytes   bigint      NOT NULL,
    sha256       text        NOT NULL,
    content_type text        NOT NULL,
    status       text        NOT NULL CHECK (status IN ('pending', 'uploaded', 'pre_existing', 'error')),
    error        text,
    import_id    bigint      NOT NULL, -- the import that registered it last
    claim        uuid        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bucket, key)
);

-- What archiving did with each loaded file of an import with an archive: one row per file, under
-- its first unit (a file split into ranges is archived once). A pending row is held by a silo's
-- claim, renewed while it works; another silo takes it over once claimed_at is older than the lease.
CREATE TABLE ingest.archived_files (
    import_id  bigint      NOT NULL REFERENCES ingest.imports (id) ON DELETE CASCADE,
    unit_no    int         NOT NULL,
    file       text        NOT NULL,
    bucket     text,
    key        text,       -- null until known (a file whose first record has no value for it never has one)
    outcome    text        NOT NULL CHECK (outcome IN ('pending', 'uploaded', 'pre_existing', 'error')),
    error      text,
    claim      uuid        NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (import_id, unit_no)
);
CREATE INDEX archived_files_pending ON ingest.archived_files (import_id) WHERE outcome = 'pending';
CREATE INDEX archived_files_claims ON ingest.archived_files (claim) WHERE outcome = 'pending';
CREATE INDEX archived_files_errors ON ingest.archived_files (import_id, unit_no) WHERE outcome = 'error';

-- When every loaded file of an ended import had been archived (or had failed to be): from then on
-- the silos look at its units no more, until it ends again (a retry loads more files).
ALTER TABLE ingest.imports ADD COLUMN archived_at timestamptz;
CREATE INDEX imports_archiving ON ingest.imports (id)
    WHERE jsonb_typeof(spec->'archive') = 'object' AND (archived_at IS NULL OR finished_at IS NULL OR archived_at < finished_at);
