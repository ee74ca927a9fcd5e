//! The dashboard page: the practice's score, sites, trend and failing checks.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use maud::Markup;
use poem::handler;
use poem::web::Data;
use tokio_postgres::GenericClient;
use uuid::Uuid;

use crate::auth::current::Viewer;
use crate::db::compliance as queries;
use crate::error::{AppError, AppResult};
use crate::evidence::bundle::CheckStatus;
use crate::state::AppState;
use crate::views::dashboard::{self, DashboardData, FailingCheck};
use crate::views::layout::NavUser;

/// Most failing checks listed on the dashboard; the rest are a link away.
const MAX_FAILING_SHOWN: usize = 25;

/// When each failing (site, check, host) of the practice turned to
/// failing. `check_states.changed_at` is the `checked_at` of the bundle
/// that last changed the pair's status, which `site_controls` does not
/// return. `site_id` narrows to one site.
pub(crate) async fn failing_since(
    db: &impl GenericClient,
    org_id: Uuid,
    site_id: Option<Uuid>,
) -> AppResult<HashMap<(Uuid, String, String), DateTime<Utc>>> {
    let rows = db
        .query(
            "SELECT cs.site_id, cs.check_type, cs.host, cs.changed_at
               FROM check_states cs JOIN sites s ON s.id = cs.site_id
              WHERE s.client_org_id = $1 AND ($2::uuid IS NULL OR cs.site_id = $2)
                AND cs.last_status = 'fail'",
            &[&org_id, &site_id],
        )
        .await?;
    Ok(rows.iter().map(|r| ((r.get(0), r.get(1), r.get(2)), r.get(3))).collect())
}

/// Every check of the practice whose latest result (last 30 days) failed,
/// the longest-failing first.
async fn failing_checks(
    db: &impl GenericClient,
    org_id: Uuid,
    sites: &[queries::SiteSummary],
) -> AppResult<Vec<FailingCheck>> {
    let since = failing_since(db, org_id, None).await?;
    let mut out = Vec::new();
    for site in sites.iter().filter(|s| s.tally.failed > 0) {
        for group in queries::site_controls(db, org_id, site.site_id).await? {
            for check in group.checks.into_iter().filter(|c| c.status == CheckStatus::Fail) {
                let key = (site.site_id, check.check_type, check.host);
                out.push(FailingCheck {
                    site_id: site.site_id,
                    clinic_name: site.clinic_name.clone(),
                    since: since.get(&key).copied().unwrap_or(check.checked_at),
                    last_checked: check.checked_at,
                    bundle_id: check.bundle_id,
                    hipaa_control: group.hipaa_control.clone(),
                    check_type: key.1,
                    host: key.2,
                });
            }
        }
    }
    out.sort_by(|a, b| {
        (a.since, &a.clinic_name, &a.check_type, &a.host).cmp(&(
            b.since,
            &b.clinic_name,
            &b.check_type,
            &b.host,
        ))
    });
    Ok(out)
}

/// `GET /client/dashboard`.
#[handler]
pub async fn view_dashboard_get(state: Data<&AppState>, Viewer(user): Viewer) -> AppResult<Markup> {
    let db = state.pool().get().await?;
    let org = queries::org_info(&**db, user.org_id)
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("the caller's org is missing")))?;
    let sites = queries::site_summaries(&**db, user.org_id).await?;
    let total = queries::total_tally(sites.iter().map(|s| &s.tally));
    // All sites at once: each (site, check, host) pair belongs to one site,
    // so this is the per-day sum of the sites' own histories.
    let history = queries::score_history(&**db, user.org_id, None, dashboard::TREND_DAYS).await?;
    let mut failing = failing_checks(&**db, user.org_id, &sites).await?;
    let failing_total = failing.len();
    failing.truncate(MAX_FAILING_SHOWN);
    Ok(dashboard::dashboard_page(
        &NavUser::of(&user),
        &DashboardData {
            org: &org,
            sites: &sites,
            total,
            history: &history,
            failing: &failing,
            failing_total,
            now: Utc::now(),
        },
    ))
}
