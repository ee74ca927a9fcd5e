//! The evidence log on the site and bundle pages: the appliance's keys as
//! the log holds them, and the practice verification's progress and
//! result (an htmx fragment that polls only while the job runs).

use maud::{Markup, html};

use crate::db::verifications::Job;
use crate::evidence::proofs::KeyEntry;
use crate::paths;
use crate::views::format::{plural, thousands, when_exact};

/// `SHA256:` and the first 16 bytes of the key's SHA-256, in hex pairs:
/// short enough to read out, long enough to compare.
pub fn fingerprint(key: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(key);
    let pairs: Vec<String> = d[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("SHA256:{}", pairs.join(":"))
}

/// The site's "Evidence log" card: its current keys, their history in
/// the log, and the practice verification.
/// `job` is None when the caller may not verify the practice (an auditor,
/// who verifies an evidence pack instead).
pub fn site_log_card(current_key: &[u8], keys: &[KeyEntry], job: Option<Option<&Job>>) -> Markup {
    html! {
        section.card id="evidence-log" {
            div.card-header { h2.card-title { "Evidence log" } }
            div.card-body.stack-sm {
                p.muted {
                    "Every bundle this site sends is a leaf of your practice's signed evidence log. The log also "
                    "records which appliance key may sign for the site, so a key swapped in the database shows."
                }
                dl.kv {
                    dt { "Appliance key" }
                    dd { span.mono id="key-fingerprint" { (fingerprint(current_key)) } }
                }
                @if keys.is_empty() {
                    p.small.muted { "The log has not recorded this site's keys yet: it does with the site's first evidence." }
                } @else {
                    div.table-wrap tabindex="0" role="region" aria-label="Key history" {
                        table.table id="key-history" {
                            caption.sr-only { "Key history of this site in the evidence log" }
                            thead { tr { th scope="col" { "Logged" } th scope="col" { "Log index" } th scope="col" { "Signing key" } th scope="col" { "Cosigner key" } } }
                            tbody {
                                @for k in keys.iter().rev() {
                                    tr {
                                        td {
                                            (when_exact(k.logged_at))
                                            @if k.backfilled { br; span.small.muted { "backfilled: logged when the log was made" } }
                                        }
                                        td.num { (thousands(k.log_index)) }
                                        td.mono.small { (fingerprint(&k.key)) }
                                        td.mono.small { @match &k.witness { Some(w) => (fingerprint(w)), None => span.muted { "none" } } }
                                    }
                                }
                            }
                        }
                    }
                    @if keys.last().is_some_and(|k| k.key.as_slice() != current_key) {
                        div.alert.alert-error role="alert" {
                            strong { "The site's key in the database is not the last key logged for it." }
                            " It was changed outside the portal. Verify the practice below and tell your IT partner."
                        }
                    }
                }
                @match job {
                    Some(job) => (verification_panel(job)),
                    None => p.small {
                        "To check this site's evidence yourself, without trusting the portal, download an "
                        a href=(paths::AUDIT_PACKS) { "evidence pack" }
                        " and run its verifier."
                    },
                }
            }
        }
    }
}

/// `#log-verification`: the button, or the running job (polling once a
/// second until it ends), or its result.
pub fn verification_panel(job: Option<&Job>) -> Markup {
    let running = job.is_some_and(|j| j.status == "running");
    html! {
        div id="log-verification" aria-live="polite"
            hx-get=[job.filter(|_| running).map(|j| paths::log_verification(j.id))]
            hx-trigger=[running.then_some("load delay:1s")]
            hx-swap=[running.then_some("outerHTML")] {
            p.small.muted {
                "Verifying re-derives every stored row your pages and reports show from the signed bundles, and checks "
                "them, their keys and their chain links against the log's signed checkpoints. It runs in the "
                "background; one at a time for the practice."
            }
            @if !running {
                button.btn.btn-secondary type="button" id="verify-log"
                    hx-post=(paths::LOG_VERIFY) hx-target="#log-verification" hx-swap="outerHTML"
                    hx-disabled-elt="this" {
                    "Verify the practice's evidence"
                }
            }
            @if let Some(j) = job {
                (job_status(j))
            }
        }
    }
}

fn job_status(j: &Job) -> Markup {
    html! {
        @match (j.status.as_str(), j.valid) {
            ("running", _) => {
                div.stack-sm role="status" {
                    label for="log-progress" { "Verifying: " (thousands(j.done)) " of " (plural(j.total, "leaf", "leaves")) }
                    progress id="log-progress" max=(j.total.max(1)) value=(j.done) {}
                }
            }
            ("done", Some(true)) => {
                div.alert.alert-success id="log-verified" role="status" {
                    strong { "Verified: " (plural(j.size, "leaf", "leaves")) " of the evidence log" }
                    ", every row re-derived from the signed bundles and matching, every signature, key, chain link and "
                    "signed checkpoint checked. Finished " (when_exact(j.finished_at.unwrap_or(j.started_at))) "."
                }
            }
            ("done", _) => {
                div.alert.alert-error id="log-problems" role="alert" {
                    strong { (plural(j.problem_count, "problem", "problems")) " found in " (plural(j.size, "leaf", "leaves")) "." }
                    " Stored evidence no longer matches what was signed and logged. Keep this page and tell your IT partner and auditor."
                    ul.small {
                        @for p in j.problems.iter().take(20) {
                            li {
                                @if let Some(i) = p.log_index { "Leaf " (i) ": " }
                                @if let (Some(b), Some(site)) = (&p.bundle_id, p.site_id) {
                                    a href=(paths::site_bundle(b, site)) { (b) } " "
                                }
                                @if let Some(pos) = p.position { "(position " (pos) ") " }
                                (p.reason)
                            }
                        }
                    }
                    @if j.problem_count > 20 { p.small { "The first 20 are shown; GET /api/client/log/verify/" (j.id) " lists up to 1,000." } }
                }
            }
            _ => {
                div.alert.alert-error role="alert" {
                    strong { "The verification did not finish." }
                    " " (j.error.as_deref().unwrap_or("Start it again."))
                }
            }
        }
    }
}
