//! Auditor access: grant an outside auditor time-limited, read-only access
//! (emailed as an invitation), list, extend or narrow, and revoke grants.
//! The rules are `crate::auditors`'.

use chrono::{DateTime, Utc};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Tags};
use uuid::Uuid;

use super::error::{AUTHED, ApiError, CONFLICT, JSON_BODY, NOT_FOUND, TOO_MANY, UNPROCESSABLE};
use super::types::{Day, StrictString};
use crate::auditors::{self, GrantChange, GrantRequest, GrantStatus, Scope};
use crate::auth::current::{ApiAdmin, ClientInfo};
use crate::db::auditors::Grant;
use crate::state::AppState;

#[derive(Tags)]
enum ApiTags {
    /// Outside auditors' time-limited, read-only access to your practice.
    Auditors,
}

#[derive(Debug, Object)]
pub struct GrantBody {
    /// The auditor's address; stored lower-cased. Not a user of your
    /// practice already (409); an address with an account in another
    /// practice is answered like any other and mailed that it cannot join.
    #[oai(validator(
        max_length = 254,
        pattern = r"^[^@<>,;\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]{1,64}@[^@<>,;\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000.]+(\.[^@<>,;\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000.]+)+$"
    ))]
    pub email: StrictString,
    /// The auditor's name: 1 to 100 characters.
    #[oai(validator(
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
    ))]
    pub name: StrictString,
    /// Their firm: 1 to 100 characters.
    #[oai(validator(
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
    ))]
    pub firm: StrictString,
    /// Days until the access ends: 1 to 365; 30 when absent.
    #[oai(nullable, validator(minimum(value = "1"), maximum(value = "365")))]
    pub expires_in_days: Option<i32>,
    /// The sites they may read (1 to 100 of yours); absent for every site.
    #[oai(nullable, validator(min_items = 1, max_items = 100))]
    pub site_ids: Option<Vec<Uuid>>,
    /// First day (UTC) of the evidence they may read; absent for no limit.
    #[oai(nullable)]
    pub from: Option<Day>,
    /// Last day (UTC) of the evidence they may read; absent for no limit.
    #[oai(nullable)]
    pub to: Option<Day>,
}

#[derive(Debug, Object)]
pub struct GrantPatch {
    /// A new end, this many days from now (1 to 365); absent to keep it.
    #[oai(nullable, validator(minimum(value = "1"), maximum(value = "365")))]
    pub expires_in_days: Option<i32>,
    /// New sites (1 to 100 of yours), null for every site, absent to keep.
    #[oai(nullable, validator(min_items = 1, max_items = 100))]
    pub site_ids: MaybeUndefined<Vec<Uuid>>,
    /// New first day, null for no limit, absent to keep.
    #[oai(nullable)]
    pub from: MaybeUndefined<Day>,
    /// New last day, null for no limit, absent to keep.
    #[oai(nullable)]
    pub to: MaybeUndefined<Day>,
}

/// What an auditor may read, and until when.
#[derive(Debug, Object)]
pub struct GrantScope {
    pub grant_id: Uuid,
    pub expires_at: DateTime<Utc>,
    /// Null: every site of the practice.
    #[oai(nullable)]
    pub site_ids: Option<Vec<Uuid>>,
    /// First day (UTC) of evidence they may read; null for no limit.
    #[oai(nullable)]
    pub from: Option<Day>,
    /// Last day (UTC); null for no limit.
    #[oai(nullable)]
    pub to: Option<Day>,
}

impl From<&Grant> for GrantScope {
    fn from(g: &Grant) -> Self {
        GrantScope {
            grant_id: g.id,
            expires_at: g.expires_at,
            site_ids: g.site_ids.clone(),
            from: g.period_from.map(Day),
            to: g.period_to.map(Day),
        }
    }
}

#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename_all = "lowercase")]
pub enum GrantState {
    /// Emailed; the auditor has not accepted the invitation yet.
    Invited,
    /// Accepted and in force.
    Active,
    /// Past `expires_at`: the auditor can no longer sign in.
    Expired,
    /// Revoked: the auditor can no longer sign in.
    Revoked,
}

#[derive(Debug, Object)]
pub struct GrantItem {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub firm: String,
    pub status: GrantState,
    pub expires_at: DateTime<Utc>,
    /// Null: every site.
    #[oai(nullable)]
    pub site_ids: Option<Vec<Uuid>>,
    #[oai(nullable)]
    pub from: Option<Day>,
    #[oai(nullable)]
    pub to: Option<Day>,
    /// Who granted it.
    pub granted_by: Uuid,
    pub created_at: DateTime<Utc>,
    #[oai(nullable)]
    pub revoked_at: Option<DateTime<Utc>>,
    /// The auditor's account once they accepted; null before.
    #[oai(nullable)]
    pub user_id: Option<Uuid>,
}

impl From<Grant> for GrantItem {
    fn from(g: Grant) -> Self {
        let status = match GrantStatus::of(&g, Utc::now()) {
            GrantStatus::Invited => GrantState::Invited,
            GrantStatus::Active => GrantState::Active,
            GrantStatus::Expired => GrantState::Expired,
            GrantStatus::Revoked => GrantState::Revoked,
        };
        GrantItem {
            id: g.id,
            email: g.email,
            name: g.name,
            firm: g.firm,
            status,
            expires_at: g.expires_at,
            site_ids: g.site_ids,
            from: g.period_from.map(Day),
            to: g.period_to.map(Day),
            granted_by: g.granted_by,
            created_at: g.created_at,
            revoked_at: g.revoked_at,
            user_id: g.user_id,
        }
    }
}

#[derive(Debug, Object)]
pub struct Granted {
    pub grant_id: Uuid,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Object)]
pub struct GrantList {
    /// Every grant of the practice, newest first, ended ones included.
    pub grants: Vec<GrantItem>,
}

#[derive(ApiResponse)]
pub enum GrantCreated {
    /// Granted: the invitation is emailed (its link works once, for 7 days
    /// or until the grant ends if sooner).
    #[oai(status = 201)]
    Created(Json<Granted>),
}

#[derive(ApiResponse)]
pub enum Revoked {
    /// Revoked (or it was already).
    #[oai(status = 204)]
    NoContent,
}

fn maybe<T>(m: MaybeUndefined<T>) -> Option<Option<T>> {
    match m {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

pub struct AuditorsApi;

#[OpenApi(prefix_path = "/client", tag = "ApiTags::Auditors")]
impl AuditorsApi {
    /// Grant an auditor access (owner, admin)
    ///
    /// Read-only access to your practice until `expires_in_days` from now,
    /// to the sites in `site_ids` (all when absent) and the evidence checked
    /// between `from` and `to` (open ends when absent). The auditor is
    /// emailed an invitation to `/client/invite?token=…`, accepted through
    /// `POST /api/client/auth/accept-invite`. 409 when the address already
    /// has a portal account; 404 when a site is not yours. Only from a
    /// signed-in browser session (403 for API tokens). Audited.
    #[oai(path = "/auditors", method = "post", operation_id = "create_auditor_grant")]
    async fn grant(
        &self,
        state: Data<&AppState>,
        req: &Request,
        user: ApiAdmin,
        body: Json<GrantBody>,
    ) -> Result<
        GrantCreated,
        ApiError<{ AUTHED | JSON_BODY | NOT_FOUND | CONFLICT | UNPROCESSABLE | TOO_MANY }>,
    > {
        let b = body.0;
        let granted = auditors::grant(
            &state,
            &user,
            GrantRequest {
                email: b.email.0,
                name: b.name.0,
                firm: b.firm.0,
                days: b.expires_in_days,
                scope: Scope {
                    site_ids: b.site_ids,
                    from: b.from.map(|d| d.0),
                    to: b.to.map(|d| d.0),
                },
            },
            &ClientInfo::of(req),
        )
        .await?;
        Ok(GrantCreated::Created(Json(Granted {
            grant_id: granted.id,
            expires_at: granted.expires_at,
        })))
    }

    /// Your practice's auditor grants (owner, admin)
    #[oai(path = "/auditors", method = "get", operation_id = "list_auditor_grants")]
    async fn list(
        &self,
        state: Data<&AppState>,
        user: ApiAdmin,
    ) -> Result<Json<GrantList>, ApiError<AUTHED>> {
        let grants = auditors::list(&state, &user).await?;
        Ok(Json(GrantList { grants: grants.into_iter().map(GrantItem::from).collect() }))
    }

    /// Extend a grant or change its scope (owner, admin)
    ///
    /// Fields left out keep their value. 409 for a revoked or expired grant
    /// (grant again instead); 404 for a grant or site not of your practice.
    /// Only from a signed-in browser session. Audited.
    #[oai(path = "/auditors/:id", method = "patch", operation_id = "update_auditor_grant")]
    async fn change(
        &self,
        state: Data<&AppState>,
        req: &Request,
        user: ApiAdmin,
        /// The grant's id.
        id: Path<Uuid>,
        body: Json<GrantPatch>,
    ) -> Result<
        Json<GrantItem>,
        ApiError<{ AUTHED | JSON_BODY | NOT_FOUND | CONFLICT | UNPROCESSABLE }>,
    > {
        let b = body.0;
        let changed = auditors::change(
            &state,
            &user,
            id.0,
            GrantChange {
                days: b.expires_in_days,
                site_ids: maybe(b.site_ids),
                from: maybe(b.from).map(|d| d.map(|d| d.0)),
                to: maybe(b.to).map(|d| d.map(|d| d.0)),
            },
            &ClientInfo::of(req),
        )
        .await?;
        Ok(Json(changed.into()))
    }

    /// Revoke a grant (owner, admin)
    ///
    /// The invitation stops working and the auditor's sessions and tokens
    /// end at once. Audited.
    #[oai(path = "/auditors/:id", method = "delete", operation_id = "revoke_auditor_grant")]
    async fn revoke(
        &self,
        state: Data<&AppState>,
        req: &Request,
        user: ApiAdmin,
        /// The grant's id.
        id: Path<Uuid>,
    ) -> Result<Revoked, ApiError<{ AUTHED | NOT_FOUND }>> {
        auditors::revoke(&state, &user, id.0, &ClientInfo::of(req)).await?;
        Ok(Revoked::NoContent)
    }
}
