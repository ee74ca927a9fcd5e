-- The evidence log's integrated state (src/evidence/integrator.rs): full
-- hash tiles, written once, and every signed checkpoint. Both tables are
-- append-only; partial tiles are computed on demand from the leaves.

CREATE TABLE evidence_log_tiles (
    client_org_id uuid        NOT NULL,
    -- Tile level: level L holds hashes of subtrees of 256^L leaves.
    level         smallint    NOT NULL,
    tile_index    bigint      NOT NULL,
    -- 256 hashes of 32 bytes, in order (c2sp.org/tlog-tiles).
    hashes        bytea       NOT NULL,
    -- The root of those 256: one hash of level L + 1.
    root          bytea       NOT NULL,
    written_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT evidence_log_tiles_pkey PRIMARY KEY (client_org_id, level, tile_index),
    CONSTRAINT evidence_log_tiles_log_fkey FOREIGN KEY (client_org_id)
        REFERENCES evidence_logs (client_org_id) ON DELETE RESTRICT,
    CONSTRAINT evidence_log_tiles_level_check CHECK (level BETWEEN 0 AND 7),
    CONSTRAINT evidence_log_tiles_index_check CHECK (tile_index >= 0),
    CONSTRAINT evidence_log_tiles_hashes_check CHECK (octet_length(hashes) = 8192),
    CONSTRAINT evidence_log_tiles_root_check CHECK (octet_length(root) = 32)
);

CREATE TRIGGER evidence_log_tiles_no_update_delete
    BEFORE UPDATE OR DELETE ON evidence_log_tiles
    FOR EACH ROW EXECUTE FUNCTION evidence_log_append_only();
CREATE TRIGGER evidence_log_tiles_no_truncate
    BEFORE TRUNCATE ON evidence_log_tiles
    FOR EACH STATEMENT EXECUTE FUNCTION evidence_log_append_only();

CREATE TABLE evidence_log_checkpoints (
    id            bigint      GENERATED ALWAYS AS IDENTITY,
    client_org_id uuid        NOT NULL,
    size          bigint      NOT NULL,
    root          bytea       NOT NULL,
    -- The signed note, verbatim (c2sp.org/tlog-checkpoint + signed-note).
    note          text        NOT NULL,
    signed_at     timestamptz NOT NULL DEFAULT now(),
    -- Set on the first checkpoint signed at or after 00:00 UTC on the 1st:
    -- the month it closes (YYYY-MM).
    month_end     text,
    CONSTRAINT evidence_log_checkpoints_pkey PRIMARY KEY (id),
    CONSTRAINT evidence_log_checkpoints_log_fkey FOREIGN KEY (client_org_id)
        REFERENCES evidence_logs (client_org_id) ON DELETE RESTRICT,
    CONSTRAINT evidence_log_checkpoints_size_check CHECK (size >= 0),
    CONSTRAINT evidence_log_checkpoints_root_check CHECK (octet_length(root) = 32),
    CONSTRAINT evidence_log_checkpoints_month_check CHECK (month_end ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
    CONSTRAINT evidence_log_checkpoints_month_key UNIQUE (client_org_id, month_end)
);
CREATE INDEX evidence_log_checkpoints_org_idx ON evidence_log_checkpoints (client_org_id, id);
CREATE INDEX evidence_log_checkpoints_size_idx ON evidence_log_checkpoints (client_org_id, size);

CREATE TRIGGER evidence_log_checkpoints_no_update_delete
    BEFORE UPDATE OR DELETE ON evidence_log_checkpoints
    FOR EACH ROW EXECUTE FUNCTION evidence_log_append_only();
CREATE TRIGGER evidence_log_checkpoints_no_truncate
    BEFORE TRUNCATE ON evidence_log_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION evidence_log_append_only();
