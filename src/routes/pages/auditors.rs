//! The users page's auditors section: grant access (the invitation is
//! emailed), extend a grant to 30 days from now, revoke it. Each answers
//! htmx with the section again, a plain form with a redirect back.

use maud::Markup;
use poem::web::{Data, Form, Path};
use poem::{Request, Response, handler};
use serde::Deserialize;
use uuid::Uuid;

use super::respond::{self, Fix, see_other, wants_fragment};
use crate::auditors::{self, GrantChange, GrantRequest, Scope};
use crate::auth::current::{Admin, ClientInfo, CurrentUser};
use crate::error::{AppError, AppResult};
use crate::paths;
use crate::state::AppState;
use crate::views::auditors::{AuditorsData, GrantFormValues, auditors_section};

async fn section(
    state: &AppState,
    user: &CurrentUser,
    form: GrantFormValues,
    error: Option<&str>,
    notice: Option<&str>,
) -> AppResult<Markup> {
    let grants = auditors::list(state, user).await?;
    Ok(auditors_section(&AuditorsData {
        csrf_token: user.csrf_token().unwrap_or(""),
        grants: &grants,
        form,
        error,
        notice,
    }))
}

/// The section after an action: a notice on success, the form with the
/// message on a refusal (422); a redirect for a plain form that worked.
async fn answer(
    state: &AppState,
    req: &Request,
    user: &CurrentUser,
    form: GrantFormValues,
    result: Result<String, Fix>,
) -> AppResult<Response> {
    match result {
        Ok(_) if !wants_fragment(req) => Ok(see_other(paths::USERS)),
        Ok(notice) => Ok(respond::html(
            poem::http::StatusCode::OK,
            section(state, user, GrantFormValues::default(), None, Some(&notice)).await?,
            None,
        )),
        Err(fix) => Ok(fix.render(section(state, user, form, Some(&fix.message), None).await?)),
    }
}

fn grant_id(raw: &str) -> AppResult<Uuid> {
    Uuid::parse_str(raw).map_err(|_| AppError::BadRequest("that is not a grant id (a UUID)".into()))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GrantForm {
    email: String,
    name: String,
    firm: String,
    days: String,
    from: String,
    to: String,
}

fn optional_day(label: &str, raw: &str) -> Result<Option<chrono::NaiveDate>, Fix> {
    match raw.trim() {
        "" => Ok(None),
        v => chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| Fix::new(format!("{label} must be a date (YYYY-MM-DD) or empty."))),
    }
}

/// `POST /client/users/auditors`.
#[handler]
pub async fn view_auditors_grant_post(
    state: Data<&AppState>,
    req: &Request,
    Admin(user): Admin,
    Form(f): Form<GrantForm>,
) -> AppResult<Response> {
    let values = GrantFormValues {
        email: f.email.clone(),
        name: f.name.clone(),
        firm: f.firm.clone(),
        days: f.days.clone(),
        from: f.from.clone(),
        to: f.to.clone(),
    };
    let parsed = (|| {
        let days = match f.days.trim() {
            "" => None,
            d => Some(
                d.parse::<i32>()
                    .map_err(|_| Fix::new("Days must be a whole number from 1 to 365."))?,
            ),
        };
        Ok::<_, Fix>((days, optional_day("Evidence from", &f.from)?, optional_day("To", &f.to)?))
    })();
    let result = match parsed {
        Err(fix) => Err(fix),
        Ok((days, from, to)) => respond::form(
            auditors::grant(
                &state,
                &user,
                GrantRequest {
                    email: f.email,
                    name: f.name,
                    firm: f.firm,
                    days,
                    scope: Scope { site_ids: None, from, to },
                },
                &ClientInfo::of(req),
            )
            .await,
        )?
        .map(|g| {
            format!(
                "Invitation sent to {}; their access ends {}.",
                g.email,
                g.expires_at.format("%Y-%m-%d %H:%M UTC")
            )
        }),
    };
    answer(&state, req, &user, values, result).await
}

/// `POST /client/users/auditors/:id/extend`: 30 days from now.
#[handler]
pub async fn view_auditors_extend_post(
    state: Data<&AppState>,
    req: &Request,
    Admin(user): Admin,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let id = grant_id(&id)?;
    let result = respond::form(
        auditors::change(
            &state,
            &user,
            id,
            GrantChange { days: Some(auditors::DEFAULT_DAYS), ..Default::default() },
            &ClientInfo::of(req),
        )
        .await,
    )?
    .map(|g| {
        format!("{}'s access now ends {}.", g.email, g.expires_at.format("%Y-%m-%d %H:%M UTC"))
    });
    answer(&state, req, &user, GrantFormValues::default(), result).await
}

/// `POST /client/users/auditors/:id/revoke`.
#[handler]
pub async fn view_auditors_revoke_post(
    state: Data<&AppState>,
    req: &Request,
    Admin(user): Admin,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let id = grant_id(&id)?;
    let result = respond::form(auditors::revoke(&state, &user, id, &ClientInfo::of(req)).await)?
        .map(|()| "Access revoked; the auditor is signed out.".to_owned());
    answer(&state, req, &user, GrantFormValues::default(), result).await
}
