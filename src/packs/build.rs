//! Writing a pack: reads the practice's log, bundles and reports in pages,
//! computes every inclusion proof from the tiles (a few rows per page of
//! bundles), and streams the files into a ZIP on disk from a blocking
//! thread, so memory stays flat at any size. The layout and the verifier
//! are in `crate::log::pack`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio_postgres::GenericClient;
use uuid::Uuid;

use crate::db::evidence_log as logs;
use crate::db::packs::{self as store, PackBundle};
use crate::error::{AppError, AppResult};
use crate::evidence::{derived, proofs, witness};
use crate::log::checkpoint::Checkpoint;
use crate::log::cosignature::CosignatureVerifier;
use crate::log::leaf::Leaf;
use crate::log::merkle;
use crate::log::note;
use crate::log::pack as layout;
use crate::log::proof::TlogProof;
use crate::log::tree::ranges_of;
use crate::reports::Month;
use crate::state::AppState;
use crate::views::audit::csv_cell;

/// What goes into a pack.
#[derive(Debug, Clone)]
pub struct Scope {
    /// Evidence checked in `[from, to]` (UTC dates); None: all of it.
    pub period: Option<(NaiveDate, NaiveDate)>,
    /// None: every site of the practice.
    pub site_ids: Option<Vec<Uuid>>,
    /// A full export also carries the audit log.
    pub audit_log: bool,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Built {
    pub bytes: u64,
    pub sha256: [u8; 32],
    pub bundles: u64,
}

/// Bundles read per query.
const PAGE: i64 = 1000;

/// One file to write, from memory or from a file on disk.
enum Entry {
    Bytes(String, Vec<u8>),
    Path(String, PathBuf),
}

/// The ZIP writer on its own thread: files in order, manifest last.
fn spawn_writer(
    out: PathBuf,
    top: String,
    mut rx: mpsc::Receiver<Entry>,
) -> tokio::task::JoinHandle<anyhow::Result<(u64, [u8; 32])>> {
    tokio::task::spawn_blocking(move || {
        let file = std::fs::File::create(&out)?;
        let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(file));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(3))
            .unix_permissions(0o644);
        let mut manifest = String::new();
        // Each file is copied into the archive as it is hashed, a buffer at
        // a time: a file on disk is never read whole into memory.
        let mut add = |zip: &mut zip::ZipWriter<_>,
                       name: &str,
                       mut bytes: &mut dyn std::io::Read|
         -> anyhow::Result<()> {
            let o = if name == layout::VERIFY_SH { opts.unix_permissions(0o755) } else { opts };
            zip.start_file(format!("{top}/{name}"), o)?;
            let mut hashed = Hashed { inner: &mut *zip, hasher: Sha256::new() };
            std::io::copy(&mut bytes, &mut hashed)?;
            let digest = hashed.hasher.finalize();
            manifest.push_str(&format!("{}  {name}\n", hex::encode(digest)));
            Ok(())
        };
        while let Some(entry) = rx.blocking_recv() {
            match entry {
                Entry::Bytes(name, bytes) => add(&mut zip, &name, &mut bytes.as_slice())?,
                Entry::Path(name, path) => {
                    let mut file = std::io::BufReader::new(std::fs::File::open(&path)?);
                    add(&mut zip, &name, &mut file)?;
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        let manifest_bytes = std::mem::take(&mut manifest).into_bytes();
        zip.start_file(format!("{top}/{}", layout::MANIFEST), opts)?;
        zip.write_all(&manifest_bytes)?;
        zip.finish()?.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        let mut hasher = Sha256::new();
        let mut f = std::fs::File::open(&out)?;
        let mut buf = vec![0u8; 1 << 20];
        let mut bytes = 0u64;
        loop {
            let n = std::io::Read::read(&mut f, &mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            bytes += n as u64;
        }
        Ok((bytes, hasher.finalize().into()))
    })
}

/// A writer that hashes what goes through it.
struct Hashed<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> Write for Hashed<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

struct Sink {
    tx: mpsc::Sender<Entry>,
}

impl Sink {
    async fn put(&self, name: String, bytes: impl Into<Vec<u8>>) -> AppResult<()> {
        self.tx.send(Entry::Bytes(name, bytes.into())).await.map_err(|_| {
            AppError::internal(anyhow::anyhow!(
                "the pack writer stopped (disk full or unwritable?)"
            ))
        })
    }
    async fn put_path(&self, name: String, path: PathBuf) -> AppResult<()> {
        self.tx.send(Entry::Path(name, path)).await.map_err(|_| {
            AppError::internal(anyhow::anyhow!(
                "the pack writer stopped (disk full or unwritable?)"
            ))
        })
    }
}

/// A site's line in the README: id, name, bundles, first and last position.
type SiteFacts = (Uuid, String, u64, Option<(i64, i64)>);

/// Facts the README states.
struct Facts {
    practice: String,
    origin: String,
    vkey: String,
    final_size: u64,
    final_signed: DateTime<Utc>,
    period: Option<(NaiveDate, NaiveDate)>,
    sites: Vec<SiteFacts>,
    month_ends: Vec<String>,
    cosigners: Vec<String>,
    reports: Vec<(String, bool)>,
    left_out: u64,
    audit_log: bool,
}

/// Builds the pack of `org_id` for `scope` into `out` (a `.part` file the
/// caller renames); `progress(done, total)` after each page of bundles.
pub async fn build(
    state: &AppState,
    org_id: Uuid,
    scope: &Scope,
    out: &Path,
    progress: &(dyn Fn(u64, u64) -> futures_util::future::BoxFuture<'static, ()> + Send + Sync),
) -> AppResult<Built> {
    let db = state.pool().get().await?;
    let db = &**db;
    let practice = crate::db::orgs::org_name(db, org_id).await?;
    // Reports are practice-wide, so only in a pack of every site. Made
    // (or remade) first: a report's leaf joins the log when it is made, and
    // a checkpoint signed now covers it and every bundle received so far.
    let mut report_pdfs = Vec::new();
    if scope.site_ids.is_none() {
        let current = Month::of(Utc::now());
        // From the first month with evidence (a period may start long before).
        let earliest = store::first_evidence_day(db, org_id).await?;
        let (first, last) = match (earliest, scope.period) {
            (None, _) => (current, current.prev()),
            (Some(e), Some((f, t))) => (Month::containing(f.max(e)), Month::containing(t)),
            (Some(e), None) => (Month::containing(e), current.prev()),
        };
        let mut month = first;
        while month.first_day() <= last.first_day() && month.first_day() < current.first_day() {
            if let Some((report, _)) = crate::reports::ensure_cached(db, org_id, month).await? {
                report_pdfs.push((month.to_string(), report.pdf));
            }
            month = month.next();
        }
    }
    crate::evidence::integrator::checkpoint_now(state, org_id, Utc::now()).await?;
    let (origin, verifier) = proofs::verifier(state, db, org_id).await?;
    let final_cp = proofs::latest(db, org_id).await?;
    let final_size = final_cp.size as u64;
    let final_note = proofs::served_note(db, org_id, &final_cp).await?;
    let final_text = note::open(&final_cp.note, &verifier).map_err(AppError::internal)?.text;
    let final_head = Checkpoint::parse(&final_text).map_err(AppError::internal)?;
    let vkey = verifier.vkey();

    // Sites in scope.
    let all_sites = logs::current_site_keys(db, org_id).await?;
    let in_scope = |id: &Uuid| scope.site_ids.as_ref().is_none_or(|s| s.contains(id));
    let site_names: BTreeMap<Uuid, String> =
        all_sites.iter().filter(|s| in_scope(&s.0)).map(|s| (s.0, s.1.clone())).collect();
    let window = scope.period.map(|(f, t)| {
        (
            f.and_hms_opt(0, 0, 0).expect("midnight").and_utc(),
            (t + chrono::Days::new(1)).and_hms_opt(0, 0, 0).expect("midnight").and_utc(),
        )
    });
    let site_list: Vec<Uuid> = site_names.keys().copied().collect();
    let ranges = store::position_ranges(
        db,
        org_id,
        Some(&site_list),
        window.map(|w| w.0),
        window.map(|w| w.1),
    )
    .await?;
    let total: u64 = ranges.iter().map(|(_, lo, hi)| (hi - lo + 1) as u64).sum();

    let top = match scope.period {
        Some((f, t)) => format!("{}-audit-pack-{f}-to-{t}", crate::views::format::slug(&practice)),
        None => format!(
            "{}-full-export-{}",
            crate::views::format::slug(&practice),
            Utc::now().date_naive()
        ),
    };
    let (tx, rx) = mpsc::channel(512);
    let writer = spawn_writer(out.to_owned(), top, rx);
    let sink = Sink { tx };
    let result = async {
        // Checkpoints: the final one, and every month-end one of the
        // period with its consistency proof to the final one.
        sink.put(layout::FINAL_CHECKPOINT.into(), final_note.clone()).await?;
        let mut notes = vec![final_note.clone()];
        let mut month_ends = Vec::new();
        let months: Option<(String, String)> =
            scope.period.map(|(f, t)| (Month::containing(f).to_string(), Month::containing(t).to_string()));
        for cp in logs::all_checkpoints(db, org_id).await? {
            let Some(month) = cp.month_end.clone() else { continue };
            if cp.size as u64 > final_size
                || months.as_ref().is_some_and(|(a, b)| month < *a || month > *b)
            {
                continue;
            }
            let served = proofs::served_note(db, org_id, &cp).await?;
            let proof = proofs::consistency(db, org_id, cp.size as u64, final_size).await?;
            sink.put(layout::month_checkpoint_path(&month), served.clone()).await?;
            sink.put(layout::consistency_path(&month), layout::consistency_text(&proof)).await?;
            notes.push(served);
            month_ends.push(month);
        }

        // Policy: the log, the sites' cosigners; the quorum asks for each
        // cosigner whose cosignature every checkpoint in the pack carries.
        let mut witnesses = Vec::new();
        let mut required = Vec::new();
        let mut cosigners = Vec::new();
        for (site, name, _, witness_key) in all_sites.iter().filter(|s| in_scope(&s.0)) {
            let Some(key) = witness_key
                .as_deref()
                .and_then(|k| <[u8; 32]>::try_from(k).ok())
                .and_then(|k| ed25519_dalek::VerifyingKey::from_bytes(&k).ok())
            else {
                continue;
            };
            let Some(w) = CosignatureVerifier::new(&witness::appliance_name(&origin, *site), key)
            else {
                continue;
            };
            let local = format!("appliance-{site}");
            let on_all = notes.iter().all(|n| {
                note::parse(n).is_ok_and(|p| {
                    p.signatures.iter().any(|s| s.name == w.name && s.id == w.id)
                })
            });
            if on_all {
                required.push(local.clone());
                cosigners.push(name.clone());
            }
            witnesses.push((local, w.vkey()));
        }
        let log_url =
            format!("{}/log/{}", state.config().base_url.trim_end_matches('/'), org_id.hyphenated());
        sink.put(layout::POLICY.into(), layout::policy_text(&vkey, &log_url, &witnesses, &required))
            .await?;
        sink.put(layout::LOG_VKEY.into(), format!("{vkey}\n")).await?;

        // Site keys: every site-key leaf of a site in scope, with its proof.
        let key_leaves = logs::site_key_leaves(db, org_id).await?;
        let mut latest_key: BTreeMap<Uuid, [u8; 32]> = BTreeMap::new();
        let mut key_indices = Vec::new();
        for l in key_leaves.iter().filter(|l| (l.index as u64) < final_size) {
            let Ok(Leaf::SiteKey(k)) = Leaf::parse(&l.data) else { continue };
            if !site_names.contains_key(&k.site) {
                continue;
            }
            latest_key.insert(k.site, k.key);
            key_indices.push((k.site, l.index as u64, l.data.clone()));
        }
        let mut tiles = proof_tiles(db, org_id, final_size, key_indices.iter().map(|k| k.1)).await?;
        for (site, index, data) in &key_indices {
            let hashes = merkle::inclusion_proof(&tiles, *index, final_size)
                .map_err(|e| AppError::internal(anyhow::anyhow!("{e:?}")))?;
            let proof = TlogProof {
                extra: Some(data.clone()),
                index: *index,
                hashes,
                checkpoint: final_note.clone(),
            };
            sink.put(layout::key_leaf_path(*site, *index), data.clone()).await?;
            sink.put(layout::key_proof_path(*site, *index), proof.encode()).await?;
        }
        for (site, key) in &latest_key {
            sink.put(layout::key_hex_path(*site), format!("{}\n", hex::encode(key))).await?;
            sink.put(layout::key_pem_path(*site), layout::public_key_pem(key)).await?;
        }

        // Bundles, site by site in chain order, with checks.csv beside.
        let csv_path = out.with_extension("checks.csv");
        let mut csv = std::io::BufWriter::new(std::fs::File::create(&csv_path).map_err(AppError::internal)?);
        writeln!(
            csv,
            "site_id,site,host,check,hipaa_control,status,checked_at,received_at,bundle_id,bundle_file"
        )
        .map_err(AppError::internal)?;
        let mut done = 0u64;
        let mut per_site: BTreeMap<Uuid, (u64, Option<(i64, i64)>)> = BTreeMap::new();
        progress(0, total).await;
        for (site, lo, hi) in &ranges {
            let mut after = lo - 1;
            loop {
                let page = store::bundles(db, *site, after, *hi, final_size as i64, PAGE).await?;
                let Some(last) = page.last() else { break };
                after = last.position;
                tiles =
                    proof_tiles(db, org_id, final_size, page.iter().map(|b| b.leaf_index as u64))
                        .await?;
                for b in &page {
                    write_bundle(&sink, &mut csv, &site_names, &tiles, final_size, &final_note, b)
                        .await?;
                    let entry = per_site.entry(*site).or_default();
                    entry.0 += 1;
                    entry.1 = Some((entry.1.map_or(b.position, |r| r.0), b.position));
                }
                done += page.len() as u64;
                progress(done, total).await;
            }
        }
        csv.flush().map_err(AppError::internal)?;
        drop(csv);
        sink.put_path(layout::CHECKS.into(), csv_path).await?;

        // Reports (made before the final checkpoint was chosen).
        let mut reports = Vec::new();
        let report_leaves = store::report_leaves(db, org_id, final_size as i64).await?;
        for (m, pdf) in report_pdfs {
            let sha = crate::reports::sha256(&pdf);
            let leaf = report_leaves.iter().rev().find(|(_, data)| {
                matches!(Leaf::parse(data), Ok(Leaf::Report(r)) if r.month == m && r.sha256 == sha)
            });
            if let Some((index, data)) = leaf {
                let one = proof_tiles(db, org_id, final_size, [*index as u64]).await?;
                let hashes = merkle::inclusion_proof(&one, *index as u64, final_size)
                    .map_err(|e| AppError::internal(anyhow::anyhow!("{e:?}")))?;
                let proof = TlogProof {
                    extra: Some(data.clone()),
                    index: *index as u64,
                    hashes,
                    checkpoint: final_note.clone(),
                };
                sink.put(layout::report_leaf_path(&m), data.clone()).await?;
                sink.put(layout::report_proof_path(&m), proof.encode()).await?;
            }
            sink.put(layout::report_path(&m), pdf).await?;
            reports.push((m, leaf.is_some()));
        }

        if scope.audit_log {
            let path = out.with_extension("audit.csv");
            let mut file =
                std::io::BufWriter::new(std::fs::File::create(&path).map_err(AppError::internal)?);
            crate::audit::write_full_csv(db, org_id, &mut file).await?;
            file.into_inner().map_err(|e| AppError::internal(e.into_error()))?;
            sink.put_path(layout::AUDIT_LOG.into(), path).await?;
        }

        let left_out = total - done;
        let facts = Facts {
            practice: practice.clone(),
            origin: origin.clone(),
            vkey: vkey.clone(),
            final_size: final_head.size,
            final_signed: final_cp.signed_at,
            period: scope.period,
            sites: site_names
                .iter()
                .map(|(id, name)| {
                    let (n, r) = per_site.get(id).copied().unwrap_or_default();
                    (*id, name.clone(), n, r)
                })
                .collect(),
            month_ends,
            cosigners,
            reports,
            left_out,
            audit_log: scope.audit_log,
        };
        sink.put(layout::README.into(), readme(&facts)).await?;
        sink.put(layout::VERIFY_SH.into(), layout::VERIFY_SCRIPT).await?;
        Ok::<u64, AppError>(done)
    }
    .await;
    drop(sink);
    let written = writer.await.map_err(AppError::internal)?;
    let done = result?;
    let (bytes, sha256) = written.map_err(|e| {
        AppError::internal(anyhow::anyhow!("writing the pack to {}: {e}", out.display()))
    })?;
    Ok(Built { bytes, sha256, bundles: done })
}

/// The tiles the inclusion proofs of `indices` in a tree of `size` need.
async fn proof_tiles(
    db: &impl GenericClient,
    org_id: Uuid,
    size: u64,
    indices: impl IntoIterator<Item = u64>,
) -> AppResult<crate::log::tree::TileHashes> {
    let indices: BTreeSet<u64> = indices.into_iter().collect();
    let ranges = ranges_of(|r| {
        for i in &indices {
            let _ = merkle::inclusion_proof(r, *i, size);
        }
    });
    proofs::load(db, org_id, size, &ranges).await
}

async fn write_bundle(
    sink: &Sink,
    csv: &mut impl Write,
    site_names: &BTreeMap<Uuid, String>,
    tiles: &crate::log::tree::TileHashes,
    size: u64,
    final_note: &str,
    b: &PackBundle,
) -> AppResult<()> {
    let position = b.position as u64;
    let hashes = merkle::inclusion_proof(tiles, b.leaf_index as u64, size)
        .map_err(|e| AppError::internal(anyhow::anyhow!("{e:?}")))?;
    let proof = TlogProof {
        extra: Some(b.leaf.clone()),
        index: b.leaf_index as u64,
        hashes,
        checkpoint: final_note.to_owned(),
    };
    let file = layout::bundle_path(b.site_id, position);
    // Rows from the signed bytes themselves, as verification derives them.
    if let Ok(rows) = derived::derive(&b.raw) {
        let site = site_names.get(&b.site_id).map(String::as_str).unwrap_or_default();
        for c in &rows.checks {
            let cells = [
                b.site_id.to_string(),
                site.to_owned(),
                c.host.clone(),
                c.check_type.clone(),
                c.hipaa_control.clone().unwrap_or_default(),
                c.status.clone(),
                c.checked_at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                b.received_at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                b.bundle_id.clone(),
                file.clone(),
            ];
            let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
            writeln!(csv, "{}", line.join(",")).map_err(AppError::internal)?;
        }
    }
    sink.put(layout::leaf_path(b.site_id, position), b.leaf.clone()).await?;
    sink.put(layout::proof_path(b.site_id, position), proof.encode()).await?;
    sink.put(file, b.raw.clone()).await?;
    Ok(())
}

/// The pack's README: what it holds, what it proves and under which
/// assumptions, and how to verify it three ways, with the algorithm.
fn readme(f: &Facts) -> String {
    let scope = match f.period {
        Some((from, to)) => format!("evidence checked from {from} to {to} (UTC dates)"),
        None => "the practice's whole history (full export)".to_owned(),
    };
    let mut sites = String::new();
    for (id, name, n, range) in &f.sites {
        let positions = match range {
            Some((a, b)) => format!("positions {a}–{b}"),
            None => "no bundles in this pack".to_owned(),
        };
        sites.push_str(&format!("- {name} (`{id}`): {n} bundles, {positions}\n"));
    }
    let month_ends = if f.month_ends.is_empty() {
        "none in this period (the log signs one at 00:00 UTC on the 1st of each month)".to_owned()
    } else {
        f.month_ends.join(", ")
    };
    let cosigned = if f.cosigners.is_empty() {
        "No appliance cosigned every checkpoint in this pack, so `policy.txt` asks for no \
         cosignature (`quorum none`): the checkpoints rest on the log's signature alone."
            .to_owned()
    } else {
        format!(
            "Every checkpoint in this pack is cosigned by the appliance of {}; `policy.txt` requires \
             those cosignatures.",
            f.cosigners.join(", ")
        )
    };
    let mut reports = String::new();
    for (m, logged) in &f.reports {
        reports.push_str(&format!(
            "- `reports/{m}.pdf`: {}\n",
            if *logged {
                "its SHA-256 is a leaf of the log (proven)"
            } else {
                "made before the log held reports, or not yet in a checkpoint: not proven by this pack"
            }
        ));
    }
    if reports.is_empty() {
        reports =
            "- none (reports cover the whole practice, so a pack limited to some sites holds \
                   none; the current month has no report yet)\n"
                .into();
    }
    let left_out = if f.left_out > 0 {
        format!(
            "\n**{} bundles of this period arrived after the final checkpoint was signed and are not \
             in this pack.** The log signs a new checkpoint within minutes; build the pack again to \
             include them.\n",
            f.left_out
        )
    } else {
        String::new()
    };
    let audit = if f.audit_log {
        "- `audit-log.csv`: the practice's audit log (who did what, when). It is the portal's \
         record, not signed by the log: it is not proven by this pack.\n"
    } else {
        ""
    };
    format!(
        include_str!("README.template.md"),
        practice = f.practice,
        scope = scope,
        origin = f.origin,
        vkey = f.vkey,
        final_size = f.final_size,
        final_signed = f.final_signed.format("%Y-%m-%d %H:%M UTC"),
        sites = sites,
        month_ends = month_ends,
        cosigned = cosigned,
        reports = reports,
        left_out = left_out,
        audit = audit,
    )
}
