//! Who is calling: a browser session (cookie) or an API token (bearer).
//! Role extractors (`Reader`, `Viewer`, `Admin`, `Owner` for pages;
//! `ApiReader`, `ApiViewer`, `ApiAdmin`, `ApiOwner` for the JSON API, which
//! also document the two security schemes) run the same [`require`] check:
//! signed in, CSRF-safe, and at least the role. Only the `Reader` ones let
//! an auditor in.

use std::net::IpAddr;
use std::time::Duration;

use poem::http::header;
use poem::{FromRequest, Request, RequestBody};
use poem_openapi::registry::{MetaSecurityScheme, Registry};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use uuid::Uuid;

use super::{Role, Scope, csrf, session, tokens};
use crate::db::sessions::SessionAuth;
use crate::db::{api_tokens, sessions};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Writes of last-seen / last-used happen at most this often per credential.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// How the caller authenticated.
#[derive(Clone)]
pub enum Via {
    Session { id: Uuid, csrf_token: String },
    Token { id: Uuid, scope: Scope },
}

/// The CSRF token stays out of logs and panics.
impl std::fmt::Debug for Via {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Via::Session { id, .. } => f
                .debug_struct("Session")
                .field("id", id)
                .field("csrf_token", &crate::auth::tokens::REDACTED)
                .finish(),
            Via::Token { id, scope } => {
                f.debug_struct("Token").field("id", id).field("scope", scope).finish()
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub id: Uuid,
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
    pub org_id: Uuid,
    pub org_name: String,
    pub via: Via,
    /// For an auditor: when their grant ends.
    pub auditor_until: Option<chrono::DateTime<chrono::Utc>>,
    /// For a browser session: when and how the user last proved who they are.
    pub auth: Option<SessionAuth>,
    /// For a browser session, when the practice requires MFA and the user
    /// has no factor yet: the end of their grace period.
    pub mfa_setup_due: Option<chrono::DateTime<chrono::Utc>>,
}

impl CurrentUser {
    /// The name to greet the user with (their email when no name is set).
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.email)
    }

    pub fn session_id(&self) -> Option<Uuid> {
        match &self.via {
            Via::Session { id, .. } => Some(*id),
            Via::Token { .. } => None,
        }
    }

    /// True when the practice's MFA policy shuts this session out of
    /// everything but setting up a factor (its grace period is over).
    pub fn mfa_locked(&self) -> bool {
        self.mfa_setup_due.is_some_and(|due| due <= chrono::Utc::now())
    }

    pub fn csrf_token(&self) -> Option<&str> {
        match &self.via {
            Via::Session { csrf_token, .. } => Some(csrf_token),
            Via::Token { .. } => None,
        }
    }
}

/// Client address and user agent, for audit entries and rate limits.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

impl ClientInfo {
    /// The client behind any trusted proxies (`PORTAL_TRUSTED_PROXIES`,
    /// [`super::forwarded`]); the TCP peer otherwise.
    pub fn of(req: &Request) -> ClientInfo {
        let peer = req.remote_addr().as_socket_addr().map(|a| a.ip());
        let proxies = req.data::<AppState>().map_or(&[][..], |s| &s.config().trusted_proxies[..]);
        ClientInfo {
            ip: super::forwarded::client_ip(peer, req.headers(), proxies),
            user_agent: req
                .headers()
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.chars().take(512).collect()),
        }
    }

    /// Key for per-address rate limits (IPv6 by /64).
    pub fn ip_key(&self) -> String {
        super::forwarded::limit_key(self.ip)
    }
}

impl<'a> FromRequest<'a> for ClientInfo {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        Ok(ClientInfo::of(req))
    }
}

fn state_of(req: &Request) -> AppResult<&AppState> {
    req.data::<AppState>()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("AppState missing from the request")))
}

/// The caller, if the request carries a live credential. A bad bearer token
/// is an error (the client meant to authenticate); a stale cookie is not.
pub async fn authenticate(req: &Request, state: &AppState) -> AppResult<Option<CurrentUser>> {
    let pool = state.pool();
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                AppError::Unauthorized(
                    "malformed Authorization header: send `Authorization: Bearer <token>`".into(),
                )
            })?;
        let db = pool.get().await?;
        let found = api_tokens::find_user(&**db, &tokens::hash(state.secret(), token)).await?;
        let Some(t) = found else {
            return Err(AppError::Unauthorized("invalid or revoked API token".into()));
        };
        if t.last_used_at.is_none_or(stale) {
            api_tokens::touch(&**db, t.token_id).await?;
        }
        crate::zone::set(t.time_zone);
        return Ok(Some(CurrentUser {
            id: t.user_id,
            email: t.email,
            name: t.name,
            role: t.role,
            org_id: t.org_id,
            org_name: t.org_name,
            via: Via::Token { id: t.token_id, scope: t.scope },
            auditor_until: t.auditor_until,
            auth: None,
            // Tokens are unaffected by the MFA policy (and cannot manage factors).
            mfa_setup_due: None,
        }));
    }
    let Some(token) = session::token_from(req, state.config()) else {
        return Ok(None);
    };
    let db = pool.get().await?;
    let hash = tokens::hash(state.secret(), &token);
    let Some(s) =
        sessions::find_live_session(&**db, &hash, state.config().session_idle_timeout).await?
    else {
        return Ok(None);
    };
    // The page's own background polls (the unread badge) say so: they are
    // not the person being active, and must not keep an open tab signed in
    // past the idle timeout.
    let background = req.headers().contains_key(BACKGROUND_HEADER);
    if stale(s.last_seen_at) && !background {
        sessions::touch_session(&**db, s.session_id).await?;
    }
    // Every time this request renders is in the practice's zone.
    crate::zone::set(s.time_zone);
    Ok(Some(CurrentUser {
        id: s.user_id,
        email: s.email,
        name: s.name,
        role: s.role,
        org_id: s.org_id,
        org_name: s.org_name,
        via: Via::Session { id: s.session_id, csrf_token: s.csrf_token },
        auditor_until: s.auditor_until,
        auth: Some(s.auth),
        mfa_setup_due: s.mfa_setup_due,
    }))
}

/// Sent by requests a page makes on its own (polling), which therefore do
/// not count as activity for the session's idle timeout.
pub const BACKGROUND_HEADER: &str = "x-portal-background";

fn stale(at: chrono::DateTime<chrono::Utc>) -> bool {
    chrono::Utc::now().signed_duration_since(at).to_std().is_ok_and(|d| d >= TOUCH_EVERY)
}

/// What the MFA policy's lock says to an API request.
pub fn mfa_locked_error(user: &CurrentUser) -> AppError {
    let since = user.mfa_setup_due.map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default();
    AppError::Forbidden(format!(
        "your practice requires multi-factor sign-in (since {since}): set up an authenticator app \
         or a passkey first, on the Security page ({}) or with POST /api/client/mfa/totp",
        crate::paths::SECURITY
    ))
}

/// Whether a route stays open to a user the MFA policy has locked out.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lock {
    /// Everything else: closed until they have a factor.
    Enforce,
    /// Setting up a factor, and who am I.
    Exempt,
}

/// Where a CSRF token may come from besides the header.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TokenSource {
    HeaderOnly,
    HeaderOrForm,
}

async fn require(
    req: &Request,
    body: &mut RequestBody,
    min: Role,
    source: TokenSource,
) -> AppResult<CurrentUser> {
    let state = state_of(req)?;
    let user = authenticate(req, state).await?.ok_or_else(|| {
        AppError::Unauthorized("sign in first, or send `Authorization: Bearer <API token>`".into())
    })?;
    if let Via::Session { csrf_token, .. } = &user.via
        && csrf::is_unsafe(req.method())
    {
        csrf::check_origin(req, state.config())?;
        let header =
            req.headers().get(csrf::HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let presented = match header {
            Some(h) => Some(h),
            None if source == TokenSource::HeaderOrForm => form_token(req, body).await?,
            None => None,
        };
        csrf::check_token(presented.as_deref(), csrf_token)?;
    }
    if let Via::Token { scope: Scope::Read, .. } = &user.via
        && csrf::is_unsafe(req.method())
        && !is_read_only_check(req.uri().path())
    {
        return Err(AppError::Forbidden(
            "this API token is read-only (scope read); create a token with scope write in \
             Settings for changes"
                .into(),
        ));
    }
    require_role(&user, min)?;
    Ok(user)
}

/// The POST operations a read-only token may use: they check evidence
/// (recomputing proofs and signatures) and change nothing but the record
/// that a check ran. `path` is the request's path below any nesting (the
/// API is nested at `/api`, so its operations arrive as `/client/…`).
fn is_read_only_check(path: &str) -> bool {
    let path = path.strip_prefix("/api").unwrap_or(path);
    let Some(rest) = path.strip_prefix("/client/") else {
        return false;
    };
    let one_id_then = |prefix: &str, action: &str| {
        rest.strip_prefix(prefix)
            .and_then(|r| r.strip_suffix(action))
            .is_some_and(|id| !id.is_empty() && !id.contains('/'))
    };
    rest == "log/verify"
        || rest == "log/check-checkpoint"
        || one_id_then("evidence/", "/verify")
        || one_id_then("sites/", "/verify-chain")
}

/// The one role check, for extractors and flows alike: 403 unless `user`
/// has at least `min`.
pub(crate) fn require_role(user: &CurrentUser, min: Role) -> AppResult<()> {
    if user.role < min {
        return Err(AppError::Forbidden(format!(
            "this needs the {min} role or higher; your role is {}",
            user.role
        )));
    }
    Ok(())
}

/// The `csrf_token` field of a urlencoded form body, leaving the body in
/// place for the handler's own form extractor.
async fn form_token(req: &Request, body: &mut RequestBody) -> AppResult<Option<String>> {
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Ok(None);
    }
    let taken = body.take().map_err(|e| AppError::BadRequest(e.to_string()))?;
    let bytes = taken
        .into_bytes_limit(64 * 1024)
        .await
        .map_err(|e| AppError::BadRequest(format!("cannot read the form: {e}")))?;
    let token = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
        .ok()
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == csrf::FORM_FIELD).map(|(_, v)| v));
    *body = RequestBody::new(poem::Body::from(bytes));
    Ok(token)
}

macro_rules! page_extractor {
    ($(#[$doc:meta])* $name:ident, $role:expr) => {
        page_extractor!($(#[$doc])* $name, $role, Lock::Enforce);
    };
    ($(#[$doc:meta])* $name:ident, $role:expr, $lock:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(pub CurrentUser);

        impl<'a> FromRequest<'a> for $name {
            async fn from_request(req: &'a Request, body: &mut RequestBody) -> poem::Result<Self> {
                let user = require(req, body, $role, TokenSource::HeaderOrForm).await?;
                if $lock == Lock::Enforce && user.mfa_locked() {
                    return Err(to_security_page(req));
                }
                Ok($name(user))
            }
        }
    };
}

/// A page request from a user the MFA policy has locked out goes to the
/// Security page, where they set up a factor.
fn to_security_page(req: &Request) -> poem::Error {
    use poem::IntoResponse;
    let to = crate::paths::SECURITY;
    let resp = if req.headers().contains_key(BACKGROUND_HEADER) {
        // A page's own polling (the unread badge) must not navigate away
        // from the Security page the user is setting a factor up on.
        poem::Response::builder().status(poem::http::StatusCode::NO_CONTENT).finish()
    } else if req.headers().contains_key("hx-request") {
        poem::Response::builder().header("hx-redirect", to).finish()
    } else {
        poem::web::Redirect::see_other(to).into_response()
    };
    poem::Error::from_response(resp)
}

page_extractor!(
    /// A signed-in user of any practice role (pages); not an auditor.
    Viewer,
    Role::Viewer
);
page_extractor!(
    /// Anyone signed in, auditors included (pages an auditor may use).
    Reader,
    Role::Auditor
);
page_extractor!(
    /// A signed-in owner or admin (pages).
    Admin,
    Role::Admin
);
page_extractor!(
    /// The practice owner (pages).
    Owner,
    Role::Owner
);
page_extractor!(
    /// Anyone signed in, auditors included, even when the practice's MFA
    /// policy has locked them out: the pages where they set up a factor.
    SelfService,
    Role::Auditor,
    Lock::Exempt
);

/// The signed-in user if there is one, for pages that also serve visitors.
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<CurrentUser>);

impl<'a> FromRequest<'a> for MaybeUser {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let state = state_of(req)?;
        Ok(MaybeUser(authenticate(req, state).await.ok().flatten()))
    }
}

/// Names of the two security schemes in the OpenAPI document.
pub const COOKIE_SCHEME: &str = "SessionCookie";
pub const BEARER_SCHEME: &str = "ApiToken";

fn register_schemes(registry: &mut Registry) {
    registry.create_security_scheme(
        COOKIE_SCHEME,
        MetaSecurityScheme {
            ty: "apiKey",
            description: Some(
                "Browser session cookie set by the sign-in endpoints (named `osiris_session` when \
                 PORTAL_COOKIE_SECURE=false). Unsafe methods also need the `X-CSRF-Token` header \
                 (csrf_token from GET /api/client/auth/me).",
            ),
            name: Some(session::SECURE_NAME),
            key_in: Some("cookie"),
            scheme: None,
            bearer_format: None,
            flows: None,
            openid_connect_url: None,
        },
    );
    registry.create_security_scheme(
        BEARER_SCHEME,
        MetaSecurityScheme {
            ty: "http",
            description: Some(
                "An API token created in Settings or with POST /api/client/api-tokens. No CSRF \
                 token needed. Scope `read` (the default): GET requests and the four evidence \
                 checks (verify_bundle, verify_chain, verify_log, verify_log_checkpoint); any \
                 other POST, PUT, PATCH or DELETE answers 403. Scope `write`: also the changes \
                 the user's role allows. Whatever the scope, users, roles, invitations, auditor \
                 grants, tokens, sessions, passwords, sign-in methods (MFA), the MFA policy and \
                 transfers need a browser session (403).",
            ),
            name: None,
            key_in: None,
            scheme: Some("bearer"),
            bearer_format: Some("opaque"),
            flows: None,
            openid_connect_url: None,
        },
    );
}

macro_rules! api_extractor {
    ($(#[$doc:meta])* $name:ident, $role:expr) => {
        api_extractor!($(#[$doc])* $name, $role, Lock::Enforce);
    };
    ($(#[$doc:meta])* $name:ident, $role:expr, $lock:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(pub CurrentUser);

        /// Handlers use the caller as a [`CurrentUser`] directly.
        impl std::ops::Deref for $name {
            type Target = CurrentUser;
            fn deref(&self) -> &CurrentUser {
                &self.0
            }
        }

        impl<'a> ApiExtractor<'a> for $name {
            const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
            type ParamType = ();
            type ParamRawType = ();

            fn register(registry: &mut Registry) {
                register_schemes(registry);
            }

            fn security_schemes() -> Vec<&'static str> {
                vec![COOKIE_SCHEME, BEARER_SCHEME]
            }

            async fn from_request(
                req: &'a Request,
                body: &mut RequestBody,
                _opts: ExtractParamOptions<Self::ParamType>,
            ) -> poem::Result<Self> {
                let user = require(req, body, $role, TokenSource::HeaderOnly).await?;
                if $lock == Lock::Enforce && user.mfa_locked() {
                    return Err(mfa_locked_error(&user).into());
                }
                Ok($name(user))
            }
        }
    };
}

api_extractor!(
    /// A signed-in user of any practice role (API); not an auditor.
    ApiViewer,
    Role::Viewer
);
api_extractor!(
    /// Anyone signed in, auditors included (API an auditor may use).
    ApiReader,
    Role::Auditor
);
api_extractor!(
    /// A signed-in owner or admin (API).
    ApiAdmin,
    Role::Admin
);
api_extractor!(
    /// The practice owner (API).
    ApiOwner,
    Role::Owner
);
api_extractor!(
    /// Anyone signed in, auditors included, even when the practice's MFA
    /// policy has locked them out: setting up a factor, and who am I.
    ApiSelfService,
    Role::Auditor,
    Lock::Exempt
);
