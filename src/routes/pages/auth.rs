//! Sign-in pages: magic-link request (htmx), password form, the link's
//! landing page and its Continue button, and sign-out.

use poem::http::StatusCode;
use poem::web::{Data, Form, Query, Redirect};
use poem::{IntoResponse, Request, Response, handler};
use serde::Deserialize;

use super::respond::is_htmx;
use super::safe_next;
use crate::auth::current::{ClientInfo, MaybeUser, Reader};
use crate::auth::{csrf, flows, session};
use crate::error::AppError;
use crate::paths;
use crate::state::AppState;
use crate::views::login;

const AFTER_SIGN_IN: &str = paths::DASHBOARD;

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

#[handler]
pub fn view_login_get(Query(q): Query<LoginQuery>, MaybeUser(user): MaybeUser) -> Response {
    let next = safe_next(q.next.as_deref());
    if user.is_some() {
        return Redirect::see_other(next.unwrap_or(AFTER_SIGN_IN)).into_response();
    }
    login::login_page(next, None, "").with_header("cache-control", "no-store").into_response()
}

#[derive(Debug, Deserialize)]
pub struct MagicLinkForm {
    #[serde(default)]
    email: String,
    next: Option<String>,
}

/// htmx swaps the answer into the magic-link panel; without htmx the whole
/// page comes back.
#[handler]
pub async fn view_login_magic_link_post(
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<MagicLinkForm>,
) -> poem::Result<Response> {
    csrf::check_origin(req, state.config())?;
    let next = safe_next(form.next.as_deref());
    let fragment = match flows::request_magic_link(&state, &form.email, &ClientInfo::of(req)).await
    {
        Ok(()) => login::check_email(form.email.trim()),
        Err(AppError::BadRequest(message)) => {
            let body = login::magic_link_form(next, &form.email, Some(&message));
            return Ok(respond(req, body, StatusCode::UNPROCESSABLE_ENTITY));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(respond(req, fragment, StatusCode::OK))
}

/// The fragment for htmx, the sign-in page around it otherwise.
fn respond(req: &Request, fragment: maud::Markup, status: StatusCode) -> Response {
    let body = if is_htmx(req) {
        fragment
    } else {
        crate::views::layout::auth_page("Sign in", maud::html! { div.auth-card { (fragment) } })
    };
    body.with_status(status)
        .with_header("vary", "HX-Request")
        .with_header("cache-control", "no-store")
        .into_response()
}

/// No `Debug`: it holds a secret.
#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

#[handler]
pub async fn view_login_password_post(
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<PasswordForm>,
) -> poem::Result<Response> {
    csrf::check_origin(req, state.config())?;
    let next = safe_next(form.next.as_deref());
    match flows::login_with_password(&state, &form.email, &form.password, &ClientInfo::of(req))
        .await
    {
        Ok(signed_in) => Ok(Redirect::see_other(next.unwrap_or(AFTER_SIGN_IN))
            .with_header("set-cookie", signed_in.session.set_cookie)
            .into_response()),
        Err(
            e @ (AppError::Unauthorized(_)
            | AppError::Forbidden(_)
            | AppError::TooManyRequests { .. }),
        ) => {
            let status = e.status();
            let page = login::login_page(next, Some(&e.to_string()), form.email.trim());
            let mut resp =
                page.with_status(status).with_header("cache-control", "no-store").into_response();
            if let AppError::TooManyRequests { retry_after_secs, .. } = e {
                resp.headers_mut().insert("retry-after", retry_after_secs.into());
            }
            Ok(resp)
        }
        Err(e) => Err(e.into()),
    }
}

/// No `Debug`: it holds a secret.
#[derive(Deserialize)]
pub struct VerifyQuery {
    #[serde(default)]
    token: String,
}

/// Shows a Continue button; consumes nothing.
#[handler]
pub fn view_verify_get(Query(q): Query<VerifyQuery>) -> Response {
    let error =
        q.token.trim().is_empty().then_some(
            "This link is incomplete. Open it from the email again, or request a new one.",
        );
    login::verify_page(q.token.trim(), error)
        .with_status(if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK })
        .with_header("cache-control", "no-store")
        .into_response()
}

/// No `Debug`: it holds a secret.
#[derive(Deserialize)]
pub struct VerifyForm {
    #[serde(default)]
    token: String,
}

#[handler]
pub async fn view_verify_post(
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<VerifyForm>,
) -> poem::Result<Response> {
    csrf::check_origin(req, state.config())?;
    match flows::redeem_magic_link(&state, &form.token, &ClientInfo::of(req)).await {
        Ok(signed_in) => Ok(Redirect::see_other(AFTER_SIGN_IN)
            .with_header("set-cookie", signed_in.session.set_cookie)
            .into_response()),
        Err(e @ (AppError::Unauthorized(_) | AppError::Forbidden(_))) => {
            Ok(login::verify_page("", Some(&e.to_string()))
                .with_status(e.status())
                .with_header("cache-control", "no-store")
                .into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[handler]
pub async fn view_logout_post(
    state: Data<&AppState>,
    req: &Request,
    Reader(user): Reader,
) -> poem::Result<Response> {
    flows::logout(&state, &user, &ClientInfo::of(req)).await?;
    let clear = session::clear_cookie(state.config());
    if is_htmx(req) {
        return Ok(
            ().with_header("hx-redirect", paths::LOGIN)
                .with_header("set-cookie", clear)
                .into_response(),
        );
    }
    Ok(Redirect::see_other(paths::LOGIN).with_header("set-cookie", clear).into_response())
}
