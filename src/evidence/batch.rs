//! Receiving many bundles at once (`POST /api/appliance/evidence/batch`):
//! the same rules as one bundle ([`super::ingest`]), each bundle answered
//! on its own, but the work done per batch rather than per bundle. The
//! CPU part (signatures, parsing, hashes) runs on every core off the async
//! runtime; the database part is one transaction of set-based statements:
//! one lock of the sites' chain heads, one insert of the bundles, one of
//! all their checks, one update of the chains, one of the check states and
//! one append per practice to its evidence log, sent with the COMMIT.
//!
//! A bundle refused (bad signature, bad format, a different bundle under a
//! known id, its site over its rate) is left out and answered with its
//! error; the others are stored. Bundles of one site are chained in the
//! order they appear in the batch.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::bundle::{self, Bundle};
use super::chain;
use super::ingest::{self, NOT_AUTHENTICATED, Receipt};
use crate::db::evidence::{self as store, CheckState, NewBundle, SiteKey};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Most bundles in one batch.
pub const MAX_BATCH_BUNDLES: usize = 500;

/// One bundle of a batch: its exact bytes and the hex signature of them.
pub struct Item {
    pub raw: Vec<u8>,
    pub signature: String,
    /// When it arrived: now, unless the demo's seeding says otherwise.
    pub received_at: Option<DateTime<Utc>>,
}

/// Maps `f` over `items` on every core (scoped threads, in order); call
/// it off the async runtime.
pub fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).max(1);
    if threads == 1 || items.len() < 2 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads).max(1);
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(f).collect::<Vec<_>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("a worker thread panicked")).collect()
    })
}

/// A bundle that passed every check and is to be stored.
struct Accepted {
    item: usize,
    site: SiteKey,
    bundle: Bundle,
    bundle_hash: [u8; 32],
    signature: [u8; 64],
}

/// What the first, parallel pass found out about an item.
enum Checked {
    /// Refused before (its answer is given).
    Skipped,
    Refused(AppError),
    Authentic(Box<Authentic>),
}

/// A bundle whose signature verifies with its site's key.
struct Authentic {
    site: SiteKey,
    parsed: Result<Bundle, AppError>,
    bundle_hash: [u8; 32],
    signature: [u8; 64],
}

/// The leaves a batch appends to one practice's log, in order: their
/// bytes, the bundle rows they log, and those bundles' places in the batch.
#[derive(Default)]
struct Leaves {
    data: Vec<Vec<u8>>,
    rows: Vec<Option<Uuid>>,
    of: Vec<usize>,
}

/// A batch allocates and frees a few MB (its bundles parsed, the
/// statements' buffers); glibc keeps freed memory in its arenas unless
/// asked to return it, and the portal's resident memory stays bounded only
/// if it does (`scripts/bench` measures the peak while ingesting).
fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory to the kernel; it is
    // thread-safe and touches no memory in use.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn format_error(e: bundle::FormatError) -> AppError {
    if e.beyond_schema() {
        AppError::Unprocessable(e.to_string())
    } else {
        AppError::BadRequest(e.to_string())
    }
}

/// Ingests a batch (at most [`MAX_BATCH_BUNDLES`]): one answer per item,
/// in order. An `Err` of the whole call (too many items, or the database
/// failing) means nothing of the batch was stored.
pub async fn ingest_batch(
    state: &AppState,
    items: Vec<Item>,
) -> AppResult<Vec<AppResult<Receipt>>> {
    if items.len() > MAX_BATCH_BUNDLES {
        return Err(AppError::Unprocessable(format!(
            "a batch may hold at most {MAX_BATCH_BUNDLES} bundles; this one has {}: split it",
            items.len()
        )));
    }
    // Only the site id and the signature are read before the signature is
    // checked: nothing else of an unauthenticated body is processed.
    let mut answers: Vec<Option<AppResult<Receipt>>> = (0..items.len()).map(|_| None).collect();
    let heads: Vec<AppResult<(Uuid, ed25519_dalek::Signature)>> = items
        .iter()
        .map(|item| {
            if item.raw.len() > bundle::MAX_BUNDLE_BYTES {
                return Err(AppError::PayloadTooLarge(format!(
                    "a bundle may be at most {} bytes; this one is {}",
                    bundle::MAX_BUNDLE_BYTES,
                    item.raw.len()
                )));
            }
            let site =
                bundle::site_id_of(&item.raw).map_err(|e| AppError::BadRequest(e.to_string()))?;
            let sig = chain::parse_signature(&item.signature)
                .map_err(|e| AppError::Unauthorized(e.to_string()))?;
            Ok((site, sig))
        })
        .collect();
    let mut heads_ok: Vec<Option<(Uuid, ed25519_dalek::Signature)>> =
        Vec::with_capacity(items.len());
    for (i, h) in heads.into_iter().enumerate() {
        match h {
            Ok(h) => heads_ok.push(Some(h)),
            Err(e) => {
                answers[i] = Some(Err(e));
                heads_ok.push(None);
            }
        }
    }
    let heads = heads_ok;
    let site_ids: Vec<Uuid> =
        heads.iter().filter_map(|h| h.map(|h| h.0)).collect::<BTreeSet<_>>().into_iter().collect();
    let keys = {
        let db = state.pool().get().await?;
        store::site_keys(&**db, &site_ids).await?
    };
    // Signatures, parsing and hashes on every core, off the runtime. An
    // unknown site still costs one signature check, as for one bundle.
    let now = Utc::now();
    let (items, checked) = tokio::task::spawn_blocking(move || {
        let work: Vec<(usize, &Item)> = items.iter().enumerate().collect();
        let checked = par_map(&work, |(i, item)| {
            let Some((site_id, sig)) = heads[*i] else {
                return Checked::Skipped;
            };
            let site = keys.get(&site_id);
            let key = site.map_or([0x5a; 32], |s| s.public_key);
            let verified = chain::verify_signature(&key, &item.raw, &sig).is_ok();
            match site {
                Some(site) if verified => Checked::Authentic(Box::new(Authentic {
                    site: site.clone(),
                    parsed: bundle::parse(&item.raw, now).map_err(format_error),
                    bundle_hash: chain::bundle_hash(&item.raw),
                    signature: sig.to_bytes(),
                })),
                _ => Checked::Refused(AppError::Unauthorized(NOT_AUTHENTICATED.into())),
            }
        });
        (items, checked)
    })
    .await
    .map_err(AppError::internal)?;

    let mut accepted: Vec<Accepted> = Vec::new();
    for (i, c) in checked.into_iter().enumerate() {
        match c {
            Checked::Skipped => {}
            Checked::Refused(e) => answers[i] = Some(Err(e)),
            Checked::Authentic(authentic) => {
                let Authentic { site, parsed, bundle_hash, signature } = *authentic;
                // In the order of one bundle: the practice, the site's rate,
                // then the bundle's format.
                let refused = if !site.org_active {
                    Some(AppError::Forbidden(
                        "this site's practice is not active, so its evidence is not accepted; \
                         the bundle was not stored (keep it and contact OsirisCare)"
                            .into(),
                    ))
                } else {
                    state.ingest_limits().check_site(site.site_id).err()
                };
                match (refused, parsed) {
                    (Some(e), _) | (None, Err(e)) => answers[i] = Some(Err(e)),
                    (None, Ok(bundle)) => {
                        if !bundle.format_warnings.is_empty() {
                            tracing::warn!(
                                bundle_id = %bundle.bundle_id,
                                site_id = %site.site_id,
                                warnings = ?bundle.format_warnings,
                                "bundle summary disagrees with its checks"
                            );
                        }
                        accepted.push(Accepted { item: i, site, bundle, bundle_hash, signature })
                    }
                }
            }
        }
    }
    if !accepted.is_empty() {
        for (i, answer) in store_accepted(state, &items, accepted).await? {
            answers[i] = Some(answer);
        }
    }
    drop(items);
    give_back_freed_memory();
    answers
        .into_iter()
        .map(|a| a.ok_or_else(|| AppError::internal(anyhow::anyhow!("a batch item had no answer"))))
        .collect()
}

/// What became of an accepted bundle inside the transaction.
enum Outcome {
    /// To be stored at this position, with this chain hash.
    New { position: i64, prev: [u8; 32], chain_hash: [u8; 32] },
    /// Already stored (before this batch): the original receipt.
    Stored(store::StoredReceipt),
    /// The same bundle as an earlier item of this batch.
    SameAs(usize),
    /// Another bundle under an id already used.
    Conflict,
}

async fn store_accepted(
    state: &AppState,
    items: &[Item],
    accepted: Vec<Accepted>,
) -> AppResult<Vec<(usize, AppResult<Receipt>)>> {
    let site_ids: Vec<Uuid> =
        accepted.iter().map(|a| a.site.site_id).collect::<BTreeSet<_>>().into_iter().collect();
    let orgs: BTreeSet<Uuid> = accepted.iter().map(|a| a.site.org_id).collect();
    let mut db = state.pool().get().await?;
    let tx = db.transaction().await?;
    let mut heads = store::lock_chain_heads(&*tx, &site_ids).await?;
    // A practice's first logged bundle makes its log, which first logs
    // what came before (not this batch, which is not stored yet).
    let mut looked_up = Vec::new();
    for org in &orgs {
        if !state.log_known(*org) {
            super::log::ensure_log(&*tx, &state.config().base_url, *org).await?;
            looked_up.push(*org);
        }
    }
    // Checked under the sites' locks: a resend racing its original sees it.
    let keys: Vec<(Uuid, &str)> =
        accepted.iter().map(|a| (a.site.site_id, a.bundle.bundle_id.as_str())).collect();
    let stored = store::find_receipts(&*tx, &keys).await?;

    let mut outcomes = Vec::with_capacity(accepted.len());
    let mut seen: HashMap<(Uuid, &str), usize> = HashMap::new();
    for (n, a) in accepted.iter().enumerate() {
        let key = (a.site.site_id, a.bundle.bundle_id.as_str());
        let conflict = || Outcome::Conflict;
        let outcome = if let Some(s) = stored.get(&(key.0, key.1.to_owned())) {
            if s.bundle_hash == a.bundle_hash { Outcome::Stored(s.clone()) } else { conflict() }
        } else if let Some(&first) = seen.get(&key) {
            if accepted[first].bundle_hash == a.bundle_hash {
                Outcome::SameAs(first)
            } else {
                conflict()
            }
        } else {
            seen.insert(key, n);
            let head = heads.get_mut(&a.site.site_id).ok_or_else(|| {
                AppError::internal(anyhow::anyhow!("a site of the batch vanished"))
            })?;
            let position = head.length;
            let prev = head.head.unwrap_or(chain::GENESIS);
            let at = u64::try_from(position).map_err(AppError::internal)?;
            let chain_hash = chain::chain_hash(a.site.site_id, at, &prev, &a.bundle_hash);
            head.length += 1;
            head.head = Some(chain_hash);
            Outcome::New { position, prev, chain_hash }
        };
        outcomes.push(outcome);
    }

    let count = |n: u64| i32::try_from(n).map_err(AppError::internal);
    let mut new_rows = Vec::new();
    let mut new_of = Vec::new();
    for (n, (a, o)) in accepted.iter().zip(&outcomes).enumerate() {
        if let Outcome::New { position, prev, chain_hash } = o {
            new_rows.push(NewBundle {
                bundle_id: &a.bundle.bundle_id,
                site_id: a.site.site_id,
                org_id: a.site.org_id,
                checked_at: a.bundle.checked_at,
                result: a.bundle.result(),
                checks_count: count(a.bundle.checks.len() as u64)?,
                failed_checks: count(a.bundle.failed_count())?,
                warn_checks: count(a.bundle.warn_count())?,
                raw: &items[a.item].raw,
                bundle_hash: a.bundle_hash,
                signature: a.signature,
                chain_position: *position,
                prev_chain_hash: *prev,
                chain_hash: *chain_hash,
                received_at: items[a.item].received_at,
            });
            new_of.push(n);
        }
    }
    // Row id and receive time of each new bundle, by its place in `accepted`.
    let mut rows: HashMap<usize, (Uuid, DateTime<Utc>)> = HashMap::new();
    let mut mailed = false;
    if !new_rows.is_empty() {
        let inserted = store::insert_bundles(&*tx, &new_rows).await?;
        rows = new_of.iter().copied().zip(inserted).collect();
        let checks: Vec<store::ChecksOf<'_>> = new_of
            .iter()
            .map(|&n| {
                let a = &accepted[n];
                store::ChecksOf {
                    evidence_id: rows[&n].0,
                    site_id: a.site.site_id,
                    org_id: a.site.org_id,
                    checked_at: a.bundle.checked_at,
                    checks: &a.bundle.checks,
                }
            })
            .collect();
        // Each site's new head, and the latest check time it was sent.
        let mut latest: HashMap<Uuid, DateTime<Utc>> = HashMap::new();
        for &n in &new_of {
            let a = &accepted[n];
            let t = latest.entry(a.site.site_id).or_insert(a.bundle.checked_at);
            *t = (*t).max(a.bundle.checked_at);
        }
        let chains: Vec<(Uuid, i64, [u8; 32], DateTime<Utc>)> = latest
            .into_iter()
            .map(|(site, t)| {
                let head = &heads[&site];
                (site, head.length, head.head.unwrap_or(chain::GENESIS), t)
            })
            .collect();
        let months: Vec<(Uuid, DateTime<Utc>)> = new_of
            .iter()
            .map(|&n| (accepted[n].site.org_id, accepted[n].bundle.checked_at))
            .collect();
        let state_keys: Vec<(Uuid, &str, &str)> = new_of
            .iter()
            .flat_map(|&n| {
                let a = &accepted[n];
                a.bundle
                    .checks
                    .iter()
                    .map(move |c| (a.site.site_id, c.check.as_str(), c.host.as_str()))
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let ((), (), (), mut known) = tokio::try_join!(
            store::insert_checks_of(&*tx, &checks),
            store::advance_chains(&*tx, &chains),
            store::forget_cached_reports(&*tx, &months),
            store::check_states(&*tx, &state_keys),
        )?;
        // The bundles' changes in batch order, as if received one by one.
        let mut changed: Vec<(usize, Vec<(&bundle::Check, ingest::Transition)>)> = Vec::new();
        let mut written: BTreeSet<(Uuid, String, String)> = BTreeSet::new();
        for &n in &new_of {
            let a = &accepted[n];
            let site = a.site.site_id;
            let changes = ingest::changes_of(&a.bundle, |check, host| {
                known
                    .get(&(site, check.to_owned(), host.to_owned()))
                    .map(|s| (s.status, s.last_seen_at))
            });
            if !changes.is_empty() {
                changed.push((n, changes));
            }
            for c in &a.bundle.checks {
                let key = (site, c.check.clone(), c.host.clone());
                let next = match known.get(&key) {
                    Some(s) if s.last_seen_at > a.bundle.checked_at => continue,
                    Some(s) if s.status == c.status => s.changed_at,
                    _ => a.bundle.checked_at,
                };
                known.insert(
                    key.clone(),
                    CheckState {
                        status: c.status,
                        evidence_id: rows[&n].0,
                        changed_at: next,
                        last_seen_at: a.bundle.checked_at,
                    },
                );
                written.insert(key);
            }
        }
        let states: Vec<((Uuid, String, String), CheckState)> = written
            .into_iter()
            .map(|k| {
                let s = known[&k].clone();
                (k, s)
            })
            .collect();
        store::put_check_states(&*tx, &states).await?;
        for (n, changes) in &changed {
            let a = &accepted[*n];
            mailed |= ingest::notify_changes(
                state,
                &*tx,
                &a.site.org_id,
                a.site.site_id,
                &a.bundle,
                changes,
            )
            .await?;
        }
    }

    // Resends of bundles received before the log existed: their index now.
    let mut backfilled: HashMap<usize, i64> = HashMap::new();
    for (n, o) in outcomes.iter().enumerate() {
        if let Outcome::Stored(s) = o
            && s.log_index.is_none()
        {
            let index =
                crate::db::evidence_log::bundle_index_by_row(&*tx, s.row_id).await?.ok_or_else(
                    || AppError::internal(anyhow::anyhow!("a stored bundle has no log index")),
                )?;
            backfilled.insert(n, index);
        }
    }

    // The log last, one statement per practice (in id order, so batches
    // of several practices take their logs' locks in one order), the
    // last sent with the COMMIT right behind it: each log's lock is held
    // for its statement and the commit only.
    let statement = tx.prepare_cached(crate::db::evidence_log::APPEND_LEAVES).await?;
    let mut leaves: HashMap<Uuid, Leaves> = HashMap::new();
    for &n in &new_of {
        let a = &accepted[n];
        let Outcome::New { position, chain_hash, .. } = &outcomes[n] else { continue };
        let (row, received_at) = rows[&n];
        let leaf = super::log::evidence_leaf(&super::log::EvidenceFacts {
            site_id: a.site.site_id,
            chain_position: *position,
            bundle_hash: &a.bundle_hash,
            chain_hash,
            key: &a.site.public_key,
            signature: &a.signature,
            received_at,
        })?;
        let entry = leaves.entry(a.site.org_id).or_default();
        entry.data.push(leaf.encode());
        entry.rows.push(Some(row));
        entry.of.push(n);
    }
    let mut origins: HashMap<Uuid, String> = HashMap::new();
    for org in &orgs {
        if !leaves.contains_key(org)
            && let Some(origin) = crate::db::evidence_log::origin(&*tx, *org).await?
        {
            origins.insert(*org, origin);
        }
    }
    let mut logged: HashMap<usize, i64> = HashMap::new();
    let logs: Vec<Uuid> = orgs.iter().copied().filter(|o| leaves.contains_key(o)).collect();
    let mut appended = Vec::with_capacity(logs.len());
    for (k, org) in logs.iter().enumerate() {
        let these = &leaves[org];
        let data: Vec<&[u8]> = these.data.iter().map(Vec::as_slice).collect();
        let append = crate::db::evidence_log::append_leaves(
            &*tx,
            &statement,
            *org,
            "evidence",
            &data,
            &these.rows,
        );
        if k + 1 < logs.len() {
            appended.push(append.await?);
        } else {
            let commit = async { tx.batch_execute("COMMIT").await.map_err(AppError::from) };
            let (last, ()) = tokio::try_join!(append, commit)?;
            appended.push(last);
        }
    }
    if logs.is_empty() {
        tx.batch_execute("COMMIT").await?;
    }
    // Committed by the COMMIT above: the guard must not roll back.
    std::mem::forget(tx);
    for (org, (first, origin)) in logs.iter().zip(appended) {
        for (k, n) in leaves[org].of.iter().enumerate() {
            logged.insert(*n, first + k as i64);
        }
        origins.insert(*org, origin);
    }
    for org in looked_up {
        state.note_log(org);
    }
    if mailed {
        state.wake_mailer();
    }

    let origin_of = |org: &Uuid| origins.get(org).cloned().unwrap_or_default();
    let mut out = Vec::with_capacity(accepted.len());
    for (n, (a, o)) in accepted.iter().zip(&outcomes).enumerate() {
        let receipt =
            |created: bool, position: i64, chain_hash: [u8; 32], log_index: i64| Receipt {
                created,
                bundle_id: a.bundle.bundle_id.clone(),
                site_id: a.site.site_id,
                chain_position: position,
                bundle_hash: a.bundle_hash,
                chain_hash,
                log_index,
                log_origin: origin_of(&a.site.org_id),
            };
        let answer = match o {
            Outcome::New { position, chain_hash, .. } => {
                Ok(receipt(true, *position, *chain_hash, logged[&n]))
            }
            Outcome::Stored(s) => Ok(receipt(
                false,
                s.chain_position,
                s.chain_hash,
                s.log_index.or(backfilled.get(&n).copied()).unwrap_or(-1),
            )),
            Outcome::SameAs(first) => match &outcomes[*first] {
                Outcome::New { position, chain_hash, .. } => {
                    Ok(receipt(false, *position, *chain_hash, logged[first]))
                }
                _ => Err(AppError::internal(anyhow::anyhow!("a repeated bundle had no original"))),
            },
            Outcome::Conflict => Err(AppError::Conflict(format!(
                "bundle_id {} was already received with different contents; a new bundle needs a \
                 new bundle_id",
                a.bundle.bundle_id
            ))),
        };
        out.push((a.item, answer));
    }
    Ok(out)
}
