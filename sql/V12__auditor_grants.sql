-- Auditors: time-limited, read-only access for an external auditor, given
-- by a grant (who, until when, which sites and which period) and taken up
-- through an invitation like any other user's. An auditor is a user of the
-- practice with the role 'auditor' and exactly one grant; the grant's
-- expiry or revocation ends their sessions and tokens at once (the session
-- and token lookups read it). See src/auditors.rs.

ALTER TABLE client_users DROP CONSTRAINT client_users_role_check;
ALTER TABLE client_users
    ADD CONSTRAINT client_users_role_check CHECK (role IN ('owner', 'admin', 'viewer', 'auditor'));
ALTER TABLE client_invites DROP CONSTRAINT client_invites_role_check;
ALTER TABLE client_invites
    ADD CONSTRAINT client_invites_role_check CHECK (role IN ('admin', 'viewer', 'auditor'));

CREATE TABLE auditor_grants (
    id            uuid        NOT NULL DEFAULT gen_random_uuid(),
    client_org_id uuid        NOT NULL,
    email         text        NOT NULL,
    name          text        NOT NULL,
    firm          text        NOT NULL,
    expires_at    timestamptz NOT NULL,
    -- NULL: every site of the practice.
    site_ids      uuid[],
    -- Evidence checked in [period_from, period_to] (dates, UTC); NULL: open.
    period_from   date,
    period_to     date,
    granted_by    uuid        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz,
    -- The auditor's account, once the invitation is accepted.
    user_id       uuid,
    CONSTRAINT auditor_grants_pkey PRIMARY KEY (id),
    CONSTRAINT auditor_grants_org_fkey FOREIGN KEY (client_org_id)
        REFERENCES client_orgs (id) ON DELETE CASCADE,
    CONSTRAINT auditor_grants_granted_by_fkey FOREIGN KEY (granted_by, client_org_id)
        REFERENCES client_users (id, client_org_id) ON DELETE NO ACTION,
    CONSTRAINT auditor_grants_user_fkey FOREIGN KEY (user_id, client_org_id)
        REFERENCES client_users (id, client_org_id) ON DELETE NO ACTION,
    CONSTRAINT auditor_grants_user_key UNIQUE (user_id),
    CONSTRAINT auditor_grants_email_check CHECK (email = lower(email) AND email LIKE '%_@_%'),
    CONSTRAINT auditor_grants_name_check CHECK (char_length(name) BETWEEN 1 AND 100),
    CONSTRAINT auditor_grants_firm_check CHECK (char_length(firm) BETWEEN 1 AND 100),
    CONSTRAINT auditor_grants_expiry_check CHECK (expires_at > created_at),
    CONSTRAINT auditor_grants_period_check
        CHECK (period_from IS NULL OR period_to IS NULL OR period_from <= period_to),
    CONSTRAINT auditor_grants_sites_check
        CHECK (site_ids IS NULL OR cardinality(site_ids) BETWEEN 1 AND 100)
);
CREATE INDEX auditor_grants_org_idx ON auditor_grants (client_org_id, created_at DESC);

-- The invitation that carries a grant to its auditor.
ALTER TABLE client_invites ADD COLUMN grant_id uuid;
ALTER TABLE client_invites
    ADD CONSTRAINT client_invites_grant_fkey FOREIGN KEY (grant_id)
        REFERENCES auditor_grants (id) ON DELETE CASCADE;
ALTER TABLE client_invites
    ADD CONSTRAINT client_invites_auditor_grant_check CHECK ((role = 'auditor') = (grant_id IS NOT NULL));
