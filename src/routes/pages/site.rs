//! A site's page and its chain verification (an htmx fragment).

use chrono::Utc;
use maud::Markup;
use poem::web::{Data, Path};
use poem::{Request, handler};
use uuid::Uuid;

use crate::auth::current::{ClientInfo, Reader};
use crate::compliance::{self, Reach};
use crate::db::compliance as queries;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::views::layout::NavUser;
use crate::views::site::{self, HISTORY_DAYS, SitePageData};

/// A site id from the path; anything but a UUID is a 400.
pub(crate) fn parse_site_id(raw: &str) -> AppResult<Uuid> {
    Uuid::parse_str(raw).map_err(|_| {
        AppError::BadRequest(
            "that is not a site id; site ids look like 3f2c1e0a-5b7d-4c1e-9a2f-0d6b8e4c7a11".into(),
        )
    })
}

/// `?only=failures` shows failing checks only; nothing else is accepted.
fn only_failures(query: Option<&str>) -> AppResult<bool> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|e| AppError::BadRequest(format!("the address's query cannot be read: {e}")))?;
    let mut only = false;
    for (key, value) in pairs {
        match (key.as_str(), value.trim()) {
            ("only", "failures") => only = true,
            ("only", "" | "all") => only = false,
            ("only", other) => {
                return Err(AppError::BadRequest(format!(
                    "only={other:?} is not a filter: use only=failures, or leave it out for all checks"
                )));
            }
            _ => {}
        }
    }
    Ok(only)
}

/// `GET /client/sites/:id` (`?only=failures` for failing checks only).
#[handler]
pub async fn view_site_get(
    state: Data<&AppState>,
    req: &Request,
    client: ClientInfo,
    Reader(user): Reader,
    Path(id): Path<String>,
) -> AppResult<Markup> {
    let site_id = parse_site_id(&id)?;
    let only_failures = only_failures(req.uri().query())?;
    let db = state.pool().get().await?;
    let reach = Reach::of(&**db, &user).await?;
    let detail = compliance::site_detail(&**db, user.org_id, &reach, site_id).await?;
    let history =
        queries::score_history(&**db, user.org_id, Some(site_id), None, HISTORY_DAYS).await?;
    compliance::record_view(
        &**db,
        &user,
        &reach,
        &client,
        "site",
        Some(site_id.to_string()),
        serde_json::json!({}),
    )
    .await?;
    let since = compliance::site_failing_since(&**db, user.org_id, site_id).await?;
    let keys = crate::evidence::proofs::key_history(&**db, user.org_id, site_id).await?;
    let current_key = crate::db::evidence::site_key(&**db, site_id)
        .await?
        .map(|k| k.public_key.to_vec())
        .unwrap_or_default();
    let todo = crate::todo::list(&**db, user.org_id, &reach, Some(site_id)).await?;
    let org = compliance::org(&**db, user.org_id).await?;
    let can_acknowledge = user.role >= crate::auth::Role::Admin;
    let job = match reach.auditor {
        true => None,
        false => Some(crate::db::verifications::latest(&**db, user.org_id).await?),
    };
    Ok(site::site_page(
        &NavUser::reaching(&user, &reach),
        &SitePageData {
            site: &detail.site,
            controls: &detail.controls,
            standing: &detail.standing,
            history: &history,
            failing_since: &since,
            now: Utc::now(),
            todo: &todo,
            todo_context: crate::views::todo::TodoContext {
                now: Utc::now(),
                partner: org.partner_name.as_deref(),
                csrf_token: user.csrf_token().filter(|_| can_acknowledge),
            },
            only_failures,
            log: crate::views::log::site_log_card(
                &current_key,
                &keys,
                job.as_ref().map(Option::as_ref),
            ),
        },
    ))
}
