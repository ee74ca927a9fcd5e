-- Appliances as witnesses: each site's appliance may cosign its practice's
-- checkpoints (c2sp.org/tlog-cosignature v1, its own cosigner key in
-- sites.witness_public_key); served checkpoints carry every cosignature
-- held. One line per (checkpoint size, site): the latest it sent.
CREATE TABLE evidence_log_cosignatures (
    client_org_id uuid        NOT NULL,
    size          bigint      NOT NULL,
    site_id       uuid        NOT NULL,
    -- The cosignature's own timestamp (unix seconds).
    cosigned_at   bigint      NOT NULL,
    line          text        NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT evidence_log_cosignatures_pkey PRIMARY KEY (client_org_id, size, site_id),
    CONSTRAINT evidence_log_cosignatures_log_fkey FOREIGN KEY (client_org_id)
        REFERENCES evidence_logs (client_org_id) ON DELETE RESTRICT,
    CONSTRAINT evidence_log_cosignatures_site_fkey FOREIGN KEY (site_id)
        REFERENCES sites (id) ON DELETE CASCADE,
    CONSTRAINT evidence_log_cosignatures_line_check CHECK (line LIKE '— %' AND position(E'\n' in line) = 0)
);
