//! Auditor packs and full exports: a ZIP of a practice's evidence with its
//! log proofs and reports that anyone verifies offline (README.md and
//! verify.sh inside, `portal verify-pack`, `osiris-verify-pack`). Owners,
//! admins and auditors ask for a pack of a period (an auditor within the
//! sites and period of their grant); the owner can export the whole
//! history. Each is a job built off the request path (one at a time per
//! practice) into `<data dir>/packs/<id>.zip`, kept 7 days, and every
//! request and download is an audit row. Layout and verifier:
//! `crate::log::pack`; writing: [`build`].

pub mod build;

use std::collections::HashMap;
use std::path::PathBuf;

use chrono::{NaiveDate, Utc};
use uuid::Uuid;

use crate::audit::user_entry;
use crate::auth::Role;
use crate::auth::current::{ClientInfo, CurrentUser, require_role};
use crate::db::audit;
use crate::db::packs::{self as store, NewPack, Pack};
use crate::error::{AppError, AppResult};
use crate::reach::Reach;
use crate::state::AppState;

/// How long a built pack stays downloadable.
pub const KEEP_DAYS: i64 = 7;
/// A building pack not heard from for this long is taken as interrupted.
pub const STALE_SECS: i64 = 120;
/// Packs listed at most.
pub const LIST_LIMIT: i64 = 50;

pub fn no_such_pack() -> AppError {
    AppError::NotFound("no such pack in your practice".into())
}

/// Where a pack's ZIP lives.
pub fn file_path(state: &AppState, id: Uuid) -> PathBuf {
    state.config().data_path("packs").join(format!("{id}.zip"))
}

/// A pack as asked for.
#[derive(Debug, Clone)]
pub struct PackRequest {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub site_ids: Option<Vec<Uuid>>,
}

/// Where a pack stands, as shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Building,
    Ready,
    Failed,
    Expired,
}

impl Status {
    pub fn of(p: &Pack) -> Status {
        let stale = (Utc::now() - p.heartbeat_at).num_seconds() > STALE_SECS;
        match p.status.as_str() {
            "building" if stale => Status::Failed,
            "building" => Status::Building,
            "ready" if p.expires_at <= Utc::now() => Status::Expired,
            "ready" => Status::Ready,
            "expired" => Status::Expired,
            _ => Status::Failed,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Building => "building",
            Status::Ready => "ready",
            Status::Failed => "failed",
            Status::Expired => "expired",
        }
    }
}

/// Why a pack failed, in words (a stale builder included).
pub fn failure(p: &Pack) -> Option<String> {
    match Status::of(p) {
        Status::Failed => Some(p.error.clone().unwrap_or_else(|| {
            "interrupted (the portal stopped while building it); ask for it again".into()
        })),
        _ => None,
    }
}

fn may_pack(user: &CurrentUser) -> AppResult<()> {
    if user.role == Role::Viewer {
        return Err(AppError::Forbidden(
            "evidence packs are for owners, admins and auditors; your role is viewer".into(),
        ));
    }
    Ok(())
}

/// Checks a request against the practice and, for an auditor, the grant;
/// returns the sites to pack (None: all).
async fn checked_scope(
    state: &AppState,
    user: &CurrentUser,
    req: &PackRequest,
) -> AppResult<Option<Vec<Uuid>>> {
    let today = Utc::now().date_naive();
    if req.from > req.to {
        return Err(AppError::Unprocessable("`from` must not be after `to`".into()));
    }
    if req.from > today {
        return Err(AppError::Unprocessable(format!(
            "`from` ({}) is in the future; a pack holds evidence already received",
            req.from
        )));
    }
    let db = state.pool().get().await?;
    let reach = Reach::of(&**db, user).await?;
    if let Some(from) = reach.from
        && req.from < from
    {
        return Err(AppError::Forbidden(format!(
            "your access covers evidence from {from}; ask for a pack from then on"
        )));
    }
    if let Some(to) = reach.to
        && req.to > to
    {
        return Err(AppError::Forbidden(format!(
            "your access covers evidence up to {to}; ask for a pack up to then"
        )));
    }
    let mut sites = req.site_ids.clone();
    if let Some(s) = &mut sites {
        s.sort();
        s.dedup();
        if s.is_empty() || s.len() > crate::auditors::MAX_SITES {
            return Err(AppError::Unprocessable(format!(
                "`site_ids` names 1 to {} sites, or leave it out for every site",
                crate::auditors::MAX_SITES
            )));
        }
        for id in s.iter() {
            reach.site(*id)?;
        }
        if crate::db::auditors::count_sites(&**db, user.org_id, s).await? != s.len() as i64 {
            return Err(crate::reach::no_such_site());
        }
    }
    if sites.is_none() {
        sites = reach.sites.clone();
    }
    Ok(sites)
}

/// Starts a pack of a period (owner, admin, auditor): 202 with its id; a
/// conflict while another pack of the practice is building.
pub async fn request(
    state: &AppState,
    user: &CurrentUser,
    req: &PackRequest,
    client: &ClientInfo,
) -> AppResult<Uuid> {
    may_pack(user)?;
    let sites = checked_scope(state, user, req).await?;
    let pack = start(
        state,
        user,
        NewPack {
            org_id: user.org_id,
            kind: "period",
            period_from: Some(req.from),
            period_to: Some(req.to),
            site_ids: sites.as_deref(),
            requested_by: user.id,
        },
        client,
        "audit_pack.requested",
    )
    .await?;
    Ok(pack)
}

/// Starts the full export of the practice's history (owner only).
pub async fn export(state: &AppState, user: &CurrentUser, client: &ClientInfo) -> AppResult<Uuid> {
    require_role(user, Role::Owner)?;
    start(
        state,
        user,
        NewPack {
            org_id: user.org_id,
            kind: "full",
            period_from: None,
            period_to: None,
            site_ids: None,
            requested_by: user.id,
        },
        client,
        "export.requested",
    )
    .await
}

async fn start(
    state: &AppState,
    user: &CurrentUser,
    new: NewPack<'_>,
    client: &ClientInfo,
    action: &str,
) -> AppResult<Uuid> {
    let mut db = state.pool().get().await?;
    let tx = db.transaction().await?;
    if crate::db::evidence_log::latest_checkpoint(&*tx, user.org_id).await?.is_none() {
        return Err(AppError::Conflict(
            "your practice's evidence log has no signed checkpoint yet, so a pack could not be \
             verified; one is signed within a minute of the first evidence"
                .into(),
        ));
    }
    store::fail_stale(&*tx, user.org_id, STALE_SECS).await?;
    let Some(pack) = store::insert(&*tx, &new).await? else {
        let busy = store::building(&*tx, user.org_id).await?;
        return Err(AppError::Conflict(format!(
            "a pack of your practice is being built{}; packs are built one at a time, so ask again \
             when it is ready",
            busy.map(|b| format!(" (pack {}, {} of {} bundles)", b.id, b.done, b.total))
                .unwrap_or_default()
        )));
    };
    audit::record(
        &*tx,
        &audit::Entry {
            target_type: Some("audit_pack"),
            target_id: Some(pack.id.to_string()),
            details: serde_json::json!({
                "kind": new.kind, "from": new.period_from, "to": new.period_to,
                "site_ids": new.site_ids,
            }),
            ..user_entry(user, client, action)
        },
    )
    .await?;
    tx.commit().await?;
    let (job_state, org_id, id) = (state.clone(), user.org_id, pack.id);
    let (done, watch) = tokio::sync::watch::channel(false);
    running().insert(id, watch);
    tokio::spawn(async move {
        run(job_state, org_id, pack).await;
        let _ = done.send(true);
        running().remove(&id);
    });
    Ok(id)
}

/// Packs being built by this process, to wait for.
fn running() -> std::sync::MutexGuard<'static, HashMap<Uuid, tokio::sync::watch::Receiver<bool>>> {
    static RUNNING: std::sync::OnceLock<
        std::sync::Mutex<HashMap<Uuid, tokio::sync::watch::Receiver<bool>>>,
    > = std::sync::OnceLock::new();
    RUNNING.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner())
}

/// Waits until this process has finished building pack `id` (at once when
/// it is not building here).
pub async fn finished(id: Uuid) {
    let watch = running().get(&id).cloned();
    if let Some(mut watch) = watch {
        let _ = watch.wait_for(|done| *done).await;
    }
}

/// Builds a pack and records the outcome.
pub async fn run(state: AppState, org_id: Uuid, pack: Pack) {
    let id = pack.id;
    let outcome = run_inner(&state, org_id, &pack).await;
    if let Err(e) = outcome {
        tracing::warn!(pack = %id, error = %e.detail(), "an evidence pack failed");
        if let Ok(db) = state.pool().get().await {
            let shown = match &e {
                AppError::Internal(_) | AppError::Unavailable(_) => {
                    "an internal error (the portal's log has the details); ask for the pack again, \
                     and tell your partner if it keeps failing"
                        .to_owned()
                }
                other => other.to_string(),
            };
            let _ = store::fail(&**db, id, &format!("the pack could not be built: {shown}")).await;
        }
    }
}

async fn run_inner(state: &AppState, org_id: Uuid, pack: &Pack) -> AppResult<()> {
    let path = file_path(state, pack.id);
    let dir = path.parent().expect("packs dir").to_owned();
    tokio::fs::create_dir_all(&dir).await.map_err(AppError::internal)?;
    let part = path.with_extension("zip.part");
    let scope = build::Scope {
        period: pack.period_from.zip(pack.period_to),
        site_ids: pack.site_ids.clone(),
        audit_log: pack.kind == "full",
    };
    let pool = state.pool().clone();
    let id = pack.id;
    let progress = move |done: u64, total: u64| -> futures_util::future::BoxFuture<'static, ()> {
        let pool = pool.clone();
        Box::pin(async move {
            if let Ok(db) = pool.get().await {
                let _ = store::progress(&**db, id, done as i64, total as i64).await;
            }
        })
    };
    let built = match build::build(state, org_id, &scope, &part, &progress).await {
        Ok(b) => b,
        Err(e) => {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(e);
        }
    };
    tokio::fs::rename(&part, &path).await.map_err(AppError::internal)?;
    let db = state.pool().get().await?;
    store::finish(&**db, id, built.bytes as i64, &built.sha256, built.bundles as i64).await?;
    Ok(())
}

/// A pack of the practice the caller may see: an auditor sees their own.
pub async fn get(state: &AppState, user: &CurrentUser, id: Uuid) -> AppResult<Pack> {
    may_pack(user)?;
    let db = state.pool().get().await?;
    let pack = store::get(&**db, user.org_id, id).await?.ok_or_else(no_such_pack)?;
    if user.role == Role::Auditor && pack.requested_by != Some(user.id) {
        return Err(no_such_pack());
    }
    Ok(pack)
}

/// The packs the caller may see, newest first.
pub async fn list(state: &AppState, user: &CurrentUser) -> AppResult<Vec<Pack>> {
    may_pack(user)?;
    let db = state.pool().get().await?;
    let only = (user.role == Role::Auditor).then_some(user.id);
    store::list(&**db, user.org_id, only, LIST_LIMIT).await
}

/// A ready pack to download: its file, name and size; audited.
pub async fn download(
    state: &AppState,
    user: &CurrentUser,
    id: Uuid,
    client: &ClientInfo,
) -> AppResult<(PathBuf, String, u64)> {
    let pack = get(state, user, id).await?;
    match Status::of(&pack) {
        Status::Ready => {}
        Status::Building => {
            return Err(AppError::Conflict(format!(
                "this pack is still being built ({} of {} bundles); download it when it is ready",
                pack.done, pack.total
            )));
        }
        Status::Expired => {
            return Err(AppError::NotFound(format!(
                "this pack expired (packs are kept {KEEP_DAYS} days); ask for a new one"
            )));
        }
        Status::Failed => {
            return Err(AppError::Conflict(format!(
                "this pack failed: {}",
                failure(&pack).unwrap_or_default()
            )));
        }
    }
    let path = file_path(state, id);
    let db = state.pool().get().await?;
    audit::record(
        &**db,
        &audit::Entry {
            target_type: Some("audit_pack"),
            target_id: Some(id.to_string()),
            details: serde_json::json!({ "kind": pack.kind, "bytes": pack.bytes }),
            ..user_entry(user, client, "audit_pack.downloaded")
        },
    )
    .await?;
    let name = match (pack.period_from, pack.period_to) {
        (Some(f), Some(t)) => {
            format!("{}-audit-pack-{f}-to-{t}.zip", crate::views::format::slug(&user.org_name))
        }
        _ => format!(
            "{}-full-export-{}.zip",
            crate::views::format::slug(&user.org_name),
            pack.created_at.date_naive()
        ),
    };
    Ok((path, name, pack.bytes.unwrap_or_default() as u64))
}

/// Removes expired packs' files, and half-written ones older than a day;
/// returns how many packs expired.
pub async fn sweep(state: &AppState) -> AppResult<usize> {
    let db = state.pool().get().await?;
    let ids = store::expire(&**db).await?;
    for id in &ids {
        let _ = tokio::fs::remove_file(file_path(state, *id)).await;
    }
    // Half-written packs of a portal that stopped while building them.
    let dir = state.config().data_path("packs");
    if let Ok(mut entries) = tokio::fs::read_dir(&dir).await {
        let day = std::time::Duration::from_secs(86_400);
        while let Ok(Some(e)) = entries.next_entry().await {
            let old = e
                .metadata()
                .await
                .ok()
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > day);
            if old && e.file_name().to_string_lossy().ends_with(".part") {
                let _ = tokio::fs::remove_file(e.path()).await;
            }
        }
    }
    Ok(ids.len())
}

/// How often expired packs are removed.
pub const EXPIRY_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);

/// The running expiry of packs; `shutdown` stops it.
pub struct ExpiryHandle {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl ExpiryHandle {
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Removes expired packs now and then every [`EXPIRY_INTERVAL`].
pub fn spawn_expiry(state: AppState) -> ExpiryHandle {
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(async move {
        loop {
            match sweep(&state).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(expired = n, "expired evidence packs removed"),
                Err(e) => {
                    tracing::warn!(error = %e, "removing expired packs failed; retrying later")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(EXPIRY_INTERVAL) => {}
                _ = stopped.changed() => return,
            }
        }
    });
    ExpiryHandle { stop, task }
}
