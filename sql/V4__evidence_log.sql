-- The evidence log: one RFC 6962 Merkle tree per practice (see
-- docs/EVIDENCE.md and src/log/). A leaf's index is taken in the same
-- transaction that stores what it logs, by a row lock on the practice's
-- log (always after the site's chain lock), so indices are gap-free, in
-- commit order, and a rollback gives the index back.

CREATE TABLE evidence_logs (
    client_org_id uuid        NOT NULL,
    -- `<host>/log/<org uuid>`, fixed when the log is made.
    origin        text        NOT NULL,
    -- Leaves sequenced so far (the next leaf's index).
    size          bigint      NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT evidence_logs_pkey PRIMARY KEY (client_org_id),
    CONSTRAINT evidence_logs_org_fkey FOREIGN KEY (client_org_id)
        REFERENCES client_orgs (id) ON DELETE RESTRICT,
    CONSTRAINT evidence_logs_origin_key UNIQUE (origin),
    CONSTRAINT evidence_logs_origin_check CHECK (origin <> '' AND origin !~ '[[:space:]+]'),
    CONSTRAINT evidence_logs_size_check CHECK (size >= 0)
);

CREATE TABLE evidence_log_leaves (
    client_org_id uuid        NOT NULL,
    leaf_index    bigint      NOT NULL,
    kind          text        NOT NULL,
    -- The leaf's exact bytes (src/log/leaf.rs).
    data          bytea       NOT NULL,
    logged_at     timestamptz NOT NULL DEFAULT now(),
    -- Logged when the log was made, for evidence received before it.
    backfilled    boolean     NOT NULL DEFAULT false,
    CONSTRAINT evidence_log_leaves_pkey PRIMARY KEY (client_org_id, leaf_index),
    CONSTRAINT evidence_log_leaves_log_fkey FOREIGN KEY (client_org_id)
        REFERENCES evidence_logs (client_org_id) ON DELETE RESTRICT,
    CONSTRAINT evidence_log_leaves_index_check CHECK (leaf_index >= 0),
    CONSTRAINT evidence_log_leaves_kind_check CHECK (kind IN ('evidence', 'site_key', 'report')),
    -- Entry bundles carry uint16 lengths.
    CONSTRAINT evidence_log_leaves_data_check CHECK (octet_length(data) BETWEEN 1 AND 65535)
);

CREATE FUNCTION evidence_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER evidence_log_leaves_no_update_delete
    BEFORE UPDATE OR DELETE ON evidence_log_leaves
    FOR EACH ROW EXECUTE FUNCTION evidence_log_append_only();
CREATE TRIGGER evidence_log_leaves_no_truncate
    BEFORE TRUNCATE ON evidence_log_leaves
    FOR EACH STATEMENT EXECUTE FUNCTION evidence_log_append_only();

-- Where each bundle is in its practice's log.
ALTER TABLE evidence_bundles ADD COLUMN log_index bigint;
ALTER TABLE evidence_bundles
    ADD CONSTRAINT evidence_bundles_log_index_key UNIQUE (client_org_id, log_index);

-- The appliance's cosigner key (a key of its own, apart from its signing key).
ALTER TABLE sites ADD COLUMN witness_public_key bytea;
ALTER TABLE sites
    ADD CONSTRAINT sites_witness_public_key_check CHECK (octet_length(witness_public_key) = 32);
