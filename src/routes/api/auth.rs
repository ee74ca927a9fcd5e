//! `/api/client/auth/*`: sign-in by magic link or password, sign-out, and
//! who am I. Paths and bodies match the original portal's, so its clients
//! keep working.

use poem::Request;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Tags};
use uuid::Uuid;

use super::error::{ApiError, BAD_REQUEST, FORBIDDEN, JSON_BODY, TOO_MANY, UNAUTHORIZED};
use super::types::StrictString;
use crate::auth::current::{ApiReader, ClientInfo, CurrentUser};
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

#[derive(Debug, Object)]
pub struct AuthStatus {
    /// `authenticated`.
    pub status: String,
}

#[derive(ApiResponse)]
pub enum SignInResponse {
    /// Signed in; the response sets the session cookie.
    #[oai(status = 200)]
    Ok(Json<AuthStatus>, #[oai(header = "Set-Cookie")] String),
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
        }
    }
}

fn authenticated(cookie: String) -> SignInResponse {
    SignInResponse::Ok(Json(AuthStatus { status: "authenticated".into() }), cookie)
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
    #[oai(path = "/validate-magic-link", method = "post", operation_id = "validate_magic_link")]
    async fn validate_magic_link(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<TokenBody>,
    ) -> Result<SignInResponse, ApiError<{ JSON_BODY | UNAUTHORIZED | FORBIDDEN | TOO_MANY }>> {
        csrf::check_origin(req, state.config())?;
        let signed_in = flows::redeem_magic_link(&state, &body.token, &ClientInfo::of(req)).await?;
        Ok(authenticated(signed_in.session.set_cookie))
    }

    /// Sign in with email and password
    ///
    /// Unknown address, wrong password and no password set answer the same 401.
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
        Ok(authenticated(signed_in.session.set_cookie))
    }

    /// Sign out
    ///
    /// Revokes the session in the database and clears the cookie.
    #[oai(path = "/logout", method = "post", operation_id = "logout_session")]
    async fn logout(
        &self,
        state: Data<&AppState>,
        req: &Request,
        user: ApiReader,
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
        user: ApiReader,
    ) -> Result<Json<MeBody>, ApiError<{ BAD_REQUEST | UNAUTHORIZED }>> {
        let mut me = MeBody::from(&*user);
        me.auditor_grant = crate::auditors::grant_of(&state, &user)
            .await?
            .map(|g| super::auditors::GrantScope::from(&g));
        Ok(Json(me))
    }
}
