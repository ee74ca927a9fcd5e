//! A site's page and its chain verification (an htmx fragment).

use chrono::Utc;
use maud::Markup;
use poem::handler;
use poem::web::{Data, Path};
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

/// `GET /client/sites/:id`.
#[handler]
pub async fn view_site_get(
    state: Data<&AppState>,
    client: ClientInfo,
    Reader(user): Reader,
    Path(id): Path<String>,
) -> AppResult<Markup> {
    let site_id = parse_site_id(&id)?;
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
            log: crate::views::log::site_log_card(
                &current_key,
                &keys,
                job.as_ref().map(Option::as_ref),
            ),
        },
    ))
}
