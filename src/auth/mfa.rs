//! Multi-factor sign-in: the second step after a magic link, password or
//! invitation; re-authentication for sensitive changes; setting up and
//! removing authenticator apps, passkeys and recovery codes; the practice's
//! policy and resets by an owner or admin. Shared by the JSON API and the
//! pages. Every change is audited in its own transaction; changes to how
//! someone signs in are also emailed to them.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::current::{ClientInfo, CurrentUser};
use super::session::{self, Proof};
use super::signin::{
    SignedIn, limit_in, open_session, plausible_token, refusal, require_browser_session,
};
use super::{Role, passkeys, tokens, totp};
use crate::audit::user_entry;
use crate::db::outbox::{self, NewMail};
use crate::db::{audit, mfa, users};
use crate::error::{AppError, AppResult};
use crate::paths;
use crate::state::AppState;
use crate::views::emails;

pub use super::session::PENDING_LIFETIME;
/// Wrong second factors a pending sign-in survives.
pub const PENDING_FAILURES: i32 = 5;
/// Sensitive changes need a sign-in (or re-authentication) this recent.
pub const RECENT: Duration = Duration::from_secs(10 * 60);
/// Code attempts per user per rate-limit window (sign-in, confirmation and
/// re-authentication together).
const CODES_PER_USER: u32 = 10;
/// Pending sign-in steps per client address per window.
const STEPS_PER_IP: u32 = 60;
/// Recovery codes per user.
pub const RECOVERY_CODES: usize = 10;
/// How long a WebAuthn challenge may be answered.
const CHALLENGE_LIFETIME: Duration = Duration::from_secs(5 * 60);
/// The longest grace period an owner may give.
pub const MAX_GRACE_DAYS: i32 = 90;
/// The issuer name authenticator apps show.
pub const ISSUER: &str = "OsirisCare";

const PENDING_INVALID: &str = "This sign-in step has expired or was already used (it lasts 5 minutes and allows 5 tries). \
     Sign in again.";
const CODE_WRONG: &str = "That code is not right. Enter the 6-digit code your authenticator app \
                          shows now, or one of your recovery codes.";
const CODE_REPLAYED: &str =
    "That code was already used. Wait for your authenticator app to show the next one.";

/// A second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Totp,
    Passkey,
    RecoveryCode,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Totp => "totp",
            Method::Passkey => "passkey",
            Method::RecoveryCode => "recovery_code",
        }
    }
}

/// The outcome of a first factor.
#[derive(Debug)]
pub enum SignIn {
    /// Signed in: no second factor was due.
    Session(SignedIn),
    /// A second factor is due: the pending cookie, and what may answer.
    SecondFactor(PendingSignIn),
}

pub struct PendingSignIn {
    pub set_cookie: String,
    pub methods: Vec<Method>,
}

impl std::fmt::Debug for PendingSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingSignIn")
            .field("set_cookie", &tokens::REDACTED)
            .field("methods", &self.methods)
            .finish()
    }
}

/// The second factors a user can answer with.
pub async fn methods_of(
    db: &impl tokio_postgres::GenericClient,
    user_id: Uuid,
) -> AppResult<Vec<Method>> {
    let mut methods = Vec::new();
    if mfa::totp(db, user_id).await?.is_some_and(|t| t.confirmed_at.is_some()) {
        methods.push(Method::Totp);
    }
    if !mfa::passkeys(db, user_id).await?.is_empty() {
        methods.push(Method::Passkey);
    }
    if mfa::recovery_codes_left(db, user_id).await? > 0 {
        methods.push(Method::RecoveryCode);
    }
    Ok(methods)
}

/// Starts the pending state for a user whose first factor just succeeded
/// (called by [`super::flows::finish_sign_in`] inside its transaction).
pub(crate) async fn start_pending(
    state: &AppState,
    tx: &impl tokio_postgres::GenericClient,
    user: &users::UserRecord,
    method: &str,
    client: &ClientInfo,
    methods: Vec<Method>,
) -> AppResult<PendingSignIn> {
    let token = tokens::generate();
    mfa::insert_pending(
        tx,
        &mfa::NewPending {
            user_id: user.id,
            token_hash: tokens::hash(state.secret(), &token),
            method,
            lifetime: PENDING_LIFETIME,
            ip: client.ip,
            user_agent: client.user_agent.as_deref(),
        },
    )
    .await?;
    audit::record(
        tx,
        &audit::Entry {
            details: serde_json::json!({
                "method": method,
                "second_factor_due": methods.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
            }),
            ..user_entry(user, client, "auth.first_factor_succeeded")
        },
    )
    .await?;
    Ok(PendingSignIn { set_cookie: session::set_pending_cookie(state.config(), &token), methods })
}

/// The methods a live pending sign-in can answer with (for its page); None
/// when the token names no live pending sign-in. Changes nothing.
pub async fn pending_methods(
    state: &AppState,
    token: Option<&str>,
) -> AppResult<Option<Vec<Method>>> {
    let Some(token) = token.filter(|t| plausible_token(t)) else {
        return Ok(None);
    };
    let db = state.pool().get().await?;
    let user_id =
        mfa::live_pending_user(&**db, &tokens::hash(state.secret(), token), PENDING_FAILURES)
            .await?;
    match user_id {
        Some(id) => Ok(Some(methods_of(&**db, id).await?)),
        None => Ok(None),
    }
}

/// What a typed code turned out to be.
enum CodeCheck {
    Accepted(Method),
    Replayed,
    Wrong,
}

/// Checks a code typed by `user_id`: six digits are an authenticator code
/// (each accepted once), anything else a recovery code (used up).
async fn check_code(
    state: &AppState,
    tx: &impl tokio_postgres::GenericClient,
    user_id: Uuid,
    code: &str,
) -> AppResult<CodeCheck> {
    if totp::normalise_code(code).is_some() {
        let Some(app) = mfa::totp(tx, user_id).await?.filter(|t| t.confirmed_at.is_some()) else {
            return Ok(CodeCheck::Wrong);
        };
        let secret = open_secret(state, user_id, &app)?;
        return Ok(match totp::matching_step(&secret, code, Utc::now().timestamp()) {
            Some(step) if mfa::use_step(tx, user_id, step, false).await? => {
                CodeCheck::Accepted(Method::Totp)
            }
            Some(_) => CodeCheck::Replayed,
            None => CodeCheck::Wrong,
        });
    }
    let Some(normal) = normalise_recovery_code(code) else {
        return Ok(CodeCheck::Wrong);
    };
    if mfa::use_recovery_code(tx, user_id, &recovery_hash(state, user_id, &normal)).await? {
        Ok(CodeCheck::Accepted(Method::RecoveryCode))
    } else {
        Ok(CodeCheck::Wrong)
    }
}

fn open_secret(state: &AppState, user_id: Uuid, app: &mfa::Totp) -> AppResult<Vec<u8>> {
    totp::open(state.secret(), user_id, &app.secret_sealed).ok_or_else(|| {
        AppError::internal(anyhow::anyhow!(
            "an authenticator secret does not open under this server secret (was PORTAL_SECRET changed?)"
        ))
    })
}

/// The pending sign-in behind the request's pending cookie, locked, with
/// its user and the transaction that holds the lock; a dead or missing one
/// is a 401 saying to sign in again (the rate-limit hits are committed).
async fn take_pending<'a>(
    state: &AppState,
    tx: deadpool_postgres::Transaction<'a>,
    token: Option<&str>,
    client: &ClientInfo,
) -> AppResult<(deadpool_postgres::Transaction<'a>, mfa::Pending, users::UserRecord)> {
    limit_in(&*tx, format!("mfa:ip:{}", client.ip_key()), STEPS_PER_IP).await?;
    let pending = match token.filter(|t| plausible_token(t)) {
        Some(t) => {
            mfa::lock_pending(&*tx, &tokens::hash(state.secret(), t), PENDING_FAILURES).await?
        }
        None => None,
    };
    let user = match &pending {
        Some(p) => users::find_by_id(&*tx, p.user_id).await?,
        None => None,
    };
    let (Some(pending), Some(user)) = (pending, user) else {
        tx.commit().await?;
        return Err(AppError::Unauthorized(PENDING_INVALID.into()));
    };
    limit_in(&*tx, format!("mfa:user:{}", user.id), CODES_PER_USER).await?;
    Ok((tx, pending, user))
}

/// The second step with a code (authenticator or recovery): a session on
/// success; a wrong code counts against the pending state and is audited.
pub async fn sign_in_with_code(
    state: &AppState,
    pending_token: Option<&str>,
    code: &str,
    client: &ClientInfo,
) -> AppResult<SignedIn> {
    let mut db = state.pool().get().await?;
    let (tx, pending, user) =
        take_pending(state, db.transaction().await?, pending_token, client).await?;
    match check_code(state, &*tx, user.id, code).await? {
        CodeCheck::Accepted(method) => complete(state, tx, &pending, &user, method, client).await,
        refused => {
            let (kind, message) = match refused {
                CodeCheck::Replayed => ("replayed", CODE_REPLAYED),
                _ => ("wrong", CODE_WRONG),
            };
            mfa::pending_failed(&*tx, pending.id).await?;
            record_failure(&*tx, &user, client, "sign_in", kind).await?;
            tx.commit().await?;
            Err(AppError::Unauthorized(message.into()))
        }
    }
}

async fn record_failure(
    tx: &impl tokio_postgres::GenericClient,
    user: &impl crate::audit::Actor,
    client: &ClientInfo,
    purpose: &str,
    kind: &str,
) -> AppResult<()> {
    audit::record(
        tx,
        &audit::Entry {
            details: serde_json::json!({ "purpose": purpose, "reason": kind }),
            ..user_entry(user, client, "mfa.code_failed")
        },
    )
    .await
}

/// Ends a pending sign-in with a session, checking again that the user may
/// sign in (they may have been removed within the five minutes).
async fn complete(
    state: &AppState,
    tx: deadpool_postgres::Transaction<'_>,
    pending: &mfa::Pending,
    user: &users::UserRecord,
    second: Method,
    client: &ClientInfo,
) -> AppResult<SignedIn> {
    mfa::pending_used(&*tx, pending.id).await?;
    if let Some(refused) = refusal(&*tx, user, &pending.method, client).await? {
        tx.commit().await?;
        return Err(refused);
    }
    if second == Method::RecoveryCode {
        recovery_code_used(state, &*tx, user, client, "sign_in").await?;
    }
    let proof = Proof { method: Some(&pending.method), second_factor: Some(second.as_str()) };
    let signed_in = open_session(state, &*tx, user, proof, client).await?;
    tx.commit().await?;
    if second == Method::RecoveryCode {
        state.wake_mailer();
    }
    Ok(signed_in)
}

/// Audits a recovery code's use and tells the user by email.
async fn recovery_code_used(
    state: &AppState,
    tx: &impl tokio_postgres::GenericClient,
    user: &users::UserRecord,
    client: &ClientInfo,
    purpose: &str,
) -> AppResult<()> {
    let left = mfa::recovery_codes_left(tx, user.id).await?;
    audit::record(
        tx,
        &audit::Entry {
            details: serde_json::json!({ "purpose": purpose, "codes_left": left }),
            ..user_entry(user, client, "mfa.recovery_code_used")
        },
    )
    .await?;
    notify(
        state,
        tx,
        &user.email,
        user.name.as_deref(),
        &user.org_name,
        &format!(
            "A recovery code was used to confirm it was you. {left} of your {RECOVERY_CODES} codes \
             are left; make new ones on the Security page when few are."
        ),
    )
    .await
}

/// Queues a security notice to the user (the caller wakes the mailer).
pub(crate) async fn notify(
    state: &AppState,
    tx: &impl tokio_postgres::GenericClient,
    to: &str,
    name: Option<&str>,
    org_name: &str,
    what: &str,
) -> AppResult<()> {
    let url = format!("{}{}", state.config().base_url, paths::SECURITY);
    let mail = emails::security_notice(name, org_name, what, &url);
    outbox::enqueue(
        tx,
        &NewMail {
            to: to.to_owned(),
            subject: mail.subject,
            text: mail.text,
            html: Some(mail.html),
            kind: "security_notice",
            contains_secret: false,
        },
    )
    .await?;
    Ok(())
}

/// The WebAuthn options for the pending sign-in's passkeys.
pub async fn sign_in_passkey_options(
    state: &AppState,
    pending_token: Option<&str>,
    client: &ClientInfo,
) -> AppResult<serde_json::Value> {
    let mut db = state.pool().get().await?;
    let (tx, pending, user) =
        take_pending(state, db.transaction().await?, pending_token, client).await?;
    let rp = relying_party(state)?;
    let keys: Vec<_> = mfa::passkeys(&*tx, user.id).await?.into_iter().map(|p| p.passkey).collect();
    if keys.is_empty() {
        return Err(AppError::Conflict(
            "you have no passkey or security key; use your authenticator app or a recovery code"
                .into(),
        ));
    }
    let assertion = passkeys::start_authentication(&rp, &keys).map_err(passkey_error)?;
    mfa::set_pending_webauthn(&*tx, pending.id, &assertion.state).await?;
    tx.commit().await?;
    Ok(assertion.options)
}

/// The second step with a passkey's answer to [`sign_in_passkey_options`].
pub async fn sign_in_with_passkey(
    state: &AppState,
    pending_token: Option<&str>,
    credential: &serde_json::Value,
    client: &ClientInfo,
) -> AppResult<SignedIn> {
    let mut db = state.pool().get().await?;
    let (tx, pending, user) =
        take_pending(state, db.transaction().await?, pending_token, client).await?;
    let rp = relying_party(state)?;
    let Some(challenge) = pending.webauthn_state.clone() else {
        return Err(AppError::Conflict(
            "ask for the passkey options first (POST /api/client/auth/mfa/webauthn/start)".into(),
        ));
    };
    let keys: Vec<_> = mfa::passkeys(&*tx, user.id).await?.into_iter().map(|p| p.passkey).collect();
    match passkeys::finish_authentication(&rp, &challenge, credential, &keys) {
        Ok(used) => {
            mfa::passkey_used(&*tx, user.id, &used.credential_id, used.updated_passkey.as_ref())
                .await?;
            complete(state, tx, &pending, &user, Method::Passkey, client).await
        }
        Err(e) => {
            mfa::pending_failed(&*tx, pending.id).await?;
            record_failure(&*tx, &user, client, "sign_in", "passkey_refused").await?;
            tx.commit().await?;
            Err(AppError::Unauthorized(e.to_string()))
        }
    }
}

fn relying_party(state: &AppState) -> AppResult<webauthn_rs::Webauthn> {
    passkeys::relying_party(&state.config().base_url)
        .map_err(|e| AppError::Conflict(format!("passkeys are not available on this server: {e}")))
}

fn passkey_error(e: passkeys::PasskeyError) -> AppError {
    AppError::BadRequest(e.to_string())
}

/// Refuses a sensitive change unless the session proved who it is within
/// [`RECENT`]; API tokens never make these changes.
pub fn require_recent(user: &CurrentUser) -> AppResult<()> {
    require_browser_session(user)?;
    let recent = user.auth.as_ref().is_some_and(|a| {
        Utc::now().signed_duration_since(a.authenticated_at).to_std().is_ok_and(|d| d <= RECENT)
    });
    if recent {
        Ok(())
    } else {
        Err(AppError::Forbidden(format!(
            "for your security this needs a sign-in within the last 10 minutes: confirm it is you \
             on the Security page ({}) or with POST /api/client/auth/reauthenticate, or sign out \
             and sign in again",
            paths::SECURITY
        )))
    }
}

/// Whether `user`'s session may replace a password without the current
/// one: they proved their mailbox (a magic link) and a second factor, recently.
pub fn may_replace_forgotten_password(user: &CurrentUser) -> bool {
    require_recent(user).is_ok()
        && user
            .auth
            .as_ref()
            .is_some_and(|a| a.method.as_deref() == Some("magic_link") && a.second_factor.is_some())
}

/// Re-authentication with a code (or, for a user with no second factor,
/// the password): the session counts as just signed in.
pub async fn reauthenticate(
    state: &AppState,
    user: &CurrentUser,
    code: Option<&str>,
    password: Option<&str>,
    client: &ClientInfo,
) -> AppResult<()> {
    require_browser_session(user)?;
    let session_id = user.session_id().expect("a browser session");
    let mut db = state.pool().get().await?;
    let has_factor = mfa::has_factor(&**db, user.id).await?;
    let code = code.map(str::trim).filter(|c| !c.is_empty());
    let password = password.filter(|p| !p.is_empty());
    let second: Option<Method> = match (has_factor, code, password) {
        (true, Some(code), _) => {
            let tx = db.transaction().await?;
            limit_in(&*tx, format!("mfa:user:{}", user.id), CODES_PER_USER).await?;
            match check_code(state, &*tx, user.id, code).await? {
                CodeCheck::Accepted(method) => {
                    if method == Method::RecoveryCode {
                        let record = users::find_by_id(&*tx, user.id)
                            .await?
                            .ok_or_else(|| AppError::Unauthorized("sign in again".into()))?;
                        recovery_code_used(state, &*tx, &record, client, "reauthenticate").await?;
                    }
                    mfa::session_reauthenticated(&*tx, session_id, Some(method.as_str())).await?;
                    audit::record(
                        &*tx,
                        &audit::Entry {
                            details: serde_json::json!({ "with": method.as_str() }),
                            ..user_entry(user, client, "auth.reauthenticated")
                        },
                    )
                    .await?;
                    tx.commit().await?;
                    if method == Method::RecoveryCode {
                        state.wake_mailer();
                    }
                    return Ok(());
                }
                refused => {
                    let (kind, message) = match refused {
                        CodeCheck::Replayed => ("replayed", CODE_REPLAYED),
                        _ => ("wrong", CODE_WRONG),
                    };
                    record_failure(&*tx, user, client, "reauthenticate", kind).await?;
                    tx.commit().await?;
                    return Err(AppError::Unauthorized(message.into()));
                }
            }
        }
        (true, None, _) => {
            return Err(AppError::Unprocessable(
                "enter a code from your authenticator app or a recovery code (or use your passkey)"
                    .into(),
            ));
        }
        (false, _, Some(password)) => {
            let record = users::find_by_id(&**db, user.id)
                .await?
                .ok_or_else(|| AppError::Unauthorized("sign in again".into()))?;
            {
                let tx = db.transaction().await?;
                limit_in(&*tx, format!("mfa:user:{}", user.id), CODES_PER_USER).await?;
                tx.commit().await?;
            }
            if !super::password::verify_blocking(record.password_hash.clone(), password.to_owned())
                .await?
            {
                let tx = db.transaction().await?;
                record_failure(&*tx, user, client, "reauthenticate", "wrong_password").await?;
                tx.commit().await?;
                return Err(AppError::Unauthorized("that password is not right".into()));
            }
            None
        }
        (false, _, None) => {
            return Err(AppError::Unprocessable(
                "enter your password; without one, sign out and sign in again with a link from \
                 your email"
                    .into(),
            ));
        }
    };
    let tx = db.transaction().await?;
    mfa::session_reauthenticated(&*tx, session_id, second.map(Method::as_str)).await?;
    audit::record(
        &*tx,
        &audit::Entry {
            details: serde_json::json!({ "with": "password" }),
            ..user_entry(user, client, "auth.reauthenticated")
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// WebAuthn options for re-authenticating with one of the user's passkeys.
pub async fn reauthenticate_passkey_options(
    state: &AppState,
    user: &CurrentUser,
) -> AppResult<serde_json::Value> {
    require_browser_session(user)?;
    let rp = relying_party(state)?;
    let db = state.pool().get().await?;
    let keys: Vec<_> =
        mfa::passkeys(&**db, user.id).await?.into_iter().map(|p| p.passkey).collect();
    if keys.is_empty() {
        return Err(AppError::Conflict("you have no passkey or security key".into()));
    }
    let assertion = passkeys::start_authentication(&rp, &keys).map_err(passkey_error)?;
    mfa::put_challenge(
        &**db,
        user.id,
        "reauthenticate",
        &assertion.state,
        None,
        CHALLENGE_LIFETIME,
    )
    .await?;
    Ok(assertion.options)
}

pub async fn reauthenticate_with_passkey(
    state: &AppState,
    user: &CurrentUser,
    credential: &serde_json::Value,
    client: &ClientInfo,
) -> AppResult<()> {
    require_browser_session(user)?;
    let session_id = user.session_id().expect("a browser session");
    let rp = relying_party(state)?;
    let mut db = state.pool().get().await?;
    let tx = db.transaction().await?;
    limit_in(&*tx, format!("mfa:user:{}", user.id), CODES_PER_USER).await?;
    let Some((challenge, _)) = mfa::take_challenge(&*tx, user.id, "reauthenticate").await? else {
        return Err(AppError::Conflict("that passkey request expired; try again".into()));
    };
    let keys: Vec<_> = mfa::passkeys(&*tx, user.id).await?.into_iter().map(|p| p.passkey).collect();
    match passkeys::finish_authentication(&rp, &challenge, credential, &keys) {
        Ok(used) => {
            mfa::passkey_used(&*tx, user.id, &used.credential_id, used.updated_passkey.as_ref())
                .await?;
            mfa::session_reauthenticated(&*tx, session_id, Some(Method::Passkey.as_str())).await?;
            audit::record(
                &*tx,
                &audit::Entry {
                    details: serde_json::json!({ "with": "passkey" }),
                    ..user_entry(user, client, "auth.reauthenticated")
                },
            )
            .await?;
            tx.commit().await?;
            Ok(())
        }
        Err(e) => {
            record_failure(&*tx, user, client, "reauthenticate", "passkey_refused").await?;
            tx.commit().await?;
            Err(AppError::Unauthorized(e.to_string()))
        }
    }
}

/// Everything the Security page and `GET /api/client/mfa` show.
#[derive(Debug, Clone)]
pub struct Status {
    pub totp_enabled: bool,
    /// An enrolment waiting for its first code.
    pub totp_pending: bool,
    pub passkeys: Vec<mfa::Passkey>,
    pub recovery_codes_left: i64,
    pub policy: mfa::Policy,
    /// When the policy applies and the user has no factor: their deadline.
    pub setup_due: Option<DateTime<Utc>>,
    /// The session proved who it is within [`RECENT`].
    pub recent: bool,
    pub has_password: bool,
}

impl Status {
    pub fn has_factor(&self) -> bool {
        self.totp_enabled || !self.passkeys.is_empty()
    }
}

pub async fn status(state: &AppState, user: &CurrentUser) -> AppResult<Status> {
    require_browser_session(user)?;
    let db = state.pool().get().await?;
    let app = mfa::totp(&**db, user.id).await?;
    let passkeys = mfa::passkeys(&**db, user.id).await?;
    let has_password = users::find_by_id(&**db, user.id)
        .await?
        .ok_or_else(|| AppError::Unauthorized("sign in again".into()))?
        .password_hash
        .is_some();
    let totp_enabled = app.as_ref().is_some_and(|t| t.confirmed_at.is_some());
    let has_factor = totp_enabled || !passkeys.is_empty();
    Ok(Status {
        totp_enabled,
        totp_pending: app.as_ref().is_some_and(|t| t.confirmed_at.is_none()),
        passkeys,
        recovery_codes_left: mfa::recovery_codes_left(&**db, user.id).await?,
        policy: mfa::policy(&**db, user.org_id).await?,
        // As of now: a factor set up in this request ends it.
        setup_due: user.mfa_setup_due.filter(|_| !has_factor),
        recent: require_recent(user).is_ok(),
        has_password,
    })
}

/// A new authenticator-app secret, shown once while enrolment waits for
/// its first code.
pub struct NewTotp {
    pub secret_base32: String,
    pub otpauth_uri: String,
}

impl std::fmt::Debug for NewTotp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewTotp(<redacted>)")
    }
}

pub async fn start_totp(state: &AppState, user: &CurrentUser) -> AppResult<NewTotp> {
    require_recent(user)?;
    let secret = totp::new_secret();
    let db = state.pool().get().await?;
    if !mfa::start_totp(&**db, user.id, &totp::seal(state.secret(), user.id, &secret)).await? {
        return Err(AppError::Conflict(
            "you already have an authenticator app; remove it first to set up another".into(),
        ));
    }
    Ok(NewTotp {
        secret_base32: totp::base32(&secret),
        otpauth_uri: totp::otpauth_uri(&secret, ISSUER, &user.email),
    })
}

/// The pending enrolment's secret again (the page shows it until confirmed).
pub async fn pending_totp(state: &AppState, user: &CurrentUser) -> AppResult<Option<NewTotp>> {
    let db = state.pool().get().await?;
    let Some(app) = mfa::totp(&**db, user.id).await?.filter(|t| t.confirmed_at.is_none()) else {
        return Ok(None);
    };
    let secret = open_secret(state, user.id, &app)?;
    Ok(Some(NewTotp {
        secret_base32: totp::base32(&secret),
        otpauth_uri: totp::otpauth_uri(&secret, ISSUER, &user.email),
    }))
}

/// Confirms the enrolment with its first code. Returns the new recovery
/// codes when this is the user's first factor (empty otherwise: the codes
/// they have stay valid).
pub async fn confirm_totp(
    state: &AppState,
    user: &CurrentUser,
    code: &str,
    client: &ClientInfo,
) -> AppResult<Vec<String>> {
    require_recent(user)?;
    let mut db = state.pool().get().await?;
    let tx = db.transaction().await?;
    limit_in(&*tx, format!("mfa:user:{}", user.id), CODES_PER_USER).await?;
    let Some(app) = mfa::totp(&*tx, user.id).await? else {
        return Err(AppError::Conflict(
            "start setting up an authenticator app first (POST /api/client/mfa/totp)".into(),
        ));
    };
    if app.confirmed_at.is_some() {
        return Err(AppError::Conflict("your authenticator app is already set up".into()));
    }
    let secret = open_secret(state, user.id, &app)?;
    let accepted = match totp::matching_step(&secret, code, Utc::now().timestamp()) {
        Some(step) => mfa::use_step(&*tx, user.id, step, true).await?,
        None => false,
    };
    if !accepted {
        record_failure(&*tx, user, client, "totp_setup", "wrong").await?;
        tx.commit().await?;
        return Err(AppError::BadRequest(
            "that code does not match: enter the 6-digit code the app shows now (check the phone's \
             clock is set automatically)"
                .into(),
        ));
    }
    let codes = codes_for_first_factor(state, &*tx, user.id).await?;
    audit::record(
        &*tx,
        &audit::Entry {
            target_type: Some("mfa_factor"),
            target_id: Some("totp".into()),
            details: serde_json::json!({ "recovery_codes_issued": !codes.is_empty() }),
            ..user_entry(user, client, "mfa.totp_enabled")
        },
    )
    .await?;
    notify_user(
        state,
        &*tx,
        user,
        "An authenticator app was set up for signing in to your account.",
    )
    .await?;
    tx.commit().await?;
    state.wake_mailer();
    Ok(codes)
}

/// [`notify`] for the signed-in user.
pub(crate) async fn notify_user(
    state: &AppState,
    tx: &impl tokio_postgres::GenericClient,
    user: &CurrentUser,
    what: &str,
) -> AppResult<()> {
    notify(state, tx, &user.email, user.name.as_deref(), &user.org_name, what).await
}

/// New recovery codes when the user has none yet.
async fn codes_for_first_factor(
    state: &AppState,
    tx: &impl tokio_postgres::GenericClient,
    user_id: Uuid,
) -> AppResult<Vec<String>> {
    if mfa::has_recovery_codes(tx, user_id).await? {
        return Ok(Vec::new());
    }
    new_recovery_codes(state, tx, user_id).await
}

async fn new_recovery_codes(
    state: &AppState,
    tx: &impl tokio_postgres::GenericClient,
    user_id: Uuid,
) -> AppResult<Vec<String>> {
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| recovery_code()).collect();
    let hashes: Vec<[u8; 32]> = codes
        .iter()
        .map(|c| {
            recovery_hash(state, user_id, &normalise_recovery_code(c).expect("our own format"))
        })
        .collect();
    mfa::replace_recovery_codes(tx, user_id, &hashes).await?;
    Ok(codes)
}

/// One recovery code: 50 random bits as ten base32 letters and digits,
/// shown as `xxxxx-xxxxx`.
fn recovery_code() -> String {
    let bytes = tokens::random_bytes();
    let letters = totp::base32(&bytes[..7]).to_lowercase();
    format!("{}-{}", &letters[..5], &letters[5..10])
}

/// A recovery code as typed, without case, spaces or dashes; None when it
/// cannot be one.
fn normalise_recovery_code(code: &str) -> Option<String> {
    let normal: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (normal.len() == 10
        && normal.bytes().all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)))
    .then_some(normal)
}

fn recovery_hash(state: &AppState, user_id: Uuid, normal: &str) -> [u8; 32] {
    tokens::hash(state.secret(), &format!("recovery:{user_id}:{normal}"))
}

/// Refuses to remove the user's last factor while the practice requires MFA.
async fn keep_one_when_required(
    tx: &impl tokio_postgres::GenericClient,
    user: &CurrentUser,
    factors_after: usize,
) -> AppResult<()> {
    if factors_after == 0 && mfa::policy(tx, user.org_id).await?.required_at.is_some() {
        return Err(AppError::Conflict(
            "your practice requires multi-factor sign-in: add another authenticator app or passkey \
             before removing this one"
                .into(),
        ));
    }
    Ok(())
}

async fn factor_count(tx: &impl tokio_postgres::GenericClient, user_id: Uuid) -> AppResult<usize> {
    let app = mfa::totp(tx, user_id).await?.is_some_and(|t| t.confirmed_at.is_some());
    Ok(usize::from(app) + mfa::passkeys(tx, user_id).await?.len())
}

pub async fn remove_totp(
    state: &AppState,
    user: &CurrentUser,
    client: &ClientInfo,
) -> AppResult<()> {
    require_recent(user)?;
    let mut db = state.pool().get().await?;
    let tx = db.transaction().await?;
    let Some(app) = mfa::totp(&*tx, user.id).await? else {
        return Err(AppError::NotFound("you have no authenticator app".into()));
    };
    let confirmed = app.confirmed_at.is_some();
    if confirmed {
        keep_one_when_required(&*tx, user, factor_count(&*tx, user.id).await? - 1).await?;
    }
    mfa::delete_totp(&*tx, user.id).await?;
    if confirmed {
        after_removal(
            state,
            &*tx,
            user,
            client,
            "mfa.totp_removed",
            None,
            "An authenticator app was removed from your account.",
        )
        .await?;
    }
    tx.commit().await?;
    state.wake_mailer();
    Ok(())
}

/// After a factor is removed: without any left, the recovery codes go too;
/// audited and emailed.
async fn after_removal(
    state: &AppState,
    tx: &impl tokio_postgres::GenericClient,
    user: &CurrentUser,
    client: &ClientInfo,
    action: &str,
    details: Option<serde_json::Value>,
    what: &str,
) -> AppResult<()> {
    let left = factor_count(tx, user.id).await?;
    if left == 0 {
        mfa::delete_recovery_codes(tx, user.id).await?;
    }
    let mut details = details.unwrap_or_else(|| serde_json::json!({}));
    details["factors_left"] = serde_json::json!(left);
    audit::record(
        tx,
        &audit::Entry {
            target_type: Some("mfa_factor"),
            details,
            ..user_entry(user, client, action)
        },
    )
    .await?;
    notify_user(state, tx, user, what).await
}

/// Checks a passkey's name: 1 to 100 characters, no control characters.
pub fn passkey_name(raw: &str) -> AppResult<String> {
    let name = raw.trim();
    if name.is_empty() || raw.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(AppError::BadRequest(
            "give the passkey a name of 1 to 100 characters, like \"Office laptop\"".into(),
        ));
    }
    Ok(name.to_owned())
}

/// WebAuthn options for registering a new passkey named `raw_name`.
pub async fn passkey_registration_options(
    state: &AppState,
    user: &CurrentUser,
    raw_name: &str,
) -> AppResult<serde_json::Value> {
    require_recent(user)?;
    let name = passkey_name(raw_name)?;
    let rp = relying_party(state)?;
    let db = state.pool().get().await?;
    let existing: Vec<Vec<u8>> =
        mfa::passkeys(&**db, user.id).await?.into_iter().map(|p| p.credential_id).collect();
    if existing.len() >= 20 {
        return Err(AppError::Conflict("you have 20 passkeys; remove one to add another".into()));
    }
    let registration =
        passkeys::start_registration(&rp, user.id, &user.email, user.display_name(), &existing)
            .map_err(passkey_error)?;
    mfa::put_challenge(
        &**db,
        user.id,
        "register",
        &registration.state,
        Some(&name),
        CHALLENGE_LIFETIME,
    )
    .await?;
    Ok(registration.options)
}

/// A registered passkey, with recovery codes when it is the first factor.
#[derive(Debug)]
pub struct AddedPasskey {
    pub id: Uuid,
    pub name: String,
    pub recovery_codes: Vec<String>,
}

pub async fn register_passkey(
    state: &AppState,
    user: &CurrentUser,
    credential: &serde_json::Value,
    client: &ClientInfo,
) -> AppResult<AddedPasskey> {
    require_recent(user)?;
    let rp = relying_party(state)?;
    let mut db = state.pool().get().await?;
    let tx = db.transaction().await?;
    let Some((challenge, name)) = mfa::take_challenge(&*tx, user.id, "register").await? else {
        return Err(AppError::Conflict(
            "that passkey registration expired or was not started; start again".into(),
        ));
    };
    let new = passkeys::finish_registration(&rp, &challenge, credential).map_err(|e| match e {
        passkeys::PasskeyError::AlreadyRegistered => AppError::Conflict(e.to_string()),
        // Well-formed JSON that is no valid answer to this registration.
        e => AppError::Unprocessable(e.to_string()),
    })?;
    let name = name.unwrap_or_else(|| "Passkey".to_owned());
    let Some(id) =
        mfa::insert_passkey(&*tx, user.id, &name, &new.credential_id, &new.passkey).await?
    else {
        return Err(AppError::Conflict(
            "this passkey or security key is already registered".into(),
        ));
    };
    let recovery_codes = codes_for_first_factor(state, &*tx, user.id).await?;
    audit::record(
        &*tx,
        &audit::Entry {
            target_type: Some("mfa_factor"),
            target_id: Some(id.to_string()),
            details: serde_json::json!({
                "kind": "passkey", "name": name, "recovery_codes_issued": !recovery_codes.is_empty(),
            }),
            ..user_entry(user, client, "mfa.passkey_added")
        },
    )
    .await?;
    notify_user(
        state,
        &*tx,
        user,
        &format!("A passkey named \"{name}\" was added to your account."),
    )
    .await?;
    tx.commit().await?;
    state.wake_mailer();
    Ok(AddedPasskey { id, name, recovery_codes })
}

pub async fn remove_passkey(
    state: &AppState,
    user: &CurrentUser,
    id: Uuid,
    client: &ClientInfo,
) -> AppResult<()> {
    require_recent(user)?;
    let mut db = state.pool().get().await?;
    let tx = db.transaction().await?;
    if !mfa::passkeys(&*tx, user.id).await?.iter().any(|p| p.id == id) {
        return Err(AppError::NotFound("no such passkey".into()));
    }
    keep_one_when_required(&*tx, user, factor_count(&*tx, user.id).await? - 1).await?;
    let name = mfa::delete_passkey(&*tx, user.id, id)
        .await?
        .ok_or_else(|| AppError::NotFound("no such passkey".into()))?;
    after_removal(
        state,
        &*tx,
        user,
        client,
        "mfa.passkey_removed",
        Some(serde_json::json!({ "id": id, "name": name })),
        &format!("The passkey named \"{name}\" was removed from your account."),
    )
    .await?;
    tx.commit().await?;
    state.wake_mailer();
    Ok(())
}

/// Ten new recovery codes; the old ones stop working.
pub async fn regenerate_recovery_codes(
    state: &AppState,
    user: &CurrentUser,
    client: &ClientInfo,
) -> AppResult<Vec<String>> {
    require_recent(user)?;
    let mut db = state.pool().get().await?;
    let tx = db.transaction().await?;
    if factor_count(&*tx, user.id).await? == 0 {
        return Err(AppError::Conflict(
            "set up an authenticator app or a passkey first; recovery codes back one up".into(),
        ));
    }
    let codes = new_recovery_codes(state, &*tx, user.id).await?;
    audit::record(&*tx, &user_entry(user, client, "mfa.recovery_codes_regenerated")).await?;
    notify_user(
        state,
        &*tx,
        user,
        "New recovery codes were made for your account; the old ones no longer work.",
    )
    .await?;
    tx.commit().await?;
    state.wake_mailer();
    Ok(codes)
}

/// The practice's users who have a second factor (for the Users page).
pub async fn enrolled_users(state: &AppState, user: &CurrentUser) -> AppResult<Vec<Uuid>> {
    let db = state.pool().get().await?;
    mfa::enrolled_users(&**db, user.org_id).await
}

/// The practice's policy.
pub async fn policy(state: &AppState, user: &CurrentUser) -> AppResult<mfa::Policy> {
    let db = state.pool().get().await?;
    mfa::policy(&**db, user.org_id).await
}

/// Sets the practice's policy (the owner).
pub async fn set_policy(
    state: &AppState,
    owner: &CurrentUser,
    required: bool,
    grace_days: i32,
    client: &ClientInfo,
) -> AppResult<mfa::Policy> {
    super::current::require_role(owner, Role::Owner)?;
    require_recent(owner)?;
    if !(0..=MAX_GRACE_DAYS).contains(&grace_days) {
        return Err(AppError::BadRequest(format!(
            "grace_days must be 0 to {MAX_GRACE_DAYS} (days a user without MFA may still sign in)"
        )));
    }
    let mut db = state.pool().get().await?;
    let tx = db.transaction().await?;
    if required && !mfa::has_factor(&*tx, owner.id).await? {
        // Otherwise the owner would lock themselves out with everyone else.
        return Err(AppError::Conflict(
            "set up an authenticator app or a passkey for yourself first, then require it of \
             everyone"
                .into(),
        ));
    }
    let before = mfa::policy(&*tx, owner.org_id).await?;
    let after = mfa::set_policy(&*tx, owner.org_id, required, grace_days).await?;
    if before != after {
        audit::record(
            &*tx,
            &audit::Entry {
                target_type: Some("org"),
                target_id: Some(owner.org_id.to_string()),
                details: serde_json::json!({
                    "required": required,
                    "grace_days": grace_days,
                    "was_required": before.required_at.is_some(),
                    "grace_days_before": before.grace_days,
                }),
                ..user_entry(owner, client, "mfa.policy_changed")
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(after)
}

/// An owner or admin removes another user's factors and recovery codes
/// (they lost their phone); audited and emailed to that user. Nobody resets
/// their own this way, and an admin resets only viewers and auditors.
pub async fn reset_user(
    state: &AppState,
    by: &CurrentUser,
    target_id: Uuid,
    client: &ClientInfo,
) -> AppResult<()> {
    super::current::require_role(by, Role::Admin)?;
    require_recent(by)?;
    let mut db = state.pool().get().await?;
    let tx = db.transaction().await?;
    let Some(target) = users::find_in_org(&*tx, by.org_id, target_id).await? else {
        return Err(AppError::NotFound("no such user in your practice".into()));
    };
    if target.id == by.id {
        return Err(AppError::Forbidden(
            "to remove your own sign-in methods, use the Security page, which asks you to confirm \
             it is you"
                .into(),
        ));
    }
    if target.role >= by.role && by.role != Role::Owner {
        return Err(AppError::Forbidden(format!(
            "only the practice owner can reset the sign-in methods of an {}",
            target.role
        )));
    }
    if !mfa::reset(&*tx, target.id).await? {
        return Err(AppError::Conflict(format!(
            "{} has no authenticator app or passkey to reset",
            target.email
        )));
    }
    audit::record(
        &*tx,
        &audit::Entry {
            target_type: Some("user"),
            target_id: Some(target.id.to_string()),
            details: serde_json::json!({ "email": target.email }),
            ..user_entry(by, client, "mfa.reset")
        },
    )
    .await?;
    notify(
        state,
        &*tx,
        &target.email,
        target.name.as_deref(),
        &by.org_name,
        &format!(
            "{} removed your authenticator app, passkeys and recovery codes. Sign in and set up a \
             new one on the Security page.",
            by.display_name()
        ),
    )
    .await?;
    tx.commit().await?;
    state.wake_mailer();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_ten_letters_in_two_groups_and_read_back() {
        let a = recovery_code();
        let b = recovery_code();
        assert_ne!(a, b);
        assert_eq!(a.len(), 11);
        assert_eq!(&a[5..6], "-");
        let normal = normalise_recovery_code(&a).unwrap();
        assert_eq!(normal.len(), 10);
        assert_eq!(normalise_recovery_code(&a.to_uppercase()).as_deref(), Some(&*normal));
        assert_eq!(
            normalise_recovery_code(&format!(" {} ", a.replace('-', " "))).as_deref(),
            Some(&*normal)
        );
        assert_eq!(normalise_recovery_code("123456"), None);
        assert_eq!(normalise_recovery_code("abcde-fgh1j"), None, "1 is not base32");
    }
}
