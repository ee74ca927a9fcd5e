//! The practice's users and invitations: list, invite (by email, with a
//! link valid for 7 days), resend or revoke invitations, accept one, remove
//! users and change roles.

use chrono::{DateTime, Utc};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Tags};
use uuid::Uuid;

use super::auth::{RoleName, SignInResponse};
use super::error::{
    AUTHED, ApiError, CONFLICT, FORBIDDEN, JSON_BODY, NOT_FOUND, TOO_MANY, UNAUTHORIZED,
};
use super::types::StrictString;
use crate::auth::current::{ApiAdmin, ApiOwner, ClientInfo};
use crate::auth::{Role, csrf};
use crate::db::invites;
use crate::db::invites::InviteSummary;
use crate::db::users::{self, UserSummary};
use crate::state::AppState;

#[derive(Tags)]
enum ApiTags {
    /// Your practice's users and invitations.
    Users,
}

/// A role someone can be invited with or given: ownership is transferred,
/// never invited or assigned.
#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename_all = "lowercase")]
pub enum AssignableRole {
    Admin,
    Viewer,
}

impl From<AssignableRole> for Role {
    fn from(r: AssignableRole) -> Self {
        match r {
            AssignableRole::Admin => Role::Admin,
            AssignableRole::Viewer => Role::Viewer,
        }
    }
}

#[derive(Debug, Object)]
pub struct UserItem {
    pub id: Uuid,
    pub email: String,
    /// Null when the user has not given a name.
    #[oai(nullable)]
    pub name: Option<String>,
    pub role: RoleName,
    /// False once the user has been removed; they can no longer sign in.
    pub is_active: bool,
    /// Whether the user has proved the address (an email link or invitation).
    pub email_verified: bool,
    /// Null when the user never signed in.
    #[oai(nullable)]
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<UserSummary> for UserItem {
    fn from(u: UserSummary) -> Self {
        UserItem {
            id: u.id,
            email: u.email,
            name: u.name,
            role: u.role.into(),
            is_active: u.is_active,
            email_verified: u.email_verified,
            last_login_at: u.last_login_at,
            created_at: u.created_at,
        }
    }
}

#[derive(Debug, Object)]
pub struct UserList {
    /// Active users first, then by role (owner, admin, viewer) and name;
    /// removed users are included with `is_active` false.
    pub users: Vec<UserItem>,
}

#[derive(Debug, Object)]
pub struct InviteBody {
    /// The address to invite; stored lower-cased. Not a user of your
    /// practice already (409); an address with an account in another
    /// practice is answered like any other and mailed that it cannot join.
    #[oai(validator(
        max_length = 254,
        pattern = r"^[^@<>,;\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]{1,64}@[^@<>,;\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000.]+(\.[^@<>,;\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000.]+)+$"
    ))]
    pub email: StrictString,
    /// How to greet them in the email; they choose their own name when
    /// accepting. Null, absent or blank for none.
    #[oai(nullable, validator(max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"))]
    pub name: Option<StrictString>,
    pub role: AssignableRole,
}

#[derive(Debug, Object)]
pub struct InviteSent {
    pub invite_id: Uuid,
    /// The normalised (lower-cased) address the invitation went to.
    pub email: String,
    pub role: AssignableRole,
    /// When the link stops working (7 days after it was sent).
    pub expires_at: DateTime<Utc>,
}

impl From<crate::users::SentInvite> for InviteSent {
    fn from(s: crate::users::SentInvite) -> Self {
        InviteSent {
            invite_id: s.id,
            email: s.email,
            role: assignable(s.role),
            expires_at: s.expires_at,
        }
    }
}

fn assignable(role: Role) -> AssignableRole {
    match role {
        Role::Admin => AssignableRole::Admin,
        // These invitations are never for owners (a CHECK constraint says
        // so) nor auditors (invited with their grant, `src/auditors.rs`).
        Role::Viewer | Role::Owner | Role::Auditor => AssignableRole::Viewer,
    }
}

#[derive(ApiResponse)]
pub enum InviteCreated {
    /// Invited: the email is queued. An open invitation to the same address
    /// in your practice was replaced (its link no longer works).
    #[oai(status = 201)]
    Created(Json<InviteSent>),
}

/// Whether an open invitation can still be accepted.
#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename_all = "lowercase")]
pub enum InviteStatus {
    /// The link works until `expires_at`.
    Pending,
    /// The link no longer works; resend the invitation for a new one.
    Expired,
}

#[derive(Debug, Object)]
pub struct InviterRef {
    pub id: Uuid,
    pub email: String,
}

#[derive(Debug, Object)]
pub struct InviteItem {
    pub id: Uuid,
    pub email: String,
    /// The name given when inviting, or null.
    #[oai(nullable)]
    pub name: Option<String>,
    pub role: AssignableRole,
    pub status: InviteStatus,
    pub invited_by: InviterRef,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

impl From<InviteSummary> for InviteItem {
    fn from(i: InviteSummary) -> Self {
        InviteItem {
            id: i.id,
            email: i.email,
            name: i.name,
            role: assignable(i.role),
            status: if i.expired { InviteStatus::Expired } else { InviteStatus::Pending },
            invited_by: InviterRef { id: i.invited_by_id, email: i.invited_by_email },
            expires_at: i.expires_at,
            created_at: i.created_at,
        }
    }
}

#[derive(Debug, Object)]
pub struct InviteList {
    /// Invitations neither accepted nor revoked, newest first. Expired ones
    /// are included (status `expired`) so they can be resent or revoked.
    pub invites: Vec<InviteItem>,
}

#[derive(Object)]
pub struct AcceptBody {
    /// The token from the invitation link (`/client/invite?token=…`).
    pub token: StrictString,
    /// Your name as others in the practice will see it: 1 to 200 characters.
    #[oai(validator(
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
    ))]
    pub name: StrictString,
}

impl std::fmt::Debug for AcceptBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcceptBody")
            .field("token", &&crate::auth::tokens::REDACTED)
            .field("name", &self.name)
            .finish()
    }
}

#[derive(Debug, Object)]
pub struct RoleBody {
    pub role: AssignableRole,
}

#[derive(ApiResponse)]
pub enum Done {
    /// Done.
    #[oai(status = 204)]
    NoContent,
}

pub struct UsersApi;

#[OpenApi(prefix_path = "/client", tag = "ApiTags::Users")]
impl UsersApi {
    /// Your practice's users (owner, admin)
    #[oai(path = "/users", method = "get", operation_id = "list_users")]
    async fn list_users(
        &self,
        state: Data<&AppState>,
        user: ApiAdmin,
    ) -> Result<Json<UserList>, ApiError<AUTHED>> {
        let db = state.pool().get().await?;
        let rows = users::list_in_org(&**db, user.org_id).await?;
        Ok(Json(UserList { users: rows.into_iter().map(UserItem::from).collect() }))
    }

    /// Invite someone to your practice (owner, admin)
    ///
    /// Emails them a link to `/client/invite?token=…` that works once for 7
    /// days. 409 when the address is already a user of your practice. An
    /// address with an account in another practice (addresses are unique
    /// across practices) gets the same answer as a new one, so invitations
    /// cannot tell who is a customer elsewhere; it is mailed that it has an
    /// account, with nothing to accept. Inviting an address that has an open
    /// invitation in your practice replaces it: the old link stops working.
    /// Only from a signed-in browser session: an API token gets 403, so a
    /// leaked script token cannot invite new admins. 429 (with Retry-After)
    /// after 100 invitations, sent or resent, by your practice in 15 minutes.
    #[oai(path = "/users/invite", method = "post", operation_id = "create_invite")]
    async fn create_invite(
        &self,
        state: Data<&AppState>,
        req: &Request,
        user: ApiAdmin,
        body: Json<InviteBody>,
    ) -> Result<InviteCreated, ApiError<{ AUTHED | JSON_BODY | CONFLICT | TOO_MANY }>> {
        let sent = crate::users::create_invite(
            &state,
            &user,
            &body.email,
            body.name.as_deref(),
            body.role.into(),
            &ClientInfo::of(req),
        )
        .await?;
        Ok(InviteCreated::Created(Json(sent.into())))
    }

    /// Open invitations of your practice (owner, admin)
    ///
    /// Neither accepted nor revoked; expired ones are listed with status
    /// `expired` so they can be resent.
    #[oai(path = "/invites", method = "get", operation_id = "list_invites")]
    async fn list_invites(
        &self,
        state: Data<&AppState>,
        user: ApiAdmin,
    ) -> Result<Json<InviteList>, ApiError<AUTHED>> {
        let db = state.pool().get().await?;
        let rows = invites::list_open(&**db, user.org_id).await?;
        Ok(Json(InviteList { invites: rows.into_iter().map(InviteItem::from).collect() }))
    }

    /// Revoke an invitation (owner, admin)
    ///
    /// Its link stops working. 404 for an invitation that is not open (or not
    /// your practice's).
    #[oai(path = "/invites/:id", method = "delete", operation_id = "revoke_invite")]
    async fn revoke_invite(
        &self,
        state: Data<&AppState>,
        req: &Request,
        user: ApiAdmin,
        /// The invitation's id.
        id: Path<Uuid>,
    ) -> Result<Done, ApiError<{ AUTHED | NOT_FOUND }>> {
        crate::users::revoke_invite(&state, &user, id.0, &ClientInfo::of(req)).await?;
        Ok(Done::NoContent)
    }

    /// Send an invitation again (owner, admin)
    ///
    /// A new link, valid for 7 days from now, is emailed; the previous link
    /// stops working. Works for expired invitations too. 409 when the address
    /// has become a user of your practice meanwhile. Only from a signed-in browser
    /// session: an API token gets 403. Counts towards the same limit as
    /// new invitations (429).
    #[oai(path = "/invites/:id/resend", method = "post", operation_id = "resend_invite")]
    async fn resend_invite(
        &self,
        state: Data<&AppState>,
        req: &Request,
        user: ApiAdmin,
        /// The invitation's id.
        id: Path<Uuid>,
    ) -> Result<Json<InviteSent>, ApiError<{ AUTHED | NOT_FOUND | CONFLICT | TOO_MANY }>> {
        let sent = crate::users::resend_invite(&state, &user, id.0, &ClientInfo::of(req)).await?;
        Ok(Json(sent.into()))
    }

    /// Accept an invitation
    ///
    /// Creates your account in the inviting practice with the invited role
    /// and signs you in (sets the session cookie), like validate-magic-link.
    /// The token works once: of concurrent attempts exactly one succeeds. 401
    /// for an invalid, expired, revoked or used token (an invitation is
    /// revoked when its sender is removed or made a viewer); 409 when the
    /// address has an account already.
    #[oai(path = "/auth/accept-invite", method = "post", operation_id = "accept_invite")]
    async fn accept_invite(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<AcceptBody>,
    ) -> Result<
        SignInResponse,
        ApiError<{ JSON_BODY | UNAUTHORIZED | FORBIDDEN | CONFLICT | TOO_MANY }>,
    > {
        csrf::check_origin(req, state.config())?;
        let signed_in =
            crate::users::accept_invite(&state, &body.token, &body.name, &ClientInfo::of(req))
                .await?;
        Ok(super::auth::sign_in_response(signed_in))
    }

    /// Remove a user (owner, admin)
    ///
    /// Deactivates the user and revokes their sessions, API tokens and the
    /// open invitations they sent, at once. Nobody removes themselves or the owner, and only the owner
    /// removes an admin (403). Removing a removed user changes nothing (204).
    #[oai(path = "/users/:id", method = "delete", operation_id = "remove_user")]
    async fn remove_user(
        &self,
        state: Data<&AppState>,
        req: &Request,
        user: ApiAdmin,
        /// The user's id.
        id: Path<Uuid>,
    ) -> Result<Done, ApiError<{ AUTHED | NOT_FOUND }>> {
        crate::users::remove_user(&state, &user, id.0, &ClientInfo::of(req)).await?;
        Ok(Done::NoContent)
    }

    /// Change a user's role (owner)
    ///
    /// `admin` or `viewer`; not your own role and not the owner's (403); 409
    /// for a removed user. Their sessions stay signed in: the new role applies
    /// from their next request. A user made a viewer loses the open
    /// invitations they sent (their links stop working).
    #[oai(path = "/users/:id/role", method = "put", operation_id = "set_user_role")]
    async fn set_user_role(
        &self,
        state: Data<&AppState>,
        req: &Request,
        user: ApiOwner,
        /// The user's id.
        id: Path<Uuid>,
        body: Json<RoleBody>,
    ) -> Result<Json<UserItem>, ApiError<{ AUTHED | JSON_BODY | NOT_FOUND | CONFLICT }>> {
        let updated = crate::users::set_user_role(
            &state,
            &user,
            id.0,
            body.role.into(),
            &ClientInfo::of(req),
        )
        .await?;
        Ok(Json(updated.into()))
    }
}
