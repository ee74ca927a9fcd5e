//! Sign-in pages: magic-link request (htmx), password form, the link's
//! landing page and its Continue button, and sign-out.

use poem::http::StatusCode;
use poem::web::{Data, Form, Query, Redirect};
use poem::{IntoResponse, Request, Response, handler};
use serde::Deserialize;

use super::respond::{self, is_htmx};
use super::safe_next;
use crate::auth::current::{ClientInfo, MaybeUser, SelfService};
use crate::auth::mfa::{self, SignIn};
use crate::auth::{csrf, flows, session};
use crate::paths;
use crate::state::AppState;
use crate::views::login;

const AFTER_SIGN_IN: &str = paths::DASHBOARD;

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    reason: Option<String>,
}

#[handler]
pub fn view_login_get(Query(q): Query<LoginQuery>, MaybeUser(user): MaybeUser) -> Response {
    let next = safe_next(q.next.as_deref());
    if user.is_some() {
        return Redirect::see_other(next.unwrap_or(AFTER_SIGN_IN)).into_response();
    }
    let reason = login::Reason::parse(q.reason.as_deref());
    login::login_page(next, reason, None, "").into_response()
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
        Ok(signed_in) => signed_in_to(signed_in, next.unwrap_or(AFTER_SIGN_IN)),
        Err(fix) => {
            fix.render(login::login_page(next, None, Some(&fix.message), form.email.trim()))
        }
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
        Ok(signed_in) => signed_in_to(signed_in, AFTER_SIGN_IN),
        Err(fix) => fix.render(login::verify_page("", Some(&fix.message))),
    })
}

/// After a first factor: to `next` with the session, or to the second
/// step with the pending cookie (`next` rides along).
pub fn signed_in_to(signed_in: SignIn, next: &str) -> Response {
    match signed_in {
        SignIn::Session(s) => Redirect::see_other(next)
            .with_header("set-cookie", s.session.set_cookie)
            .into_response(),
        SignIn::SecondFactor(p) => {
            let to = if next == AFTER_SIGN_IN {
                paths::LOGIN_MFA.to_owned()
            } else {
                format!(
                    "{}?{}",
                    paths::LOGIN_MFA,
                    serde_urlencoded::to_string([("next", next)]).unwrap_or_default()
                )
            };
            Redirect::see_other(&to).with_header("set-cookie", p.set_cookie).into_response()
        }
    }
}

/// The second step's page; without a live pending sign-in, back to the start.
#[handler]
pub async fn view_login_mfa_get(
    state: Data<&AppState>,
    req: &Request,
    Query(q): Query<LoginQuery>,
) -> poem::Result<Response> {
    let token = session::pending_token_from(req, state.config());
    Ok(match mfa::pending_methods(&state, token.as_deref()).await? {
        Some(methods) => {
            login::mfa_page(&methods, safe_next(q.next.as_deref()), None).into_response()
        }
        None => respond::html(
            StatusCode::UNAUTHORIZED,
            login::login_page(None, None, Some(PENDING_GONE), ""),
            None,
        ),
    })
}

const PENDING_GONE: &str = "That sign-in step expired or was already used. Sign in again.";

/// No `Debug`: it holds a secret.
#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
    next: Option<String>,
}

#[handler]
pub async fn view_login_mfa_post(
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<CodeForm>,
) -> poem::Result<Response> {
    csrf::check_origin(req, state.config())?;
    let token = session::pending_token_from(req, state.config());
    let result =
        mfa::sign_in_with_code(&state, token.as_deref(), &form.code, &ClientInfo::of(req)).await;
    second_step_answer(&state, token.as_deref(), result, safe_next(form.next.as_deref())).await
}

/// A session (to `next`, the pending cookie cleared), or the step's page
/// again with what went wrong (or the sign-in page when the step is over).
async fn second_step_answer(
    state: &AppState,
    token: Option<&str>,
    result: crate::error::AppResult<crate::auth::flows::SignedIn>,
    next: Option<&str>,
) -> poem::Result<Response> {
    Ok(match respond::sign_in(result)? {
        Ok(signed_in) => Redirect::see_other(next.unwrap_or(AFTER_SIGN_IN))
            .with_header("set-cookie", signed_in.session.set_cookie)
            .with_header("set-cookie", session::clear_pending_cookie(state.config()))
            .into_response(),
        Err(fix) => match mfa::pending_methods(state, token).await? {
            Some(methods) => fix.render(login::mfa_page(&methods, next, Some(&fix.message))),
            None => fix.render(login::login_page(next, None, Some(&fix.message), "")),
        },
    })
}

/// WebAuthn options for the pending sign-in (JSON for webauthn.js).
#[handler]
pub async fn view_login_mfa_passkey_options_post(
    state: Data<&AppState>,
    req: &Request,
) -> poem::Result<Response> {
    csrf::check_origin(req, state.config())?;
    let token = session::pending_token_from(req, state.config());
    let options =
        mfa::sign_in_passkey_options(&state, token.as_deref(), &ClientInfo::of(req)).await;
    Ok(respond::json_or_message(options))
}

/// No `Debug` needed: a WebAuthn answer is no secret, but it is long.
#[derive(Deserialize)]
pub struct CredentialForm {
    #[serde(default)]
    credential: String,
    next: Option<String>,
}

#[handler]
pub async fn view_login_mfa_passkey_post(
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<CredentialForm>,
) -> poem::Result<Response> {
    csrf::check_origin(req, state.config())?;
    let token = session::pending_token_from(req, state.config());
    let result = match serde_json::from_str::<serde_json::Value>(&form.credential) {
        Ok(credential) => {
            mfa::sign_in_with_passkey(&state, token.as_deref(), &credential, &ClientInfo::of(req))
                .await
        }
        Err(_) => Err(crate::error::AppError::Unauthorized(
            "the browser sent no passkey answer; press the passkey button again".into(),
        )),
    };
    second_step_answer(&state, token.as_deref(), result, safe_next(form.next.as_deref())).await
}

#[handler]
pub async fn view_logout_post(
    state: Data<&AppState>,
    req: &Request,
    SelfService(user): SelfService,
) -> poem::Result<Response> {
    flows::logout(&state, &user, &ClientInfo::of(req)).await?;
    let clear = session::clear_cookie(state.config());
    let to = login::login_page_because(login::Reason::SignedOut);
    if is_htmx(req) {
        return Ok(
            ().with_header("hx-redirect", to).with_header("set-cookie", clear).into_response(),
        );
    }
    Ok(Redirect::see_other(&to).with_header("set-cookie", clear).into_response())
}
