//! HTML pages: full pages for normal requests, fragments for htmx ones.
//! Handlers are named `view_<thing>_<method>`.

pub mod audit;
pub mod auditors;
pub mod auth;
pub mod dashboard;
pub mod dev_mailbox;
pub mod evidence;
pub mod filters;
pub mod log;
pub mod notifications;
pub mod packs;
pub mod reports;
pub mod respond;
pub mod security;
pub mod settings;
pub mod site;
pub mod todo;
pub mod transfer;
pub mod users;

use poem::handler;
use poem::web::Redirect;

use crate::paths;

/// Only same-site paths are allowed as a post-sign-in destination, so a
/// crafted link cannot bounce a user to another site.
pub fn safe_next(next: Option<&str>) -> Option<&str> {
    next.filter(|n| {
        n.starts_with('/')
            && !n.starts_with("//")
            && !n.starts_with("/\\")
            && n.len() <= 512
            // It becomes a Location header: visible ASCII only.
            && n.bytes().all(|b| b.is_ascii_graphic())
    })
}

#[handler]
pub fn view_root_get() -> Redirect {
    Redirect::see_other(paths::DASHBOARD)
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_accepted_as_next() {
        assert_eq!(safe_next(Some("/client/evidence?site=1")), Some("/client/evidence?site=1"));
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "evil",
            "/a\nb",
            "/caf\u{e9}",
            "/a b",
        ] {
            assert_eq!(safe_next(Some(bad)), None, "{bad}");
        }
    }
}
