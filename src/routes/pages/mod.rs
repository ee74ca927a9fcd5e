//! HTML pages: full pages for normal requests, fragments for htmx ones.

use maud::Markup;
use poem::web::{Query, Redirect};
use poem::{IntoResponse, Response, handler};
use serde::Deserialize;

use crate::views;

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// Only same-site paths are allowed as a post-sign-in destination, so a
/// crafted link cannot bounce a user to another site.
pub fn safe_next(next: Option<&str>) -> Option<&str> {
    next.filter(|n| {
        n.starts_with('/')
            && !n.starts_with("//")
            && !n.starts_with("/\\")
            && n.len() <= 512
            && !n.chars().any(|c| c.is_control())
    })
}

#[handler]
pub fn view_root_get() -> Redirect {
    Redirect::see_other("/client/login")
}

#[handler]
pub fn view_login_get(Query(q): Query<LoginQuery>) -> Response {
    let page: Markup = views::login::login_page(safe_next(q.next.as_deref()));
    page.with_header("cache-control", "no-store")
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_accepted_as_next() {
        assert_eq!(
            safe_next(Some("/client/evidence?site=1")),
            Some("/client/evidence?site=1")
        );
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "evil",
            "/a\nb",
        ] {
            assert_eq!(safe_next(Some(bad)), None, "{bad}");
        }
    }
}
