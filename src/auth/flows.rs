//! Sign-in, sign-out and credential changes: the logic shared by the JSON
//! API and the HTML pages. Each flow validates, rate-limits, writes in one
//! transaction (audit entry included) and returns what the caller renders.

use std::time::Duration;

use uuid::Uuid;

use super::current::{ClientInfo, CurrentUser};
use super::mfa::{self, SignIn};
use super::session::Proof;
pub use super::signin::SignedIn;
pub(crate) use super::signin::{
    INACTIVE, limit_in, open_session, plausible_token, refusal, require_browser_session,
};
use super::{Scope, password, tokens};
use crate::audit::user_entry;
use crate::config::parse_email;
use crate::db::outbox::{self, NewMail};
use crate::db::{anonymous, api_tokens, audit, sessions, users};
use crate::error::{AppError, AppResult};
use crate::paths;
use crate::state::AppState;
use crate::views::emails;

pub const MAGIC_LINK_LIFETIME: Duration = Duration::from_secs(60 * 60);
/// Magic links per address and per client address per window.
const MAGIC_PER_EMAIL: u32 = 5;
const MAGIC_PER_IP: u32 = 30;
/// Link redemptions per client address per window (tokens are unguessable;
/// this only bounds load).
pub(crate) const REDEEM_PER_IP: u32 = 120;
/// Password attempts per account and per client address per window.
const LOGIN_PER_ACCOUNT: u32 = 10;
const LOGIN_PER_IP: u32 = 50;

/// The one answer to every magic-link request, whether or not the address exists.
pub const MAGIC_LINK_SENT: &str = "If that email exists, a login link was sent.";
/// The one answer to every failed password sign-in.
pub const LOGIN_FAILED: &str = "Invalid email or password.";
const LINK_INVALID: &str =
    "This sign-in link is invalid, expired or already used. Request a new one.";

pub(crate) fn bad_email() -> AppError {
    AppError::BadRequest("enter a valid email address, like name@practice.com".into())
}

/// Rate-limit keys never contain the address itself.
fn email_key(state: &AppState, email: &str) -> String {
    hex::encode(&tokens::hash(state.secret(), &format!("email:{email}"))[..16])
}

pub(crate) async fn limit(state: &AppState, bucket: String, max: u32) -> AppResult<()> {
    let db = state.pool().get().await?;
    limit_in(&**db, bucket, max).await
}

/// Queues a sign-in link request. The request itself does the same
/// database work whatever the address (two rate-limit counters, one queued
/// row, one commit), so neither its answer nor its timing tells whether the
/// address has an account; [`issue_requested_links`] then looks the address
/// up and makes the link and its mail for an active user.
pub async fn request_magic_link(
    state: &AppState,
    raw_email: &str,
    client: &ClientInfo,
) -> AppResult<()> {
    let email = parse_email(raw_email).ok_or_else(bad_email)?;
    let mut db = state.pool().get().await?;
    let tx = db.transaction().await?;
    // Over the limit, the transaction rolls back: the refused hit is not
    // counted, which changes nothing (the bucket is already full).
    limit_in(&*tx, format!("magic:email:{}", email_key(state, &email)), MAGIC_PER_EMAIL).await?;
    limit_in(&*tx, format!("magic:ip:{}", client.ip_key()), MAGIC_PER_IP).await?;
    anonymous::queue_link_request(&*tx, &email, client.ip, client.user_agent.as_deref()).await?;
    tx.commit().await?;
    state.wake_link_worker();
    Ok(())
}

/// Queued requests handled per transaction.
const LINK_BATCH: i64 = 100;

/// Answers the queued magic-link requests: for an active user a link and
/// its mail, for a practice's inactive user nothing but the audit row, for
/// an unknown address a counted attempt (no audit row: anyone can make
/// those). A request older than a link's lifetime (left by an instance that
/// stopped) is dropped: its sender has asked again or given up. Safe to run
/// from several instances at once. Returns how many requests were handled.
pub async fn issue_requested_links(state: &AppState) -> AppResult<usize> {
    let mut handled = 0;
    loop {
        let mut db = state.pool().get().await?;
        let tx = db.transaction().await?;
        let batch = anonymous::take_link_requests(&*tx, LINK_BATCH).await?;
        if batch.is_empty() {
            return Ok(handled);
        }
        let mut mailed = false;
        for request in &batch {
            mailed |= issue_link(state, &*tx, request).await?;
        }
        tx.commit().await?;
        if mailed {
            state.wake_mailer();
        }
        handled += batch.len();
    }
}

/// One queued request; true when a mail was queued.
async fn issue_link(
    state: &AppState,
    tx: &impl tokio_postgres::GenericClient,
    request: &anonymous::LinkRequest,
) -> AppResult<bool> {
    let Some(user) = users::find_by_email(tx, &request.email).await? else {
        let ip_key = super::forwarded::limit_key(request.ip);
        anonymous::count_attempt(tx, "magic_link_unknown_address", &ip_key).await?;
        return Ok(false);
    };
    let stale = chrono::Utc::now() - request.requested_at
        > chrono::Duration::from_std(MAGIC_LINK_LIFETIME).expect("an hour fits");
    let send = user.can_sign_in() && !stale;
    let details = match (send, stale) {
        (false, true) => serde_json::json!({ "sent": false, "reason": "request_expired" }),
        _ => serde_json::json!({ "sent": send }),
    };
    audit::record(
        tx,
        &audit::Entry {
            org_id: Some(user.org_id),
            actor_user_id: Some(user.id),
            actor_email: Some(&request.email),
            action: "auth.magic_link_requested",
            ip: request.ip,
            user_agent: request.user_agent.as_deref(),
            details,
            ..Default::default()
        },
    )
    .await?;
    if !send {
        return Ok(false);
    }
    let token = tokens::generate();
    sessions::insert_magic_link(
        tx,
        user.id,
        &tokens::hash(state.secret(), &token),
        MAGIC_LINK_LIFETIME,
        request.ip,
    )
    .await?;
    let link = format!("{}{}?token={token}", state.config().base_url, paths::VERIFY);
    let mail = emails::magic_link(user.name.as_deref(), &user.org_name, &link, MAGIC_LINK_LIFETIME);
    outbox::enqueue(
        tx,
        &NewMail {
            to: user.email.clone(),
            subject: mail.subject,
            text: mail.text,
            html: Some(mail.html),
            kind: "magic_link",
            contains_secret: true,
        },
    )
    .await?;
    Ok(true)
}

/// How often queued requests are looked for without a wake-up (requests
/// another instance queued and left).
const LINK_POLL: Duration = Duration::from_secs(30);

/// The running link worker; `shutdown` stops it.
pub struct LinkWorker {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl LinkWorker {
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Answers queued magic-link requests as they come ([`AppState::wake_link_worker`])
/// and every [`LINK_POLL`], until shut down.
pub fn spawn_link_worker(state: AppState) -> LinkWorker {
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let wake = state.link_waker();
    let task = tokio::spawn(async move {
        loop {
            if let Err(e) = issue_requested_links(&state).await {
                tracing::warn!(error = %e, "answering sign-in link requests failed; retrying");
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(LINK_POLL) => {}
                _ = stopped.changed() => return,
            }
        }
    });
    LinkWorker { stop, task }
}

/// Redeems a magic link (once) and starts a session.
pub async fn redeem_magic_link(
    state: &AppState,
    token: &str,
    client: &ClientInfo,
) -> AppResult<SignIn> {
    let token = token.trim();
    let mut db = state.pool().get().await?;
    let tx = db.transaction().await?;
    limit_in(&*tx, format!("redeem:ip:{}", client.ip_key()), REDEEM_PER_IP).await?;
    let consumed = if plausible_token(token) {
        sessions::consume_magic_link(&*tx, &tokens::hash(state.secret(), token)).await?
    } else {
        None
    };
    let user = match consumed {
        Some(user_id) => users::find_by_id(&*tx, user_id).await?,
        None => None,
    };
    let Some(user) = user else {
        // A link that names no account: counted, not audited (anyone can
        // send these, and no practice's log is the place for them).
        anonymous::count_attempt(&*tx, "magic_link_invalid_link", &client.ip_key()).await?;
        tx.commit().await?;
        return Err(AppError::Unauthorized(LINK_INVALID.into()));
    };
    finish_sign_in(state, tx, &user, "magic_link", client).await
}

/// Checks an email and password and starts a session. Unknown address,
/// wrong password and no password set all answer the same 401.
pub async fn login_with_password(
    state: &AppState,
    raw_email: &str,
    password: &str,
    client: &ClientInfo,
) -> AppResult<SignIn> {
    // An address that cannot exist is simply an unknown account: it never
    // reaches the database (which would refuse e.g. NUL bytes) but costs the
    // same password check, so the answer and its timing stay the same.
    let email = parse_email(raw_email);
    let key_source = email.clone().unwrap_or_else(|| raw_email.trim().to_lowercase());
    limit(state, format!("login:account:{}", email_key(state, &key_source)), LOGIN_PER_ACCOUNT)
        .await?;
    limit(state, format!("login:ip:{}", client.ip_key()), LOGIN_PER_IP).await?;

    let user = match &email {
        Some(email) => users::find_by_email(&**state.pool().get().await?, email).await?,
        None => None,
    };
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    // No pool connection is held while argon2 runs (tens of milliseconds).
    let ok = password::verify_blocking(stored, password.to_owned()).await?;
    let mut db = state.pool().get().await?;
    let tx = db.transaction().await?;
    match user {
        Some(user) if ok => finish_sign_in(state, tx, &user, "password", client).await,
        Some(user) => {
            audit::record(
                &*tx,
                &audit::Entry {
                    org_id: Some(user.org_id),
                    actor_user_id: Some(user.id),
                    actor_email: Some(&user.email),
                    action: "auth.signin_failed",
                    ip: client.ip,
                    user_agent: client.user_agent.as_deref(),
                    details: serde_json::json!({ "method": "password" }),
                    ..Default::default()
                },
            )
            .await?;
            tx.commit().await?;
            Err(AppError::Unauthorized(LOGIN_FAILED.into()))
        }
        None => {
            // An address with no account: counted per client address, not
            // audited (nothing bounds how many of these anyone can send).
            anonymous::count_attempt(&*tx, "password_unknown_address", &client.ip_key()).await?;
            tx.commit().await?;
            Err(AppError::Unauthorized(LOGIN_FAILED.into()))
        }
    }
}

/// Ends a first factor: a session, or the pending state when the user has
/// a second factor. Refusals (an inactive account, an auditor whose access
/// ended) are audited and committed before the error returns.
pub(crate) async fn finish_sign_in(
    state: &AppState,
    tx: deadpool_postgres::Transaction<'_>,
    user: &users::UserRecord,
    method: &str,
    client: &ClientInfo,
) -> AppResult<SignIn> {
    if let Some(refused) = refusal(&*tx, user, method, client).await? {
        tx.commit().await?;
        return Err(refused);
    }
    let methods = mfa::methods_of(&*tx, user.id).await?;
    if methods.iter().any(|m| *m != mfa::Method::RecoveryCode) {
        let pending = mfa::start_pending(state, &*tx, user, method, client, methods).await?;
        tx.commit().await?;
        return Ok(SignIn::SecondFactor(pending));
    }
    let proof = Proof { method: Some(method), second_factor: None };
    let signed_in = open_session(state, &*tx, user, proof, client).await?;
    tx.commit().await?;
    Ok(SignIn::Session(signed_in))
}

/// Ends the caller's browser session (nothing to end for an API token).
pub async fn logout(state: &AppState, user: &CurrentUser, client: &ClientInfo) -> AppResult<()> {
    let mut db = state.pool().get().await?;
    let tx = db.transaction().await?;
    if let Some(session_id) = user.session_id() {
        sessions::revoke_session(&*tx, user.id, session_id).await?;
    }
    audit::record(
        &*tx,
        &audit::Entry {
            target_type: Some("session"),
            target_id: user.session_id().map(|s| s.to_string()),
            ..user_entry(user, client, "auth.signout")
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Sets or changes the caller's password; other sessions are signed out
/// and the user is told by email. Needs a recent sign-in; changing a
/// password needs the current one, unless the session proved the user's
/// mailbox and a second factor (then a forgotten password can be replaced).
pub async fn set_password(
    state: &AppState,
    user: &CurrentUser,
    new_password: &str,
    current_password: Option<&str>,
    client: &ClientInfo,
) -> AppResult<u64> {
    mfa::require_recent(user)?;
    password::validate(new_password)?;
    let record = users::find_by_id(&**state.pool().get().await?, user.id)
        .await?
        .ok_or_else(|| AppError::Unauthorized("your account no longer exists".into()))?;
    let current = current_password.filter(|c| !c.is_empty());
    let replacing_forgotten = current.is_none() && mfa::may_replace_forgotten_password(user);
    if let Some(stored) = record.password_hash.clone().filter(|_| !replacing_forgotten) {
        let Some(current) = current else {
            return Err(AppError::Forbidden(
                "enter your current password to change it (forgotten it? sign in with an email \
                 link and your second factor, then you can replace it)"
                    .into(),
            ));
        };
        limit(
            state,
            format!("login:account:{}", email_key(state, &record.email)),
            LOGIN_PER_ACCOUNT,
        )
        .await?;
        if !password::verify_blocking(Some(stored), current.to_owned()).await? {
            return Err(AppError::Forbidden("the current password is wrong".into()));
        }
    }
    let hash = password::hash_blocking(new_password.to_owned()).await?;
    let mut db = state.pool().get().await?;
    let tx = db.transaction().await?;
    users::set_password_hash(&*tx, user.id, &hash).await?;
    let revoked = sessions::revoke_other_sessions(&*tx, user.id, user.session_id()).await?;
    let changed = record.password_hash.is_some();
    audit::record(
        &*tx,
        &audit::Entry {
            details: serde_json::json!({
                "other_sessions_revoked": revoked,
                "changed": changed,
                "replaced_forgotten": changed && replacing_forgotten,
            }),
            ..user_entry(user, client, "auth.password_set")
        },
    )
    .await?;
    let what = if changed {
        "The password of your account was changed, and your other sessions were signed out."
    } else {
        "A password was set for your account: you can now sign in with it as well as with an email link."
    };
    mfa::notify_user(state, &*tx, user, what).await?;
    tx.commit().await?;
    state.wake_mailer();
    Ok(revoked)
}

/// Revokes one of the caller's own sessions; another user's id is a 404.
pub async fn revoke_session(
    state: &AppState,
    user: &CurrentUser,
    session_id: Uuid,
    client: &ClientInfo,
) -> AppResult<()> {
    require_browser_session(user)?;
    let mut db = state.pool().get().await?;
    let tx = db.transaction().await?;
    if !sessions::revoke_session(&*tx, user.id, session_id).await? {
        return Err(AppError::NotFound("no such active session".into()));
    }
    audit::record(
        &*tx,
        &audit::Entry {
            target_type: Some("session"),
            target_id: Some(session_id.to_string()),
            ..user_entry(user, client, "session.revoked")
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Signs out every other session of the caller; returns how many.
pub async fn revoke_other_sessions(
    state: &AppState,
    user: &CurrentUser,
    client: &ClientInfo,
) -> AppResult<u64> {
    require_browser_session(user)?;
    let mut db = state.pool().get().await?;
    let tx = db.transaction().await?;
    let n = sessions::revoke_other_sessions(&*tx, user.id, user.session_id()).await?;
    audit::record(
        &*tx,
        &audit::Entry {
            details: serde_json::json!({ "revoked": n }),
            ..user_entry(user, client, "session.revoked_others")
        },
    )
    .await?;
    tx.commit().await?;
    Ok(n)
}

/// A new API token, shown once.
pub struct NewToken {
    pub id: Uuid,
    pub name: String,
    pub token: String,
    pub prefix: String,
    pub scope: Scope,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewToken")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("token", &&crate::auth::tokens::REDACTED)
            .field("prefix", &self.prefix)
            .field("scope", &self.scope)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// Prefix that makes portal tokens recognisable to secret scanners.
pub const TOKEN_PREFIX: &str = "ocp_";

pub async fn create_api_token(
    state: &AppState,
    user: &CurrentUser,
    raw_name: &str,
    scope: Scope,
    client: &ClientInfo,
) -> AppResult<NewToken> {
    mfa::require_recent(user)?;
    let name = raw_name.trim();
    if name.is_empty() || raw_name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(AppError::BadRequest("give the token a name of 1 to 100 characters".into()));
    }
    let token = format!("{TOKEN_PREFIX}{}", tokens::generate());
    let prefix: String = token.chars().take(TOKEN_PREFIX.len() + 4).collect();
    let mut db = state.pool().get().await?;
    let tx = db.transaction().await?;
    let (id, created_at) = api_tokens::insert(
        &*tx,
        user.org_id,
        user.id,
        name,
        &tokens::hash(state.secret(), &token),
        &prefix,
        scope,
    )
    .await?;
    audit::record(
        &*tx,
        &audit::Entry {
            target_type: Some("api_token"),
            target_id: Some(id.to_string()),
            details: serde_json::json!({ "name": name, "scope": scope.as_str() }),
            ..user_entry(user, client, "api_token.created")
        },
    )
    .await?;
    tx.commit().await?;
    Ok(NewToken { id, name: name.to_owned(), token, prefix, scope, created_at })
}

pub async fn revoke_api_token(
    state: &AppState,
    user: &CurrentUser,
    token_id: Uuid,
    client: &ClientInfo,
) -> AppResult<()> {
    require_browser_session(user)?;
    let mut db = state.pool().get().await?;
    let tx = db.transaction().await?;
    let Some((name, maker)) = api_tokens::lock_live(&*tx, user.org_id, token_id).await? else {
        return Err(AppError::NotFound("no such API token".into()));
    };
    if maker > user.role {
        return Err(AppError::Forbidden(format!(
            "this token belongs to the practice {maker}; only they can revoke it"
        )));
    }
    api_tokens::revoke(&*tx, token_id).await?;
    audit::record(
        &*tx,
        &audit::Entry {
            target_type: Some("api_token"),
            target_id: Some(token_id.to_string()),
            details: serde_json::json!({ "name": name }),
            ..user_entry(user, client, "api_token.revoked")
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
