//! What the filterable lists (evidence, audit log) share: reading form
//! values into filters with every problem reported in words, and the
//! answer when they cannot be used.

use chrono::{DateTime, Days, NaiveDate, Utc};

use maud::{Markup, html};
use poem::Request;
use poem::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::db::cursor::{Cursor, RowId};
use crate::error::{AppError, AppResult};
use crate::views::filters::FieldError;

/// Quotes a bit of user input inside a message, shortened.
pub fn quoted(raw: &str) -> String {
    let mut short: String = raw.chars().take(40).collect();
    if raw.chars().count() > 40 {
        short.push('…');
    }
    format!("\u{201c}{short}\u{201d}")
}

/// The value of a parsed field, noting its error instead.
pub fn keep<T>(errors: &mut Vec<FieldError>, parsed: Result<Option<T>, FieldError>) -> Option<T> {
    parsed.unwrap_or_else(|e| {
        errors.push(e);
        None
    })
}

/// A `YYYY-MM-DD` field (empty = not set).
pub fn date_field(
    field: &'static str,
    label: &str,
    raw: &str,
) -> Result<Option<NaiveDate>, FieldError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .filter(|d| (1..=9999).contains(&chrono::Datelike::year(d)) && raw.len() == 10)
        .map(Some)
        .ok_or_else(|| FieldError {
            field,
            message: format!(
                "{label} {} is not a date; use YYYY-MM-DD, e.g. 2026-11-24.",
                quoted(raw)
            ),
        })
}

/// The page size field: empty is `default`; anything but a whole number
/// from 1 to `max` is an error (and the default).
pub fn page_size(errors: &mut Vec<FieldError>, raw: &str, default: u32, max: u32) -> u32 {
    match raw.trim() {
        "" => default,
        raw => match raw.parse::<u32>().ok().filter(|n| (1..=max).contains(n)) {
            Some(n) => n,
            None => {
                errors.push(FieldError {
                    field: "limit",
                    message: format!(
                        "Page size {} must be a whole number from 1 to {max}.",
                        quoted(raw)
                    ),
                });
                default
            }
        },
    }
}

/// A "Load more" link's cursor (None: the first page). One that cannot be
/// read is an error that asks to reload `list` ("the log", "the list").
pub fn load_more_cursor<I: RowId>(
    errors: &mut Vec<FieldError>,
    raw: Option<&str>,
    list: &str,
) -> Option<Cursor<I>> {
    let raw = raw?;
    let cursor = Cursor::decode(raw);
    if cursor.is_none() {
        errors.push(FieldError {
            field: "cursor",
            message: format!(
                "This \u{201c}Load more\u{201d} link is not valid; reload {list} and try again."
            ),
        });
    }
    cursor
}

/// The From and To dates as whole UTC days: from the start of `from` up to
/// (not including) the start of the day after `to`. A From after the To is
/// an error on the To field.
pub fn day_range(
    errors: &mut Vec<FieldError>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        errors.push(FieldError {
            field: "to",
            message: format!("The From date ({from}) is after the To date ({to})."),
        });
    }
    let start_of = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    (from.and_then(start_of), to.and_then(|d| d.checked_add_days(Days::new(1))).and_then(start_of))
}

/// A list page's query string; one that cannot be read at all is a 400.
/// `known` are the parameters the page understands: any other is a 400
/// naming them (a mistyped `site=` must not silently show every site).
pub fn read_query<T: DeserializeOwned>(req: &Request, known: &[&str]) -> AppResult<T> {
    let query = req.uri().query().unwrap_or("");
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).map_err(|e| {
        AppError::BadRequest(format!("the filters in the address cannot be read: {e}"))
    })?;
    if let Some((key, _)) = pairs.iter().find(|(k, _)| !known.contains(&k.as_str())) {
        return Err(AppError::BadRequest(format!(
            "{key:?} is not a filter of this page; the filters are {}",
            known.join(", ")
        )));
    }
    serde_urlencoded::from_str(query).map_err(|e| {
        AppError::BadRequest(format!("the filters in the address cannot be read: {e}"))
    })
}

/// 200 for usable filters; otherwise 400 with every problem in one message
/// (for htmx's toast; the page itself lists them).
pub fn outcome<T>(parsed: &Result<T, Vec<FieldError>>) -> (StatusCode, Option<String>) {
    match parsed {
        Ok(_) => (StatusCode::OK, None),
        Err(errors) => (
            StatusCode::BAD_REQUEST,
            Some(errors.iter().map(|e| e.message.as_str()).collect::<Vec<_>>().join(" ")),
        ),
    }
}

/// What a "Load more" request gets when its filters cannot be used.
pub fn load_more_failed(message: Option<&str>) -> Markup {
    html! { div.alert.alert-error role="alert" { (message.unwrap_or_default()) } }
}
