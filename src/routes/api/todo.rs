//! The to-do list: every failing or warning check with what to do about
//! it, and acknowledgements (a note that does not change the status).
//! The rules are `crate::todo`'s; the catalogue `evidence::remediation`'s.

use chrono::{DateTime, Utc};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Tags};
use uuid::Uuid;

use super::compliance::CheckResult;
use super::error::{AUTHED, ApiError, JSON_BODY, NOT_FOUND, UNPROCESSABLE};
use super::types::StrictString;
use crate::auth::current::{ApiAdmin, ApiReader, ClientInfo};
use crate::compliance::Reach;
use crate::evidence::controls::check_label;
use crate::evidence::remediation::FixedBy;
use crate::state::AppState;
use crate::todo::{self, TodoItem};

#[derive(Tags)]
enum ApiTags {
    /// What needs fixing, why HIPAA asks for it and how to fix it.
    Todo,
}

/// Who usually fixes it: `practice` (your staff), `partner` (your IT
/// partner) or `together` (the partner changes a setting, staff do their
/// part).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum Fixer {
    Practice,
    Partner,
    Together,
}

impl From<FixedBy> for Fixer {
    fn from(f: FixedBy) -> Self {
        match f {
            FixedBy::Practice => Fixer::Practice,
            FixedBy::Partner => Fixer::Partner,
            FixedBy::Together => Fixer::Together,
        }
    }
}

#[derive(Debug, Object)]
pub struct TodoAcknowledgement {
    pub note: String,
    /// Who wrote it (name or email); null once that user is deleted.
    #[oai(nullable)]
    pub by: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Object)]
pub struct TodoEntry {
    pub site_id: Uuid,
    pub clinic_name: String,
    pub host: String,
    /// The check's id as the appliance sends it, e.g. `mfa_enabled`.
    pub check_type: String,
    /// The check's name, e.g. "MFA enabled".
    pub check_name: String,
    /// `fail` or `warn` (the latest result).
    pub status: CheckResult,
    /// The problem in one sentence, e.g. "MFA is not enabled on XRAY-01 at
    /// Westgate".
    pub title: String,
    /// The HIPAA control the appliance cites; null when none.
    #[oai(nullable)]
    pub hipaa_control: Option<String>,
    /// The Security Rule's name for it; null when unknown.
    #[oai(nullable)]
    pub control_name: Option<String>,
    /// When the check turned to this status (UTC).
    pub since: DateTime<Utc>,
    /// Whole days since then.
    pub days_open: i64,
    pub last_checked_at: DateTime<Utc>,
    /// The bundle with the latest result.
    pub bundle_id: String,
    /// What the evidence found, from the check's details.
    pub found: String,
    /// Why HIPAA asks for the safeguard.
    pub why: String,
    /// How to fix it.
    pub fix: String,
    pub fixed_by: Fixer,
    /// True when the catalogue does not know this check and the guidance is
    /// the generic one.
    pub generic_guidance: bool,
    /// The newest note written since the check turned to this status.
    #[oai(nullable)]
    pub acknowledgement: Option<TodoAcknowledgement>,
}

impl TodoEntry {
    fn of(item: TodoItem, now: DateTime<Utc>) -> Self {
        let title = item.title();
        let found = item.found();
        let days_open = item.days(now);
        let r = item.remediation;
        let c = item.check;
        TodoEntry {
            check_name: check_label(&c.check_type),
            control_name: c
                .hipaa_control
                .as_deref()
                .and_then(crate::evidence::controls::control_name)
                .map(str::to_owned),
            site_id: c.site_id,
            clinic_name: c.clinic_name,
            host: c.host,
            check_type: c.check_type,
            status: c.status.into(),
            title,
            hipaa_control: c.hipaa_control,
            since: c.since,
            days_open,
            last_checked_at: c.last_checked,
            bundle_id: c.bundle_id,
            found,
            why: r.why.to_owned(),
            fix: r.fix.to_owned(),
            fixed_by: r.fixed_by.into(),
            generic_guidance: r.is_generic(),
            acknowledgement: c.acknowledgement.map(|a| TodoAcknowledgement {
                note: a.note,
                by: a.by,
                at: a.at,
            }),
        }
    }
}

#[derive(Debug, Object)]
pub struct TodoList {
    /// Failures first, then warnings; the longest-standing first in each.
    pub items: Vec<TodoEntry>,
}

#[derive(Debug, Object)]
pub struct AcknowledgeBody {
    /// The site of the item.
    pub site_id: Uuid,
    /// The check's id, e.g. `mfa_enabled`.
    #[oai(validator(max_length = 100, pattern = r"^[a-z0-9_.-]+$"))]
    pub check_type: StrictString,
    /// The host, as the item names it.
    #[oai(validator(max_length = 255, pattern = r"^[^\x00-\x1f\x7f]+$"))]
    pub host: StrictString,
    /// What is being done, or why it is accepted: 1 to 1,000 characters,
    /// line breaks allowed.
    #[oai(validator(
        max_length = 1000,
        pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*\S[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
    ))]
    pub note: StrictString,
}

#[derive(ApiResponse)]
pub enum Acknowledged {
    /// The note is recorded; the item as it now reads.
    #[oai(status = 201)]
    Created(Json<TodoEntry>),
}

pub struct TodoApi;

#[OpenApi(prefix_path = "/client", tag = "ApiTags::Todo")]
impl TodoApi {
    /// Your practice's to-do list
    ///
    /// Every check whose latest result (per site, check and host, last 30
    /// days) failed or warned, failures first and the longest-standing
    /// first: the problem in words, how long, what the evidence found, why
    /// HIPAA asks for it, how to fix it and who usually does. `site_id`
    /// narrows it to one site (404 when not yours). An auditor sees the
    /// sites and period of their grant.
    #[oai(path = "/todo", method = "get", operation_id = "list_todo")]
    async fn list_todo(
        &self,
        state: Data<&AppState>,
        user: ApiReader,
        /// Only this site's items.
        site_id: Query<Option<Uuid>>,
    ) -> Result<Json<TodoList>, ApiError<{ AUTHED | NOT_FOUND }>> {
        let db = state.pool().get().await?;
        let reach = Reach::of(&**db, &user).await?;
        let items = todo::list(&**db, user.org_id, &reach, site_id.0).await?;
        let now = Utc::now();
        Ok(Json(TodoList { items: items.into_iter().map(|i| TodoEntry::of(i, now)).collect() }))
    }

    /// Acknowledge an item (owner, admin)
    ///
    /// Records a note on the open item (`site_id`, `check_type`, `host`):
    /// what is being done about it, or why the practice accepts it. The
    /// check's status does not change, and the note lapses when the check
    /// next changes status. 404 when the site is not yours or the check is
    /// not on its to-do list now; 422 for an empty or over-long note.
    /// Audited as `todo.acknowledged`.
    #[oai(
        path = "/todo/acknowledgements",
        method = "post",
        operation_id = "create_todo_acknowledgement"
    )]
    async fn create_todo_acknowledgement(
        &self,
        state: Data<&AppState>,
        req: &Request,
        user: ApiAdmin,
        body: Json<AcknowledgeBody>,
    ) -> Result<Acknowledged, ApiError<{ AUTHED | JSON_BODY | NOT_FOUND | UNPROCESSABLE }>> {
        let db = state.pool().get().await?;
        let b = body.0;
        let item = todo::acknowledge(
            &**db,
            &user,
            &ClientInfo::of(req),
            b.site_id,
            &b.check_type,
            &b.host,
            &b.note,
        )
        .await?;
        Ok(Acknowledged::Created(Json(TodoEntry::of(item, Utc::now()))))
    }
}
