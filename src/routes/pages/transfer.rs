//! Pages of the transfer area: `/client/transfer` (owner) with the request
//! form and the cancel button, both updating `#transfer-section` with htmx
//! (or, without JavaScript, posting and coming back to the page).

use maud::Markup;
use poem::web::{Data, Form};
use poem::{IntoResponse, Request, Response, Route, get, handler, post};
use serde::Deserialize;
use uuid::Uuid;

use super::respond::{self, is_htmx, see_other, wants_fragment};
use crate::auth::current::{ClientInfo, CurrentUser, Owner};
use crate::db::transfers;
use crate::error::{AppError, AppResult};
use crate::paths;
use crate::state::AppState;
use crate::transfer;
use crate::views::format::partner_label;
use crate::views::layout::NavUser;
use crate::views::transfer::{self as views, FormValues, SectionData};

/// Adds this area's pages to the portal's routes.
pub fn routes(app: Route) -> Route {
    app.at(paths::TRANSFER, get(view_transfer_get))
        .at(paths::TRANSFER_REQUEST, post(view_transfer_request_post))
        .at(paths::TRANSFER_CANCEL, post(view_transfer_cancel_post))
}

/// Renders the page or its `#transfer-section`.
async fn render(
    state: &AppState,
    user: &CurrentUser,
    full: bool,
    values: &FormValues,
    message: Option<(bool, &str)>,
) -> AppResult<Markup> {
    let (org, latest) = transfer::status(state, user.org_id).await?;
    let db = state.pool().get().await?;
    let partners = transfers::list_partners(&**db).await?;
    let data = SectionData {
        org: &org,
        latest: latest.as_ref(),
        partners: &partners,
        csrf_token: user.csrf_token().unwrap_or(""),
        values,
        message,
    };
    Ok(if full {
        views::transfer_page(&NavUser::of(user), &data)
    } else {
        views::transfer_section(&data)
    })
}

#[handler]
pub async fn view_transfer_get(
    state: Data<&AppState>,
    req: &Request,
    Owner(user): Owner,
) -> AppResult<Markup> {
    render(&state, &user, !wants_fragment(req), &FormValues::default(), None).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RequestForm {
    /// A partner id or `direct`.
    to_partner: String,
    reason: String,
}

/// After a change: the fragment for htmx, back to the page for a plain form.
async fn answer(
    state: &AppState,
    req: &Request,
    user: &CurrentUser,
    values: &FormValues,
    outcome: Result<String, AppError>,
) -> AppResult<Response> {
    let htmx = is_htmx(req);
    match respond::form(outcome)? {
        Ok(_) if !htmx => Ok(see_other(paths::TRANSFER)),
        Ok(message) => {
            let markup =
                render(state, user, false, &FormValues::default(), Some((false, &message))).await?;
            Ok(markup.into_response())
        }
        Err(fix) => {
            let markup = render(state, user, !htmx, values, Some((true, &fix.message))).await?;
            Ok(fix.render(markup))
        }
    }
}

#[handler]
pub async fn view_transfer_request_post(
    state: Data<&AppState>,
    req: &Request,
    Owner(user): Owner,
    Form(form): Form<RequestForm>,
) -> AppResult<Response> {
    let values = FormValues { to_partner: form.to_partner.clone(), reason: form.reason.clone() };
    let outcome = async {
        let to = match form.to_partner.trim() {
            "" => {
                return Err(AppError::Unprocessable(
                    "choose the partner to move to, or OsirisCare directly".into(),
                ));
            }
            "direct" => None,
            raw => Some(Uuid::parse_str(raw).map_err(|_| {
                AppError::Unprocessable("that is not a partner; choose one from the list".into())
            })?),
        };
        let r = transfer::request_transfer(
            &state,
            &user,
            to,
            Some(form.reason.as_str()),
            &ClientInfo::of(req),
        )
        .await?;
        Ok(format!(
            "Request sent. OsirisCare staff will review your move to {}; you will be notified \
             when they decide.",
            partner_label(r.to_partner.as_ref())
        ))
    }
    .await;
    answer(&state, req, &user, &values, outcome).await
}

#[handler]
pub async fn view_transfer_cancel_post(
    state: Data<&AppState>,
    req: &Request,
    Owner(user): Owner,
) -> AppResult<Response> {
    let outcome = transfer::cancel_transfer(&state, &user, &ClientInfo::of(req))
        .await
        .map(|_| "Your transfer request was cancelled.".to_owned());
    answer(&state, req, &user, &FormValues::default(), outcome).await
}
