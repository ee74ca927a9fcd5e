//! What the filterable lists (evidence, audit log) share: their URLs, the
//! date fields and the explanation of filters that cannot be used.

use maud::{Markup, html};

/// The non-empty of a form's `(name, value)` pairs, in form order.
pub fn non_empty<'a>(
    pairs: impl IntoIterator<Item = (&'static str, &'a str)>,
) -> Vec<(&'static str, &'a str)> {
    pairs.into_iter().filter(|(_, v)| !v.trim().is_empty()).collect()
}

/// Whether any filter narrows the list (the page size does not).
pub fn narrows(pairs: &[(&str, &str)]) -> bool {
    pairs.iter().any(|(k, _)| *k != "limit")
}

/// `path?…` with the filters and, for the next page, a cursor; `path`
/// alone when there are none.
pub fn list_url<'a>(
    path: &str,
    mut pairs: Vec<(&str, &'a str)>,
    cursor: Option<&'a str>,
) -> String {
    if let Some(cursor) = cursor {
        pairs.push(("cursor", cursor));
    }
    if pairs.is_empty() {
        return path.to_owned();
    }
    // Encoding string pairs cannot fail; fall back to no filters anyway.
    format!("{path}?{}", serde_urlencoded::to_string(&pairs).unwrap_or_default())
}

/// A filter value that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The form field's name.
    pub field: &'static str,
    pub message: String,
}

/// Whether `field` has an error (for `aria-invalid`).
pub fn invalid(errors: &[FieldError], field: &str) -> bool {
    errors.iter().any(|e| e.field == field)
}

/// When a filter form applies itself: on submit (Enter in any field, or
/// the button), when a select changes ([`SELECT_TRIGGER`]), and when typing
/// in a date or text field pauses for 800 ms ([`TYPED_TRIGGER`]), so a date
/// typed digit by digit is not sent as year 0002. Each field asks with the
/// whole form (`hx-include="closest form"`, which htmx sends once); the
/// server answers with the address to show (`HX-Push-Url`: one history
/// entry per filter applied, empty fields left out).
pub const FORM_TRIGGER: &str = "submit";
pub const SELECT_TRIGGER: &str = "change";
pub const TYPED_TRIGGER: &str = "input changed delay:800ms";

/// The From and To date inputs of a filter form.
pub fn date_fields(path: &str, from: &str, to: &str, errors: &[FieldError]) -> Markup {
    html! {
        div.field {
            label for="f-from" { "From" }
            input id="f-from" type="date"
                hx-get=(path) hx-include="closest form" hx-trigger=(TYPED_TRIGGER) name="from" value=(from)
                aria-invalid=[invalid(errors, "from").then_some("true")];
        }
        div.field {
            label for="f-to" { "To" }
            input id="f-to" type="date"
                hx-get=(path) hx-include="closest form" hx-trigger=(TYPED_TRIGGER) name="to" value=(to)
                aria-invalid=[invalid(errors, "to").then_some("true")];
        }
    }
}

/// Why the filters cannot be used, with a way out (`clear_href`).
pub fn filter_errors(errors: &[FieldError], clear_href: &str) -> Markup {
    html! {
        div.card-body {
            div.alert.alert-error role="alert" id="filter-errors" {
                strong { "These filters cannot be used:" }
                ul.error-list {
                    @for e in errors.iter() { li { (e.message) } }
                }
                "Correct them above, or " a href=(clear_href) { "clear all filters" } "."
            }
        }
    }
}
