//! One vocabulary for page responses. A page handler parses, calls the
//! area's flow, and answers with one of these:
//!
//! - success: the fragment for htmx ([`wants_fragment`]), or a 303 back to
//!   the page for a plain form ([`see_other`]);
//! - a failure the user can fix by changing what they typed ([`form`] sorts
//!   it out: `BadRequest`, `Unprocessable`, `Conflict`, `Forbidden` and
//!   `NotFound` raised by the flow): the form again with the message, 422;
//! - too many attempts: the form with the message, 429 with `Retry-After`
//!   (htmx swaps no 429, so it shows the message from `X-Portal-Message`
//!   as a toast);
//! - a refused sign-in (the sign-in and invitation forms, [`sign_in`]):
//!   the form again with the message and the refusal's own status (401,
//!   403), since a 401 there is the answer, not a request to sign in;
//! - anything else: the error goes to the shell (sign-in redirect, error
//!   page or toast).
//!
//! Every HTML response of the pages also gets `Cache-Control: no-store` and
//! `Vary: HX-Request` from the shell ([`page_headers`]).

use maud::Markup;
use poem::http::{HeaderValue, StatusCode, header};
use poem::web::Redirect;
use poem::{IntoResponse, Request, Response};

use crate::error::{AppError, AppResult};

/// Whether htmx made this request (and wants a fragment).
pub fn is_htmx(req: &Request) -> bool {
    req.headers().contains_key("hx-request")
}

/// Whether to answer with a fragment: htmx asked, and it is not restoring
/// a page from history (which needs the whole page).
pub fn wants_fragment(req: &Request) -> bool {
    is_htmx(req) && !req.headers().contains_key("hx-history-restore-request")
}

/// A 303 to `path`, for a plain form that succeeded.
pub fn see_other(path: impl AsRef<str>) -> Response {
    Redirect::see_other(path.as_ref()).into_response()
}

/// A form's failure the user can fix: its message and how to answer it.
#[derive(Debug)]
pub struct Fix {
    pub message: String,
    status: StatusCode,
    retry_after_secs: Option<u64>,
}

impl Fix {
    /// A problem found by the page itself while reading the form.
    pub fn new(message: impl Into<String>) -> Fix {
        Fix {
            message: message.into(),
            status: StatusCode::UNPROCESSABLE_ENTITY,
            retry_after_secs: None,
        }
    }

    fn too_many(message: String, retry_after_secs: u64) -> Fix {
        Fix {
            message,
            status: StatusCode::TOO_MANY_REQUESTS,
            retry_after_secs: Some(retry_after_secs),
        }
    }

    /// The form re-rendered around the message: 422 (or a refused
    /// sign-in's 401 or 403), or 429 with `Retry-After` and the message for
    /// htmx's toast.
    pub fn render(&self, markup: Markup) -> Response {
        let mut resp = markup.into_response();
        resp.set_status(self.status);
        if let Some(secs) = self.retry_after_secs {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
            set_message(&mut resp, &self.message);
        }
        resp
    }
}

/// Sorts a flow's result: its value, a failure the user can fix, or
/// (the outer `Err`) an error for the shell.
pub fn form<T>(result: AppResult<T>) -> AppResult<Result<T, Fix>> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(
            e @ (AppError::BadRequest(_)
            | AppError::Unprocessable(_)
            | AppError::Conflict(_)
            | AppError::Forbidden(_)
            | AppError::NotFound(_)),
        ) => Ok(Err(Fix::new(e.to_string()))),
        Err(AppError::TooManyRequests { message, retry_after_secs }) => {
            Ok(Err(Fix::too_many(message, retry_after_secs)))
        }
        Err(e) => Err(e),
    }
}

/// Sorts a sign-in's result: its value, a refusal to show in the form
/// (wrong or unusable credentials 401, an inactive account 403, too many
/// attempts 429), or (the outer `Err`) an error for the shell.
pub fn sign_in<T>(result: AppResult<T>) -> AppResult<Result<T, Fix>> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(e @ (AppError::Unauthorized(_) | AppError::Forbidden(_))) => {
            Ok(Err(Fix { status: e.status(), message: e.to_string(), retry_after_secs: None }))
        }
        Err(AppError::TooManyRequests { message, retry_after_secs }) => {
            Ok(Err(Fix::too_many(message, retry_after_secs)))
        }
        Err(e) => Err(e),
    }
}

/// A page or fragment with `status`. htmx does not swap error responses:
/// `message` goes to the `X-Portal-Message` header, which portal.js shows
/// in a toast.
pub fn html(status: StatusCode, markup: Markup, message: Option<&str>) -> Response {
    let mut resp = markup.with_status(status).into_response();
    if let Some(message) = message {
        set_message(&mut resp, message);
    }
    resp
}

/// A filter form's answer (htmx): the address bar shows the filters
/// applied (`url`, empty fields left out) as one new history entry, or in
/// place of the current entry when the page already is at that address
/// (applying the same filters again adds none).
pub fn with_filter_url(mut resp: Response, req: &Request, url: &str) -> Response {
    let same = req
        .headers()
        .get("hx-current-url")
        .and_then(|v| v.to_str().ok())
        .and_then(|u| u.split_once("://"))
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        .is_some_and(|current| same_address(current, url));
    let name = if same { "HX-Replace-Url" } else { "HX-Push-Url" };
    if let Ok(value) = HeaderValue::from_str(url) {
        resp.headers_mut().insert(name, value);
    }
    resp
}

/// Whether two local addresses name the same path and parameters, however
/// each was percent-encoded.
fn same_address(a: &str, b: &str) -> bool {
    let split = |u: &str| -> (String, Option<Vec<(String, String)>>) {
        let u = u.split('#').next().unwrap_or_default();
        let (path, query) = u.split_once('?').unwrap_or((u, ""));
        (path.to_owned(), serde_urlencoded::from_str(query).ok())
    };
    let (pa, qa) = split(a);
    let (pb, qb) = split(b);
    pa == pb && qa.is_some() && qa == qb
}

fn set_message(resp: &mut Response, message: &str) {
    let safe: String =
        message.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).collect();
    if let Ok(value) = HeaderValue::from_str(&safe) {
        resp.headers_mut().insert("X-Portal-Message", value);
    }
}

/// What every HTML response of the pages carries: never stored (a shared
/// clinic PC's Back button after sign-out must not show practice data),
/// and varying on `HX-Request` (the same URL answers a page or a fragment).
pub fn page_headers(resp: &mut Response) {
    let is_html = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if !is_html {
        return;
    }
    let headers = resp.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let varies = headers
        .get_all(header::VARY)
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v.to_ascii_lowercase().contains("hx-request")));
    if !varies {
        headers.append(header::VARY, HeaderValue::from_static("HX-Request"));
    }
}

/// JSON for a page's script (webauthn.js reads the options, or the
/// `message` of an error, which it shows beside its button).
pub fn json_or_message(result: AppResult<serde_json::Value>) -> Response {
    let (status, body) = match result {
        Ok(value) => (StatusCode::OK, value),
        Err(e) => {
            e.log();
            (e.status(), serde_json::json!({ "error": e.code(), "message": e.to_string() }))
        }
    };
    poem::web::Json(body).with_status(status).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixable_errors_become_form_messages_and_the_rest_go_to_the_shell() {
        for e in [
            AppError::BadRequest("b".into()),
            AppError::Unprocessable("u".into()),
            AppError::Conflict("c".into()),
            AppError::Forbidden("f".into()),
            AppError::NotFound("n".into()),
        ] {
            let fix = form::<()>(Err(e)).unwrap().unwrap_err();
            let resp = fix.render(maud::html! { "form" });
            assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
            assert!(!resp.headers().contains_key(header::RETRY_AFTER));
        }
        let fix = form::<()>(Err(AppError::TooManyRequests {
            message: "try again in 3 minutes".into(),
            retry_after_secs: 170,
        }))
        .unwrap()
        .unwrap_err();
        let resp = fix.render(maud::html! { "form" });
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "170");
        assert_eq!(resp.headers()["x-portal-message"], "try again in 3 minutes");
        for e in [
            AppError::Unauthorized("u".into()),
            AppError::internal(anyhow::anyhow!("x")),
            AppError::PayloadTooLarge("p".into()),
        ] {
            assert!(form::<()>(Err(e)).is_err());
        }
        assert_eq!(form(Ok(7)).unwrap().unwrap(), 7);
    }

    #[test]
    fn refused_sign_ins_keep_their_status_and_the_rest_go_to_the_shell() {
        for (e, status) in [
            (AppError::Unauthorized("u".into()), StatusCode::UNAUTHORIZED),
            (AppError::Forbidden("f".into()), StatusCode::FORBIDDEN),
        ] {
            let fix = sign_in::<()>(Err(e)).unwrap().unwrap_err();
            let resp = fix.render(maud::html! { "form" });
            assert_eq!(resp.status(), status);
            assert!(!resp.headers().contains_key(header::RETRY_AFTER));
        }
        let fix = sign_in::<()>(Err(AppError::TooManyRequests {
            message: "wait".into(),
            retry_after_secs: 60,
        }))
        .unwrap()
        .unwrap_err();
        let resp = fix.render(maud::html! { "form" });
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "60");
        for e in [AppError::BadRequest("b".into()), AppError::internal(anyhow::anyhow!("x"))] {
            assert!(sign_in::<()>(Err(e)).is_err());
        }
        assert_eq!(sign_in(Ok(7)).unwrap().unwrap(), 7);
    }

    #[test]
    fn html_responses_are_never_stored_and_vary_on_htmx() {
        let mut resp = maud::html! { "x" }.into_response();
        resp.headers_mut().insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        page_headers(&mut resp);
        assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-store");
        let vary: Vec<_> = resp.headers().get_all(header::VARY).iter().collect();
        assert_eq!(vary, ["Accept-Encoding", "HX-Request"]);
        page_headers(&mut resp);
        assert_eq!(resp.headers().get_all(header::VARY).iter().count(), 2, "added once");
        let mut css = "body{}".with_content_type("text/css").into_response();
        page_headers(&mut css);
        assert!(!css.headers().contains_key(header::CACHE_CONTROL));
    }
}
