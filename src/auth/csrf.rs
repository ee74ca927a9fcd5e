//! Cross-site request forgery defences for cookie-authenticated requests:
//! the browser's own Sec-Fetch-Site, else the Origin header, plus the
//! session's CSRF token in `X-CSRF-Token` (or a `csrf_token` form field).

use poem::Request;
use poem::http::Method;

use crate::config::Config;
use crate::error::{AppError, AppResult};

pub const HEADER: &str = "x-csrf-token";
pub const FORM_FIELD: &str = "csrf_token";

/// Methods that may change state.
pub fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// `scheme://host[:port]` of the base URL.
fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
}

/// Refuses requests a browser made on behalf of another site. Clients that
/// send neither Sec-Fetch-Site nor Origin (scripts, curl) pass this check.
pub fn check_origin(req: &Request, config: &Config) -> AppResult<()> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    match header("sec-fetch-site") {
        Some("same-origin") | Some("none") => return Ok(()),
        Some("same-site") if config.csrf_allow_same_site => return Ok(()),
        Some("same-site") => {
            return Err(AppError::Forbidden(
                "request refused: it came from another site on the same domain (Sec-Fetch-Site: same-site)".into(),
            ));
        }
        Some("cross-site") => {
            return Err(AppError::Forbidden(
                "request refused: it came from another website (Sec-Fetch-Site: cross-site). Use the portal's own pages."
                    .into(),
            ));
        }
        _ => {}
    }
    match header("origin") {
        None => Ok(()),
        Some(origin) if origin.eq_ignore_ascii_case(origin_of(&config.base_url)) => Ok(()),
        Some(origin) => Err(AppError::Forbidden(format!(
            "request refused: Origin {origin} is not this portal ({})",
            origin_of(&config.base_url)
        ))),
    }
}

/// For GETs with side effects (downloads, which write audit rows, and
/// exports): refuses a browser request another site started
/// (`Sec-Fetch-Site: cross-site` or `same-site`), so a link or an image
/// elsewhere cannot make a signed-in user's browser run them. A download
/// opened from the portal's own page, typed or bookmarked (`same-origin`,
/// `none`) and requests from scripts (no header) pass.
pub fn refuse_cross_site(req: &Request) -> AppResult<()> {
    if is_cross_site(req) {
        return Err(AppError::Forbidden(
            "this download must be started from the portal's own pages (the request came from \
             another site); open the portal and download it there"
                .into(),
        ));
    }
    Ok(())
}

/// Whether a browser says another site started this request
/// (`Sec-Fetch-Site: cross-site` or `same-site`); see [`refuse_cross_site`].
pub fn is_cross_site(req: &Request) -> bool {
    matches!(
        req.headers().get("sec-fetch-site").and_then(|v| v.to_str().ok()),
        Some("cross-site" | "same-site")
    )
}

/// Compares the presented token with the session's in constant time.
pub fn check_token(presented: Option<&str>, expected: &str) -> AppResult<()> {
    let Some(presented) = presented.filter(|p| !p.is_empty()) else {
        return Err(AppError::Forbidden(
            "missing CSRF token: send the X-CSRF-Token header (its value is csrf_token from GET /api/client/auth/me)"
                .into(),
        ));
    };
    let (a, b) = (presented.as_bytes(), expected.as_bytes());
    let same = a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0;
    if same {
        Ok(())
    } else {
        Err(AppError::Forbidden("invalid CSRF token: reload the page and try again".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_origin_is_the_base_url_without_its_path() {
        assert_eq!(origin_of("https://portal.example.com"), "https://portal.example.com");
        assert_eq!(origin_of("http://127.0.0.1:8080/base"), "http://127.0.0.1:8080");
    }

    #[test]
    fn tokens_must_match_exactly() {
        assert!(check_token(Some("abc"), "abc").is_ok());
        assert!(check_token(Some("abd"), "abc").is_err());
        assert!(check_token(Some("ab"), "abc").is_err());
        assert!(check_token(None, "abc").is_err());
        assert!(check_token(Some(""), "abc").is_err());
    }
}
