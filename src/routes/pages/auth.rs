//! Sign-in pages: magic-link request (htmx), password form, the link's
//! landing page and its Continue button, and sign-out.

use poem::http::StatusCode;
use poem::web::{Data, Form, Query, Redirect};
use poem::{IntoResponse, Request, Response, handler};
use serde::Deserialize;

use super::respond::{self, is_htmx};
use super::safe_next;
use crate::auth::current::{ClientInfo, MaybeUser, Reader};
use crate::auth::{csrf, flows, session};
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
    login::login_page(next, None, "").into_response()
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
    let sent = flows::request_magic_link(&state, &form.email, &ClientInfo::of(req)).await;
    Ok(match respond::form(sent)? {
        Ok(()) => in_sign_in_page(req, login::check_email(form.email.trim())).into_response(),
        Err(fix) => fix.render(in_sign_in_page(
            req,
            login::magic_link_form(next, &form.email, Some(&fix.message)),
        )),
    })
}

/// The fragment for htmx, the sign-in page around it otherwise.
fn in_sign_in_page(req: &Request, fragment: maud::Markup) -> maud::Markup {
    if is_htmx(req) {
        fragment
    } else {
        crate::views::layout::auth_page("Sign in", maud::html! { div.auth-card { (fragment) } })
    }
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
    let signed_in =
        flows::login_with_password(&state, &form.email, &form.password, &ClientInfo::of(req)).await;
    Ok(match respond::sign_in(signed_in)? {
        Ok(signed_in) => Redirect::see_other(next.unwrap_or(AFTER_SIGN_IN))
            .with_header("set-cookie", signed_in.session.set_cookie)
            .into_response(),
        Err(fix) => fix.render(login::login_page(next, Some(&fix.message), form.email.trim())),
    })
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
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    respond::html(status, login::verify_page(q.token.trim(), error), None)
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
    let signed_in = flows::redeem_magic_link(&state, &form.token, &ClientInfo::of(req)).await;
    Ok(match respond::sign_in(signed_in)? {
        Ok(signed_in) => Redirect::see_other(AFTER_SIGN_IN)
            .with_header("set-cookie", signed_in.session.set_cookie)
            .into_response(),
        Err(fix) => fix.render(login::verify_page("", Some(&fix.message))),
    })
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
