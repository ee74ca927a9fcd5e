//! The session cookie: one place builds it, with every flag.

use std::net::IpAddr;

use poem::Request;
use uuid::Uuid;

use super::tokens;
use crate::config::{Config, SESSION_LIFETIME};
use crate::db::sessions::{self, NewSession};
use crate::error::AppResult;
use crate::state::AppState;

/// `__Host-` pins the cookie to this host, path / and Secure; browsers refuse
/// that prefix without Secure, so plain-HTTP setups get the bare name.
pub const SECURE_NAME: &str = "__Host-osiris_session";
pub const PLAIN_NAME: &str = "osiris_session";

pub fn cookie_name(config: &Config) -> &'static str {
    if config.cookie_secure { SECURE_NAME } else { PLAIN_NAME }
}

/// `Set-Cookie` value for a new session token.
pub fn set_cookie(config: &Config, token: &str) -> String {
    let secure = if config.cookie_secure { "; Secure" } else { "" };
    format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        cookie_name(config),
        SESSION_LIFETIME.as_secs()
    )
}

/// How long the pending state between the two factors lives.
pub const PENDING_LIFETIME: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// The cookie of a pending sign-in (first factor proved, second due).
pub const PENDING_SECURE_NAME: &str = "__Host-osiris_mfa";
pub const PENDING_PLAIN_NAME: &str = "osiris_mfa";

pub fn pending_cookie_name(config: &Config) -> &'static str {
    if config.cookie_secure { PENDING_SECURE_NAME } else { PENDING_PLAIN_NAME }
}

/// `Set-Cookie` value for a pending sign-in's token: it lives as long as
/// the pending state.
pub fn set_pending_cookie(config: &Config, token: &str) -> String {
    let secure = if config.cookie_secure { "; Secure" } else { "" };
    format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        pending_cookie_name(config),
        PENDING_LIFETIME.as_secs()
    )
}

/// `Set-Cookie` value that removes the pending sign-in's cookie.
pub fn clear_pending_cookie(config: &Config) -> String {
    let secure = if config.cookie_secure { "; Secure" } else { "" };
    format!(
        "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT{secure}",
        pending_cookie_name(config)
    )
}

/// The pending sign-in's token from the request's cookies, if any.
pub fn pending_token_from(req: &Request, config: &Config) -> Option<String> {
    cookie_value(req, pending_cookie_name(config))
}

/// `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(config: &Config) -> String {
    let secure = if config.cookie_secure { "; Secure" } else { "" };
    format!(
        "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT{secure}",
        cookie_name(config)
    )
}

/// The session token from the request's cookies, if any.
pub fn token_from(req: &Request, config: &Config) -> Option<String> {
    cookie_value(req, cookie_name(config))
}

fn cookie_value(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get_all(poem::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// A freshly started session: the cookie to send and its ids.
pub struct Started {
    pub session_id: Uuid,
    pub set_cookie: String,
    pub csrf_token: String,
}

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Started")
            .field("session_id", &self.session_id)
            .field("set_cookie", &&crate::auth::tokens::REDACTED)
            .field("csrf_token", &&crate::auth::tokens::REDACTED)
            .finish()
    }
}

/// How a user proved who they are.
#[derive(Debug, Clone, Copy, Default)]
pub struct Proof<'a> {
    /// magic_link, password or invite (None for sessions made by tools).
    pub method: Option<&'a str>,
    /// totp, passkey or recovery_code.
    pub second_factor: Option<&'a str>,
}

/// Starts a session (a new token every time: no fixation) for a user who
/// just proved who they are, by means not recorded (tools and tests).
pub async fn start(
    db: &impl tokio_postgres::GenericClient,
    state: &AppState,
    user_id: Uuid,
    ip: Option<IpAddr>,
    user_agent: Option<&str>,
) -> AppResult<Started> {
    start_proved(db, state, user_id, ip, user_agent, Proof::default()).await
}

/// Starts a session, recording how the user proved who they are.
pub async fn start_proved(
    db: &impl tokio_postgres::GenericClient,
    state: &AppState,
    user_id: Uuid,
    ip: Option<IpAddr>,
    user_agent: Option<&str>,
    proof: Proof<'_>,
) -> AppResult<Started> {
    let token = tokens::generate();
    let csrf_token = tokens::generate();
    let session_id = sessions::insert_session(
        db,
        &NewSession {
            user_id,
            token_hash: tokens::hash(state.secret(), &token),
            csrf_token: &csrf_token,
            lifetime: SESSION_LIFETIME,
            ip,
            user_agent,
            auth_method: proof.method,
            second_factor: proof.second_factor,
        },
    )
    .await?;
    Ok(Started { session_id, set_cookie: set_cookie(state.config(), &token), csrf_token })
}
