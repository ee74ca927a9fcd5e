//! Markup of the users page's auditors section: the grant form and every
//! grant with its state, end and scope, and the forms to extend or revoke
//! it (`#auditors`, replaced whole by htmx after each).

use chrono::Utc;
use maud::{Markup, html};

use crate::db::auditors::{Grant, GrantStatus};
use crate::paths;

/// What the grant form holds (kept after a refusal).
#[derive(Debug, Clone, Default)]
pub struct GrantFormValues {
    pub email: String,
    pub name: String,
    pub firm: String,
    pub days: String,
    pub from: String,
    pub to: String,
}

/// What the section shows.
pub struct AuditorsData<'a> {
    pub csrf_token: &'a str,
    pub grants: &'a [Grant],
    pub form: GrantFormValues,
    pub error: Option<&'a str>,
    pub notice: Option<&'a str>,
}

fn scope(g: &Grant) -> String {
    let sites = match &g.site_ids {
        None => "every site".to_owned(),
        Some(s) => format!("{} site(s)", s.len()),
    };
    let period = match (g.period_from, g.period_to) {
        (None, None) => "all evidence".to_owned(),
        (Some(f), None) => format!("evidence from {f}"),
        (None, Some(t)) => format!("evidence up to {t}"),
        (Some(f), Some(t)) => format!("evidence {f} to {t}"),
    };
    format!("{sites}, {period}")
}

/// `#auditors`.
pub fn auditors_section(d: &AuditorsData<'_>) -> Markup {
    let now = Utc::now();
    html! {
        section.card id="auditors" {
            div.card-header { h2.card-title { "Auditors" } }
            div.card-body.stack-sm {
                p.muted {
                    "Give an outside auditor read-only access until a date. They get an invitation by email, "
                    "then read the dashboard, sites, evidence and its proofs, monthly reports and the audit log, "
                    "and build evidence packs; they change nothing. When the access ends or you revoke it, they "
                    "are signed out at once. Everything they open is in the audit log. A grant made with the API "
                    "can be limited to some sites and a period of evidence (the dashboard then shows those "
                    "sites' current status). "
                    a href=(paths::AUDIT_PACKS) { "Build an evidence pack" } " to hand over yourself."
                }
                @if let Some(n) = d.notice { div.alert.alert-success role="status" { (n) } }
                form.form-row method="post" action=(paths::AUDITORS)
                    hx-post=(paths::AUDITORS) hx-target="#auditors" hx-swap="outerHTML" hx-disabled-elt="find button" {
                    input type="hidden" name="csrf_token" value=(d.csrf_token);
                    div.field {
                        label for="grant-email" { "Email" }
                        input id="grant-email" type="email" name="email" required maxlength="254" value=(d.form.email)
                            aria-describedby=[d.error.map(|_| "grant-error")];
                    }
                    div.field {
                        label for="grant-name" { "Name" }
                        input id="grant-name" type="text" name="name" required maxlength="100" value=(d.form.name);
                    }
                    div.field {
                        label for="grant-firm" { "Firm" }
                        input id="grant-firm" type="text" name="firm" required maxlength="100" value=(d.form.firm);
                    }
                    div.field {
                        label for="grant-days" { "Days" }
                        input id="grant-days" type="number" name="days" min="1" max="365"
                            value=(if d.form.days.is_empty() { "30" } else { &d.form.days });
                    }
                    div.field {
                        label for="grant-from" { "Evidence from " span.muted { "(optional)" } }
                        input id="grant-from" type="date" name="from" value=(d.form.from);
                    }
                    div.field {
                        label for="grant-to" { "to " span.muted { "(optional)" } }
                        input id="grant-to" type="date" name="to" value=(d.form.to);
                    }
                    div.field {
                        label aria-hidden="true" { "\u{a0}" }
                        button.btn.btn-primary type="submit" { "Grant access" }
                    }
                }
                @if let Some(e) = d.error { p.field-error id="grant-error" role="alert" { (e) } }
                @if !d.grants.is_empty() {
                    div.table-wrap tabindex="0" role="region" aria-label="Auditor access" {
                        table.table id="grant-list" {
                            caption.sr-only { "Auditor access, newest first" }
                            thead { tr {
                                th scope="col" { "Auditor" } th scope="col" { "Access" }
                                th scope="col" { "Until" } th scope="col" { span.sr-only { "Actions" } }
                            } }
                            tbody {
                                @for g in d.grants {
                                    @let status = GrantStatus::of(g, now);
                                    tr id=(format!("grant-{}", g.id)) {
                                        td { (g.name) ", " (g.firm) br; span.small.muted { (g.email) } }
                                        td {
                                            @match status {
                                                GrantStatus::Invited => span.badge.badge-amber { "invited" },
                                                GrantStatus::Active => span.badge.badge-green { "active" },
                                                GrantStatus::Expired => span.badge.badge-gray { "expired" },
                                                GrantStatus::Revoked => span.badge.badge-gray { "revoked" },
                                            }
                                            br; span.small.muted { (scope(g)) }
                                        }
                                        td { (super::format::when(g.expires_at)) }
                                        td {
                                            @if matches!(status, GrantStatus::Invited | GrantStatus::Active) {
                                                form.inline method="post" action=(paths::auditor_extend(g.id))
                                                    hx-post=(paths::auditor_extend(g.id)) hx-target="#auditors" hx-swap="outerHTML" {
                                                    input type="hidden" name="csrf_token" value=(d.csrf_token);
                                                    input type="hidden" name="days" value="30";
                                                    button.btn-link type="submit" { "Extend to 30 days from now" span.sr-only { " for " (g.email) } }
                                                }
                                                form.inline method="post" action=(paths::auditor_revoke(g.id))
                                                    hx-post=(paths::auditor_revoke(g.id)) hx-target="#auditors" hx-swap="outerHTML"
                                                    hx-confirm=(format!("Revoke {}'s access now? They are signed out at once.", g.email)) {
                                                    input type="hidden" name="csrf_token" value=(d.csrf_token);
                                                    button.btn-link type="submit" { "Revoke" span.sr-only { " " (g.email) } }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
