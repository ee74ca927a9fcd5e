//! The notification centre: per-user read state, and each user's email
//! preferences. Every role may use it, with a session or an API token; it
//! acts on the caller's own practice and on the caller's own read state.

use chrono::{DateTime, Utc};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi, Tags};
use uuid::Uuid;

use super::error::{AUTHED, ApiError, JSON_BODY, NOT_FOUND};
use super::types::{CursorParam, PageLimit};
use crate::auth::current::{ApiViewer, ClientInfo};
use crate::db::notifications::{Preferences, Severity, UserNotification};
use crate::notifications;
use crate::state::AppState;

#[derive(Tags)]
enum ApiTags {
    /// Your practice's notifications, your read state and your email preferences.
    Notifications,
}

/// How urgent a notification is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum NotificationSeverity {
    Info,
    Warning,
    Critical,
}

impl From<NotificationSeverity> for Severity {
    fn from(s: NotificationSeverity) -> Self {
        match s {
            NotificationSeverity::Info => Severity::Info,
            NotificationSeverity::Warning => Severity::Warning,
            NotificationSeverity::Critical => Severity::Critical,
        }
    }
}

impl From<Severity> for NotificationSeverity {
    fn from(s: Severity) -> Self {
        match s {
            Severity::Info => NotificationSeverity::Info,
            Severity::Warning => NotificationSeverity::Warning,
            Severity::Critical => NotificationSeverity::Critical,
        }
    }
}

#[derive(Debug, Object)]
pub struct NotificationItem {
    pub id: Uuid,
    /// What happened, e.g. `check_failed`, `check_warning`, `check_resolved`,
    /// `site_silent`, `monthly_report`, `transfer_update`.
    #[oai(rename = "type")]
    pub kind: String,
    pub severity: NotificationSeverity,
    pub title: String,
    pub message: String,
    /// A portal path to look at, e.g. `/client/sites/{id}`; null when there is none.
    #[oai(nullable)]
    pub action_url: Option<String>,
    /// The words for `action_url`'s link; null when there is none.
    #[oai(nullable)]
    pub action_label: Option<String>,
    /// Whether you have read it (read state is per user).
    pub is_read: bool,
    /// When you read it (or marked everything read); null while unread.
    #[oai(nullable)]
    pub read_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// How many times it happened: a check that changes the same way on
    /// the same host again the same (UTC) day counts here instead of
    /// raising another notification.
    pub occurrences: i32,
    /// A critical about a check that has not passed since.
    pub still_failing: bool,
}

impl From<UserNotification> for NotificationItem {
    fn from(n: UserNotification) -> Self {
        NotificationItem {
            is_read: n.is_read(),
            id: n.id,
            kind: n.kind,
            severity: n.severity.into(),
            title: n.title,
            message: n.message,
            action_url: n.action_url,
            action_label: n.action_label,
            read_at: n.read_at,
            created_at: n.created_at,
            occurrences: n.occurrences,
            still_failing: n.still_failing,
        }
    }
}

#[derive(Debug, Object)]
pub struct NotificationList {
    /// Newest first.
    pub notifications: Vec<NotificationItem>,
    /// Criticals about checks that are still failing (the newest per site,
    /// check and host, at most 20), on the first page; empty on later pages
    /// and with `unread_only`.
    pub pinned: Vec<NotificationItem>,
    /// Your unread notifications in the whole practice, counted up to 1,000.
    pub unread_count: i64,
    /// Pass as `cursor` for the next page; null on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Object)]
pub struct MarkedRead {
    /// `read`.
    pub status: String,
}

#[derive(Debug, Object)]
pub struct MarkedAllRead {
    /// `read_all`.
    pub status: String,
    /// How many notifications were unread for you before this call.
    pub count: i64,
}

/// Which emails you receive. Notifications always appear in the portal.
#[derive(Debug, Clone, Copy, Object)]
pub struct NotificationPreferences {
    /// Email me critical alerts (a check starts failing, a site stops
    /// reporting). Sent to owners and admins.
    pub critical_alerts: bool,
    /// Email me the monthly compliance report. Sent to owners.
    pub monthly_report: bool,
}

impl From<Preferences> for NotificationPreferences {
    fn from(p: Preferences) -> Self {
        NotificationPreferences {
            critical_alerts: p.critical_alerts,
            monthly_report: p.monthly_report,
        }
    }
}

impl From<NotificationPreferences> for Preferences {
    fn from(p: NotificationPreferences) -> Self {
        Preferences { critical_alerts: p.critical_alerts, monthly_report: p.monthly_report }
    }
}

pub struct NotificationsApi;

#[OpenApi(prefix_path = "/client", tag = "ApiTags::Notifications")]
impl NotificationsApi {
    /// Your notifications
    ///
    /// The practice's notifications, newest first, each with whether you
    /// have read it. Read state is per user: what you read stays unread for
    /// your colleagues. Page with `next_cursor`. Criticals whose check is
    /// still failing are also in `pinned`, so they are not lost behind
    /// newer ones.
    #[oai(path = "/notifications", method = "get", operation_id = "list_notifications")]
    async fn list_notifications(
        &self,
        state: Data<&AppState>,
        user: ApiViewer,
        /// Only the ones you have not read.
        #[oai(default)]
        unread_only: Query<bool>,
        /// How many, 1 to 200.
        #[oai(default)]
        limit: Query<PageLimit>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<CursorParam<Uuid>>>,
        /// Only this severity.
        severity: Query<Option<NotificationSeverity>>,
    ) -> Result<Json<NotificationList>, ApiError<AUTHED>> {
        let first_page = cursor.0.is_none() && !unread_only.0;
        let page = notifications::list(
            &state,
            &user,
            unread_only.0,
            severity.0.map(Severity::from),
            cursor.0.map(|c| c.0),
            limit.0.0 as usize,
        )
        .await?;
        let pinned =
            match first_page && matches!(severity.0, None | Some(NotificationSeverity::Critical)) {
                true => notifications::pinned(&state, &user).await?,
                false => Vec::new(),
            };
        Ok(Json(NotificationList {
            pinned: pinned.into_iter().map(NotificationItem::from).collect(),
            notifications: page.items.into_iter().map(NotificationItem::from).collect(),
            unread_count: page.unread,
            next_cursor: page.next.map(|c| c.encode()),
        }))
    }

    /// Mark a notification read
    ///
    /// For you only. Marking one that is already read changes nothing.
    #[oai(
        path = "/notifications/:id/read",
        method = "post",
        operation_id = "mark_notification_read"
    )]
    async fn mark_notification_read(
        &self,
        state: Data<&AppState>,
        user: ApiViewer,
        /// The notification's id.
        id: Path<Uuid>,
    ) -> Result<Json<MarkedRead>, ApiError<{ AUTHED | NOT_FOUND }>> {
        notifications::mark_read(&state, &user, id.0).await?;
        Ok(Json(MarkedRead { status: "read".into() }))
    }

    /// Mark all notifications read
    ///
    /// For you only: everything the practice has received so far. Newer
    /// notifications arrive unread.
    #[oai(
        path = "/notifications/read-all",
        method = "post",
        operation_id = "mark_all_notifications_read"
    )]
    async fn mark_all_notifications_read(
        &self,
        state: Data<&AppState>,
        user: ApiViewer,
    ) -> Result<Json<MarkedAllRead>, ApiError<AUTHED>> {
        let count = notifications::mark_all_read(&state, &user).await?;
        Ok(Json(MarkedAllRead { status: "read_all".into(), count }))
    }

    /// Your email preferences
    #[oai(
        path = "/notification-preferences",
        method = "get",
        operation_id = "get_notification_preferences"
    )]
    async fn get_notification_preferences(
        &self,
        state: Data<&AppState>,
        user: ApiViewer,
    ) -> Result<Json<NotificationPreferences>, ApiError<AUTHED>> {
        let prefs = notifications::preferences(&state, &user).await?;
        Ok(Json(prefs.into()))
    }

    /// Set your email preferences
    ///
    /// Both fields are required. A change is recorded in the audit log.
    #[oai(
        path = "/notification-preferences",
        method = "put",
        operation_id = "set_notification_preferences"
    )]
    async fn set_notification_preferences(
        &self,
        state: Data<&AppState>,
        req: &Request,
        user: ApiViewer,
        body: Json<NotificationPreferences>,
    ) -> Result<Json<NotificationPreferences>, ApiError<{ AUTHED | JSON_BODY }>> {
        let saved =
            notifications::save_preferences(&state, &user, body.0.into(), &ClientInfo::of(req))
                .await?;
        Ok(Json(saved.into()))
    }
}
