//! The practice's time zone: pages, the PDF and emails show times in it,
//! named ("2026-11-24 02:00 PST"); stored times and the API stay UTC.
//!
//! The owner sets it (an IANA name, `PUT /api/client/org/settings`); until
//! then it is the zone of the practice's US state when known, else UTC.
//! Rendering code does not pass it around: each request runs in a
//! [`scope`], and the request's signed-in user sets their practice's zone
//! there ([`set`]); [`current`] reads it (UTC outside a request, or before
//! anyone signed in). Background work (reports, scheduled mail) renders
//! inside [`scope_with`] for the practice it is about.

use std::cell::Cell;

use chrono::{DateTime, Utc};
pub use chrono_tz::Tz;

tokio::task_local! {
    static CURRENT: Cell<Tz>;
}

/// Runs `fut` with its own zone, UTC until [`set`].
pub async fn scope<F: std::future::Future>(fut: F) -> F::Output {
    CURRENT.scope(Cell::new(Tz::UTC), fut).await
}

/// Runs `fut` in `tz`.
pub async fn scope_with<F: std::future::Future>(tz: Tz, fut: F) -> F::Output {
    CURRENT.scope(Cell::new(tz), fut).await
}

/// Runs `f` in `tz` (for synchronous rendering, such as the PDF).
pub fn sync_scope_with<R>(tz: Tz, f: impl FnOnce() -> R) -> R {
    CURRENT.sync_scope(Cell::new(tz), f)
}

/// Sets the zone of the running [`scope`] (nothing outside one).
pub fn set(tz: Tz) {
    let _ = CURRENT.try_with(|c| c.set(tz));
}

/// The zone times are shown in now.
pub fn current() -> Tz {
    CURRENT.try_with(Cell::get).unwrap_or(Tz::UTC)
}

/// `t` in the current zone.
pub fn local(t: DateTime<Utc>) -> DateTime<Tz> {
    t.with_timezone(&current())
}

/// An IANA zone name, as the owner typed it; None when it names no zone.
pub fn parse(name: &str) -> Option<Tz> {
    name.trim().parse::<Tz>().ok()
}

/// The zone of a US state (two letters) where the state has one main zone
/// (or one most of its people live in).
pub fn of_state(state: &str) -> Option<Tz> {
    use chrono_tz::America as A;
    use chrono_tz::Pacific as P;
    let tz = match state {
        "CT" | "DE" | "DC" | "FL" | "GA" | "IN" | "ME" | "MD" | "MA" | "MI" | "NH" | "NJ"
        | "NY" | "NC" | "OH" | "PA" | "RI" | "SC" | "VT" | "VA" | "WV" | "KY" => A::New_York,
        "AL" | "AR" | "IL" | "IA" | "KS" | "LA" | "MN" | "MS" | "MO" | "NE" | "ND" | "OK"
        | "SD" | "TN" | "TX" | "WI" => A::Chicago,
        "CO" | "ID" | "MT" | "NM" | "UT" | "WY" => A::Denver,
        "AZ" => A::Phoenix,
        "CA" | "NV" | "OR" | "WA" => A::Los_Angeles,
        "AK" => A::Anchorage,
        "HI" => P::Honolulu,
        "PR" => A::Puerto_Rico,
        _ => return None,
    };
    Some(tz)
}

/// Where a practice's zone comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The owner chose it.
    Set,
    /// The zone of the practice's state.
    State,
    /// Nothing known: UTC.
    Default,
}

/// The zone a practice's times are shown in, and why.
pub fn effective(time_zone: Option<&str>, state: Option<&str>) -> (Tz, Source) {
    if let Some(tz) = time_zone.and_then(parse) {
        return (tz, Source::Set);
    }
    match state.and_then(of_state) {
        Some(tz) => (tz, Source::State),
        None => (Tz::UTC, Source::Default),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owners_choice_then_the_state_then_utc() {
        assert_eq!(
            effective(Some("Europe/Berlin"), Some("WA")),
            (chrono_tz::Europe::Berlin, Source::Set)
        );
        assert_eq!(effective(None, Some("WA")), (chrono_tz::America::Los_Angeles, Source::State));
        assert_eq!(effective(Some("Mars/Olympus"), None), (Tz::UTC, Source::Default));
        assert_eq!(effective(None, Some("ZZ")), (Tz::UTC, Source::Default));
        assert_eq!(parse(" America/New_York "), Some(chrono_tz::America::New_York));
        assert_eq!(parse("EST5EDT").map(|t| t.name()), Some("EST5EDT"));
        assert_eq!(parse("Not/AZone"), None);
    }

    #[tokio::test]
    async fn a_scope_keeps_its_zone_and_outside_it_is_utc() {
        assert_eq!(current(), Tz::UTC);
        scope(async {
            assert_eq!(current(), Tz::UTC);
            set(chrono_tz::America::Chicago);
            tokio::task::yield_now().await;
            assert_eq!(current(), chrono_tz::America::Chicago);
        })
        .await;
        assert_eq!(current(), Tz::UTC);
        set(chrono_tz::Asia::Tokyo);
        assert_eq!(current(), Tz::UTC, "no scope, nothing set");
    }
}
