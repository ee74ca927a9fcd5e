-- OsirisCare client portal: initial schema (PostgreSQL 15).
--
-- Conventions
--   * uuid keys from gen_random_uuid() (built in since PG13, no extension).
--   * Every constraint is named: the app maps unique-constraint / unique-index
--     names to 409 responses, so the names are part of the API contract.
--   * Emails are stored lower-cased (no citext extension); CHECKs enforce it.
--   * Tokens are never stored, only HMAC-SHA256(server secret, token): 32 bytes.
--   * Deletes: access-control data (users, sessions, tokens, invites,
--     notifications) goes with its org; compliance and business records
--     (sites, evidence, reports, transfers, audit) block deletion instead.
--     Orgs and users are meant to be retired by status / is_active, not DELETE.
--   * Intra-org references to users use NO ACTION rather than RESTRICT so that
--     deleting a whole org cascades cleanly: NO ACTION is checked at the end of
--     the statement, after every cascade has run; RESTRICT is checked at once.
--   * Composite FKs on (x_id, client_org_id) keep denormalised org ids honest,
--     so an org-scoped query can never see another org's row through a join.

-- Keeps updated_at true even when a query forgets to set it.
CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;


-- ---------------------------------------------------------------------------
-- Partners and client orgs
-- ---------------------------------------------------------------------------

CREATE TABLE partners (
    id            uuid        NOT NULL DEFAULT gen_random_uuid(),
    name          text        NOT NULL,
    contact_email text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT partners_pkey PRIMARY KEY (id),
    CONSTRAINT partners_name_key UNIQUE (name),
    CONSTRAINT partners_name_check CHECK (btrim(name) <> ''),
    CONSTRAINT partners_contact_email_check
        CHECK (contact_email = lower(contact_email) AND contact_email LIKE '%_@_%')
);

CREATE TABLE client_orgs (
    id                  uuid        NOT NULL DEFAULT gen_random_uuid(),
    name                text        NOT NULL,
    primary_email       text        NOT NULL,
    -- NULL means the practice is served directly by OsirisCare.
    current_partner_id  uuid,
    partner_assigned_at timestamptz,
    status              text        NOT NULL DEFAULT 'active',
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT client_orgs_pkey PRIMARY KEY (id),
    CONSTRAINT client_orgs_current_partner_id_fkey FOREIGN KEY (current_partner_id)
        REFERENCES partners (id) ON DELETE RESTRICT,
    CONSTRAINT client_orgs_name_check CHECK (btrim(name) <> ''),
    CONSTRAINT client_orgs_primary_email_check
        CHECK (primary_email = lower(primary_email) AND primary_email LIKE '%_@_%'),
    CONSTRAINT client_orgs_status_check
        CHECK (status IN ('active', 'suspended', 'churned'))
);

CREATE INDEX client_orgs_current_partner_id_idx ON client_orgs (current_partner_id);

CREATE TRIGGER client_orgs_set_updated_at BEFORE UPDATE ON client_orgs
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();


-- ---------------------------------------------------------------------------
-- Sites (one appliance each) and their evidence-chain head
-- ---------------------------------------------------------------------------

-- Appends to a site's chain lock this row (SELECT ... FOR UPDATE), then insert
-- at position chain_length and advance chain_length / chain_head_hash in the
-- same transaction. So concurrent appliances cannot fork a chain.
CREATE TABLE sites (
    id               uuid        NOT NULL DEFAULT gen_random_uuid(),
    client_org_id    uuid        NOT NULL,
    name             text        NOT NULL,
    agent_public_key bytea       NOT NULL,          -- Ed25519
    chain_length     bigint      NOT NULL DEFAULT 0,
    chain_head_hash  bytea,                         -- chain_hash of the last bundle
    last_evidence_at timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sites_pkey PRIMARY KEY (id),
    CONSTRAINT sites_client_org_id_fkey FOREIGN KEY (client_org_id)
        REFERENCES client_orgs (id) ON DELETE RESTRICT,
    CONSTRAINT sites_org_name_key UNIQUE (client_org_id, name),
    -- Target of composite FKs that pin a row's denormalised org to its site's.
    CONSTRAINT sites_id_org_key UNIQUE (id, client_org_id),
    CONSTRAINT sites_name_check CHECK (btrim(name) <> ''),
    CONSTRAINT sites_agent_public_key_check CHECK (octet_length(agent_public_key) = 32),
    CONSTRAINT sites_chain_length_check CHECK (chain_length >= 0),
    CONSTRAINT sites_chain_head_hash_check CHECK (octet_length(chain_head_hash) = 32),
    -- An empty chain has no head; a non-empty one always has.
    CONSTRAINT sites_chain_head_present_check
        CHECK ((chain_length = 0) = (chain_head_hash IS NULL))
);


-- ---------------------------------------------------------------------------
-- Users and authentication
-- ---------------------------------------------------------------------------

CREATE TABLE client_users (
    id                          uuid        NOT NULL DEFAULT gen_random_uuid(),
    client_org_id               uuid        NOT NULL,
    email                       text        NOT NULL,
    name                        text,       -- NULL = not given (admin CLI); pages show the email
    role                        text        NOT NULL,
    password_hash               text,       -- argon2id PHC string; NULL = magic link only
    is_active                   boolean     NOT NULL DEFAULT true,
    email_verified              boolean     NOT NULL DEFAULT false,
    last_login_at               timestamptz,
    notify_critical_email       boolean     NOT NULL DEFAULT true,
    notify_monthly_report_email boolean     NOT NULL DEFAULT true,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT client_users_pkey PRIMARY KEY (id),
    CONSTRAINT client_users_client_org_id_fkey FOREIGN KEY (client_org_id)
        REFERENCES client_orgs (id) ON DELETE CASCADE,
    -- Global: one email signs in to exactly one org.
    CONSTRAINT client_users_email_key UNIQUE (email),
    CONSTRAINT client_users_id_org_key UNIQUE (id, client_org_id),
    CONSTRAINT client_users_email_check
        CHECK (email = lower(email) AND email LIKE '%_@_%'),
    CONSTRAINT client_users_name_check CHECK (btrim(name) <> ''),
    CONSTRAINT client_users_role_check CHECK (role IN ('owner', 'admin', 'viewer')),
    CONSTRAINT client_users_password_hash_check CHECK (password_hash <> '')
);

CREATE INDEX client_users_client_org_id_idx ON client_users (client_org_id);

-- Deactivated former owners may remain; only one owner can be active.
CREATE UNIQUE INDEX client_users_one_active_owner_per_org
    ON client_users (client_org_id) WHERE role = 'owner' AND is_active;

CREATE TRIGGER client_users_set_updated_at BEFORE UPDATE ON client_users
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();


-- Consumed with one UPDATE ... SET used_at = now() WHERE token_hash = $1
-- AND used_at IS NULL AND expires_at > now() RETURNING ..., so single use
-- holds under concurrency.
CREATE TABLE client_magic_links (
    id           uuid        NOT NULL DEFAULT gen_random_uuid(),
    user_id      uuid        NOT NULL,
    token_hash   bytea       NOT NULL,
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    requested_ip inet,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT client_magic_links_pkey PRIMARY KEY (id),
    CONSTRAINT client_magic_links_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES client_users (id) ON DELETE CASCADE,
    CONSTRAINT client_magic_links_token_hash_key UNIQUE (token_hash),
    CONSTRAINT client_magic_links_token_hash_check CHECK (octet_length(token_hash) = 32),
    CONSTRAINT client_magic_links_expiry_check CHECK (expires_at > created_at)
);

CREATE INDEX client_magic_links_user_id_idx ON client_magic_links (user_id);
CREATE INDEX client_magic_links_expires_at_idx ON client_magic_links (expires_at);


CREATE TABLE client_sessions (
    id           uuid        NOT NULL DEFAULT gen_random_uuid(),
    user_id      uuid        NOT NULL,
    token_hash   bytea       NOT NULL,
    -- Not a credential on its own (useless without the cookie), so plain text.
    csrf_token   text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,          -- absolute; idle timeout uses last_seen_at
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    ip           inet,
    user_agent   text,
    CONSTRAINT client_sessions_pkey PRIMARY KEY (id),
    CONSTRAINT client_sessions_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES client_users (id) ON DELETE CASCADE,
    CONSTRAINT client_sessions_token_hash_key UNIQUE (token_hash),
    CONSTRAINT client_sessions_token_hash_check CHECK (octet_length(token_hash) = 32),
    CONSTRAINT client_sessions_csrf_token_check CHECK (csrf_token <> ''),
    CONSTRAINT client_sessions_expiry_check CHECK (expires_at > created_at)
);

-- "Revoke every session of this user" (logout everywhere, removal, role change).
CREATE INDEX client_sessions_user_id_live_idx
    ON client_sessions (user_id) WHERE revoked_at IS NULL;
CREATE INDEX client_sessions_expires_at_idx ON client_sessions (expires_at);


-- A token acts as its creator: the composite FK keeps the token in the
-- creator's org, and deactivating the user must disable the token (the app
-- checks is_active on every request).
CREATE TABLE api_tokens (
    id            uuid        NOT NULL DEFAULT gen_random_uuid(),
    client_org_id uuid        NOT NULL,
    user_id       uuid        NOT NULL,
    name          text        NOT NULL,
    token_hash    bytea       NOT NULL,
    prefix        text        NOT NULL,         -- first characters, for display only
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    CONSTRAINT api_tokens_pkey PRIMARY KEY (id),
    CONSTRAINT api_tokens_client_org_id_fkey FOREIGN KEY (client_org_id)
        REFERENCES client_orgs (id) ON DELETE CASCADE,
    CONSTRAINT api_tokens_user_fkey FOREIGN KEY (user_id, client_org_id)
        REFERENCES client_users (id, client_org_id) ON DELETE CASCADE,
    CONSTRAINT api_tokens_token_hash_key UNIQUE (token_hash),
    CONSTRAINT api_tokens_token_hash_check CHECK (octet_length(token_hash) = 32),
    CONSTRAINT api_tokens_name_check CHECK (btrim(name) <> ''),
    CONSTRAINT api_tokens_prefix_check CHECK (prefix <> '')
);

-- A revoked token's name may be reused.
CREATE UNIQUE INDEX api_tokens_user_name_key
    ON api_tokens (user_id, name) WHERE revoked_at IS NULL;
CREATE INDEX api_tokens_user_id_idx ON api_tokens (user_id);
CREATE INDEX api_tokens_client_org_id_idx ON api_tokens (client_org_id, created_at DESC);


CREATE TABLE client_invites (
    id               uuid        NOT NULL DEFAULT gen_random_uuid(),
    client_org_id    uuid        NOT NULL,
    email            text        NOT NULL,
    name             text,
    role             text        NOT NULL,      -- ownership is transferred, never invited
    invited_by       uuid        NOT NULL,
    token_hash       bytea       NOT NULL,
    expires_at       timestamptz NOT NULL,
    accepted_at      timestamptz,
    revoked_at       timestamptz,
    accepted_user_id uuid,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT client_invites_pkey PRIMARY KEY (id),
    CONSTRAINT client_invites_client_org_id_fkey FOREIGN KEY (client_org_id)
        REFERENCES client_orgs (id) ON DELETE CASCADE,
    CONSTRAINT client_invites_invited_by_fkey FOREIGN KEY (invited_by, client_org_id)
        REFERENCES client_users (id, client_org_id) ON DELETE NO ACTION,
    CONSTRAINT client_invites_accepted_user_fkey FOREIGN KEY (accepted_user_id, client_org_id)
        REFERENCES client_users (id, client_org_id) ON DELETE NO ACTION,
    CONSTRAINT client_invites_token_hash_key UNIQUE (token_hash),
    CONSTRAINT client_invites_token_hash_check CHECK (octet_length(token_hash) = 32),
    CONSTRAINT client_invites_email_check
        CHECK (email = lower(email) AND email LIKE '%_@_%'),
    CONSTRAINT client_invites_role_check CHECK (role IN ('admin', 'viewer')),
    CONSTRAINT client_invites_expiry_check CHECK (expires_at > created_at),
    CONSTRAINT client_invites_accepted_or_revoked_check
        CHECK (accepted_at IS NULL OR revoked_at IS NULL),
    CONSTRAINT client_invites_accepted_user_check
        CHECK ((accepted_at IS NULL) = (accepted_user_id IS NULL))
);

-- "Pending" ignores expiry (now() is not allowed in an index predicate):
-- re-inviting must revoke or reuse the old row, even when it has expired.
CREATE UNIQUE INDEX client_invites_one_pending_per_email
    ON client_invites (client_org_id, email)
    WHERE accepted_at IS NULL AND revoked_at IS NULL;
CREATE INDEX client_invites_client_org_id_idx ON client_invites (client_org_id, created_at DESC);


-- ---------------------------------------------------------------------------
-- Notifications
-- ---------------------------------------------------------------------------

CREATE TABLE client_notifications (
    id            uuid        NOT NULL DEFAULT gen_random_uuid(),
    client_org_id uuid        NOT NULL,
    site_id       uuid,
    type          text        NOT NULL,   -- check_failed, check_warning, check_resolved,
                                          -- site_silent, monthly_report, transfer_update, ...
    severity      text        NOT NULL,
    title         text        NOT NULL,
    message       text        NOT NULL,
    action_url    text,
    action_label  text,
    -- Lets producers (schedulers, retried ingests) insert with
    -- ON CONFLICT (client_org_id, dedupe_key) DO NOTHING.
    dedupe_key    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT client_notifications_pkey PRIMARY KEY (id),
    CONSTRAINT client_notifications_client_org_id_fkey FOREIGN KEY (client_org_id)
        REFERENCES client_orgs (id) ON DELETE CASCADE,
    -- Keeps the notification (org-level history) if its site is ever removed.
    CONSTRAINT client_notifications_site_fkey FOREIGN KEY (site_id, client_org_id)
        REFERENCES sites (id, client_org_id) ON DELETE SET NULL (site_id),
    CONSTRAINT client_notifications_dedupe_key UNIQUE (client_org_id, dedupe_key),
    CONSTRAINT client_notifications_type_check CHECK (type ~ '^[a-z][a-z0-9_]*$'),
    CONSTRAINT client_notifications_severity_check
        CHECK (severity IN ('info', 'warning', 'critical')),
    CONSTRAINT client_notifications_title_check CHECK (btrim(title) <> ''),
    CONSTRAINT client_notifications_action_check
        CHECK (action_label IS NULL OR action_url IS NOT NULL)
);

CREATE INDEX client_notifications_org_created_idx
    ON client_notifications (client_org_id, created_at DESC, id DESC);
CREATE INDEX client_notifications_site_id_idx
    ON client_notifications (site_id) WHERE site_id IS NOT NULL;

-- Read state is per user: a row means "this user has read it". Unread =
-- NOT EXISTS (...) against the primary key.
CREATE TABLE client_notification_reads (
    notification_id uuid        NOT NULL,
    user_id         uuid        NOT NULL,
    read_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT client_notification_reads_pkey PRIMARY KEY (notification_id, user_id),
    CONSTRAINT client_notification_reads_notification_id_fkey FOREIGN KEY (notification_id)
        REFERENCES client_notifications (id) ON DELETE CASCADE,
    CONSTRAINT client_notification_reads_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES client_users (id) ON DELETE CASCADE
);

CREATE INDEX client_notification_reads_user_id_idx ON client_notification_reads (user_id);


-- ---------------------------------------------------------------------------
-- Partner transfers
-- ---------------------------------------------------------------------------

-- from/to NULL = served directly by OsirisCare. Reviewed by OsirisCare staff
-- (reviewed_by is a staff name, not a client user).
CREATE TABLE partner_transfer_requests (
    id              uuid        NOT NULL DEFAULT gen_random_uuid(),
    client_org_id   uuid        NOT NULL,
    from_partner_id uuid,
    to_partner_id   uuid,
    requested_by    uuid        NOT NULL,
    reason          text,
    status          text        NOT NULL DEFAULT 'pending',
    reviewed_at     timestamptz,
    reviewed_by     text,
    review_notes    text,
    completed_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT partner_transfer_requests_pkey PRIMARY KEY (id),
    CONSTRAINT partner_transfer_requests_client_org_id_fkey FOREIGN KEY (client_org_id)
        REFERENCES client_orgs (id) ON DELETE RESTRICT,
    CONSTRAINT partner_transfer_requests_from_partner_id_fkey FOREIGN KEY (from_partner_id)
        REFERENCES partners (id) ON DELETE RESTRICT,
    CONSTRAINT partner_transfer_requests_to_partner_id_fkey FOREIGN KEY (to_partner_id)
        REFERENCES partners (id) ON DELETE RESTRICT,
    CONSTRAINT partner_transfer_requests_requested_by_fkey FOREIGN KEY (requested_by, client_org_id)
        REFERENCES client_users (id, client_org_id) ON DELETE NO ACTION,
    CONSTRAINT partner_transfer_requests_status_check
        CHECK (status IN ('pending', 'approved', 'rejected', 'cancelled', 'completed')),
    -- A move to the partner one already has is no move (NULL -> NULL is allowed:
    -- a direct client asking to be placed with any partner).
    CONSTRAINT partner_transfer_requests_partners_differ_check
        CHECK (from_partner_id IS NULL OR to_partner_id IS NULL
               OR from_partner_id <> to_partner_id),
    CONSTRAINT partner_transfer_requests_reviewed_check
        CHECK (status NOT IN ('approved', 'rejected') OR reviewed_at IS NOT NULL),
    CONSTRAINT partner_transfer_requests_completed_check
        CHECK ((status = 'completed') = (completed_at IS NOT NULL))
);

-- One open request per org; an approved request stays open until completed.
CREATE UNIQUE INDEX partner_transfer_requests_one_open_per_org
    ON partner_transfer_requests (client_org_id) WHERE status IN ('pending', 'approved');
CREATE INDEX partner_transfer_requests_org_created_idx
    ON partner_transfer_requests (client_org_id, created_at DESC);
-- Staff review queue.
CREATE INDEX partner_transfer_requests_open_idx
    ON partner_transfer_requests (created_at) WHERE status IN ('pending', 'approved');

CREATE TRIGGER partner_transfer_requests_set_updated_at BEFORE UPDATE ON partner_transfer_requests
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();


-- ---------------------------------------------------------------------------
-- Monthly reports (cached PDF; regenerating replaces via the unique key)
-- ---------------------------------------------------------------------------

CREATE TABLE client_monthly_reports (
    id              uuid         NOT NULL DEFAULT gen_random_uuid(),
    client_org_id   uuid         NOT NULL,
    month           date         NOT NULL,   -- first day of the month reported on
    overall_score   numeric(5,1),            -- NULL = no data (never 0 or 100)
    controls_passed integer      NOT NULL,
    controls_failed integer      NOT NULL,
    controls_total  integer      NOT NULL,
    evidence_count  bigint       NOT NULL,
    sites_count     integer      NOT NULL,
    pdf             bytea        NOT NULL,
    pdf_sha256      bytea        NOT NULL,
    generated_at    timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT client_monthly_reports_pkey PRIMARY KEY (id),
    CONSTRAINT client_monthly_reports_client_org_id_fkey FOREIGN KEY (client_org_id)
        REFERENCES client_orgs (id) ON DELETE RESTRICT,
    -- Also serves "reports of this org, newest month first" (backward scan).
    CONSTRAINT client_monthly_reports_org_month_key UNIQUE (client_org_id, month),
    CONSTRAINT client_monthly_reports_month_check
        CHECK (month = date_trunc('month', month::timestamp)::date),
    CONSTRAINT client_monthly_reports_overall_score_check
        CHECK (overall_score BETWEEN 0 AND 100),
    CONSTRAINT client_monthly_reports_controls_check
        CHECK (controls_passed >= 0 AND controls_failed >= 0
               AND controls_passed + controls_failed <= controls_total),
    CONSTRAINT client_monthly_reports_counts_check
        CHECK (evidence_count >= 0 AND sites_count >= 0),
    CONSTRAINT client_monthly_reports_pdf_check CHECK (octet_length(pdf) > 0),
    CONSTRAINT client_monthly_reports_pdf_sha256_check CHECK (octet_length(pdf_sha256) = 32)
);


-- ---------------------------------------------------------------------------
-- Evidence
-- ---------------------------------------------------------------------------

-- One row per bundle an appliance pushed. raw is the exact request body; the
-- signature and hashes are verified against it, so it is never re-serialised.
--
-- Hash relations (bundle_hash = SHA-256(raw), chain_hash from prev_chain_hash,
-- no gaps) are deliberately NOT constraints: chain verification is the
-- tamper-detection mechanism and must be able to find and name a tampered
-- row rather than have the database hide the tampering scenario.
-- Positions are unique per site and start at 0; prev_chain_hash at 0 is 32
-- zero bytes (chain_hash[-1]).
CREATE TABLE evidence_bundles (
    id              uuid        NOT NULL DEFAULT gen_random_uuid(),
    bundle_id       text        NOT NULL,       -- appliance-chosen, e.g. CB-2026-11-24-1a2b3c4d
    site_id         uuid        NOT NULL,
    client_org_id   uuid        NOT NULL,       -- denormalised for org-scoped queries
    checked_at      timestamptz NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    result          text        NOT NULL,       -- worst status among the checks
    checks_count    integer     NOT NULL,
    failed_checks   integer     NOT NULL DEFAULT 0,
    warn_checks     integer     NOT NULL DEFAULT 0,
    raw             bytea       NOT NULL,
    bundle_hash     bytea       NOT NULL,
    signature       bytea       NOT NULL,       -- Ed25519 over raw
    chain_position  bigint      NOT NULL,
    prev_chain_hash bytea       NOT NULL,
    chain_hash      bytea       NOT NULL,
    CONSTRAINT evidence_bundles_pkey PRIMARY KEY (id),
    -- Composite FK: the bundle's org is always its site's org.
    CONSTRAINT evidence_bundles_site_fkey FOREIGN KEY (site_id, client_org_id)
        REFERENCES sites (id, client_org_id) ON DELETE RESTRICT,
    -- Idempotent resend is detected by the app; different bytes under the same
    -- bundle_id end here as a 409.
    CONSTRAINT evidence_bundles_bundle_id_key UNIQUE (bundle_id),
    -- Also the index for walking a site's chain in order.
    CONSTRAINT evidence_bundles_site_position_key UNIQUE (site_id, chain_position),
    -- Target of evidence_checks' composite FK.
    CONSTRAINT evidence_bundles_id_site_org_key UNIQUE (id, site_id, client_org_id),
    CONSTRAINT evidence_bundles_bundle_id_check CHECK (char_length(bundle_id) BETWEEN 1 AND 128),
    CONSTRAINT evidence_bundles_result_check CHECK (result IN ('pass', 'warn', 'fail')),
    CONSTRAINT evidence_bundles_counts_check
        CHECK (checks_count >= 0 AND failed_checks >= 0 AND warn_checks >= 0
               AND failed_checks + warn_checks <= checks_count),
    CONSTRAINT evidence_bundles_result_matches_counts_check
        CHECK (result = CASE WHEN failed_checks > 0 THEN 'fail'
                             WHEN warn_checks > 0 THEN 'warn'
                             ELSE 'pass' END),
    CONSTRAINT evidence_bundles_raw_check CHECK (octet_length(raw) > 0),
    CONSTRAINT evidence_bundles_bundle_hash_check CHECK (octet_length(bundle_hash) = 32),
    CONSTRAINT evidence_bundles_signature_check CHECK (octet_length(signature) = 64),
    CONSTRAINT evidence_bundles_chain_position_check CHECK (chain_position >= 0),
    CONSTRAINT evidence_bundles_prev_chain_hash_check CHECK (octet_length(prev_chain_hash) = 32),
    CONSTRAINT evidence_bundles_chain_hash_check CHECK (octet_length(chain_hash) = 32)
);

-- Keyset pagination: WHERE ... AND (checked_at, id) < ($c, $i)
-- ORDER BY checked_at DESC, id DESC.
CREATE INDEX evidence_bundles_org_checked_idx
    ON evidence_bundles (client_org_id, checked_at DESC, id DESC);
CREATE INDEX evidence_bundles_site_checked_idx
    ON evidence_bundles (site_id, checked_at DESC, id DESC);
CREATE INDEX evidence_bundles_org_result_checked_idx
    ON evidence_bundles (client_org_id, result, checked_at DESC, id DESC);
-- site_id determines client_org_id. Without this the planner multiplies the
-- two selectivities for "org = $1 AND site = $2", badly underestimates, and
-- picks a bitmap-and + sort over the ordered site index.
CREATE STATISTICS evidence_bundles_site_org_stats (dependencies)
    ON site_id, client_org_id FROM evidence_bundles;


-- One row per check in a bundle, for filters and scores. site_id, client_org_id
-- and checked_at are copied from the bundle; the composite FK keeps the first
-- two consistent with it.
CREATE TABLE evidence_checks (
    id            bigint      GENERATED ALWAYS AS IDENTITY,
    evidence_id   uuid        NOT NULL,
    site_id       uuid        NOT NULL,
    client_org_id uuid        NOT NULL,
    check_type    text        NOT NULL,
    host          text        NOT NULL,
    hipaa_control text,                       -- e.g. 164.312(a)(2)(iv)
    status        text        NOT NULL,       -- normalised
    raw_status    text        NOT NULL,       -- the appliance's own word
    details       jsonb       NOT NULL DEFAULT '{}',
    checked_at    timestamptz NOT NULL,
    CONSTRAINT evidence_checks_pkey PRIMARY KEY (id),
    CONSTRAINT evidence_checks_evidence_fkey FOREIGN KEY (evidence_id, site_id, client_org_id)
        REFERENCES evidence_bundles (id, site_id, client_org_id) ON DELETE CASCADE,
    CONSTRAINT evidence_checks_check_type_check CHECK (btrim(check_type) <> ''),
    CONSTRAINT evidence_checks_host_check CHECK (btrim(host) <> ''),
    CONSTRAINT evidence_checks_hipaa_control_check CHECK (btrim(hipaa_control) <> ''),
    CONSTRAINT evidence_checks_status_check CHECK (status IN ('pass', 'warn', 'fail'))
);

-- Latest status per (site, check, host) inside a window (the score function).
-- Fastest as a LATERAL ... ORDER BY checked_at DESC LIMIT 1 per pair taken
-- from check_states; DISTINCT ON over the window sorts every row in it.
CREATE INDEX evidence_checks_site_check_host_idx
    ON evidence_checks (site_id, check_type, host, checked_at DESC);
CREATE INDEX evidence_checks_org_check_type_idx
    ON evidence_checks (client_org_id, check_type, checked_at DESC);
CREATE INDEX evidence_checks_org_hipaa_control_idx
    ON evidence_checks (client_org_id, hipaa_control, checked_at DESC);
CREATE INDEX evidence_checks_evidence_id_idx ON evidence_checks (evidence_id);
CREATE STATISTICS evidence_checks_site_org_stats (dependencies)
    ON site_id, client_org_id FROM evidence_checks;


-- Current state per (site, check, host), updated inside the ingest
-- transaction (under the site row lock), so a notification is raised once
-- per transition rather than once per bundle.
CREATE TABLE check_states (
    site_id          uuid        NOT NULL,
    check_type       text        NOT NULL,
    host             text        NOT NULL,
    last_status      text        NOT NULL,
    last_evidence_id uuid        NOT NULL,
    changed_at       timestamptz NOT NULL DEFAULT now(),   -- when last_status last changed
    last_seen_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT check_states_pkey PRIMARY KEY (site_id, check_type, host),
    CONSTRAINT check_states_site_id_fkey FOREIGN KEY (site_id)
        REFERENCES sites (id) ON DELETE CASCADE,
    CONSTRAINT check_states_last_evidence_id_fkey FOREIGN KEY (last_evidence_id)
        REFERENCES evidence_bundles (id) ON DELETE NO ACTION,
    CONSTRAINT check_states_last_status_check CHECK (last_status IN ('pass', 'warn', 'fail'))
);


-- ---------------------------------------------------------------------------
-- Audit log (append-only)
-- ---------------------------------------------------------------------------

-- HIPAA audit trail. Rows are never changed or removed; the triggers below
-- refuse UPDATE, DELETE and TRUNCATE for the application role. (A superuser
-- or the table owner can still disable triggers; this guards against
-- application bugs, not against a database administrator.)
--
-- The FKs on client_org_id and actor_user_id are plain (ON DELETE NO ACTION)
-- on purpose. ON DELETE SET NULL / CASCADE would be an UPDATE / DELETE of
-- audit rows, which the trigger refuses anyway, so they would only turn into
-- a confusing error. NO ACTION states the real rule: an org or user that
-- appears in the audit trail cannot be hard-deleted; retire it with
-- client_orgs.status / client_users.is_active. actor_email keeps the trail
-- readable without a join (and covers events with no known user).
CREATE TABLE client_audit_log (
    id            bigint      GENERATED ALWAYS AS IDENTITY,
    client_org_id uuid,                       -- NULL for e.g. sign-in attempts for unknown emails
    actor_user_id uuid,
    actor_email   text,
    action        text        NOT NULL,       -- e.g. auth.login, user.invite, token.revoke
    target_type   text,
    target_id     text,
    ip            inet,
    user_agent    text,
    details       jsonb       NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT client_audit_log_pkey PRIMARY KEY (id),
    CONSTRAINT client_audit_log_client_org_id_fkey FOREIGN KEY (client_org_id)
        REFERENCES client_orgs (id) ON DELETE NO ACTION,
    CONSTRAINT client_audit_log_actor_user_id_fkey FOREIGN KEY (actor_user_id)
        REFERENCES client_users (id) ON DELETE NO ACTION,
    CONSTRAINT client_audit_log_action_check CHECK (btrim(action) <> '')
);

CREATE INDEX client_audit_log_org_created_idx
    ON client_audit_log (client_org_id, created_at DESC, id DESC);
CREATE INDEX client_audit_log_org_action_idx
    ON client_audit_log (client_org_id, action, created_at DESC);
CREATE INDEX client_audit_log_org_actor_idx
    ON client_audit_log (client_org_id, actor_user_id, created_at DESC);

CREATE FUNCTION client_audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'client_audit_log is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER client_audit_log_no_update_delete
    BEFORE UPDATE OR DELETE ON client_audit_log
    FOR EACH ROW EXECUTE FUNCTION client_audit_log_append_only();

CREATE TRIGGER client_audit_log_no_truncate
    BEFORE TRUNCATE ON client_audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION client_audit_log_append_only();


-- ---------------------------------------------------------------------------
-- Background work
-- ---------------------------------------------------------------------------

-- Durable outbox: mail is committed with the action that caused it and
-- delivered by a worker that claims rows with FOR UPDATE SKIP LOCKED, sets
-- status 'sending' with a lease (locked_until) and retries with backoff.
-- Rows whose lease expired while 'sending' are reclaimed.
CREATE TABLE email_outbox (
    id              uuid        NOT NULL DEFAULT gen_random_uuid(),
    to_address      text        NOT NULL,
    subject         text        NOT NULL,
    body_text       text        NOT NULL,
    body_html       text,
    kind            text        NOT NULL,     -- magic_link, invite, critical_alert, monthly_report, ...
    status          text        NOT NULL DEFAULT 'pending',
    attempts        integer     NOT NULL DEFAULT 0,
    max_attempts    integer     NOT NULL DEFAULT 8,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    locked_until    timestamptz,
    sent_at         timestamptz,
    -- Mail carrying a sign-in or invite link: the body is wiped once sent.
    contains_secret boolean     NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT email_outbox_pkey PRIMARY KEY (id),
    CONSTRAINT email_outbox_to_address_check CHECK (to_address LIKE '%_@_%'),
    CONSTRAINT email_outbox_kind_check CHECK (btrim(kind) <> ''),
    CONSTRAINT email_outbox_status_check
        CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    CONSTRAINT email_outbox_attempts_check
        CHECK (max_attempts >= 1 AND attempts BETWEEN 0 AND max_attempts),
    CONSTRAINT email_outbox_sending_lease_check
        CHECK (status <> 'sending' OR locked_until IS NOT NULL),
    CONSTRAINT email_outbox_sent_at_check CHECK ((status = 'sent') = (sent_at IS NOT NULL)),
    -- Secrets must not outlive delivery: wipe in the same UPDATE that marks it sent.
    CONSTRAINT email_outbox_secret_wiped_check
        CHECK (NOT (contains_secret AND status = 'sent')
               OR (body_text = '' AND body_html IS NULL))
);

CREATE INDEX email_outbox_pending_idx
    ON email_outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX email_outbox_sending_lease_idx
    ON email_outbox (locked_until) WHERE status = 'sending';


-- Fixed-window counters: INSERT ... ON CONFLICT (bucket, window_start)
-- DO UPDATE SET count = rate_limits.count + 1 RETURNING count.
-- Buckets hold hashes, not raw emails, e.g. 'magic:email:<hex>'.
CREATE TABLE rate_limits (
    bucket       text        NOT NULL,
    window_start timestamptz NOT NULL,
    count        integer     NOT NULL DEFAULT 0,
    CONSTRAINT rate_limits_pkey PRIMARY KEY (bucket, window_start),
    CONSTRAINT rate_limits_bucket_check CHECK (bucket <> ''),
    CONSTRAINT rate_limits_count_check CHECK (count >= 0)
);

CREATE INDEX rate_limits_window_start_idx ON rate_limits (window_start);


-- Run-once guard for scheduled jobs across instances: the instance whose
-- INSERT ... ON CONFLICT DO NOTHING inserts the row does the run
-- (e.g. job 'monthly_report', run_key '2026-11').
CREATE TABLE scheduler_runs (
    job         text        NOT NULL,
    run_key     text        NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    CONSTRAINT scheduler_runs_pkey PRIMARY KEY (job, run_key),
    CONSTRAINT scheduler_runs_job_check CHECK (job <> '' AND run_key <> ''),
    CONSTRAINT scheduler_runs_finished_check CHECK (finished_at >= started_at)
);
