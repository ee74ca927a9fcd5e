//! Markup of the evidence-packs page: the form that asks for a pack, the
//! owner's full export, and the packs with their progress (a row polls
//! itself every two seconds only while its pack builds).

use maud::{Markup, html};
use uuid::Uuid;

use crate::db::packs::Pack;
use crate::packs::{Status, failure};
use crate::paths;
use crate::views::format::{thousands, when_exact};
use crate::views::layout::{NavUser, Section, page};

/// What the form holds (kept after a refusal).
#[derive(Debug, Clone, Default)]
pub struct PackForm {
    pub from: String,
    pub to: String,
    pub site_ids: Vec<Uuid>,
}

/// Everything the page shows.
pub struct PacksData<'a> {
    pub csrf_token: &'a str,
    pub sites: &'a [(Uuid, String)],
    pub packs: &'a [Pack],
    pub can_export: bool,
    pub form: PackForm,
    pub error: Option<&'a str>,
}

fn size(bytes: i64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / (1 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.0} KB", b as f64 / 1024.0),
        b => format!("{b} bytes"),
    }
}

/// One pack's row; polls itself while the pack builds.
pub fn pack_row(p: &Pack) -> Markup {
    let status = Status::of(p);
    let building = status == Status::Building;
    let what = match (p.period_from, p.period_to) {
        (Some(f), Some(t)) => format!("{f} to {t}"),
        _ => "Whole history (full export)".to_owned(),
    };
    html! {
        tr id=(format!("pack-{}", p.id))
            hx-get=[building.then(|| paths::audit_pack(p.id))]
            hx-trigger=[building.then_some("load delay:2s")]
            hx-swap=[building.then_some("outerHTML")] {
            td { (what) @if p.site_ids.is_some() { br; span.small.muted { (p.site_ids.as_ref().map_or(0, Vec::len)) " site(s)" } } }
            td { (when_exact(p.created_at)) }
            td aria-live="polite" {
                @match status {
                    Status::Building => {
                        label.small for=(format!("progress-{}", p.id)) { "Building: " (thousands(p.done)) " of " (thousands(p.total)) " bundles" }
                        br;
                        progress id=(format!("progress-{}", p.id)) max=(p.total.max(1)) value=(p.done) {}
                    }
                    Status::Ready => {
                        a.btn.btn-secondary href=(paths::audit_pack_download(p.id)) download {
                            "Download ZIP" span.sr-only { " of " (what) }
                        }
                        br;
                        span.small.muted {
                            (thousands(p.bundles.unwrap_or_default())) " bundles, " (size(p.bytes.unwrap_or_default()))
                            ". Kept until " (when_exact(p.expires_at)) "."
                        }
                        br;
                        span.small.mono { "SHA-256 " (p.sha256.as_deref().map(hex::encode).unwrap_or_default()) }
                    }
                    Status::Failed => {
                        span.field-error { "Failed: " (failure(p).unwrap_or_default()) }
                    }
                    Status::Expired => { span.muted { "Expired: ask for a new pack." } }
                }
            }
        }
    }
}

/// `#packs`: the form and the list.
pub fn packs_section(d: &PacksData<'_>) -> Markup {
    html! {
        section.card id="packs" {
            div.card-header { h2.card-title { "Ask for an evidence pack" } }
            div.card-body.stack-sm {
                p.muted {
                    "A ZIP of the evidence checked in a period: every bundle exactly as the appliance signed it, "
                    "proofs that each is in your practice's signed evidence log, the monthly reports, and a "
                    "README with a verify.sh script, so an auditor can check it offline with openssl, without "
                    "trusting OsirisCare. Packs are built in the background, one at a time, and kept 7 days."
                }
                form.form-row method="post" action=(paths::AUDIT_PACKS)
                    hx-post=(paths::AUDIT_PACKS) hx-target="#packs" hx-swap="outerHTML" hx-disabled-elt="find button" {
                    input type="hidden" name="csrf_token" value=(d.csrf_token);
                    div.field {
                        label for="pack-from" { "From" }
                        input id="pack-from" type="date" name="from" required value=(d.form.from)
                            aria-describedby=[d.error.map(|_| "pack-error")];
                    }
                    div.field {
                        label for="pack-to" { "To" }
                        input id="pack-to" type="date" name="to" required value=(d.form.to);
                    }
                    @if d.sites.len() > 1 {
                        fieldset.field {
                            legend { "Sites " span.muted { "(none ticked: every site)" } }
                            @for (id, name) in d.sites {
                                label.checkbox {
                                    input type="checkbox" name="site_id" value=(id) checked[d.form.site_ids.contains(id)];
                                    " " (name)
                                }
                            }
                        }
                    }
                    div.field {
                        label aria-hidden="true" { "\u{a0}" }
                        button.btn.btn-primary type="submit" { "Build the pack" }
                    }
                }
                @if let Some(e) = d.error {
                    p.field-error id="pack-error" role="alert" { (e) }
                }
                @if d.can_export {
                    form method="post" action=(paths::EXPORT)
                        hx-post=(paths::EXPORT) hx-target="#packs" hx-swap="outerHTML" hx-disabled-elt="find button" {
                        input type="hidden" name="csrf_token" value=(d.csrf_token);
                        p.small.muted {
                            "Leaving or changing partner? Export the whole history: every bundle, the log's proofs, "
                            "every report and the audit log, in the same verifiable form."
                        }
                        button.btn.btn-secondary type="submit" { "Export everything" }
                    }
                }
                @if d.packs.is_empty() {
                    p.muted id="no-packs" { "No packs yet." }
                } @else {
                    div.table-wrap tabindex="0" role="region" aria-label="Evidence packs" {
                        table.table id="pack-list" {
                            caption.sr-only { "Your evidence packs, newest first" }
                            thead { tr { th scope="col" { "Evidence" } th scope="col" { "Asked for" } th scope="col" { "Status" } } }
                            tbody { @for p in d.packs { (pack_row(p)) } }
                        }
                    }
                }
            }
        }
    }
}

pub fn packs_page(user: &NavUser<'_>, d: &PacksData<'_>) -> Markup {
    page(
        "Evidence packs",
        Some(user),
        Section::Packs,
        html! {
            h1 { "Evidence packs" }
            (packs_section(d))
        },
    )
}
