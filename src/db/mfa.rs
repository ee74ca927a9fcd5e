//! Second factors: authenticator apps, passkeys, recovery codes, the
//! pending state between the first factor and the second, WebAuthn
//! challenges and the practice's policy.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;
use uuid::Uuid;

use crate::error::AppResult;

/// A user's authenticator app.
#[derive(Clone)]
pub struct Totp {
    pub secret_sealed: Vec<u8>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub last_step: Option<i64>,
}

impl std::fmt::Debug for Totp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Totp")
            .field("secret_sealed", &crate::auth::tokens::REDACTED)
            .field("confirmed_at", &self.confirmed_at)
            .field("last_step", &self.last_step)
            .finish()
    }
}

pub async fn totp(db: &impl GenericClient, user_id: Uuid) -> AppResult<Option<Totp>> {
    let row = db
        .query_opt(
            "SELECT secret_sealed, confirmed_at, last_step FROM mfa_totp WHERE user_id = $1",
            &[&user_id],
        )
        .await?;
    Ok(row.map(|r| Totp { secret_sealed: r.get(0), confirmed_at: r.get(1), last_step: r.get(2) }))
}

/// Starts (or restarts) an enrolment; a confirmed app is never replaced.
/// False when the user already has a confirmed app.
pub async fn start_totp(db: &impl GenericClient, user_id: Uuid, sealed: &[u8]) -> AppResult<bool> {
    let n = db
        .execute(
            "INSERT INTO mfa_totp (user_id, secret_sealed) VALUES ($1, $2)
             ON CONFLICT (user_id) DO UPDATE
                SET secret_sealed = EXCLUDED.secret_sealed, created_at = now(), last_step = NULL
              WHERE mfa_totp.confirmed_at IS NULL",
            &[&user_id, &sealed],
        )
        .await?;
    Ok(n == 1)
}

/// Records `step` as used, once: false when it (or a later step) already
/// was, so a code is accepted once even by concurrent requests. With
/// `confirm`, also confirms a pending enrolment.
pub async fn use_step(
    db: &impl GenericClient,
    user_id: Uuid,
    step: i64,
    confirm: bool,
) -> AppResult<bool> {
    let n = db
        .execute(
            "UPDATE mfa_totp
                SET last_step = $2,
                    confirmed_at = CASE WHEN $3 THEN coalesce(confirmed_at, now()) ELSE confirmed_at END
              WHERE user_id = $1 AND (last_step IS NULL OR last_step < $2)
                AND (confirmed_at IS NOT NULL OR $3)",
            &[&user_id, &step, &confirm],
        )
        .await?;
    Ok(n == 1)
}

pub async fn delete_totp(db: &impl GenericClient, user_id: Uuid) -> AppResult<bool> {
    Ok(db.execute("DELETE FROM mfa_totp WHERE user_id = $1", &[&user_id]).await? == 1)
}

#[derive(Debug, Clone)]
pub struct Passkey {
    pub id: Uuid,
    pub name: String,
    pub credential_id: Vec<u8>,
    pub passkey: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

pub async fn passkeys(db: &impl GenericClient, user_id: Uuid) -> AppResult<Vec<Passkey>> {
    let rows = db
        .query(
            "SELECT id, name, credential_id, passkey, created_at, last_used_at
               FROM mfa_passkeys WHERE user_id = $1 ORDER BY created_at, id",
            &[&user_id],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Passkey {
            id: r.get(0),
            name: r.get(1),
            credential_id: r.get(2),
            passkey: r.get(3),
            created_at: r.get(4),
            last_used_at: r.get(5),
        })
        .collect())
}

/// Adds a passkey; None when its credential is already registered (to
/// anyone).
pub async fn insert_passkey(
    db: &impl GenericClient,
    user_id: Uuid,
    name: &str,
    credential_id: &[u8],
    passkey: &serde_json::Value,
) -> AppResult<Option<Uuid>> {
    let row = db
        .query_opt(
            "INSERT INTO mfa_passkeys (user_id, name, credential_id, passkey)
             VALUES ($1, $2, $3, $4) ON CONFLICT (credential_id) DO NOTHING RETURNING id",
            &[&user_id, &name, &credential_id, passkey],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// Marks a passkey used, storing its new counter state when it changed.
pub async fn passkey_used(
    db: &impl GenericClient,
    user_id: Uuid,
    credential_id: &[u8],
    updated: Option<&serde_json::Value>,
) -> AppResult<()> {
    db.execute(
        "UPDATE mfa_passkeys SET last_used_at = now(), passkey = coalesce($3, passkey)
          WHERE user_id = $1 AND credential_id = $2",
        &[&user_id, &credential_id, &updated],
    )
    .await?;
    Ok(())
}

/// Removes one of the user's passkeys; its name, or None when it is not theirs.
pub async fn delete_passkey(
    db: &impl GenericClient,
    user_id: Uuid,
    id: Uuid,
) -> AppResult<Option<String>> {
    let row = db
        .query_opt(
            "DELETE FROM mfa_passkeys WHERE user_id = $1 AND id = $2 RETURNING name",
            &[&user_id, &id],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// Whether the user has a second factor (a confirmed app or a passkey).
pub async fn has_factor(db: &impl GenericClient, user_id: Uuid) -> AppResult<bool> {
    let row = db.query_one(&format!("SELECT {}", has_factor_sql("$1")), &[&user_id]).await?;
    Ok(row.get(0))
}

/// SQL that is true when the user whose id is `user_id` (an expression)
/// has a second factor.
pub fn has_factor_sql(user_id: &str) -> String {
    format!(
        "(EXISTS (SELECT 1 FROM mfa_totp t WHERE t.user_id = {user_id} AND t.confirmed_at IS NOT NULL)
          OR EXISTS (SELECT 1 FROM mfa_passkeys p WHERE p.user_id = {user_id}))"
    )
}

/// Replaces the user's recovery codes with these (HMACs).
pub async fn replace_recovery_codes(
    db: &impl GenericClient,
    user_id: Uuid,
    hashes: &[[u8; 32]],
) -> AppResult<()> {
    db.execute("DELETE FROM mfa_recovery_codes WHERE user_id = $1", &[&user_id]).await?;
    let hashes: Vec<&[u8]> = hashes.iter().map(|h| h.as_slice()).collect();
    db.execute(
        "INSERT INTO mfa_recovery_codes (user_id, code_hash) SELECT $1, h FROM unnest($2::bytea[]) h",
        &[&user_id, &hashes],
    )
    .await?;
    Ok(())
}

pub async fn delete_recovery_codes(db: &impl GenericClient, user_id: Uuid) -> AppResult<()> {
    db.execute("DELETE FROM mfa_recovery_codes WHERE user_id = $1", &[&user_id]).await?;
    Ok(())
}

/// Uses a recovery code, once: one atomic UPDATE, so of concurrent uses
/// exactly one succeeds.
pub async fn use_recovery_code(
    db: &impl GenericClient,
    user_id: Uuid,
    hash: &[u8; 32],
) -> AppResult<bool> {
    let n = db
        .execute(
            "UPDATE mfa_recovery_codes SET used_at = now()
              WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
            &[&user_id, &hash.as_slice()],
        )
        .await?;
    Ok(n == 1)
}

pub async fn recovery_codes_left(db: &impl GenericClient, user_id: Uuid) -> AppResult<i64> {
    let row = db
        .query_one(
            "SELECT count(*) FROM mfa_recovery_codes WHERE user_id = $1 AND used_at IS NULL",
            &[&user_id],
        )
        .await?;
    Ok(row.get(0))
}

/// Whether the user has recovery codes at all (used or not).
pub async fn has_recovery_codes(db: &impl GenericClient, user_id: Uuid) -> AppResult<bool> {
    let row = db
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM mfa_recovery_codes WHERE user_id = $1)",
            &[&user_id],
        )
        .await?;
    Ok(row.get(0))
}

pub struct NewPending<'a> {
    pub user_id: Uuid,
    pub token_hash: [u8; 32],
    pub method: &'a str,
    pub lifetime: Duration,
    pub ip: Option<IpAddr>,
    pub user_agent: Option<&'a str>,
}

pub async fn insert_pending(db: &impl GenericClient, p: &NewPending<'_>) -> AppResult<()> {
    let ua = p.user_agent.map(|ua| ua.chars().take(512).collect::<String>());
    db.execute(
        "INSERT INTO mfa_pending (user_id, token_hash, method, expires_at, ip, user_agent)
         VALUES ($1, $2, $3, now() + make_interval(secs => $4), $5, $6)",
        &[&p.user_id, &p.token_hash.as_slice(), &p.method, &p.lifetime.as_secs_f64(), &p.ip, &ua],
    )
    .await?;
    Ok(())
}

/// A live pending sign-in.
#[derive(Debug, Clone)]
pub struct Pending {
    pub id: Uuid,
    pub user_id: Uuid,
    pub method: String,
    pub failures: i32,
    pub webauthn_state: Option<serde_json::Value>,
}

/// The live pending sign-in behind a token, locked for this transaction.
pub async fn lock_pending(
    db: &impl GenericClient,
    token_hash: &[u8; 32],
    max_failures: i32,
) -> AppResult<Option<Pending>> {
    let row = db
        .query_opt(
            "SELECT id, user_id, method, failures, webauthn_state FROM mfa_pending
              WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now() AND failures < $2
                FOR UPDATE",
            &[&token_hash.as_slice(), &max_failures],
        )
        .await?;
    Ok(row.map(|r| Pending {
        id: r.get(0),
        user_id: r.get(1),
        method: r.get(2),
        failures: r.get(3),
        webauthn_state: r.get(4),
    }))
}

/// The user of a live pending sign-in, without locking it.
pub async fn live_pending_user(
    db: &impl GenericClient,
    token_hash: &[u8; 32],
    max_failures: i32,
) -> AppResult<Option<Uuid>> {
    let row = db
        .query_opt(
            "SELECT user_id FROM mfa_pending
              WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now() AND failures < $2",
            &[&token_hash.as_slice(), &max_failures],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

pub async fn pending_failed(db: &impl GenericClient, id: Uuid) -> AppResult<()> {
    db.execute("UPDATE mfa_pending SET failures = failures + 1 WHERE id = $1", &[&id]).await?;
    Ok(())
}

pub async fn pending_used(db: &impl GenericClient, id: Uuid) -> AppResult<()> {
    db.execute(
        "UPDATE mfa_pending SET used_at = now(), webauthn_state = NULL WHERE id = $1",
        &[&id],
    )
    .await?;
    Ok(())
}

pub async fn set_pending_webauthn(
    db: &impl GenericClient,
    id: Uuid,
    state: &serde_json::Value,
) -> AppResult<()> {
    db.execute("UPDATE mfa_pending SET webauthn_state = $2 WHERE id = $1", &[&id, state]).await?;
    Ok(())
}

/// Keeps a WebAuthn challenge for a signed-in user (one per purpose).
pub async fn put_challenge(
    db: &impl GenericClient,
    user_id: Uuid,
    purpose: &str,
    state: &serde_json::Value,
    name: Option<&str>,
    lifetime: Duration,
) -> AppResult<()> {
    db.execute(
        "INSERT INTO mfa_challenges (user_id, purpose, state, name, expires_at)
         VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))
         ON CONFLICT (user_id, purpose) DO UPDATE
            SET state = EXCLUDED.state, name = EXCLUDED.name, expires_at = EXCLUDED.expires_at",
        &[&user_id, &purpose, state, &name, &lifetime.as_secs_f64()],
    )
    .await?;
    Ok(())
}

/// Takes (removes) a live challenge: each is answered once.
pub async fn take_challenge(
    db: &impl GenericClient,
    user_id: Uuid,
    purpose: &str,
) -> AppResult<Option<(serde_json::Value, Option<String>)>> {
    let row = db
        .query_opt(
            "DELETE FROM mfa_challenges WHERE user_id = $1 AND purpose = $2
             RETURNING state, name, expires_at > now()",
            &[&user_id, &purpose],
        )
        .await?;
    Ok(row.filter(|r| r.get::<_, bool>(2)).map(|r| (r.get(0), r.get(1))))
}

/// The practice's MFA policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub required_at: Option<DateTime<Utc>>,
    pub grace_days: i32,
}

pub async fn policy(db: &impl GenericClient, org_id: Uuid) -> AppResult<Policy> {
    let row = db
        .query_one(
            "SELECT mfa_required_at, mfa_grace_days FROM client_orgs WHERE id = $1",
            &[&org_id],
        )
        .await?;
    Ok(Policy { required_at: row.get(0), grace_days: row.get(1) })
}

/// Sets the policy; turning it on keeps the original start when it was
/// already on, so changing the grace period does not restart it.
pub async fn set_policy(
    db: &impl GenericClient,
    org_id: Uuid,
    required: bool,
    grace_days: i32,
) -> AppResult<Policy> {
    let row = db
        .query_one(
            "UPDATE client_orgs
                SET mfa_required_at = CASE WHEN $2 THEN coalesce(mfa_required_at, now()) END,
                    mfa_grace_days = $3, updated_at = now()
              WHERE id = $1 RETURNING mfa_required_at, mfa_grace_days",
            &[&org_id, &required, &grace_days],
        )
        .await?;
    Ok(Policy { required_at: row.get(0), grace_days: row.get(1) })
}

/// Per user of the practice: whether they have a second factor.
pub async fn enrolled_users(db: &impl GenericClient, org_id: Uuid) -> AppResult<Vec<Uuid>> {
    let rows = db
        .query(
            &format!(
                "SELECT u.id FROM client_users u WHERE u.client_org_id = $1 AND {}",
                has_factor_sql("u.id")
            ),
            &[&org_id],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Removes every factor and recovery code of a user; true when there was
/// anything to remove.
pub async fn reset(db: &impl GenericClient, user_id: Uuid) -> AppResult<bool> {
    let row = db
        .query_one(
            "WITH t AS (DELETE FROM mfa_totp WHERE user_id = $1 RETURNING 1),
                  p AS (DELETE FROM mfa_passkeys WHERE user_id = $1 RETURNING 1),
                  r AS (DELETE FROM mfa_recovery_codes WHERE user_id = $1 RETURNING 1),
                  c AS (DELETE FROM mfa_challenges WHERE user_id = $1 RETURNING 1)
             SELECT (SELECT count(*) FROM t) + (SELECT count(*) FROM p)",
            &[&user_id],
        )
        .await?;
    Ok(row.get::<_, i64>(0) > 0)
}

/// Marks the session as just authenticated (re-authentication).
pub async fn session_reauthenticated(
    db: &impl GenericClient,
    session_id: Uuid,
    second_factor: Option<&str>,
) -> AppResult<()> {
    db.execute(
        "UPDATE client_sessions SET authenticated_at = now(),
                second_factor = coalesce($2, second_factor)
          WHERE id = $1",
        &[&session_id, &second_factor],
    )
    .await?;
    Ok(())
}
