//! The dashboard page: the practice's standing, its to-do list, trend and sites.

use chrono::Utc;
use poem::web::Data;
use poem::{IntoResponse, handler};

use crate::auth::current::{ClientInfo, Reader};
use crate::compliance::{self, Reach};
use crate::db::compliance as queries;
use crate::error::AppResult;
use crate::state::AppState;
use crate::views::dashboard::{self, DashboardData};
use crate::views::layout::NavUser;

/// `GET /client/dashboard`: for an auditor, the sites of their grant.
#[handler]
pub async fn view_dashboard_get(
    state: Data<&AppState>,
    client: ClientInfo,
    Reader(user): Reader,
) -> AppResult<poem::Response> {
    let db = state.pool().get().await?;
    let reach = Reach::of(&**db, &user).await?;
    let org = compliance::org(&**db, user.org_id).await?;
    let sites = compliance::sites(&**db, user.org_id, &reach).await?;
    let total = queries::total_tally(sites.iter().map(|s| &s.tally));
    // Each site's controls, merged for the headline.
    let by_site = compliance::controls_by_site(&**db, user.org_id, &sites).await?;
    let controls = compliance::practice_controls(&**db, user.org_id, &sites, &by_site).await?;
    let site_standings: Vec<_> = by_site.iter().map(|g| compliance::site_standing(g)).collect();
    // All sites at once: each (site, check, host) pair belongs to one site,
    // so this is the per-day sum of the sites' own histories.
    let history = queries::score_history(
        &**db,
        user.org_id,
        None,
        reach.sites.as_deref(),
        dashboard::TREND_DAYS,
    )
    .await?;
    compliance::record_view(
        &**db,
        &user,
        &reach,
        &client,
        "dashboard",
        None,
        serde_json::json!({}),
    )
    .await?;
    let todo = crate::todo::list(&**db, user.org_id, &reach, None).await?;
    let can_acknowledge = user.role >= crate::auth::Role::Admin;
    Ok(dashboard::dashboard_page(
        &NavUser::reaching(&user, &reach),
        &DashboardData {
            org: &org,
            sites: &sites,
            total,
            controls,
            site_standings: &site_standings,
            history: &history,
            todo: &todo,
            todo_context: crate::views::todo::TodoContext {
                now: Utc::now(),
                partner: org.partner_name.as_deref(),
                csrf_token: user.csrf_token().filter(|_| can_acknowledge),
            },
            now: Utc::now(),
        },
    )
    .into_response())
}
