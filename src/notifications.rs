//! The notifications area: a practice's notifications with each user's
//! read state, keyset pages, marking read, the unread count and each
//! user's email preferences (a change is audited), for the API
//! (`routes/api/notifications.rs`) and the pages
//! (`routes/pages/notifications.rs`, the settings page) alike. SQL lives in
//! `db::notifications`.

use uuid::Uuid;

use crate::audit::user_entry;
use crate::auth::current::{ClientInfo, CurrentUser};
use crate::db::audit;
use crate::db::compliance::unread_notifications;
use crate::db::cursor::cut_page;
use crate::db::notifications::{
    self as queries, ListCursor, Preferences, Severity, UserNotification,
};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// A notification id that is not one of the caller's practice.
pub fn no_such_notification() -> AppError {
    AppError::NotFound("no such notification in your practice".into())
}

fn user_gone() -> AppError {
    AppError::Unauthorized("your account no longer exists; sign in again".into())
}

/// One page of the caller's notifications, newest first.
#[derive(Debug)]
pub struct Page {
    pub items: Vec<UserNotification>,
    /// Where the next page starts; None on the last page.
    pub next: Option<ListCursor>,
    /// The caller's unread notifications in the whole practice (capped).
    pub unread: i64,
}

/// Most criticals pinned above the list.
pub const MAX_PINNED: i64 = 20;

/// Up to `limit` of the caller's notifications after `after` (only unread
/// ones when `unread_only`, only of `severity` when given), with the
/// cursor of the next page.
pub async fn list(
    state: &AppState,
    user: &CurrentUser,
    unread_only: bool,
    severity: Option<Severity>,
    after: Option<ListCursor>,
    limit: usize,
) -> AppResult<Page> {
    let db = state.pool().get().await?;
    let fetch = i64::try_from(limit).unwrap_or(i64::MAX - 1) + 1;
    let mut items =
        queries::list_for_user(&**db, user.org_id, user.id, unread_only, severity, after, fetch)
            .await?;
    let next = cut_page(&mut items, limit, |n| ListCursor { at: n.created_at, id: n.id });
    let unread = unread_notifications(&**db, user.org_id, user.id).await?;
    Ok(Page { items, next, unread })
}

/// The criticals about checks that are still failing (the newest per
/// site, check and host), pinned above the list.
pub async fn pinned(state: &AppState, user: &CurrentUser) -> AppResult<Vec<UserNotification>> {
    let db = state.pool().get().await?;
    queries::open_criticals(&**db, user.org_id, user.id, MAX_PINNED).await
}

/// The caller's unread notifications (capped), for the navigation badge.
pub async fn unread_count(state: &AppState, user: &CurrentUser) -> AppResult<i64> {
    let db = state.pool().get().await?;
    unread_notifications(&**db, user.org_id, user.id).await
}

/// Marks one notification read for the caller; returns it and the new
/// unread count. Another practice's id is a 404.
pub async fn mark_read(
    state: &AppState,
    user: &CurrentUser,
    id: Uuid,
) -> AppResult<(UserNotification, i64)> {
    let db = state.pool().get().await?;
    let n = queries::mark_read(&**db, user.org_id, user.id, id)
        .await?
        .ok_or_else(no_such_notification)?;
    let unread = unread_notifications(&**db, user.org_id, user.id).await?;
    Ok((n, unread))
}

/// Marks everything the practice has received so far read for the caller;
/// returns how many were unread.
pub async fn mark_all_read(state: &AppState, user: &CurrentUser) -> AppResult<i64> {
    let mut db = state.pool().get().await?;
    queries::mark_all_read(&mut db, user.org_id, user.id).await
}

/// The caller's email preferences.
pub async fn preferences(state: &AppState, user: &CurrentUser) -> AppResult<Preferences> {
    let db = state.pool().get().await?;
    queries::preferences(&**db, user.org_id, user.id).await?.ok_or_else(user_gone)
}

/// Stores `user`'s email preferences and, when they changed, writes one
/// audit row (`notification_preferences.updated`), in one transaction.
/// Used by the API and the settings page.
pub async fn save_preferences(
    state: &AppState,
    user: &CurrentUser,
    new: Preferences,
    client: &ClientInfo,
) -> AppResult<Preferences> {
    let mut db = state.pool().get().await?;
    let tx = db.transaction().await?;
    let old =
        queries::set_preferences(&*tx, user.org_id, user.id, new).await?.ok_or_else(user_gone)?;
    if old != new {
        audit::record(
            &*tx,
            &audit::Entry {
                target_type: Some("user"),
                target_id: Some(user.id.to_string()),
                details: serde_json::json!({
                    "critical_alerts": { "from": old.critical_alerts, "to": new.critical_alerts },
                    "monthly_report": { "from": old.monthly_report, "to": new.monthly_report },
                }),
                ..user_entry(user, client, "notification_preferences.updated")
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(new)
}
