//! What every way of signing in shares: rate-limit hits inside a
//! transaction, the checks that a user may sign in, and the session that
//! ends a sign-in. Used by [`super::flows`] and [`super::mfa`].

use std::time::Duration;

use uuid::Uuid;

use super::current::{ClientInfo, CurrentUser};
use super::session::{self, Proof, Started};
use crate::audit::user_entry;
use crate::db::{audit, rate_limits, users};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// The rate-limit window.
pub(crate) const WINDOW: Duration = Duration::from_secs(15 * 60);
pub(crate) const INACTIVE: &str =
    "This account or its practice is not active. Contact your practice's owner.";

/// Counts a hit inside the caller's transaction, so it commits with the
/// rest of the request's writes (one round of durability, not several).
pub(crate) async fn limit_in(
    db: &impl tokio_postgres::GenericClient,
    bucket: String,
    max: u32,
) -> AppResult<()> {
    match rate_limits::hit(db, &bucket, WINDOW, max).await? {
        None => Ok(()),
        Some(retry_after_secs) => Err(AppError::TooManyRequests {
            message: format!(
                "too many attempts; try again in {} minutes",
                retry_after_secs.div_ceil(60)
            ),
            retry_after_secs,
        }),
    }
}

/// The signed-in user, as sign-in endpoints report it.
#[derive(Debug)]
pub struct SignedIn {
    pub user_id: Uuid,
    pub session: Started,
}

/// Whether `token` could be one of ours (length and alphabet) before it is
/// hashed and looked up.
pub(crate) fn plausible_token(token: &str) -> bool {
    (20..=200).contains(&token.len())
        && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Why `user` may not sign in now, audited (the caller commits), or None.
pub(crate) async fn refusal(
    tx: &impl tokio_postgres::GenericClient,
    user: &users::UserRecord,
    method: &str,
    client: &ClientInfo,
) -> AppResult<Option<AppError>> {
    let failed = |reason: &str| audit::Entry {
        details: serde_json::json!({ "method": method, "reason": reason }),
        ..user_entry(user, client, "auth.signin_failed")
    };
    if !user.can_sign_in() {
        audit::record(tx, &failed("inactive")).await?;
        return Ok(Some(AppError::Forbidden(INACTIVE.into())));
    }
    if user.role == crate::auth::Role::Auditor {
        let grant = crate::db::auditors::of_user(tx, user.id).await?;
        let ended = match &grant {
            Some(g) if g.revoked_at.is_some() => Some("was revoked".to_owned()),
            Some(g) if g.expires_at <= chrono::Utc::now() => {
                Some(format!("ended on {}", g.expires_at.format("%Y-%m-%d %H:%M UTC")))
            }
            Some(_) => None,
            None => Some("has ended".to_owned()),
        };
        if let Some(how) = ended {
            audit::record(tx, &failed("auditor_access_ended")).await?;
            return Ok(Some(AppError::Forbidden(format!(
                "your auditor access to {} {how}; ask the practice to extend it or grant it again",
                user.org_name
            ))));
        }
    }
    Ok(None)
}

/// Starts the session of a user who proved who they are, audited (the
/// caller commits).
pub(crate) async fn open_session(
    state: &AppState,
    tx: &impl tokio_postgres::GenericClient,
    user: &users::UserRecord,
    proof: Proof<'_>,
    client: &ClientInfo,
) -> AppResult<SignedIn> {
    let method = proof.method.unwrap_or("unknown");
    let started =
        session::start_proved(tx, state, user.id, client.ip, client.user_agent.as_deref(), proof)
            .await?;
    users::record_sign_in(tx, user.id, method == "magic_link").await?;
    let mut details = serde_json::json!({ "method": method });
    if let Some(second) = proof.second_factor {
        details["second_factor"] = serde_json::json!(second);
    }
    audit::record(
        tx,
        &audit::Entry {
            target_type: Some("session"),
            target_id: Some(started.session_id.to_string()),
            details,
            ..user_entry(user, client, "auth.signin_succeeded")
        },
    )
    .await?;
    Ok(SignedIn { user_id: user.id, session: started })
}

/// Passwords, sessions, tokens, users, roles, invitations, auditor grants
/// and transfers are managed from a signed-in browser only, whatever a
/// token's scope: a leaked script token must not become the whole account,
/// lock out its owner, nor let its holder invite themselves in as an admin.
pub(crate) fn require_browser_session(user: &CurrentUser) -> AppResult<()> {
    match user.session_id() {
        Some(_) => Ok(()),
        None => Err(AppError::Forbidden(
            "API tokens cannot manage passwords, sign-in methods (MFA), sessions, tokens, users, roles, invitations, auditor access or transfers; sign in with a browser for that".into(),
        )),
    }
}
