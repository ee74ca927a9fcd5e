//! Pages of evidence packs: `/client/audit-packs` (owner, admin, auditor)
//! with the form that asks for one, the owner's full export, and the
//! packs' rows, each a fragment that follows its pack while it builds.

use chrono::NaiveDate;
use maud::Markup;
use poem::web::{Data, Form, Path};
use poem::{Request, Response, Route, get, handler, post};
use uuid::Uuid;

use super::respond::{self, Fix, see_other, wants_fragment};
use crate::auth::Role;
use crate::auth::current::{ClientInfo, CurrentUser, Reader};
use crate::error::{AppError, AppResult};
use crate::packs::{self, PackRequest};
use crate::paths;
use crate::state::AppState;
use crate::views::layout::NavUser;
use crate::views::packs::{self as view, PackForm, PacksData};

/// Adds this area's pages to the portal's routes.
pub fn routes(app: Route) -> Route {
    app.at(paths::AUDIT_PACKS, get(view_packs_get).post(view_packs_post))
        .at(paths::EXPORT, post(view_export_post))
        .at(paths::route::AUDIT_PACK, get(view_pack_get))
}

/// The sites the caller may pack: an auditor's grant's, else all.
async fn sites(state: &AppState, user: &CurrentUser) -> AppResult<Vec<(Uuid, String)>> {
    let db = state.pool().get().await?;
    let all = crate::db::evidence_log::current_site_keys(&**db, user.org_id).await?;
    let grant = crate::auditors::grant_of(state, user).await?;
    let allowed = grant.and_then(|g| g.site_ids);
    let mut out: Vec<(Uuid, String)> = all
        .into_iter()
        .filter(|s| allowed.as_ref().is_none_or(|a| a.contains(&s.0)))
        .map(|s| (s.0, s.1))
        .collect();
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

async fn section(
    state: &AppState,
    user: &CurrentUser,
    form: PackForm,
    error: Option<&str>,
    whole: bool,
) -> AppResult<Markup> {
    let list = packs::list(state, user).await?;
    let sites = sites(state, user).await?;
    let data = PacksData {
        csrf_token: user.csrf_token().unwrap_or(""),
        sites: &sites,
        packs: &list,
        can_export: user.role == Role::Owner,
        form,
        error,
    };
    Ok(if whole { view::packs_page(&NavUser::of(user), &data) } else { view::packs_section(&data) })
}

fn default_form() -> PackForm {
    let today = chrono::Utc::now().date_naive();
    PackForm {
        from: (today - chrono::Days::new(90)).to_string(),
        to: today.to_string(),
        site_ids: Vec::new(),
    }
}

/// `GET /client/audit-packs`. The form starts on the last 90 days, or on
/// an auditor's grant's period.
#[handler]
pub async fn view_packs_get(state: Data<&AppState>, Reader(user): Reader) -> AppResult<Markup> {
    let mut form = default_form();
    if let Some(g) = crate::auditors::grant_of(&state, &user).await? {
        if let Some(f) = g.period_from {
            form.from = f.to_string();
        }
        if let Some(t) = g.period_to {
            form.to = t.min(chrono::Utc::now().date_naive()).to_string();
        }
    }
    section(&state, &user, form, None, true).await
}

fn read_form(pairs: &[(String, String)]) -> (PackForm, Result<PackRequest, Fix>) {
    let mut form = PackForm::default();
    let mut bad_site = false;
    for (k, v) in pairs {
        match k.as_str() {
            "from" => form.from = v.trim().to_owned(),
            "to" => form.to = v.trim().to_owned(),
            "site_id" => match Uuid::parse_str(v) {
                Ok(id) => form.site_ids.push(id),
                Err(_) => bad_site = true,
            },
            _ => {}
        }
    }
    let day = |label: &str, raw: &str| {
        NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .map_err(|_| Fix::new(format!("{label} must be a date (YYYY-MM-DD).")))
    };
    let request = (|| {
        if bad_site {
            return Err(Fix::new("A ticked site is not one of your sites; reload the page."));
        }
        let from = day("From", &form.from)?;
        let to = day("To", &form.to)?;
        let site_ids = (!form.site_ids.is_empty()).then(|| form.site_ids.clone());
        Ok(PackRequest { from, to, site_ids })
    })();
    (form, request)
}

/// `POST /client/audit-packs`: starts a pack; the section again.
#[handler]
pub async fn view_packs_post(
    state: Data<&AppState>,
    req: &Request,
    Reader(user): Reader,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let (form, request) = read_form(&pairs);
    let started = match request {
        Ok(r) => respond::form(packs::request(&state, &user, &r, &ClientInfo::of(req)).await)?,
        Err(fix) => Err(fix),
    };
    finish(&state, req, &user, form, started).await
}

/// `POST /client/audit-packs/export` (owner).
#[handler]
pub async fn view_export_post(
    state: Data<&AppState>,
    req: &Request,
    Reader(user): Reader,
) -> AppResult<Response> {
    let started = respond::form(packs::export(&state, &user, &ClientInfo::of(req)).await)?;
    finish(&state, req, &user, default_form(), started).await
}

async fn finish(
    state: &AppState,
    req: &Request,
    user: &CurrentUser,
    form: PackForm,
    started: Result<Uuid, Fix>,
) -> AppResult<Response> {
    let fragment = wants_fragment(req);
    match started {
        Ok(_) if !fragment => Ok(see_other(paths::AUDIT_PACKS)),
        Ok(_) => Ok(respond::html(
            poem::http::StatusCode::OK,
            section(state, user, form, None, false).await?,
            None,
        )),
        Err(fix) => {
            let markup = section(state, user, form, Some(&fix.message), !fragment).await?;
            Ok(fix.render(markup))
        }
    }
}

/// `GET /client/audit-packs/:id`: one pack's row.
#[handler]
pub async fn view_pack_get(
    state: Data<&AppState>,
    Reader(user): Reader,
    Path(id): Path<String>,
) -> AppResult<Markup> {
    let id = Uuid::parse_str(&id)
        .map_err(|_| AppError::BadRequest("that is not a pack id (a UUID)".into()))?;
    Ok(view::pack_row(&packs::get(&state, &user, id).await?))
}
