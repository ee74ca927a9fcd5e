//! Pages of the reports area: the list of months and the PDF download.

use chrono::Utc;
use maud::Markup;
use poem::web::{Data, Path};
use poem::{Request, Response, Route, get, handler};

use crate::auth::current::{ClientInfo, Reader};
use crate::error::{AppError, AppResult};
use crate::paths;
use crate::reach::Reach;
use crate::reports::{self, Month};
use crate::state::AppState;
use crate::views::layout::NavUser;

/// Adds this area's pages to the portal's routes.
pub fn routes(app: Route) -> Route {
    app.at(paths::REPORTS, get(view_reports_get))
        .at(paths::route::REPORT_PDF, get(view_report_pdf_get))
}

/// `GET /client/reports`. Opened from another site, it lists only the
/// reports already made (see [`reports::list_reports`]).
#[handler]
pub async fn view_reports_get(
    state: Data<&AppState>,
    req: &Request,
    Reader(user): Reader,
) -> AppResult<Markup> {
    let db = state.pool().get().await?;
    let reach = Reach::of(&**db, &user).await?;
    let build = !crate::auth::csrf::is_cross_site(req);
    let list =
        reports::list_reports(state.pool(), &**db, user.org_id, &reach, Utc::now(), build).await?;
    Ok(crate::views::reports::reports_page(&NavUser::reaching(&user, &reach), &list, &reach))
}

/// `GET /client/reports/{YYYY-MM}/pdf`: the same PDF as the API, recorded
/// in the audit log; errors as HTML pages.
#[handler]
pub async fn view_report_pdf_get(
    state: Data<&AppState>,
    req: &Request,
    Reader(user): Reader,
    Path(month): Path<String>,
) -> AppResult<Response> {
    crate::auth::csrf::refuse_cross_site(req)?;
    let month = Month::parse(&month).map_err(AppError::BadRequest)?;
    let d = reports::download(&state, &user, month, &ClientInfo::of(req), "page").await?;
    Ok(Response::builder()
        .content_type("application/pdf")
        .header("content-disposition", d.content_disposition())
        .header("x-report-sha256", d.sha256_hex())
        .header("cache-control", "no-store")
        .body(d.report.pdf))
}
