-- Auditor packs and full exports: a ZIP of a practice's evidence, its log
-- proofs and reports that a third party verifies offline (src/packs.rs,
-- src/log/pack.rs). Built off the request path, one at a time per
-- practice, into <data dir>/packs/<id>.zip; kept 7 days.

CREATE TABLE audit_packs (
    id            uuid        NOT NULL DEFAULT gen_random_uuid(),
    client_org_id uuid        NOT NULL,
    -- 'period': evidence checked in [period_from, period_to] of site_ids
    -- (NULL: every site); 'full': the practice's whole history.
    kind          text        NOT NULL,
    period_from   date,
    period_to     date,
    site_ids      uuid[],
    requested_by  uuid,
    status        text        NOT NULL DEFAULT 'building',
    done          bigint      NOT NULL DEFAULT 0,
    total         bigint      NOT NULL DEFAULT 0,
    bytes         bigint,
    sha256        bytea,
    bundles       bigint,
    error         text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    heartbeat_at  timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    expires_at    timestamptz NOT NULL DEFAULT now() + interval '7 days',
    CONSTRAINT audit_packs_pkey PRIMARY KEY (id),
    CONSTRAINT audit_packs_org_fkey FOREIGN KEY (client_org_id)
        REFERENCES client_orgs (id) ON DELETE CASCADE,
    CONSTRAINT audit_packs_requested_by_fkey FOREIGN KEY (requested_by)
        REFERENCES client_users (id) ON DELETE SET NULL,
    CONSTRAINT audit_packs_kind_check CHECK (kind IN ('period', 'full')),
    CONSTRAINT audit_packs_status_check CHECK (status IN ('building', 'ready', 'failed', 'expired')),
    CONSTRAINT audit_packs_period_check CHECK (
        (kind = 'full' AND period_from IS NULL AND period_to IS NULL AND site_ids IS NULL)
        OR (kind = 'period' AND period_from IS NOT NULL AND period_to IS NOT NULL
            AND period_from <= period_to)),
    CONSTRAINT audit_packs_sites_check
        CHECK (site_ids IS NULL OR cardinality(site_ids) BETWEEN 1 AND 100),
    CONSTRAINT audit_packs_ready_check
        CHECK (status <> 'ready' OR (bytes IS NOT NULL AND sha256 IS NOT NULL))
);
CREATE INDEX audit_packs_org_idx ON audit_packs (client_org_id, created_at DESC);
-- One pack builds at a time per practice.
CREATE UNIQUE INDEX audit_packs_one_building ON audit_packs (client_org_id) WHERE status = 'building';
