//! `/api/client/auth/*`: sign-in by magic link or password, sign-out, and
//! who am I. Paths and bodies match the original portal's, so its clients
//! keep working.

use poem::Request;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Tags};
use uuid::Uuid;

use super::error::{
    AUTHED, ApiError, BAD_REQUEST, CONFLICT, FORBIDDEN, JSON_BODY, TOO_MANY, UNAUTHORIZED,
    UNPROCESSABLE, UNSUPPORTED_MEDIA,
};
use super::types::StrictString;
use crate::auth::current::{ApiSelfService, ClientInfo, CurrentUser};
use crate::auth::mfa::{self, SignIn};
use crate::auth::{Role, csrf, flows, session};
use crate::state::AppState;

#[derive(Tags)]
enum ApiTags {
    /// Signing in and out.
    Auth,
}

#[derive(Debug, Object)]
pub struct EmailBody {
    /// The address to send a sign-in link to.
    #[oai(validator(
        max_length = 254,
        pattern = r"^[^@<>,;\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]{1,64}@[^@<>,;\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000.]+(\.[^@<>,;\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000.]+)+$"
    ))]
    pub email: StrictString,
}

#[derive(Debug, Object)]
pub struct SentBody {
    /// Always `sent`.
    pub status: String,
    /// The same for every address, known or not.
    pub message: String,
}

#[derive(Object)]
pub struct TokenBody {
    /// The token from the sign-in link (`/client/verify?token=…`).
    pub token: StrictString,
}

impl std::fmt::Debug for TokenBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenBody").field("token", &&crate::auth::tokens::REDACTED).finish()
    }
}

#[derive(Object)]
pub struct LoginBody {
    pub email: StrictString,
    #[oai(validator(max_length = 1024))]
    pub password: StrictString,
}

impl std::fmt::Debug for LoginBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginBody")
            .field("email", &self.email)
            .field("password", &&crate::auth::tokens::REDACTED)
            .finish()
    }
}

/// Where a sign-in stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum SignInStatus {
    /// Signed in: the response sets the session cookie.
    Authenticated,
    /// The first factor is proved and a second is due: the response sets a
    /// short-lived pending cookie (no session); answer with
    /// `POST /api/client/auth/mfa` or the WebAuthn pair under
    /// `/api/client/auth/mfa/webauthn/`.
    MfaRequired,
}

/// A second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum MfaMethod {
    /// A 6-digit code from an authenticator app.
    Totp,
    /// A passkey or security key.
    Webauthn,
    /// One of the user's single-use recovery codes.
    RecoveryCode,
}

impl From<mfa::Method> for MfaMethod {
    fn from(m: mfa::Method) -> Self {
        match m {
            mfa::Method::Totp => MfaMethod::Totp,
            mfa::Method::Passkey => MfaMethod::Webauthn,
            mfa::Method::RecoveryCode => MfaMethod::RecoveryCode,
        }
    }
}

#[derive(Debug, Object)]
pub struct AuthStatus {
    pub status: SignInStatus,
    /// With `mfa_required`: the second factors the user can answer with.
    #[oai(skip_serializing_if_is_none)]
    pub methods: Option<Vec<MfaMethod>>,
}

#[derive(ApiResponse)]
pub enum SignInResponse {
    /// Signed in (the session cookie is set), or a second factor is due
    /// (the pending cookie is set; see `status`).
    #[oai(status = 200)]
    Ok(Json<AuthStatus>, #[oai(header = "Set-Cookie")] String),
}

#[derive(Object)]
pub struct CodeBody {
    /// A 6-digit code from the authenticator app, or a recovery code
    /// (`xxxxx-xxxxx`).
    #[oai(validator(max_length = 64))]
    pub code: StrictString,
}

impl std::fmt::Debug for CodeBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeBody").field("code", &&crate::auth::tokens::REDACTED).finish()
    }
}

#[derive(Debug, Object)]
pub struct CredentialBody {
    /// The browser's WebAuthn answer (`PublicKeyCredential` as JSON, binary
    /// fields base64url).
    pub credential: serde_json::Value,
}

/// WebAuthn options for `navigator.credentials.get` / `.create`.
#[derive(Debug, Object)]
pub struct WebauthnOptions {
    /// `{"publicKey": {...}}` with binary fields base64url.
    #[oai(rename = "publicKey")]
    pub public_key: serde_json::Value,
}

impl WebauthnOptions {
    pub fn from_options(mut options: serde_json::Value) -> Self {
        let public_key =
            options.get_mut("publicKey").map(serde_json::Value::take).unwrap_or(options);
        WebauthnOptions { public_key }
    }
}

#[derive(Object)]
pub struct ReauthBody {
    /// A code from the authenticator app or a recovery code (users with a
    /// second factor).
    #[oai(nullable, validator(max_length = 64))]
    pub code: Option<StrictString>,
    /// The password (users without a second factor).
    #[oai(nullable, validator(max_length = 1024))]
    pub password: Option<StrictString>,
}

impl std::fmt::Debug for ReauthBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReauthBody(<redacted>)")
    }
}

#[derive(ApiResponse)]
pub enum ReauthResponse {
    /// The session counts as just signed in for the next 10 minutes.
    #[oai(status = 204)]
    Done,
}

/// The answer to a first factor: a session, or the pending cookie.
pub fn sign_in_response(signed: SignIn) -> SignInResponse {
    match signed {
        SignIn::Session(s) => authenticated(s.session.set_cookie),
        SignIn::SecondFactor(p) => SignInResponse::Ok(
            Json(AuthStatus {
                status: SignInStatus::MfaRequired,
                methods: Some(p.methods.into_iter().map(MfaMethod::from).collect()),
            }),
            p.set_cookie,
        ),
    }
}

#[derive(ApiResponse)]
pub enum LogoutResponse {
    /// Signed out; the session is revoked and the cookie cleared.
    #[oai(status = 204)]
    Ok(#[oai(header = "Set-Cookie")] String),
}

/// A user's role in their practice.
#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename_all = "lowercase")]
pub enum RoleName {
    Owner,
    Admin,
    Viewer,
    /// An outside auditor with time-limited, read-only access.
    Auditor,
}

impl From<Role> for RoleName {
    fn from(r: Role) -> Self {
        match r {
            Role::Owner => RoleName::Owner,
            Role::Admin => RoleName::Admin,
            Role::Viewer => RoleName::Viewer,
            Role::Auditor => RoleName::Auditor,
        }
    }
}

#[derive(Debug, Object)]
pub struct OrgRef {
    pub id: Uuid,
    pub name: String,
}

#[derive(Object)]
pub struct MeBody {
    pub id: Uuid,
    pub email: String,
    /// Absent when the user has not given a name.
    #[oai(skip_serializing_if_is_none)]
    pub name: Option<String>,
    pub role: RoleName,
    pub org: OrgRef,
    /// Send as `X-CSRF-Token` with unsafe requests authenticated by the
    /// cookie. Absent for API-token requests, which need none.
    #[oai(skip_serializing_if_is_none)]
    pub csrf_token: Option<String>,
    /// For an auditor: the grant they read under. Absent for other roles.
    #[oai(skip_serializing_if_is_none)]
    pub auditor_grant: Option<super::auditors::GrantScope>,
    /// When the practice requires MFA and this user has no second factor
    /// yet: the end of their grace period. After it, a browser session can
    /// only set up a factor (everything else answers 403).
    #[oai(skip_serializing_if_is_none)]
    pub mfa_setup_due: Option<chrono::DateTime<chrono::Utc>>,
}

impl std::fmt::Debug for MeBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeBody")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("name", &self.name)
            .field("role", &self.role)
            .field("org", &self.org)
            .field("csrf_token", &&crate::auth::tokens::REDACTED)
            .field("auditor_grant", &self.auditor_grant)
            .field("mfa_setup_due", &self.mfa_setup_due)
            .finish()
    }
}

impl From<&CurrentUser> for MeBody {
    fn from(u: &CurrentUser) -> Self {
        MeBody {
            id: u.id,
            email: u.email.clone(),
            name: u.name.clone(),
            role: u.role.into(),
            org: OrgRef { id: u.org_id, name: u.org_name.clone() },
            csrf_token: u.csrf_token().map(str::to_owned),
            auditor_grant: None,
            mfa_setup_due: u.mfa_setup_due,
        }
    }
}

fn authenticated(cookie: String) -> SignInResponse {
    SignInResponse::Ok(
        Json(AuthStatus { status: SignInStatus::Authenticated, methods: None }),
        cookie,
    )
}

pub struct AuthApi;

#[OpenApi(prefix_path = "/client/auth", tag = "ApiTags::Auth")]
impl AuthApi {
    /// Email a sign-in link
    ///
    /// Always answers the same, whether or not the address has an account;
    /// the mail is queued, never sent inline. Limited per address and per
    /// client address.
    #[oai(path = "/request-magic-link", method = "post", operation_id = "request_magic_link")]
    async fn request_magic_link(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<EmailBody>,
    ) -> Result<Json<SentBody>, ApiError<{ JSON_BODY | FORBIDDEN | TOO_MANY }>> {
        csrf::check_origin(req, state.config())?;
        flows::request_magic_link(&state, &body.email, &ClientInfo::of(req)).await?;
        Ok(Json(SentBody { status: "sent".into(), message: flows::MAGIC_LINK_SENT.into() }))
    }

    /// Sign in with a magic link's token
    ///
    /// The token works once; of concurrent attempts exactly one succeeds.
    /// A user with a second factor gets `mfa_required` and a pending
    /// cookie instead of a session.
    #[oai(path = "/validate-magic-link", method = "post", operation_id = "validate_magic_link")]
    async fn validate_magic_link(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<TokenBody>,
    ) -> Result<SignInResponse, ApiError<{ JSON_BODY | UNAUTHORIZED | FORBIDDEN | TOO_MANY }>> {
        csrf::check_origin(req, state.config())?;
        let signed_in = flows::redeem_magic_link(&state, &body.token, &ClientInfo::of(req)).await?;
        Ok(sign_in_response(signed_in))
    }

    /// Sign in with email and password
    ///
    /// Unknown address, wrong password and no password set answer the same
    /// 401. A user with a second factor gets `mfa_required` and a pending
    /// cookie instead of a session.
    #[oai(path = "/login", method = "post", operation_id = "login_password")]
    async fn login(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<LoginBody>,
    ) -> Result<SignInResponse, ApiError<{ JSON_BODY | UNAUTHORIZED | FORBIDDEN | TOO_MANY }>> {
        csrf::check_origin(req, state.config())?;
        let signed_in =
            flows::login_with_password(&state, &body.email, &body.password, &ClientInfo::of(req))
                .await?;
        Ok(sign_in_response(signed_in))
    }

    /// Sign out
    ///
    /// Revokes the session in the database and clears the cookie.
    #[oai(path = "/logout", method = "post", operation_id = "logout_session")]
    async fn logout(
        &self,
        state: Data<&AppState>,
        req: &Request,
        user: ApiSelfService,
    ) -> Result<LogoutResponse, ApiError<{ BAD_REQUEST | UNAUTHORIZED | FORBIDDEN }>> {
        flows::logout(&state, &user, &ClientInfo::of(req)).await?;
        Ok(LogoutResponse::Ok(session::clear_cookie(state.config())))
    }

    /// The signed-in user
    ///
    /// Also answers for API tokens: the user who made the token. An
    /// auditor's answer carries their grant: until when, which sites and
    /// which period.
    #[oai(path = "/me", method = "get", operation_id = "get_me")]
    async fn me(
        &self,
        state: Data<&AppState>,
        user: ApiSelfService,
    ) -> Result<Json<MeBody>, ApiError<{ BAD_REQUEST | UNAUTHORIZED }>> {
        let mut me = MeBody::from(&*user);
        me.auditor_grant = crate::auditors::grant_of(&state, &user)
            .await?
            .map(|g| super::auditors::GrantScope::from(&g));
        Ok(Json(me))
    }

    /// Answer the second factor with a code
    ///
    /// After a first factor answered `mfa_required`: a 6-digit code from
    /// the authenticator app (each accepted once) or a recovery code (used
    /// up, and the user is emailed). Needs the pending cookie, which it
    /// uses up; starts the session. Five wrong answers end the pending
    /// sign-in (sign in again).
    #[oai(path = "/mfa", method = "post", operation_id = "verify_mfa")]
    async fn verify_mfa(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<CodeBody>,
    ) -> Result<SecondFactorResponse, ApiError<{ JSON_BODY | UNAUTHORIZED | FORBIDDEN | TOO_MANY }>>
    {
        csrf::check_origin(req, state.config())?;
        let token = session::pending_token_from(req, state.config());
        let signed_in =
            mfa::sign_in_with_code(&state, token.as_deref(), &body.code, &ClientInfo::of(req))
                .await?;
        Ok(second_factor_done(signed_in))
    }

    /// Start answering the second factor with a passkey
    ///
    /// The options for `navigator.credentials.get`, for the pending
    /// sign-in's user (needs the pending cookie).
    #[oai(path = "/mfa/webauthn/start", method = "post", operation_id = "create_mfa_challenge")]
    async fn start_mfa_webauthn(
        &self,
        state: Data<&AppState>,
        req: &Request,
    ) -> Result<Json<WebauthnOptions>, ApiError<{ UNAUTHORIZED | FORBIDDEN | CONFLICT | TOO_MANY }>>
    {
        csrf::check_origin(req, state.config())?;
        let token = session::pending_token_from(req, state.config());
        let options =
            mfa::sign_in_passkey_options(&state, token.as_deref(), &ClientInfo::of(req)).await?;
        Ok(Json(WebauthnOptions::from_options(options)))
    }

    /// Answer the second factor with a passkey
    ///
    /// The browser's answer to the options from `create_mfa_challenge`.
    /// Starts the session like `verify_mfa`.
    #[oai(path = "/mfa/webauthn/finish", method = "post", operation_id = "verify_mfa_webauthn")]
    async fn finish_mfa_webauthn(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<CredentialBody>,
    ) -> Result<
        SecondFactorResponse,
        ApiError<{ JSON_BODY | UNAUTHORIZED | FORBIDDEN | CONFLICT | TOO_MANY }>,
    > {
        csrf::check_origin(req, state.config())?;
        let token = session::pending_token_from(req, state.config());
        let signed_in = mfa::sign_in_with_passkey(
            &state,
            token.as_deref(),
            &body.credential,
            &ClientInfo::of(req),
        )
        .await?;
        Ok(second_factor_done(signed_in))
    }

    /// Confirm it is you
    ///
    /// Sensitive changes (factors, passwords, API tokens, the MFA policy)
    /// need a sign-in within the last 10 minutes; this renews it. A user
    /// with a second factor sends `code` (authenticator or recovery code);
    /// a user without one sends `password` (422 when the one it needs is
    /// missing). Without either, sign in again.
    #[oai(path = "/reauthenticate", method = "post", operation_id = "verify_reauthentication")]
    async fn reauthenticate(
        &self,
        state: Data<&AppState>,
        req: &Request,
        user: ApiSelfService,
        body: Json<ReauthBody>,
    ) -> Result<ReauthResponse, ApiError<{ AUTHED | UNSUPPORTED_MEDIA | TOO_MANY | UNPROCESSABLE }>>
    {
        mfa::reauthenticate(
            &state,
            &user,
            body.code.as_deref(),
            body.password.as_deref(),
            &ClientInfo::of(req),
        )
        .await?;
        Ok(ReauthResponse::Done)
    }
}

#[derive(ApiResponse)]
pub enum SecondFactorResponse {
    /// Signed in: sets the session cookie. The pending cookie is used up
    /// (it expires within 5 minutes on its own).
    #[oai(status = 200)]
    Ok(Json<AuthStatus>, #[oai(header = "Set-Cookie")] String),
}

fn second_factor_done(signed_in: flows::SignedIn) -> SecondFactorResponse {
    SecondFactorResponse::Ok(
        Json(AuthStatus { status: SignInStatus::Authenticated, methods: None }),
        signed_in.session.set_cookie,
    )
}
