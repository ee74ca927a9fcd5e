-- Multi-factor sign-in: authenticator apps (TOTP), passkeys and security
-- keys (WebAuthn), recovery codes, the pending state between the first and
-- second factor, and a practice-wide policy.

-- One authenticator app per user. The secret is sealed (ChaCha20-Poly1305
-- under a key derived from the server secret, bound to the user id), so a
-- copy of the table alone yields no codes.
CREATE TABLE mfa_totp (
    user_id       uuid        NOT NULL,
    secret_sealed bytea       NOT NULL,
    -- NULL while the enrolment waits for its first code.
    confirmed_at  timestamptz,
    -- The last accepted 30-second step: a code is accepted once.
    last_step     bigint,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT mfa_totp_pkey PRIMARY KEY (user_id),
    CONSTRAINT mfa_totp_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES client_users (id) ON DELETE CASCADE,
    CONSTRAINT mfa_totp_sealed_check CHECK (octet_length(secret_sealed) > 28)
);

-- Passkeys and security keys, several per user, each with a name.
CREATE TABLE mfa_passkeys (
    id            uuid        NOT NULL DEFAULT gen_random_uuid(),
    user_id       uuid        NOT NULL,
    name          text        NOT NULL,
    credential_id bytea       NOT NULL,
    -- The credential as webauthn-rs keeps it (public key, counter).
    passkey       jsonb       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    CONSTRAINT mfa_passkeys_pkey PRIMARY KEY (id),
    CONSTRAINT mfa_passkeys_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES client_users (id) ON DELETE CASCADE,
    CONSTRAINT mfa_passkeys_credential_id_key UNIQUE (credential_id),
    CONSTRAINT mfa_passkeys_name_check CHECK (btrim(name) <> '' AND char_length(name) <= 100)
);
CREATE INDEX mfa_passkeys_user_idx ON mfa_passkeys (user_id);

-- Ten single-use codes per user, stored as HMACs.
CREATE TABLE mfa_recovery_codes (
    user_id    uuid        NOT NULL,
    code_hash  bytea       NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT mfa_recovery_codes_pkey PRIMARY KEY (user_id, code_hash),
    CONSTRAINT mfa_recovery_codes_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES client_users (id) ON DELETE CASCADE,
    CONSTRAINT mfa_recovery_codes_hash_check CHECK (octet_length(code_hash) = 32)
);

-- A first factor proved, a second one due: short-lived and single-use,
-- held by a cookie of its own. It is not a session and opens nothing.
CREATE TABLE mfa_pending (
    id             uuid        NOT NULL DEFAULT gen_random_uuid(),
    user_id        uuid        NOT NULL,
    token_hash     bytea       NOT NULL,
    -- How the first factor was proved: magic_link, password or invite.
    method         text        NOT NULL,
    expires_at     timestamptz NOT NULL,
    used_at        timestamptz,
    failures       integer     NOT NULL DEFAULT 0,
    -- The WebAuthn challenge while a passkey is being asked for.
    webauthn_state jsonb,
    ip             inet,
    user_agent     text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT mfa_pending_pkey PRIMARY KEY (id),
    CONSTRAINT mfa_pending_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES client_users (id) ON DELETE CASCADE,
    CONSTRAINT mfa_pending_token_hash_key UNIQUE (token_hash),
    CONSTRAINT mfa_pending_token_hash_check CHECK (octet_length(token_hash) = 32),
    CONSTRAINT mfa_pending_method_check CHECK (method IN ('magic_link', 'password', 'invite'))
);
CREATE INDEX mfa_pending_expires_idx ON mfa_pending (expires_at);

-- A WebAuthn challenge that a signed-in user is answering: registering a
-- new passkey, or confirming it is them with one (re-authentication).
CREATE TABLE mfa_challenges (
    user_id    uuid        NOT NULL,
    purpose    text        NOT NULL,
    state      jsonb       NOT NULL,
    -- The name the new passkey will get (registration only).
    name       text,
    expires_at timestamptz NOT NULL,
    CONSTRAINT mfa_challenges_pkey PRIMARY KEY (user_id, purpose),
    CONSTRAINT mfa_challenges_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES client_users (id) ON DELETE CASCADE,
    CONSTRAINT mfa_challenges_purpose_check CHECK (purpose IN ('register', 'reauthenticate'))
);

-- When the session's user last proved who they are (sign-in or
-- re-authentication), how, and with which second factor.
ALTER TABLE client_sessions
    ADD COLUMN authenticated_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN auth_method      text,
    ADD COLUMN second_factor    text,
    ADD CONSTRAINT client_sessions_second_factor_check
        CHECK (second_factor IN ('totp', 'passkey', 'recovery_code'));

-- The practice's policy: MFA required for everyone since mfa_required_at,
-- with grace_days for users who have no factor yet.
ALTER TABLE client_orgs
    ADD COLUMN mfa_required_at timestamptz,
    ADD COLUMN mfa_grace_days  integer NOT NULL DEFAULT 7,
    ADD CONSTRAINT client_orgs_mfa_grace_days_check CHECK (mfa_grace_days BETWEEN 0 AND 90);
