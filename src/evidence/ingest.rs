//! Receiving a bundle from an appliance: check its format and signature,
//! append it to its site's chain (serialized per site), record its checks,
//! and raise notifications for checks that changed state.

use std::collections::HashMap;

use chrono::Utc;
use uuid::Uuid;

use super::bundle::{self, Bundle, CheckStatus};
use super::chain;
use super::controls::check_label;
use crate::db::evidence::{self as store, NewBundle};
use crate::db::notifications::{self, NewNotification, Severity};
use crate::db::outbox::{self, NewMail};
use crate::error::{AppError, AppResult};
use crate::evidence::remediation::{Remediation, remediation};
use crate::paths;
use crate::state::AppState;
use crate::views::emails;
use crate::views::format::thousands;

/// What the appliance gets back: where its bundle sits in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// False when this exact bundle had been received before.
    pub created: bool,
    pub bundle_id: String,
    pub site_id: Uuid,
    pub chain_position: i64,
    pub bundle_hash: [u8; 32],
    pub chain_hash: [u8; 32],
    /// Its index in the practice's evidence log, and the log's origin.
    pub log_index: i64,
    pub log_origin: String,
}

/// The one answer to a bundle that is not proven to come from a registered
/// site: an unknown site id and a bad signature read the same, so an
/// unauthenticated caller cannot learn which site ids exist.
pub const NOT_AUTHENTICATED: &str = "the signature does not verify with the appliance key \
     registered for this bundle's site_id (or no such site is registered); check the appliance's \
     key and the site_id it was enrolled with";

/// The site of a signed bundle, or [`NOT_AUTHENTICATED`]. An unknown site
/// still costs one signature check, so timing tells nothing either.
pub(crate) async fn authenticate(
    db: &impl tokio_postgres::GenericClient,
    site_id: uuid::Uuid,
    raw: &[u8],
    signature: &ed25519_dalek::Signature,
) -> AppResult<store::SiteKey> {
    let site = store::site_key(db, site_id).await?;
    let key = site.as_ref().map_or([0x5a; 32], |s| s.public_key);
    let verified = chain::verify_signature(&key, raw, signature).is_ok();
    match site {
        Some(site) if verified => Ok(site),
        _ => Err(AppError::Unauthorized(NOT_AUTHENTICATED.into())),
    }
}

/// Ingests one bundle: `raw` are the exact bytes received and `signature`
/// the `X-Agent-Signature` header. Nothing is stored unless every check
/// passes; the same bundle sent again answers with the original receipt.
pub async fn ingest(state: &AppState, raw: &[u8], signature: &str) -> AppResult<Receipt> {
    ingest_with(state, raw, signature, true).await
}

/// [`ingest`] without the evidence log, for the benchmark that measures
/// what the log costs (`scripts/bench-log`). Never used to serve.
#[doc(hidden)]
pub async fn ingest_unlogged_for_benchmark(
    state: &AppState,
    raw: &[u8],
    signature: &str,
) -> AppResult<Receipt> {
    ingest_with(state, raw, signature, false).await
}

async fn ingest_with(
    state: &AppState,
    raw: &[u8],
    signature: &str,
    log: bool,
) -> AppResult<Receipt> {
    if raw.len() > bundle::MAX_BUNDLE_BYTES {
        return Err(AppError::PayloadTooLarge(format!(
            "a bundle may be at most {} bytes; this one is {}",
            bundle::MAX_BUNDLE_BYTES,
            raw.len()
        )));
    }
    // Only the site id is read before the signature is checked: nothing else
    // of an unauthenticated body is processed.
    let site_id = bundle::site_id_of(raw).map_err(|e| AppError::BadRequest(e.to_string()))?;
    let signature =
        chain::parse_signature(signature).map_err(|e| AppError::Unauthorized(e.to_string()))?;
    let mut db = state.pool().get().await?;
    let site = authenticate(&**db, site_id, raw, &signature).await?;
    if !site.org_active {
        return Err(AppError::Forbidden(
            "this site's practice is not active, so its evidence is not accepted; the bundle was \
             not stored (keep it and contact OsirisCare)"
                .into(),
        ));
    }
    state.ingest_limits().check_site(site.site_id)?;
    let parsed = bundle::parse(raw, Utc::now()).map_err(|e| {
        if e.beyond_schema() {
            AppError::Unprocessable(e.to_string())
        } else {
            AppError::BadRequest(e.to_string())
        }
    })?;
    if !parsed.format_warnings.is_empty() {
        // Stored all the same (signed evidence); the bundle page shows it.
        tracing::warn!(
            bundle_id = %parsed.bundle_id,
            site_id = %site.site_id,
            warnings = ?parsed.format_warnings,
            "bundle summary disagrees with its checks"
        );
    }

    let bundle_hash = chain::bundle_hash(raw);
    let tx = db.transaction().await?;
    // Statements joined below are sent together (tokio-postgres pipelines
    // the queries of concurrent futures on one connection) and run in the
    // order written, as if awaited one by one: each is one query of the
    // same shape (prepare, then execute), the server answers in order and
    // the join polls in order, so no execute overtakes an earlier one.
    let org_id = site.org_id;
    // Whether the practice's log must be looked up (this process has not
    // seen it yet); noted once this transaction commits.
    let look_up_log = log && !state.log_known(org_id);
    let (head, has_log, stored, append_statement) = tokio::try_join!(
        store::lock_chain_head(&*tx, site.site_id),
        // Whether the practice has a log, unless this process knows it has.
        async {
            match look_up_log {
                true => crate::db::evidence_log::origin(&*tx, org_id).await.map(|o| o.is_some()),
                false => Ok(true),
            }
        },
        // Checked under the site's lock: a resend racing its original sees it.
        store::find_receipt(&*tx, site.site_id, &parsed.bundle_id),
        // Prepared now (once per connection) so that it can be sent with
        // the COMMIT at the end.
        async {
            tx.prepare_cached(crate::db::evidence_log::APPEND_LEAVES).await.map_err(AppError::from)
        },
    )?;
    // A practice's first logged bundle makes its log, which first logs
    // what came before (not this bundle, which is not stored yet).
    if !has_log {
        super::log::ensure_log(&*tx, &state.config().base_url, org_id).await?;
    }
    if let Some(stored) = stored {
        if stored.site_id == site.site_id && stored.bundle_hash == bundle_hash {
            let log_index = match stored.log_index {
                Some(i) => i,
                None if !log => -1,
                // Received before the log, and backfilled just now by
                // the log this resend made.
                None => crate::db::evidence_log::bundle_index_by_row(&*tx, stored.row_id)
                    .await?
                    .ok_or_else(|| {
                        AppError::internal(anyhow::anyhow!("a stored bundle has no log index"))
                    })?,
            };
            let log_origin = match log {
                true => crate::db::evidence_log::origin(&*tx, org_id).await?.ok_or_else(|| {
                    AppError::internal(anyhow::anyhow!("the practice's log vanished"))
                })?,
                false => String::new(),
            };
            // Commits the backfill, if this resend made the log.
            tx.commit().await?;
            if look_up_log {
                state.note_log(org_id);
            }
            return Ok(Receipt {
                created: false,
                bundle_id: parsed.bundle_id,
                site_id: site.site_id,
                chain_position: stored.chain_position,
                bundle_hash,
                chain_hash: stored.chain_hash,
                log_index,
                log_origin,
            });
        }
        return Err(AppError::Conflict(format!(
            "bundle_id {} was already received with different contents; a new bundle needs a new bundle_id",
            parsed.bundle_id
        )));
    }

    let position = head.length;
    let prev = head.head.unwrap_or(chain::GENESIS);
    let position_u64 = u64::try_from(position).map_err(AppError::internal)?;
    let chain_hash = chain::chain_hash(site.site_id, position_u64, &prev, &bundle_hash);
    let count = |n: u64| i32::try_from(n).map_err(AppError::internal);
    let (evidence_id, received_at) = store::insert_bundle(
        &*tx,
        &NewBundle {
            bundle_id: &parsed.bundle_id,
            site_id: site.site_id,
            org_id,
            checked_at: parsed.checked_at,
            result: parsed.result(),
            checks_count: count(parsed.checks.len() as u64)?,
            failed_checks: count(parsed.failed_count())?,
            warn_checks: count(parsed.warn_count())?,
            raw,
            bundle_hash,
            signature: signature.to_bytes(),
            chain_position: position,
            prev_chain_hash: prev,
            chain_hash,
            received_at: None,
        },
    )
    .await?;
    let ((), (), (), prior) = tokio::try_join!(
        store::insert_checks(
            &*tx,
            evidence_id,
            site.site_id,
            org_id,
            parsed.checked_at,
            &parsed.checks
        ),
        store::advance_chain(&*tx, site.site_id, position + 1, &chain_hash, parsed.checked_at),
        store::forget_cached_report(&*tx, org_id, parsed.checked_at),
        store::record_check_states(
            &*tx,
            site.site_id,
            evidence_id,
            parsed.checked_at,
            &parsed.checks
        ),
    )?;
    let mailed = notify_transitions(state, &*tx, &org_id, site.site_id, &parsed, &prior).await?;
    let leaf = super::log::evidence_leaf(&super::log::EvidenceFacts {
        site_id: site.site_id,
        chain_position: position,
        bundle_hash: &bundle_hash,
        chain_hash: &chain_hash,
        key: &site.public_key,
        signature: &signature.to_bytes(),
        received_at,
    })?;
    // The log's lock is taken by the last statement (`log::append_with`),
    // sent with the COMMIT right behind it, so the lock is held for the
    // statement and the commit only, not for a round trip to this process
    // as well. Both are sent on the join's first poll, in this order (the
    // statement is prepared, so nothing precedes its execute). Should the
    // append fail, the server turns that COMMIT into a rollback.
    let append = async {
        match log {
            true => {
                super::log::append_with(&*tx, &append_statement, org_id, &leaf, Some(evidence_id))
                    .await
                    .map(Some)
            }
            false => Ok(None),
        }
    };
    let commit = async { tx.batch_execute("COMMIT").await.map_err(AppError::from) };
    let (logged, ()) = tokio::try_join!(append, commit)?;
    // Committed by the COMMIT above: the guard must not roll back.
    std::mem::forget(tx);
    if look_up_log {
        state.note_log(org_id);
    }
    if mailed {
        state.wake_mailer();
    }
    let logged = logged.unwrap_or(super::log::Logged { index: -1, origin: String::new() });
    Ok(Receipt {
        created: true,
        bundle_id: parsed.bundle_id,
        site_id: site.site_id,
        chain_position: position,
        bundle_hash,
        chain_hash,
        log_index: logged.index,
        log_origin: logged.origin,
    })
}

/// How a check's state moved, as far as people need to hear about it; in
/// order of urgency (failures first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Transition {
    /// Failing now, and was passing or never seen (or only warning).
    Failed,
    /// Warning now, and was passing or never seen.
    Warning,
    /// Passing now after failing or warning.
    Resolved,
}

/// The notification-worthy change from `before` to `now`, if any. Staying
/// in one state is silent, so a check that keeps failing is raised once.
pub fn transition(before: Option<CheckStatus>, now: CheckStatus) -> Option<Transition> {
    use CheckStatus::*;
    match (before, now) {
        (None | Some(Pass) | Some(Warn), Fail) => Some(Transition::Failed),
        (None | Some(Pass), Warn) => Some(Transition::Warning),
        (Some(Fail) | Some(Warn), Pass) => Some(Transition::Resolved),
        _ => None,
    }
}

/// Most items a summary notification or alert email names; the rest are
/// counted ("and 9,980 more") and listed on the bundle's page.
pub const SUMMARY_ITEMS: usize = 20;

impl Transition {
    fn kind(self) -> &'static str {
        match self {
            Transition::Failed => "check_failed",
            Transition::Warning => "check_warning",
            Transition::Resolved => "check_resolved",
        }
    }

    fn severity(self) -> Severity {
        match self {
            Transition::Failed => Severity::Critical,
            Transition::Warning => Severity::Warning,
            Transition::Resolved => Severity::Info,
        }
    }
}

/// What one check's change reads as: its title on its own, and its line in
/// a summary.
fn change_text(check: &bundle::Check, change: Transition, site_name: &str) -> (String, String) {
    let label = check_label(&check.check);
    let control =
        check.hipaa_control.as_deref().map(|c| format!(" (HIPAA {c})")).unwrap_or_default();
    let host = &check.host;
    match change {
        Transition::Failed => (
            format!("{label} failing on {host}"),
            format!("{label}{control} failed on {host} at {site_name}."),
        ),
        Transition::Warning => (
            format!("{label} needs attention on {host}"),
            format!("{label}{control} reported a warning on {host} at {site_name}."),
        ),
        Transition::Resolved => (
            format!("{label} resolved on {host}"),
            format!("{label}{control} passes again on {host} at {site_name}."),
        ),
    }
}

fn grouped(n: usize) -> String {
    thousands(n as u64)
}

/// What a bundle changed, check by check, given what was known of its
/// (check, host) pairs before it: `before` answers a pair's last status and
/// when it was last seen. A bundle older than what is known changes nothing.
pub(crate) fn changes_of(
    bundle: &Bundle,
    before: impl Fn(&str, &str) -> Option<(CheckStatus, chrono::DateTime<Utc>)>,
) -> Vec<(&bundle::Check, Transition)> {
    bundle
        .checks
        .iter()
        .filter_map(|check| {
            let previous = before(&check.check, &check.host);
            if previous.is_some_and(|(_, seen)| seen > bundle.checked_at) {
                return None;
            }
            transition(previous.map(|(status, _)| status), check.status).map(|t| (check, t))
        })
        .collect()
}

async fn notify_transitions(
    state: &AppState,
    db: &impl tokio_postgres::GenericClient,
    org_id: &Uuid,
    site_id: Uuid,
    bundle: &Bundle,
    prior: &[store::PriorState],
) -> AppResult<bool> {
    let before: HashMap<(&str, &str), &store::PriorState> =
        prior.iter().map(|p| ((p.check_type.as_str(), p.host.as_str()), p)).collect();
    let changes = changes_of(bundle, |check, host| {
        before.get(&(check, host)).map(|p| (p.status, p.last_seen_at))
    });
    notify_changes(state, db, org_id, site_id, bundle, &changes).await
}

/// Raises at most one notification per bundle: the change itself when one
/// (check, host) changed state, a summary naming the first
/// [`SUMMARY_ITEMS`] when several did. Checks that turned critical are
/// emailed to owners and admins, at most once a minute per site (see
/// [`queue_critical_alert`]). Returns whether mail was queued.
pub(crate) async fn notify_changes(
    state: &AppState,
    db: &impl tokio_postgres::GenericClient,
    org_id: &Uuid,
    site_id: Uuid,
    bundle: &Bundle,
    changes: &[(&bundle::Check, Transition)],
) -> AppResult<bool> {
    // Most bundles change nothing: look the site's name up only when needed.
    if changes.is_empty() {
        return Ok(false);
    }
    let site_name = store::site_name(db, site_id).await?;
    let action_url = paths::site_bundle(&bundle.bundle_id, site_id);
    let failed: Vec<&bundle::Check> =
        changes.iter().filter(|(_, t)| *t == Transition::Failed).map(|(c, _)| *c).collect();
    // The most pressing change decides the notification's kind and severity.
    let worst = changes.iter().map(|(_, t)| *t).min().expect("changes is not empty");
    // One check's change is one notification per kind, check, host and
    // (UTC) day: a flapping check counts repeats on it instead of adding
    // more; the bundle's day, so a backlog keeps its days apart.
    let (title, message, dedupe_key, about) = if let [(check, change)] = changes {
        let (title, message) = change_text(check, *change, &site_name);
        let key = format!(
            "{}:{site_id}:{}:{}:{}",
            change.kind(),
            bundle.checked_at.format("%Y-%m-%d"),
            check.check,
            check.host
        );
        (title, message, key, Some((check.check.clone(), check.host.clone())))
    } else {
        let count = |t: Transition| changes.iter().filter(|(_, c)| *c == t).count();
        let parts: Vec<String> = [
            (Transition::Failed, "failing"),
            (Transition::Warning, "need attention"),
            (Transition::Resolved, "resolved"),
        ]
        .into_iter()
        .filter_map(|(t, word)| match count(t) {
            0 => None,
            n => Some(format!("{} {word}", grouped(n))),
        })
        .collect();
        let title = format!(
            "{} checks changed at {site_name}: {}",
            grouped(changes.len()),
            parts.join(", ")
        );
        let mut ordered: Vec<&(&bundle::Check, Transition)> = changes.iter().collect();
        ordered.sort_by_key(|(_, t)| *t);
        let mut message: String = ordered
            .iter()
            .take(SUMMARY_ITEMS)
            .map(|(check, t)| change_text(check, *t, &site_name).1)
            .collect::<Vec<_>>()
            .join(" ");
        if changes.len() > SUMMARY_ITEMS {
            message.push_str(&format!(
                " And {} more: see the bundle for every check.",
                grouped(changes.len() - SUMMARY_ITEMS)
            ));
        }
        (title, message, format!("checks_changed:{}", bundle.bundle_id), None)
    };
    let repeats = about.is_some();
    let created = notifications::insert(
        db,
        &NewNotification {
            org_id: *org_id,
            site_id: Some(site_id),
            kind: worst.kind(),
            severity: worst.severity(),
            title,
            message,
            action_url: Some(action_url.clone()),
            action_label: Some("View evidence".into()),
            dedupe_key,
            repeats,
            check: about,
        },
    )
    .await?;
    // An appliance catching up a backlog should not email about old events:
    // they are in the notification centre, but only fresh failures page people.
    // A check that fails again the same day is counted on that day's
    // notification, but its failure is news: it is emailed (the alert mail
    // folds failures of a site into one a minute).
    let fresh = Utc::now().signed_duration_since(bundle.checked_at) < chrono::TimeDelta::hours(24);
    if (created.is_none() && !repeats) || failed.is_empty() || !fresh {
        return Ok(false);
    }
    let titles: Vec<String> = failed
        .iter()
        .take(SUMMARY_ITEMS)
        .map(|check| change_text(check, Transition::Failed, &site_name).0)
        .collect();
    let checks = failed.iter().take(SUMMARY_ITEMS).map(|c| c.check.clone()).collect();
    let alert = Alert { site_id, site_name, titles, checks, total: failed.len(), link: action_url };
    queue_critical_alert(state, db, *org_id, alert).await
}

/// What a critical-alert email says, kept with the queued mail so later
/// failures within `PORTAL_ALERT_INTERVAL` can be folded into it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Alert {
    pub site_id: Uuid,
    pub site_name: String,
    /// The first [`SUMMARY_ITEMS`] failures, in order.
    pub titles: Vec<String>,
    /// Their check types, in the same order, for how to fix each (empty in
    /// alerts queued before the email said how).
    #[serde(default)]
    pub checks: Vec<String>,
    /// Every failure the email stands for, named or not.
    pub total: usize,
    /// Where "See the evidence" leads (a path under the base URL).
    pub link: String,
}

impl Alert {
    /// This alert with `later`'s failures added. The link moves to the site
    /// page once the email is about more than one bundle.
    pub fn fold(mut self, later: Alert) -> Alert {
        if self.link != later.link {
            self.link = paths::site(self.site_id);
        }
        let room = SUMMARY_ITEMS.saturating_sub(self.titles.len());
        self.titles.extend(later.titles.into_iter().take(room));
        self.checks.extend(later.checks.into_iter().take(room));
        self.total += later.total;
        self
    }
}

/// Queues `alert` for every owner and admin who wants critical alerts, at
/// most one email per recipient and site per `PORTAL_ALERT_INTERVAL`
/// (a minute by default): while an earlier alert for the site is still
/// waiting, the new failures join it; otherwise the email is due at once,
/// or an interval after the last one.
async fn queue_critical_alert(
    state: &AppState,
    db: &impl tokio_postgres::GenericClient,
    org_id: Uuid,
    alert: Alert,
) -> AppResult<bool> {
    let interval = chrono::TimeDelta::from_std(state.config().alert_interval)
        .map_err(|e| AppError::internal(anyhow::anyhow!("alert interval out of range: {e}")))?;
    let mut queued = false;
    for (email, name) in notifications::critical_alert_recipients(db, org_id).await? {
        let key = format!("critical_alert:{}:{email}", alert.site_id);
        let render = |alert: &Alert| {
            let link = format!("{}{}", state.config().base_url, alert.link);
            // How to fix each kind of failing check, once.
            let mut fixes: Vec<(String, &Remediation)> = Vec::new();
            for check in &alert.checks {
                let entry = (check_label(check), remediation(check));
                if !fixes.iter().any(|(name, _)| *name == entry.0) {
                    fixes.push(entry);
                }
            }
            let mail = emails::critical_alert(
                name.as_deref(),
                &alert.site_name,
                &alert.titles,
                alert.total,
                &fixes,
                &link,
            );
            NewMail {
                to: email.clone(),
                subject: mail.subject,
                text: mail.text,
                html: Some(mail.html),
                kind: "critical_alert",
                contains_secret: false,
            }
        };
        match outbox::pending_digest(db, &key).await? {
            Some((id, earlier)) => {
                let earlier: Alert = serde_json::from_value(earlier).map_err(|e| {
                    AppError::Internal(anyhow::anyhow!("queued alert unreadable: {e}"))
                })?;
                let folded = earlier.fold(alert.clone());
                outbox::replace_digest(db, id, &render(&folded), &digest_json(&folded)?).await?;
            }
            None => {
                let due = match outbox::last_digest_due(db, &key).await? {
                    Some(last) => (last + interval).max(Utc::now()),
                    None => Utc::now(),
                };
                outbox::enqueue_digest(db, &render(&alert), &key, &digest_json(&alert)?, due)
                    .await?;
                queued = true;
            }
        }
    }
    Ok(queued)
}

fn digest_json(alert: &Alert) -> AppResult<serde_json::Value> {
    serde_json::to_value(alert)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("alert not encodable: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use CheckStatus::*;

    #[test]
    fn only_changes_of_state_are_worth_a_notification() {
        assert_eq!(transition(None, Fail), Some(Transition::Failed));
        assert_eq!(transition(Some(Pass), Fail), Some(Transition::Failed));
        assert_eq!(transition(Some(Warn), Fail), Some(Transition::Failed));
        assert_eq!(transition(Some(Pass), Warn), Some(Transition::Warning));
        assert_eq!(transition(None, Warn), Some(Transition::Warning));
        assert_eq!(transition(Some(Fail), Pass), Some(Transition::Resolved));
        assert_eq!(transition(Some(Warn), Pass), Some(Transition::Resolved));
        assert_eq!(transition(Some(Fail), Fail), None, "no repeat while it stays failing");
        assert_eq!(transition(Some(Fail), Warn), None);
        assert_eq!(transition(Some(Pass), Pass), None);
        assert_eq!(transition(None, Pass), None);
    }
}
