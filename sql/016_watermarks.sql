-- The watermark store, kept by import name rather than import id: what incremental imports
-- committed, so that the next import of the name loads only what changed. Nothing here refers to
-- an import row: ending or deleting imports leaves it; only `ingest reset` clears it.

-- Per name: the source and target the entries were written under (a spec that changed them is
-- named at submit), and the highest cursor committed by a source that reads by cursor.
CREATE TABLE ingest.watermarks (
    name        text        PRIMARY KEY,
    source      jsonb,
    target      jsonb,
    cursor      jsonb,
    import_id   bigint,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Per file, or byte range of a file, that a unit of an incremental import loaded to its end: the
-- version it read. Written in the transaction of the unit's last chunk, under its fence, so what is
-- here has committed and nothing committed is missing. A file counts as committed when the entries
-- of its current version cover all of it.
CREATE TABLE ingest.watermark_files (
    name         text        NOT NULL,
    key          text        NOT NULL,
    range_start  bigint      NOT NULL DEFAULT 0,
    range_end    bigint,                    -- exclusive; NULL: to the end of the file
    version      text        NOT NULL,      -- the ETag read (for a local file, its size and modification time)
    size_bytes   bigint,                    -- the whole file's
    modified     timestamptz,
    content_hash bytea,                     -- SHA-256 of the range's bytes, kept for local files
    import_id    bigint      NOT NULL,
    committed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, key, range_start)
);

-- The files an incremental import skipped, for its status; one row per file.
CREATE TABLE ingest.skipped_files (
    import_id    bigint      NOT NULL REFERENCES ingest.imports (id) ON DELETE CASCADE,
    key          text        NOT NULL,
    version      text,
    size_bytes   bigint,
    committed_by bigint,                    -- the import whose load of this version it kept
    PRIMARY KEY (import_id, key)
);

-- submit --full: this import ignores the store (and then updates it).
ALTER TABLE ingest.imports ADD COLUMN full_load boolean NOT NULL DEFAULT false;

-- The byte ranges of a split file by the file's key (their own key is `key [start-end)`): a file
-- that an incremental import's listing, taken up again, finds committed is not skipped when this
-- import stored its ranges. Only range units are indexed.
CREATE INDEX units_ranges_by_file ON ingest.units (import_id, (descriptor->>'key')) WHERE descriptor ? 'range';
