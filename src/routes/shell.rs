//! The outermost layer around every route: request logs, panic catching,
//! error rendering (JSON under /api, HTML pages elsewhere, htmx-aware) and
//! security headers on every response, errors included.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use futures_util::FutureExt;
use poem::http::{HeaderValue, StatusCode, header};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};

use crate::error::AppError;
use crate::paths;
use crate::views::errors::error_page;

/// Content-Security-Policy for the portal's own pages: scripts and styles
/// from our origin only, nothing inline, no framing.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// Auth pages carry tokens in their URLs: never leak them in a Referer.
const NO_REFERRER_PREFIXES: &[&str] = crate::paths::AUTH_PREFIXES;

pub struct Shell {
    pub hsts: bool,
    /// For error pages: who is signed in, so a 403 or 404 keeps their
    /// navigation and account.
    pub state: crate::AppState,
}

impl<E: Endpoint> Middleware<E> for Shell {
    type Output = ShellEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        ShellEndpoint { inner: ep, hsts: self.hsts, state: self.state.clone() }
    }
}

pub struct ShellEndpoint<E> {
    inner: E,
    hsts: bool,
    state: crate::AppState,
}

/// How a request wants its errors.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavor {
    Json,
    Htmx,
    Html,
}

impl<E: Endpoint> Endpoint for ShellEndpoint<E> {
    type Output = Response;

    /// Each request renders its times in the zone its signed-in user's
    /// practice chose ([`crate::zone`]), UTC for visitors.
    async fn call(&self, req: Request) -> poem::Result<Response> {
        crate::zone::scope(self.respond(req)).await
    }
}

impl<E: Endpoint> ShellEndpoint<E> {
    async fn respond(&self, req: Request) -> poem::Result<Response> {
        let started = Instant::now();
        let method = req.method().clone();
        // The path only: query strings can carry tokens and never reach the logs.
        let path = req.uri().path().to_owned();
        // The evidence log's tiles are read by programs, like the API.
        let flavor = if path == "/api" || path.starts_with("/api/") || path.starts_with("/log/") {
            Flavor::Json
        } else if req.headers().contains_key("hx-request") {
            Flavor::Htmx
        } else {
            Flavor::Html
        };

        // Where to come back to after signing in: the page itself for a
        // GET, the page htmx was on for an htmx request.
        let return_to = if flavor == Flavor::Htmx {
            req.headers()
                .get("hx-current-url")
                .and_then(|v| v.to_str().ok())
                .and_then(|url| url.split_once("://").map(|(_, rest)| rest))
                .and_then(|rest| rest.find('/').map(|i| rest[i..].to_owned()))
        } else if req.method() == poem::http::Method::GET {
            req.uri().path_and_query().map(|pq| pq.as_str().to_owned())
        } else {
            None
        };
        // A browser's session cookie, kept for what happens if this request
        // fails: on an error page who asked is looked up again from it (the
        // page keeps their header); on a 401 it means their session ended,
        // and the sign-in page says so. Not read for the API.
        let session = match flavor {
            Flavor::Json => None,
            _ => crate::auth::session::token_from(&req, self.state.config()),
        };
        // Every body is read here with a cap, before any handler or rate
        // limit runs, so no request can make the portal buffer without bound
        // (chunked bodies included, which carry no Content-Length).
        let mut req = req;
        if let Err(resp) = cap_body(&mut req, &path, flavor).await {
            return Ok(finish_response(resp, &path, self.hsts, &method, started));
        }
        let outcome = AssertUnwindSafe(self.inner.call(req)).catch_unwind().await;
        let resp = match outcome {
            Ok(Ok(resp)) => resp.into_response(),
            Ok(Err(err)) if flavor != Flavor::Json && err.status() == StatusCode::UNAUTHORIZED => {
                sign_in_redirect(flavor, return_to.as_deref(), session.is_some())
            }
            Ok(Err(err)) => {
                // Not for a server error: the database may be what failed.
                let user = match &session {
                    Some(token) if flavor == Flavor::Html && err.status().is_client_error() => {
                        self.signed_in(token).await
                    }
                    _ => None,
                };
                let nav = user.as_ref().map(crate::views::layout::NavUser::of);
                render_error(err, flavor, nav.as_ref())
            }
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".to_owned());
                tracing::error!(%method, %path, panic = %what, "handler panicked");
                error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal", "", flavor, None)
            }
        };
        Ok(finish_response(resp, &path, self.hsts, &method, started))
    }

    /// Whose live session `token` is, if anyone's (no one when the
    /// database cannot say: the error page then has the visitor's header).
    async fn signed_in(&self, token: &str) -> Option<crate::auth::current::CurrentUser> {
        let name = crate::auth::session::cookie_name(self.state.config());
        let probe = Request::builder().header(header::COOKIE, format!("{name}={token}")).finish();
        crate::auth::current::authenticate(&probe, &self.state).await.ok().flatten()
    }
}

/// A page that needs a session sends the visitor to sign in and back; htmx
/// requests get `HX-Redirect` so the whole page navigates. When the request
/// carried a session that has ended (`expired`), the sign-in page says so.
fn sign_in_redirect(flavor: Flavor, return_to: Option<&str>, expired: bool) -> Response {
    use crate::views::login::Reason;
    let next = return_to.filter(|p| !p.starts_with(paths::LOGIN));
    let mut query: Vec<(&str, &str)> = Vec::new();
    if let Some(next) = next {
        query.push(("next", next));
    }
    if expired {
        query.push(("reason", Reason::Expired.as_str()));
    }
    let location = if query.is_empty() {
        paths::LOGIN.to_owned()
    } else {
        format!("{}?{}", paths::LOGIN, serde_urlencoded::to_string(&query).unwrap_or_default())
    };
    let builder = Response::builder().header(header::CACHE_CONTROL, "no-store");
    match flavor {
        Flavor::Htmx => {
            builder.status(StatusCode::UNAUTHORIZED).header("HX-Redirect", location).finish()
        }
        _ => builder.status(StatusCode::SEE_OTHER).header(header::LOCATION, location).finish(),
    }
}

/// Largest body accepted by anything but evidence ingestion.
pub const MAX_BODY: usize = 64 * 1024;
/// Evidence bundles may be up to 1 MiB (the ingest endpoint says so itself).
const INGEST_PATH: &str = "/api/appliance/evidence";
/// A batch of bundles up to `MAX_BATCH_BYTES`.
const BATCH_PATH: &str = "/api/appliance/evidence/batch";

async fn cap_body(req: &mut Request, path: &str, flavor: Flavor) -> Result<(), Response> {
    let limit = match path {
        INGEST_PATH => crate::evidence::bundle::MAX_BUNDLE_BYTES + 1,
        BATCH_PATH => crate::evidence::limits::MAX_BATCH_BYTES + 1,
        _ => MAX_BODY,
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    let too_large = || {
        error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            &format!("the request body is larger than this endpoint accepts ({limit} bytes)"),
            flavor,
            None,
        )
    };
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    // Ingest bodies are read by their own extractor, under the budget of
    // body bytes held at once (`evidence::limits`): buffering them here
    // would put every concurrent 1 MiB body in memory before any limit.
    if path == INGEST_PATH
        || path == BATCH_PATH
        || matches!(
            *req.method(),
            poem::http::Method::GET | poem::http::Method::HEAD | poem::http::Method::OPTIONS
        )
    {
        return Ok(());
    }
    match req.take_body().into_bytes_limit(limit).await {
        Ok(bytes) => {
            req.set_body(bytes);
            Ok(())
        }
        Err(poem::error::ReadBodyError::PayloadTooLarge) => Err(too_large()),
        Err(e) => Err(error_response(
            StatusCode::BAD_REQUEST,
            "bad_request",
            &format!("cannot read the body: {e}"),
            flavor,
            None,
        )),
    }
}

/// Headers every response gets, and the request log line.
fn finish_response(
    mut resp: Response,
    path: &str,
    hsts: bool,
    method: &poem::http::Method,
    started: Instant,
) -> Response {
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED {
        // RFC 9110: a 405 lists what the resource does accept.
        let allow = super::api::allowed_methods(path).unwrap_or_else(|| "GET, HEAD".to_owned());
        if let Ok(value) = HeaderValue::from_str(&allow) {
            resp.headers_mut().insert(header::ALLOW, value);
        }
    }
    security_headers(&mut resp, path, hsts);
    if !(path == "/api" || path.starts_with("/api/") || path.starts_with("/assets/")) {
        super::pages::respond::page_headers(&mut resp);
    }

    let status = resp.status();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if status.is_server_error() {
        tracing::warn!(%method, %path, status = status.as_u16(), ms = format_args!("{ms:.1}"), "request");
    } else {
        tracing::info!(%method, %path, status = status.as_u16(), ms = format_args!("{ms:.1}"), "request");
    }
    resp
}

fn render_error(
    err: poem::Error,
    flavor: Flavor,
    nav: Option<&crate::views::layout::NavUser>,
) -> Response {
    if err.is_from_response() && (err.status().is_redirection() || err.status().is_success()) {
        // An extractor's redirect (the MFA policy's lock to the Security
        // page: a 303, or htmx's HX-Redirect) is the answer itself, headers
        // and all.
        return err.into_response();
    }
    if let Some(app) = err.downcast_ref::<AppError>() {
        app.log();
        // AppError's own wording never carries internals (5xx say only that
        // something failed), so it is safe to show.
        let mut resp = error_response(app.status(), app.code(), &app.to_string(), flavor, nav);
        if let AppError::TooManyRequests { retry_after_secs, .. } = app {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        return resp;
    }
    let status = err.status();
    if status.is_server_error() {
        tracing::error!(error = %err, "request failed");
    }
    let code = match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        406 => "not_acceptable",
        411 => "length_required",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        s if s >= 500 => "internal",
        _ => "error",
    };
    // Server errors keep their internals in the log, not in the response.
    let message = if status.is_server_error() { String::new() } else { err.to_string() };
    error_response(status, code, &message, flavor, nav)
}

fn default_message(status: StatusCode) -> &'static str {
    match status.as_u16() {
        404 => "no such resource",
        405 => "method not allowed on this path",
        s if s >= 500 => "something went wrong on our side; it has been logged",
        _ => "the request could not be processed",
    }
}

/// One error response in the shape the caller expects.
fn error_response(
    status: StatusCode,
    code: &str,
    message: &str,
    flavor: Flavor,
    nav: Option<&crate::views::layout::NavUser>,
) -> Response {
    let message = if message.is_empty() { default_message(status) } else { message };
    match flavor {
        Flavor::Json => Response::builder()
            .status(status)
            .content_type("application/json; charset=utf-8")
            .body(serde_json::json!({ "error": code, "message": message }).to_string()),
        Flavor::Htmx => Response::builder()
            .status(status)
            .header("X-Portal-Message", header_safe(message))
            .content_type("text/html; charset=utf-8")
            .body(maud::html! { div.alert.alert-error role="alert" { (message) } }.into_string()),
        Flavor::Html => Response::builder()
            .status(status)
            .content_type("text/html; charset=utf-8")
            .body(error_page(status, message, nav).into_string()),
    }
}

/// Header values must be visible ASCII; messages are ours and plain, but be safe.
fn header_safe(message: &str) -> String {
    message.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).collect()
}

fn security_headers(resp: &mut Response, path: &str, hsts: bool) {
    let headers = resp.headers_mut();
    headers.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    let referrer = if NO_REFERRER_PREFIXES.iter().any(|p| path.starts_with(p)) {
        "no-referrer"
    } else {
        "same-origin"
    };
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static(referrer));
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    headers.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"),
    );
    if hsts {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
}
