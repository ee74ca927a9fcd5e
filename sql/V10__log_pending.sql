-- Leaves waiting for an index. An ingest stores its evidence leaf here in
-- its own transaction (no practice-wide lock); right after it commits, a
-- sequencing step gives every committed pending leaf of the practice the
-- next indices in one short transaction (one lock for many leaves), so
-- indices stay gap-free and a rolled-back ingest never takes one, without
-- serialising the practice's ingests on one row. See src/evidence/log.rs.
CREATE TABLE evidence_log_pending (
    id            bigint      GENERATED ALWAYS AS IDENTITY,
    client_org_id uuid        NOT NULL,
    kind          text        NOT NULL,
    data          bytea       NOT NULL,
    -- The bundle the leaf logs, which gets its index with it.
    bundle_row    uuid,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT evidence_log_pending_pkey PRIMARY KEY (id),
    CONSTRAINT evidence_log_pending_log_fkey FOREIGN KEY (client_org_id)
        REFERENCES evidence_logs (client_org_id) ON DELETE RESTRICT,
    CONSTRAINT evidence_log_pending_kind_check CHECK (kind IN ('evidence', 'site_key', 'report')),
    CONSTRAINT evidence_log_pending_data_check CHECK (octet_length(data) BETWEEN 1 AND 65535)
);
CREATE INDEX evidence_log_pending_org_idx ON evidence_log_pending (client_org_id, id);
