//! Markup the filterable lists (evidence, audit log) share: the date
//! fields and the explanation of filters that cannot be used.

use maud::{Markup, html};

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

/// The From and To date inputs of a filter form.
pub fn date_fields(from: &str, to: &str, errors: &[FieldError]) -> Markup {
    html! {
        div.field {
            label for="f-from" { "From" }
            input id="f-from" type="date" name="from" value=(from)
                aria-invalid=[invalid(errors, "from").then_some("true")];
        }
        div.field {
            label for="f-to" { "To" }
            input id="f-to" type="date" name="to" value=(to)
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
