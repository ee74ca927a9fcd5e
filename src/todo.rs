//! The practice's to-do list: every check whose latest result failed or
//! warned, as a plain-language item with how long it has been so, what
//! the evidence found, why HIPAA asks for it, how to fix it and who
//! usually does ([`crate::evidence::remediation`]). Failures come first,
//! the longest-standing first. A practice may acknowledge an item with a
//! note (audited as `todo.acknowledged`); the note never changes the
//! check's status, and it lapses when the check changes status.
//!
//! Used by the API (`routes/api/todo.rs`), the dashboard, site and bundle
//! pages, the monthly PDF and the critical-alert email alike.

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;
use uuid::Uuid;

use crate::audit::user_entry;
use crate::auth::current::{ClientInfo, CurrentUser};
use crate::db::audit;
use crate::db::compliance as queries;
pub use crate::db::todo::Acknowledgement;
use crate::db::todo::{self, OpenCheck};
use crate::error::{AppError, AppResult};
use crate::evidence::bundle::CheckStatus;
use crate::evidence::controls::control_name;
use crate::evidence::remediation::{Remediation, found, remediation};
use crate::reach::{Reach, no_such_site};

/// Longest note on an item, in characters.
pub const MAX_NOTE_CHARS: usize = 1000;

/// Items the dashboard shows before "show all".
pub const DASHBOARD_ITEMS: usize = 5;

/// One item of the to-do list.
#[derive(Debug, Clone)]
pub struct TodoItem {
    pub check: OpenCheck,
    pub remediation: &'static Remediation,
}

impl TodoItem {
    fn new(check: OpenCheck) -> Self {
        let remediation = remediation(&check.check_type);
        TodoItem { check, remediation }
    }

    /// The problem in one sentence, e.g. "MFA is not enabled on XRAY-01 at
    /// Westgate".
    pub fn title(&self) -> String {
        let c = &self.check;
        self.remediation.problem(&c.check_type, c.status, &c.host, &c.clinic_name)
    }

    pub fn failing(&self) -> bool {
        self.check.status == CheckStatus::Fail
    }

    /// Whole days since the check turned to its status (0 on the first day).
    pub fn days(&self, now: DateTime<Utc>) -> i64 {
        (now - self.check.since).num_days().max(0)
    }

    /// How long, in words: "failing for 90 days", "failing since today".
    pub fn duration(&self, now: DateTime<Utc>) -> String {
        let verb = if self.failing() { "failing" } else { "unconfirmed" };
        match self.days(now) {
            0 => format!("{verb} since today"),
            1 => format!("{verb} for 1 day"),
            n => format!("{verb} for {} days", crate::views::format::thousands(i128::from(n))),
        }
    }

    /// What the appliance's evidence found.
    pub fn found(&self) -> String {
        found(&self.check.details).unwrap_or_else(|| {
            let result = if self.failing() { "failed" } else { "raised a warning" };
            format!("The check {result}; the appliance sent no further details.")
        })
    }

    /// The HIPAA control and its name, e.g. "164.312(d) Person or entity
    /// authentication"; None when the appliance named no control.
    pub fn control(&self) -> Option<String> {
        let id = self.check.hipaa_control.as_deref()?;
        Some(match control_name(id) {
            Some(name) => format!("{id} {name}"),
            None => id.to_owned(),
        })
    }
}

/// Failures before warnings, then the longest-standing first.
fn order(items: &mut [TodoItem]) {
    items.sort_by(|a, b| {
        let key = |i: &TodoItem| {
            (
                !i.failing(),
                i.check.since,
                i.check.clinic_name.clone(),
                i.check.check_type.clone(),
                i.check.host.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
}

/// The to-do list of the practice (or of one site) as far as the caller
/// reaches it; a site the caller cannot read is a 404.
pub async fn list(
    db: &impl GenericClient,
    org_id: Uuid,
    reach: &Reach,
    site_id: Option<Uuid>,
) -> AppResult<Vec<TodoItem>> {
    if let Some(site) = site_id {
        crate::compliance::require_site(db, org_id, reach, site).await?;
    }
    let mut items: Vec<TodoItem> = todo::open_checks(db, org_id, site_id)
        .await?
        .into_iter()
        .filter(|c| reach.sees_site(c.site_id) && reach.covers(c.last_checked))
        .map(TodoItem::new)
        .collect();
    order(&mut items);
    Ok(items)
}

/// A note on an item, checked: 1 to [`MAX_NOTE_CHARS`] characters after
/// trimming, line breaks allowed, no other control characters.
pub fn parse_note(raw: &str) -> AppResult<String> {
    let note = raw.trim();
    if note.is_empty() {
        return Err(AppError::Unprocessable(
            "write a note: what is being done about it, or why it is accepted".into(),
        ));
    }
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(AppError::Unprocessable(format!(
            "the note is {} characters; keep it to {MAX_NOTE_CHARS}",
            note.chars().count()
        )));
    }
    if note.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
        return Err(AppError::Unprocessable(
            "the note contains control characters; write plain text".into(),
        ));
    }
    Ok(note.replace("\r\n", "\n"))
}

/// Acknowledges the open item (`site_id`, `check_type`, `host`) with
/// `note`, audited; answers the item as it now reads. Another practice's
/// site is a 404, and so is a check that is not failing or warning now.
pub async fn acknowledge(
    db: &impl GenericClient,
    user: &CurrentUser,
    client: &ClientInfo,
    site_id: Uuid,
    check_type: &str,
    host: &str,
    note: &str,
) -> AppResult<TodoItem> {
    let note = parse_note(note)?;
    if !queries::site_in_org(db, user.org_id, site_id).await? {
        return Err(no_such_site());
    }
    let open = todo::open_checks(db, user.org_id, Some(site_id)).await?;
    let Some(item) = open.into_iter().find(|c| c.check_type == check_type && c.host == host) else {
        return Err(AppError::NotFound(format!(
            "check {check_type:?} on host {host:?} is not on this site's to-do list: its latest \
             result passed, or it has not reported in 30 days"
        )));
    };
    let at = todo::acknowledge(db, user.org_id, site_id, check_type, host, &note, user.id).await?;
    audit::record(
        db,
        &audit::Entry {
            target_type: Some("site"),
            target_id: Some(site_id.to_string()),
            details: serde_json::json!({
                "check_type": check_type,
                "host": host,
                "status": item.status.as_str(),
                "note": note,
            }),
            ..user_entry(user, client, "todo.acknowledged")
        },
    )
    .await?;
    let by = Some(user.name.clone().unwrap_or_else(|| user.email.clone()));
    let acknowledgement = Some(Acknowledgement { note, by, at });
    Ok(TodoItem::new(OpenCheck { acknowledgement, ..item }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(check: &str, status: CheckStatus, days_ago: i64, now: DateTime<Utc>) -> TodoItem {
        TodoItem::new(OpenCheck {
            site_id: Uuid::nil(),
            clinic_name: "Westgate".into(),
            check_type: check.into(),
            host: "XRAY-01".into(),
            status,
            hipaa_control: Some("164.312(d)".into()),
            since: now - chrono::TimeDelta::days(days_ago) - chrono::TimeDelta::minutes(5),
            last_checked: now,
            bundle_id: "CB-1".into(),
            details: serde_json::json!({"agent": "osiris-agent 3.4.1"}),
            acknowledgement: None,
        })
    }

    #[test]
    fn failures_first_then_the_oldest() {
        let now = Utc::now();
        let mut items = vec![
            item("ntp_sync", CheckStatus::Warn, 40, now),
            item("bitlocker_status", CheckStatus::Fail, 2, now),
            item("mfa_enabled", CheckStatus::Fail, 90, now),
        ];
        order(&mut items);
        let order: Vec<&str> = items.iter().map(|i| i.check.check_type.as_str()).collect();
        assert_eq!(order, ["mfa_enabled", "bitlocker_status", "ntp_sync"]);
        assert_eq!(items[0].title(), "MFA is not enabled on XRAY-01 at Westgate");
        assert_eq!(items[0].duration(now), "failing for 90 days");
        assert_eq!(items[2].duration(now), "unconfirmed for 40 days");
        assert_eq!(item("x", CheckStatus::Fail, 0, now).duration(now), "failing since today");
        assert_eq!(
            items[0].control().as_deref(),
            Some("164.312(d) Person or entity authentication")
        );
        assert_eq!(items[0].found(), "The check failed; the appliance sent no further details.");
    }

    #[test]
    fn notes_are_trimmed_bounded_and_plain() {
        assert_eq!(
            parse_note("  waiting on a part \r\n Friday ").unwrap(),
            "waiting on a part \n Friday"
        );
        assert!(matches!(parse_note("   "), Err(AppError::Unprocessable(_))));
        assert!(matches!(parse_note(&"x".repeat(1001)), Err(AppError::Unprocessable(_))));
        assert!(parse_note(&"é".repeat(1000)).is_ok());
        assert!(matches!(parse_note("a\u{7}b"), Err(AppError::Unprocessable(_))));
    }
}
