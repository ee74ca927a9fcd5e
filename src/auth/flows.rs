//! Sign-in, sign-out and credential changes: the logic shared by the JSON
//! API and the HTML pages. Each flow validates, rate-limits, writes in one
//! transaction (audit entry included) and returns what the caller renders.

use std::time::Duration;

use uuid::Uuid;

use super::current::{ClientInfo, CurrentUser, require_role};
use super::session::{self, Started};
use super::{password, tokens};
use crate::config::parse_email;
use crate::db::notifications::{self, Preferences};
use crate::db::outbox::{self, NewMail};
use crate::db::{api_tokens, audit, invites, rate_limits, sessions, users};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::views::emails;

pub const MAGIC_LINK_LIFETIME: Duration = Duration::from_secs(60 * 60);
const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Magic links per address and per client address per window.
const MAGIC_PER_EMAIL: u32 = 5;
const MAGIC_PER_IP: u32 = 30;
/// Link redemptions per client address per window (tokens are unguessable;
/// this only bounds load).
const REDEEM_PER_IP: u32 = 120;
/// Password attempts per account and per client address per window.
const LOGIN_PER_ACCOUNT: u32 = 10;
const LOGIN_PER_IP: u32 = 50;

/// The one answer to every magic-link request, whether or not the address exists.
pub const MAGIC_LINK_SENT: &str = "If that email exists, a login link was sent.";
/// The one answer to every failed password sign-in.
pub const LOGIN_FAILED: &str = "Invalid email or password.";
const LINK_INVALID: &str =
    "This sign-in link is invalid, expired or already used. Request a new one.";
const INACTIVE: &str = "This account or its practice is not active. Contact your practice's owner.";

fn bad_email() -> AppError {
    AppError::BadRequest("enter a valid email address, like name@practice.com".into())
}

/// Rate-limit keys never contain the address itself.
fn email_key(state: &AppState, email: &str) -> String {
    hex::encode(&tokens::hash(state.secret(), &format!("email:{email}"))[..16])
}

async fn limit(state: &AppState, bucket: String, max: u32) -> AppResult<()> {
    let db = state.pool().get().await?;
    limit_in(&**db, bucket, max).await
}

/// Counts a hit inside the caller's transaction, so it commits with the
/// rest of the request's writes (one round of durability, not several).
async fn limit_in(
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

/// Queues a sign-in link for the address if it belongs to an active user.
/// Known, unknown and inactive addresses get the same answer and do the same
/// database round trips; no mail is sent inline.
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
    let user = users::find_by_email(&*tx, &email).await?;
    let eligible = user.as_ref().filter(|u| u.can_sign_in());
    audit::record(
        &*tx,
        &audit::Entry {
            org_id: user.as_ref().map(|u| u.org_id),
            actor_user_id: user.as_ref().map(|u| u.id),
            actor_email: Some(&email),
            action: "auth.magic_link_requested",
            ip: client.ip,
            user_agent: client.user_agent.as_deref(),
            details: serde_json::json!({ "sent": eligible.is_some() }),
            ..Default::default()
        },
    )
    .await?;
    if let Some(user) = eligible {
        let token = tokens::generate();
        sessions::insert_magic_link(
            &*tx,
            user.id,
            &tokens::hash(state.secret(), &token),
            MAGIC_LINK_LIFETIME,
            client.ip,
        )
        .await?;
        let link = format!("{}/client/verify?token={token}", state.config().base_url);
        let mail =
            emails::magic_link(user.name.as_deref(), &user.org_name, &link, MAGIC_LINK_LIFETIME);
        outbox::enqueue(
            &*tx,
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
    }
    tx.commit().await?;
    if eligible.is_some() {
        state.wake_mailer();
    }
    Ok(())
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

/// Redeems a magic link (once) and starts a session.
pub async fn redeem_magic_link(
    state: &AppState,
    token: &str,
    client: &ClientInfo,
) -> AppResult<SignedIn> {
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
        audit::record(
            &*tx,
            &audit::Entry {
                action: "auth.signin_failed",
                ip: client.ip,
                user_agent: client.user_agent.as_deref(),
                details: serde_json::json!({ "method": "magic_link", "reason": "invalid_or_used_link" }),
                ..Default::default()
            },
        )
        .await?;
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
) -> AppResult<SignedIn> {
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
        user => {
            audit::record(
                &*tx,
                &audit::Entry {
                    org_id: user.as_ref().map(|u| u.org_id),
                    actor_user_id: user.as_ref().map(|u| u.id),
                    actor_email: email.as_deref(),
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
    }
}

async fn finish_sign_in(
    state: &AppState,
    tx: deadpool_postgres::Transaction<'_>,
    user: &users::UserRecord,
    method: &str,
    client: &ClientInfo,
) -> AppResult<SignedIn> {
    let entry = |action| audit::Entry {
        org_id: Some(user.org_id),
        actor_user_id: Some(user.id),
        actor_email: Some(&user.email),
        action,
        ip: client.ip,
        user_agent: client.user_agent.as_deref(),
        details: serde_json::json!({ "method": method }),
        ..Default::default()
    };
    if !user.can_sign_in() {
        audit::record(
            &*tx,
            &audit::Entry {
                details: serde_json::json!({ "method": method, "reason": "inactive" }),
                ..entry("auth.signin_failed")
            },
        )
        .await?;
        tx.commit().await?;
        return Err(AppError::Forbidden(INACTIVE.into()));
    }
    let started =
        session::start(&*tx, state, user.id, client.ip, client.user_agent.as_deref()).await?;
    users::record_sign_in(&*tx, user.id, method == "magic_link").await?;
    audit::record(
        &*tx,
        &audit::Entry {
            target_type: Some("session"),
            target_id: Some(started.session_id.to_string()),
            ..entry("auth.signin_succeeded")
        },
    )
    .await?;
    tx.commit().await?;
    Ok(SignedIn { user_id: user.id, session: started })
}

/// Passwords, sessions, new tokens and invitations are managed from a
/// signed-in browser only: a leaked script token must not become the whole
/// account, nor let its holder invite themselves in as an admin.
fn require_browser_session(user: &CurrentUser) -> AppResult<()> {
    match user.session_id() {
        Some(_) => Ok(()),
        None => Err(AppError::Forbidden(
            "API tokens cannot change passwords, sessions or tokens, nor send invitations; sign in with a browser for that".into(),
        )),
    }
}

/// An audit entry for an action `user` took from `client`; set the target
/// and details with struct update syntax.
pub fn user_entry<'a>(
    user: &'a CurrentUser,
    client: &'a ClientInfo,
    action: &'a str,
) -> audit::Entry<'a> {
    audit::Entry {
        org_id: Some(user.org_id),
        actor_user_id: Some(user.id),
        actor_email: Some(&user.email),
        action,
        ip: client.ip,
        user_agent: client.user_agent.as_deref(),
        ..Default::default()
    }
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

/// Sets or changes the caller's password; other sessions are signed out.
pub async fn set_password(
    state: &AppState,
    user: &CurrentUser,
    new_password: &str,
    current_password: Option<&str>,
    client: &ClientInfo,
) -> AppResult<u64> {
    require_browser_session(user)?;
    password::validate(new_password)?;
    let record = users::find_by_id(&**state.pool().get().await?, user.id)
        .await?
        .ok_or_else(|| AppError::Unauthorized("your account no longer exists".into()))?;
    if let Some(stored) = record.password_hash.clone() {
        let Some(current) = current_password.filter(|c| !c.is_empty()) else {
            return Err(AppError::Forbidden("enter your current password to change it".into()));
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
    audit::record(&*tx, &audit::Entry { details: serde_json::json!({ "other_sessions_revoked": revoked, "changed": record.password_hash.is_some() }), ..user_entry(user, client, "auth.password_set") }).await?;
    tx.commit().await?;
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
#[derive(Debug)]
pub struct NewToken {
    pub id: Uuid,
    pub name: String,
    pub token: String,
    pub prefix: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Prefix that makes portal tokens recognisable to secret scanners.
pub const TOKEN_PREFIX: &str = "ocp_";

pub async fn create_api_token(
    state: &AppState,
    user: &CurrentUser,
    raw_name: &str,
    client: &ClientInfo,
) -> AppResult<NewToken> {
    require_browser_session(user)?;
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
    )
    .await?;
    audit::record(
        &*tx,
        &audit::Entry {
            target_type: Some("api_token"),
            target_id: Some(id.to_string()),
            details: serde_json::json!({ "name": name }),
            ..user_entry(user, client, "api_token.created")
        },
    )
    .await?;
    tx.commit().await?;
    Ok(NewToken { id, name: name.to_owned(), token, prefix, created_at })
}

pub async fn revoke_api_token(
    state: &AppState,
    user: &CurrentUser,
    token_id: Uuid,
    client: &ClientInfo,
) -> AppResult<()> {
    let mut db = state.pool().get().await?;
    let tx = db.transaction().await?;
    let Some(name) = api_tokens::revoke(&*tx, user.org_id, token_id).await? else {
        return Err(AppError::NotFound("no such API token".into()));
    };
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

// ---------------------------------------------------------------------------
// Users and invitations
// ---------------------------------------------------------------------------

/// How long an invitation link works.
pub const INVITE_LIFETIME: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// Invitation mails (new and resent) per practice per window.
const INVITES_PER_ORG: u32 = 100;
/// The longest name a user can give.
pub const MAX_NAME_CHARS: usize = 200;

/// Emails are unique across every practice; the answer names none of them.
pub const EMAIL_HAS_ACCOUNT: &str = "that email address already has an OsirisCare portal account \
     (an address can belong to one practice only), so it cannot be invited; invite a different address";
const INVITE_INVALID: &str = "This invitation link is invalid, expired or already used. \
     Ask the person who invited you to send a new invitation.";

/// Only admins and viewers are invited; ownership is transferred, never invited.
fn invitable(role: super::Role) -> AppResult<super::Role> {
    match role {
        super::Role::Admin | super::Role::Viewer => Ok(role),
        super::Role::Owner => Err(AppError::BadRequest(
            "invite people as admin or viewer; a practice has one owner".into(),
        )),
    }
}

/// A person's name: trimmed, 1 to 200 characters, no control characters.
pub fn clean_name(raw: &str) -> AppResult<String> {
    let name = raw.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(AppError::BadRequest(format!(
            "enter a name of 1 to {MAX_NAME_CHARS} characters"
        )));
    }
    Ok(name.to_owned())
}

/// An invitation that was just sent (or sent again).
#[derive(Debug)]
pub struct SentInvite {
    pub id: Uuid,
    pub email: String,
    pub role: super::Role,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    /// The open invitation to the same address this one replaced.
    pub replaced: Option<Uuid>,
}

/// Queues the invitation mail inside the caller's transaction.
#[allow(clippy::too_many_arguments)]
async fn enqueue_invite_mail(
    state: &AppState,
    db: &impl tokio_postgres::GenericClient,
    inviter: &CurrentUser,
    email: &str,
    name: Option<&str>,
    role: super::Role,
    token: &str,
    expires_at: chrono::DateTime<chrono::Utc>,
) -> AppResult<()> {
    let link = format!("{}/client/invite?token={token}", state.config().base_url);
    let mail = crate::views::users::invite_email(
        name,
        &inviter.org_name,
        inviter.display_name(),
        role,
        &link,
        expires_at,
    );
    outbox::enqueue(
        db,
        &NewMail {
            to: email.to_owned(),
            subject: mail.subject,
            text: mail.text,
            html: Some(mail.html),
            kind: "invite",
            contains_secret: true,
        },
    )
    .await?;
    Ok(())
}

/// Counts one invitation mail against the practice's limit. The hit is
/// committed on its own connection before the invitation's transaction:
/// that transaction rolls back on a 409 (the address has an account), and
/// a hit counted inside it would vanish with it, leaving the 409s free to
/// probe which addresses have accounts.
async fn limit_invites(state: &AppState, user: &CurrentUser) -> AppResult<()> {
    limit(state, format!("invite:org:{}", user.org_id), INVITES_PER_ORG).await
}

/// Invites `raw_email` to the caller's practice with `role`. An address
/// that already has an account anywhere is a 409; an open invitation to the
/// same address in this practice is replaced (its link stops working).
/// Browser sessions only (403 for API tokens).
pub async fn create_invite(
    state: &AppState,
    user: &CurrentUser,
    raw_email: &str,
    raw_name: Option<&str>,
    role: super::Role,
    client: &ClientInfo,
) -> AppResult<SentInvite> {
    require_role(user, super::Role::Admin)?;
    require_browser_session(user)?;
    let email = parse_email(raw_email).ok_or_else(bad_email)?;
    let role = invitable(role)?;
    let name = match raw_name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) => Some(clean_name(n)?),
        None => None,
    };
    limit_invites(state, user).await?;
    let mut db = state.pool().get().await?;
    let tx = db.transaction().await?;
    // Two admins inviting one address at once: the second waits, then
    // replaces the first's invitation instead of hitting the unique index.
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        &[&format!("invite:{}:{email}", user.org_id)],
    )
    .await?;
    if users::email_taken(&*tx, &email).await? {
        return Err(AppError::Conflict(EMAIL_HAS_ACCOUNT.into()));
    }
    let replaced = invites::revoke_open_for_email(&*tx, user.org_id, &email).await?;
    let token = tokens::generate();
    let (id, expires_at) = invites::insert(
        &*tx,
        &invites::NewInvite {
            org_id: user.org_id,
            email: &email,
            name: name.as_deref(),
            role,
            invited_by: user.id,
            token_hash: tokens::hash(state.secret(), &token),
            lifetime: INVITE_LIFETIME,
        },
    )
    .await?;
    enqueue_invite_mail(state, &*tx, user, &email, name.as_deref(), role, &token, expires_at)
        .await?;
    audit::record(
        &*tx,
        &audit::Entry {
            target_type: Some("invite"),
            target_id: Some(id.to_string()),
            details: serde_json::json!({
                "email": email, "role": role.as_str(), "replaced_invite_id": replaced,
            }),
            ..user_entry(user, client, "invite.sent")
        },
    )
    .await?;
    tx.commit().await?;
    state.wake_mailer();
    Ok(SentInvite { id, email, role, expires_at, replaced })
}

/// Revokes an open invitation of the caller's practice.
pub async fn revoke_invite(
    state: &AppState,
    user: &CurrentUser,
    invite_id: Uuid,
    client: &ClientInfo,
) -> AppResult<()> {
    require_role(user, super::Role::Admin)?;
    let mut db = state.pool().get().await?;
    let tx = db.transaction().await?;
    let Some((email, role)) = invites::revoke(&*tx, user.org_id, invite_id).await? else {
        return Err(AppError::NotFound(
            "no open invitation with that id in your practice (it may have been accepted or revoked already)"
                .into(),
        ));
    };
    audit::record(
        &*tx,
        &audit::Entry {
            target_type: Some("invite"),
            target_id: Some(invite_id.to_string()),
            details: serde_json::json!({ "email": email, "role": role.as_str() }),
            ..user_entry(user, client, "invite.revoked")
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Sends an open (or expired) invitation again with a new link and a new
/// expiry; the old link stops working. Browser sessions only (403 for API
/// tokens).
pub async fn resend_invite(
    state: &AppState,
    user: &CurrentUser,
    invite_id: Uuid,
    client: &ClientInfo,
) -> AppResult<SentInvite> {
    require_role(user, super::Role::Admin)?;
    require_browser_session(user)?;
    limit_invites(state, user).await?;
    let mut db = state.pool().get().await?;
    let tx = db.transaction().await?;
    let not_found = || {
        AppError::NotFound(
            "no open invitation with that id in your practice (it may have been accepted or revoked)"
                .into(),
        )
    };
    let invite = invites::find_open(&*tx, user.org_id, invite_id).await?.ok_or_else(not_found)?;
    if users::email_taken(&*tx, &invite.email).await? {
        return Err(AppError::Conflict(
            "that email address has an OsirisCare portal account now, so the invitation cannot be used; revoke it"
                .into(),
        ));
    }
    let token = tokens::generate();
    let expires_at = invites::renew(
        &*tx,
        user.org_id,
        invite_id,
        &tokens::hash(state.secret(), &token),
        INVITE_LIFETIME,
    )
    .await?
    .ok_or_else(not_found)?;
    enqueue_invite_mail(
        state,
        &*tx,
        user,
        &invite.email,
        invite.name.as_deref(),
        invite.role,
        &token,
        expires_at,
    )
    .await?;
    audit::record(
        &*tx,
        &audit::Entry {
            target_type: Some("invite"),
            target_id: Some(invite_id.to_string()),
            details: serde_json::json!({
                "email": invite.email, "role": invite.role.as_str(), "was_expired": invite.expired,
            }),
            ..user_entry(user, client, "invite.resent")
        },
    )
    .await?;
    tx.commit().await?;
    state.wake_mailer();
    Ok(SentInvite {
        id: invite_id,
        email: invite.email,
        role: invite.role,
        expires_at,
        replaced: None,
    })
}

/// Accepts an invitation (once): creates the user in the inviting practice
/// with the invited role, verified address and no backlog of unread
/// notifications, and signs them in.
pub async fn accept_invite(
    state: &AppState,
    token: &str,
    raw_name: &str,
    client: &ClientInfo,
) -> AppResult<SignedIn> {
    let name = clean_name(raw_name)?;
    let token = token.trim();
    let mut db = state.pool().get().await?;
    let tx = db.transaction().await?;
    limit_in(&*tx, format!("invite:ip:{}", client.ip_key()), REDEEM_PER_IP).await?;
    let claimed = if plausible_token(token) {
        invites::lock_usable(&*tx, &tokens::hash(state.secret(), token)).await?
    } else {
        None
    };
    let Some(invite) = claimed else {
        audit::record(
            &*tx,
            &audit::Entry {
                action: "invite.accept_failed",
                ip: client.ip,
                user_agent: client.user_agent.as_deref(),
                details: serde_json::json!({ "reason": "invalid_expired_or_used" }),
                ..Default::default()
            },
        )
        .await?;
        tx.commit().await?;
        return Err(AppError::Unauthorized(INVITE_INVALID.into()));
    };
    if !invite.org_active {
        return Err(AppError::Forbidden(INACTIVE.into()));
    }
    if users::email_taken(&*tx, &invite.email).await? {
        return Err(AppError::Conflict(
            "this email address already has an OsirisCare portal account: sign in with it instead"
                .into(),
        ));
    }
    let user_id =
        users::insert_invited(&*tx, invite.org_id, &invite.email, &name, invite.role).await?;
    if !invites::mark_accepted(&*tx, invite.id, user_id).await? {
        return Err(AppError::Unauthorized(INVITE_INVALID.into()));
    }
    audit::record(
        &*tx,
        &audit::Entry {
            org_id: Some(invite.org_id),
            actor_user_id: Some(user_id),
            actor_email: Some(&invite.email),
            action: "invite.accepted",
            target_type: Some("invite"),
            target_id: Some(invite.id.to_string()),
            ip: client.ip,
            user_agent: client.user_agent.as_deref(),
            details: serde_json::json!({
                "role": invite.role.as_str(), "invited_by": invite.invited_by, "user_id": user_id,
            }),
        },
    )
    .await?;
    let user = users::find_by_id(&*tx, user_id)
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("the invited user vanished")))?;
    finish_sign_in(state, tx, &user, "invite", client).await
}

/// Removes (deactivates) a user of the caller's practice: their sessions,
/// API tokens and the open invitations they sent are revoked in the same
/// transaction. Nobody removes themselves or the owner; only the owner
/// removes an admin. Removing a user who is already removed changes nothing.
pub async fn remove_user(
    state: &AppState,
    actor: &CurrentUser,
    target_id: Uuid,
    client: &ClientInfo,
) -> AppResult<()> {
    require_role(actor, super::Role::Admin)?;
    let mut db = state.pool().get().await?;
    let tx = db.transaction().await?;
    let target = users::lock_in_org(&*tx, actor.org_id, target_id)
        .await?
        .ok_or_else(|| AppError::NotFound("no such user in your practice".into()))?;
    if target.id == actor.id {
        return Err(AppError::Forbidden(
            "you cannot remove yourself; another admin or the owner can".into(),
        ));
    }
    if target.role == super::Role::Owner {
        return Err(AppError::Forbidden(
            "the practice owner cannot be removed; ownership stays with them".into(),
        ));
    }
    if target.role == super::Role::Admin && actor.role != super::Role::Owner {
        return Err(AppError::Forbidden("only the practice owner can remove an admin".into()));
    }
    if !target.is_active {
        return Ok(());
    }
    users::deactivate(&*tx, target.id).await?;
    let sessions_revoked = sessions::revoke_other_sessions(&*tx, target.id, None).await?;
    let tokens_revoked = api_tokens::revoke_for_user(&*tx, target.id).await?;
    // Their invitations would otherwise outlive them: an admin could invite
    // a second address of their own, be removed, and accept.
    let invites_revoked = invites::revoke_open_by_inviter(&*tx, actor.org_id, target.id).await?;
    audit::record(
        &*tx,
        &audit::Entry {
            target_type: Some("user"),
            target_id: Some(target.id.to_string()),
            details: serde_json::json!({
                "email": target.email, "role": target.role.as_str(),
                "sessions_revoked": sessions_revoked, "api_tokens_revoked": tokens_revoked,
                "invites_revoked": invites_revoked,
            }),
            ..user_entry(actor, client, "user.removed")
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Changes a user's role (owner only; admin or viewer). The change applies
/// from the user's next request: sessions and tokens read the role afresh
/// each time, so none are revoked. A user made a viewer loses the open
/// invitations they sent (viewers cannot invite), in the same transaction.
pub async fn set_user_role(
    state: &AppState,
    actor: &CurrentUser,
    target_id: Uuid,
    role: super::Role,
    client: &ClientInfo,
) -> AppResult<users::UserSummary> {
    require_role(actor, super::Role::Owner)?;
    let role = match role {
        super::Role::Owner => {
            return Err(AppError::BadRequest(
                "a role can be admin or viewer; ownership is transferred, not assigned".into(),
            ));
        }
        r => r,
    };
    let mut db = state.pool().get().await?;
    let tx = db.transaction().await?;
    let mut target = users::lock_in_org(&*tx, actor.org_id, target_id)
        .await?
        .ok_or_else(|| AppError::NotFound("no such user in your practice".into()))?;
    if target.id == actor.id {
        return Err(AppError::Forbidden("you cannot change your own role".into()));
    }
    if target.role == super::Role::Owner {
        return Err(AppError::Forbidden("the owner's role cannot be changed".into()));
    }
    if !target.is_active {
        return Err(AppError::Conflict(
            "this user has been removed; their role cannot be changed".into(),
        ));
    }
    if target.role != role {
        users::set_role(&*tx, target.id, role).await?;
        let invites_revoked = if role < super::Role::Admin {
            invites::revoke_open_by_inviter(&*tx, actor.org_id, target.id).await?
        } else {
            0
        };
        audit::record(
            &*tx,
            &audit::Entry {
                target_type: Some("user"),
                target_id: Some(target.id.to_string()),
                details: serde_json::json!({
                    "email": target.email, "from": target.role.as_str(), "to": role.as_str(),
                    "invites_revoked": invites_revoked,
                }),
                ..user_entry(actor, client, "user.role_changed")
            },
        )
        .await?;
        target.role = role;
    }
    tx.commit().await?;
    Ok(target)
}

// ---------------------------------------------------------------------------
// Notification preferences
// ---------------------------------------------------------------------------

fn user_gone() -> AppError {
    AppError::Unauthorized("your account no longer exists; sign in again".into())
}

/// Stores `user`'s email preferences and, when they changed, writes one
/// audit row (`notification_preferences.updated`), in one transaction.
/// Used by the API and the settings page.
pub async fn save_preferences(
    state: &AppState,
    user: &CurrentUser,
    new: Preferences,
    client: &ClientInfo,
) -> AppResult<Preferences> {
    let mut db = state.pool().get().await?;
    let tx = db.transaction().await?;
    let old = notifications::set_preferences(&*tx, user.org_id, user.id, new)
        .await?
        .ok_or_else(user_gone)?;
    if old != new {
        audit::record(
            &*tx,
            &audit::Entry {
                target_type: Some("user"),
                target_id: Some(user.id.to_string()),
                details: serde_json::json!({
                    "critical_alerts": { "from": old.critical_alerts, "to": new.critical_alerts },
                    "monthly_report": { "from": old.monthly_report, "to": new.monthly_report },
                }),
                ..user_entry(user, client, "notification_preferences.updated")
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(new)
}
