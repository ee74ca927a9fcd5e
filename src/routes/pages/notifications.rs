//! Pages of the notifications area: the notification centre (full page,
//! `#notification-list` fragment, or "Load more" rows), marking read with
//! htmx (the updated row plus the navigation badge out of band) or with a
//! plain form (303 back), and the badge the navigation polls. Also routes
//! the settings page's "Email notifications" form.

use chrono::Utc;
use maud::html;
use poem::web::{Data, Path};
use poem::{Body, IntoResponse, Request, Response, Route, get, handler, post};
use serde::Deserialize;
use uuid::Uuid;

use super::respond::{is_htmx, see_other, wants_fragment};
use super::settings;
use crate::auth::current::{CurrentUser, Viewer};
use crate::db::notifications::{ListCursor, Severity, UserNotification};
use crate::error::{AppError, AppResult};
use crate::notifications;
use crate::paths::{self, route};
use crate::state::AppState;
use crate::views::layout::{NavUser, unread_badge};
use crate::views::notifications::{self as views, Filter, ListData, PAGE_SIZE};

/// Adds this area's pages to the portal's routes.
pub fn routes(app: Route) -> Route {
    app.at(paths::NOTIFICATIONS, get(view_notifications_get))
        .at(paths::NOTIFICATIONS_BADGE, get(view_notifications_badge_get))
        .at(paths::NOTIFICATIONS_READ_ALL, post(view_notifications_read_all_post))
        .at(route::NOTIFICATION_READ, post(view_notification_read_post))
        .at(paths::SETTINGS_NOTIFICATIONS, post(settings::view_settings_notifications_post))
}

/// The list's query string.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ListQuery {
    unread: Option<String>,
    severity: Option<String>,
    after: Option<String>,
}

fn parse_filter(unread: Option<&str>, severity: Option<&str>) -> AppResult<Filter> {
    let unread = match unread.map(str::trim) {
        None | Some("" | "0" | "false") => false,
        Some("1" | "true" | "on") => true,
        Some(_) => {
            return Err(AppError::BadRequest(
                "`unread` must be 1 (only unread notifications) or 0 (all)".into(),
            ));
        }
    };
    let critical = match severity.map(str::trim) {
        None | Some("" | "all") => false,
        Some("critical") => true,
        Some(_) => {
            return Err(AppError::BadRequest(
                "`severity` must be critical, or left out for every notification".into(),
            ));
        }
    };
    match (unread, critical) {
        (false, false) => Ok(Filter::All),
        (true, false) => Ok(Filter::Unread),
        (false, true) => Ok(Filter::Critical),
        (true, true) => {
            Err(AppError::BadRequest("choose one filter: unread=1 or severity=critical".into()))
        }
    }
}

fn parse_after(raw: Option<&str>) -> AppResult<Option<ListCursor>> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(raw) => ListCursor::decode(raw).map(Some).ok_or_else(|| {
            AppError::BadRequest(
                "that \u{201c}Load more\u{201d} link is not valid; open Notifications again".into(),
            )
        }),
    }
}

/// A notification id from the path; anything but a UUID is a 400.
fn parse_id(raw: &str) -> AppResult<Uuid> {
    Uuid::parse_str(raw).map_err(|_| {
        AppError::BadRequest(
            "that is not a notification id; ids look like 3f2c1e0a-5b7d-4c1e-9a2f-0d6b8e4c7a11"
                .into(),
        )
    })
}

/// The form fields the mark-read forms send besides the CSRF token.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ReturnForm {
    unread: Option<String>,
    severity: Option<String>,
}

/// Which filter a form came from (for the list it returns or the redirect);
/// anything unreadable means "all".
async fn form_filter(body: Body) -> Filter {
    let bytes = body.into_bytes_limit(64 * 1024).await.unwrap_or_default();
    let form: ReturnForm = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
    parse_filter(form.unread.as_deref(), form.severity.as_deref()).unwrap_or(Filter::All)
}

/// One page of the list for `user`, newest first, with the next page's
/// cursor (encoded) and the unread count.
async fn load_list(
    state: &AppState,
    user: &CurrentUser,
    filter: Filter,
    after: Option<ListCursor>,
) -> AppResult<(Vec<UserNotification>, Option<String>, i64)> {
    let severity = (filter == Filter::Critical).then_some(Severity::Critical);
    let page =
        notifications::list(state, user, filter == Filter::Unread, severity, after, PAGE_SIZE)
            .await?;
    Ok((page.items, page.next.map(|c| c.encode()), page.unread))
}

/// `GET /client/notifications[?unread=1][&after=…]`: the full page; for
/// htmx, the `#notification-list` fragment, or (with `after`) the next
/// rows and a new `#notifications-more`.
#[handler]
pub async fn view_notifications_get(
    state: Data<&AppState>,
    req: &Request,
    Viewer(user): Viewer,
) -> AppResult<Response> {
    let query: ListQuery = serde_urlencoded::from_str(req.uri().query().unwrap_or(""))
        .map_err(|e| AppError::BadRequest(format!("the address's query cannot be read: {e}")))?;
    let filter = parse_filter(query.unread.as_deref(), query.severity.as_deref())?;
    let after = parse_after(query.after.as_deref())?;
    let fragment = wants_fragment(req);
    let (items, next, unread) = load_list(&state, &user, filter, after).await?;
    let csrf = user.csrf_token().unwrap_or("");
    let now = Utc::now();
    if fragment && after.is_some() {
        return Ok(html! {
            (views::notification_rows(&items, filter, csrf, now))
            // Out-of-band parts after table rows go in a <template>:
            // parsed after a row, a bare <div> or <form> is torn apart.
            template { (views::load_more(filter, next.as_deref(), true)) }
        }
        .into_response());
    }
    let pinned = match (filter, after) {
        (Filter::All | Filter::Critical, None) => notifications::pinned(&state, &user).await?,
        _ => Vec::new(),
    };
    let data = ListData {
        filter,
        pinned: &pinned,
        items: &items,
        next,
        unread,
        continued: after.is_some(),
        message: None,
        csrf_token: csrf,
        now,
    };
    Ok(if fragment {
        views::notification_list(&data)
    } else {
        views::notifications_page(&NavUser::of(&user), &data)
    }
    .into_response())
}

/// `GET /client/notifications/badge`: the navigation's unread badge.
#[handler]
pub async fn view_notifications_badge_get(
    state: Data<&AppState>,
    Viewer(user): Viewer,
) -> AppResult<Response> {
    let unread = notifications::unread_count(&state, &user).await?;
    Ok(unread_badge(Some(unread), false).into_response())
}

/// `POST /client/notifications/:id/read`: for htmx, the updated row, and
/// the list's head (counts) and the navigation badge out of band; without JavaScript, back to the list.
#[handler]
pub async fn view_notification_read_post(
    state: Data<&AppState>,
    req: &Request,
    Viewer(user): Viewer,
    Path(id): Path<String>,
    body: Body,
) -> AppResult<Response> {
    let id = parse_id(&id)?;
    let filter = form_filter(body).await;
    let (n, unread) = notifications::mark_read(&state, &user, id).await?;
    if !is_htmx(req) {
        return Ok(see_other(filter.url(None)));
    }
    let csrf = user.csrf_token().unwrap_or("");
    Ok(html! {
        (views::notification_row(&n, filter, csrf, Utc::now()))
        // In a <template>: parsed after the row, the list head's "Mark all
        // read" form lost its fields (and the button its form).
        template {
            (views::list_head(filter, unread, csrf, true))
            (unread_badge(Some(unread), true))
        }
    }
    .into_response())
}

/// `POST /client/notifications/read-all`: for htmx, the list (same
/// filter) with a confirmation and the badge out of band; without
/// JavaScript, back to the list.
#[handler]
pub async fn view_notifications_read_all_post(
    state: Data<&AppState>,
    req: &Request,
    Viewer(user): Viewer,
    body: Body,
) -> AppResult<Response> {
    let filter = form_filter(body).await;
    let count = notifications::mark_all_read(&state, &user).await?;
    if !is_htmx(req) {
        return Ok(see_other(filter.url(None)));
    }
    let (items, next, unread) = load_list(&state, &user, filter, None).await?;
    let message = match count {
        0 => "Nothing was unread.".to_owned(),
        n => format!(
            "Marked {} read.",
            crate::views::format::plural(n, "notification", "notifications")
        ),
    };
    let pinned = match filter {
        Filter::All | Filter::Critical => notifications::pinned(&state, &user).await?,
        Filter::Unread => Vec::new(),
    };
    let data = ListData {
        filter,
        pinned: &pinned,
        items: &items,
        next,
        unread,
        continued: false,
        message: Some(message),
        csrf_token: user.csrf_token().unwrap_or(""),
        now: Utc::now(),
    };
    Ok(html! {
        (views::notification_list(&data))
        (unread_badge(Some(unread), true))
    }
    .into_response())
}
