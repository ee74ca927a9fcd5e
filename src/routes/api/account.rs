//! The caller's own credentials: password, browser sessions, and (owner and
//! admin) the practice's API tokens.

use chrono::{DateTime, Utc};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};
use uuid::Uuid;

use super::error::{AUTHED, ApiError, CONFLICT, JSON_BODY, NOT_FOUND, TOO_MANY};
use super::types::StrictString;
use crate::auth::Scope;
use crate::auth::current::{ApiAdmin, ApiViewer, ClientInfo};
use crate::auth::flows;
use crate::db::{api_tokens, sessions};
use crate::state::AppState;

#[derive(Tags)]
enum ApiTags {
    /// Your password, sessions and API tokens.
    Account,
}

#[derive(Object)]
pub struct PasswordBody {
    /// The new password: at least 12 characters.
    #[oai(validator(min_length = 12, max_length = 1024))]
    pub password: StrictString,
    /// Required when a password is already set; null or absent otherwise.
    #[oai(nullable)]
    pub current_password: Option<StrictString>,
}

impl std::fmt::Debug for PasswordBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordBody")
            .field("password", &&crate::auth::tokens::REDACTED)
            .field("current_password", &&crate::auth::tokens::REDACTED)
            .finish()
    }
}

#[derive(Debug, Object)]
pub struct PasswordSet {
    /// `password_set`.
    pub status: String,
    /// How many other sessions were signed out.
    pub other_sessions_revoked: u64,
}

#[derive(Debug, Object)]
pub struct SessionItem {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    #[oai(skip_serializing_if_is_none)]
    pub ip: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub user_agent: Option<String>,
    /// The session making this request.
    pub current: bool,
}

#[derive(Debug, Object)]
pub struct SessionList {
    pub sessions: Vec<SessionItem>,
}

#[derive(Debug, Object)]
pub struct RevokedCount {
    pub revoked: u64,
}

#[derive(Debug, Object)]
pub struct UserRef {
    pub id: Uuid,
    pub email: String,
}

#[derive(Debug, Object)]
pub struct TokenItem {
    pub id: Uuid,
    pub name: String,
    /// The first characters of the token, to recognise it.
    pub prefix: String,
    pub scope: Scope,
    pub created_by: UserRef,
    pub created_at: DateTime<Utc>,
    #[oai(skip_serializing_if_is_none)]
    pub last_used_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Object)]
pub struct TokenList {
    pub tokens: Vec<TokenItem>,
}

#[derive(Debug, Object)]
pub struct NewTokenBody {
    /// What the token is for, e.g. "Compliance export script".
    #[oai(validator(
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
    ))]
    pub name: StrictString,
    /// What the token may do; `read` when absent or null.
    #[oai(default, nullable)]
    pub scope: Scope,
}

#[derive(Object)]
pub struct CreatedToken {
    pub id: Uuid,
    pub name: String,
    /// The token itself. Shown this once; store it now.
    pub token: String,
    pub prefix: String,
    pub scope: Scope,
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for CreatedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedToken")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("token", &&crate::auth::tokens::REDACTED)
            .field("prefix", &self.prefix)
            .field("scope", &self.scope)
            .field("created_at", &self.created_at)
            .finish()
    }
}

#[derive(ApiResponse)]
pub enum CreatedTokenResponse {
    /// Created. `token` is shown only in this response.
    #[oai(status = 201)]
    Created(Json<CreatedToken>),
}

#[derive(ApiResponse)]
pub enum Deleted {
    /// Done.
    #[oai(status = 204)]
    NoContent,
}

pub struct AccountApi;

#[OpenApi(prefix_path = "/client", tag = "ApiTags::Account")]
impl AccountApi {
    /// Set or change your password
    ///
    /// At least 12 characters; the current password is required when one is
    /// set. Your other sessions are signed out.
    #[oai(path = "/password", method = "put", operation_id = "set_password")]
    async fn set_password(
        &self,
        state: Data<&AppState>,
        req: &Request,
        user: ApiViewer,
        body: Json<PasswordBody>,
    ) -> Result<Json<PasswordSet>, ApiError<{ AUTHED | JSON_BODY | TOO_MANY }>> {
        let revoked = flows::set_password(
            &state,
            &user,
            &body.password,
            body.current_password.as_deref(),
            &ClientInfo::of(req),
        )
        .await?;
        Ok(Json(PasswordSet { status: "password_set".into(), other_sessions_revoked: revoked }))
    }

    /// Your active sessions
    #[oai(path = "/sessions", method = "get", operation_id = "list_sessions")]
    async fn list_sessions(
        &self,
        state: Data<&AppState>,
        user: ApiViewer,
    ) -> Result<Json<SessionList>, ApiError<AUTHED>> {
        let db = state.pool().get().await?;
        let current = user.session_id();
        let rows =
            sessions::list_sessions(&**db, user.id, state.config().session_idle_timeout).await?;
        Ok(Json(SessionList {
            sessions: rows
                .into_iter()
                .map(|s| SessionItem {
                    current: Some(s.id) == current,
                    id: s.id,
                    created_at: s.created_at,
                    last_seen_at: s.last_seen_at,
                    expires_at: s.expires_at,
                    ip: s.ip.map(|ip| ip.to_string()),
                    user_agent: s.user_agent,
                })
                .collect(),
        }))
    }

    /// Sign out one of your sessions
    #[oai(path = "/sessions/:id", method = "delete", operation_id = "revoke_session")]
    async fn revoke_session(
        &self,
        state: Data<&AppState>,
        req: &Request,
        user: ApiViewer,
        id: Path<Uuid>,
    ) -> Result<Deleted, ApiError<{ AUTHED | NOT_FOUND }>> {
        flows::revoke_session(&state, &user, id.0, &ClientInfo::of(req)).await?;
        Ok(Deleted::NoContent)
    }

    /// Sign out all your other sessions
    #[oai(
        path = "/sessions/revoke-others",
        method = "post",
        operation_id = "revoke_other_sessions"
    )]
    async fn revoke_other_sessions(
        &self,
        state: Data<&AppState>,
        req: &Request,
        user: ApiViewer,
    ) -> Result<Json<RevokedCount>, ApiError<AUTHED>> {
        let revoked = flows::revoke_other_sessions(&state, &user, &ClientInfo::of(req)).await?;
        Ok(Json(RevokedCount { revoked }))
    }

    /// Your practice's API tokens (owner, admin)
    #[oai(path = "/api-tokens", method = "get", operation_id = "list_api_tokens")]
    async fn list_api_tokens(
        &self,
        state: Data<&AppState>,
        user: ApiAdmin,
    ) -> Result<Json<TokenList>, ApiError<AUTHED>> {
        let db = state.pool().get().await?;
        let rows = api_tokens::list(&**db, user.org_id).await?;
        Ok(Json(TokenList {
            tokens: rows
                .into_iter()
                .map(|t| TokenItem {
                    id: t.id,
                    name: t.name,
                    prefix: t.prefix,
                    scope: t.scope,
                    created_by: UserRef { id: t.created_by_id, email: t.created_by_email },
                    created_at: t.created_at,
                    last_used_at: t.last_used_at,
                })
                .collect(),
        }))
    }

    /// Create an API token (owner, admin)
    ///
    /// The token acts as you, with your role, within its scope (`read` by
    /// default, or `write`; see TokenScope), until it is revoked, you are
    /// removed or you are made a viewer. Send it as `Authorization: Bearer
    /// <token>`. Only from a signed-in browser session (403 for a token).
    #[oai(path = "/api-tokens", method = "post", operation_id = "create_api_token")]
    async fn create_api_token(
        &self,
        state: Data<&AppState>,
        req: &Request,
        user: ApiAdmin,
        body: Json<NewTokenBody>,
    ) -> Result<CreatedTokenResponse, ApiError<{ AUTHED | JSON_BODY | CONFLICT }>> {
        let t =
            flows::create_api_token(&state, &user, &body.name, body.scope, &ClientInfo::of(req))
                .await?;
        Ok(CreatedTokenResponse::Created(Json(CreatedToken {
            id: t.id,
            name: t.name,
            token: t.token,
            prefix: t.prefix,
            scope: t.scope,
            created_at: t.created_at,
        })))
    }

    /// Revoke an API token (owner, admin)
    ///
    /// Any live token of your practice except one made by someone who
    /// outranks you (an admin cannot revoke the owner's: 403). Only from a
    /// signed-in browser session (403 for a token).
    #[oai(path = "/api-tokens/:id", method = "delete", operation_id = "revoke_api_token")]
    async fn revoke_api_token(
        &self,
        state: Data<&AppState>,
        req: &Request,
        user: ApiAdmin,
        id: Path<Uuid>,
    ) -> Result<Deleted, ApiError<{ AUTHED | NOT_FOUND }>> {
        flows::revoke_api_token(&state, &user, id.0, &ClientInfo::of(req)).await?;
        Ok(Deleted::NoContent)
    }
}
