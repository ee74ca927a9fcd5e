//! A practice's evidence log as c2sp.org/tlog-tiles, below `/log/{org}/`:
//! `checkpoint` (the latest signed note) and `tile/<L>/<N>[.p/<W>]`,
//! `tile/entries/<N>[.p/<W>]`. Behind sign-in like the rest (a session or
//! an API token), for the caller's own practice only; errors are JSON, as
//! under /api. Tiles never change, so they may be cached for good.

use poem::web::{Data, Path};
use poem::{Response, handler};

use crate::auth::current::Viewer;
use crate::error::AppResult;
use crate::evidence::proofs;
use crate::state::AppState;

#[handler]
pub async fn log_checkpoint_get(
    state: Data<&AppState>,
    Viewer(user): Viewer,
    Path(org): Path<String>,
) -> AppResult<Response> {
    let org_id = proofs::own_log(&user, &org)?;
    let db = state.pool().get().await?;
    let cp = proofs::latest(&**db, org_id).await?;
    let note = proofs::served_note(&**db, org_id, &cp).await?;
    Ok(Response::builder()
        .content_type("text/plain; charset=utf-8")
        .header("Cache-Control", "no-store")
        .body(note))
}

#[handler]
pub async fn log_tile_get(
    state: Data<&AppState>,
    Viewer(user): Viewer,
    Path((org, path)): Path<(String, String)>,
) -> AppResult<Response> {
    let org_id = proofs::own_log(&user, &org)?;
    let tile = proofs::tile_at(&path)?;
    let db = state.pool().get().await?;
    let cp = proofs::latest(&**db, org_id).await?;
    let bytes = proofs::tile_bytes(&**db, org_id, &tile, cp.size as u64).await?;
    Ok(Response::builder()
        .content_type("application/octet-stream")
        .header("Cache-Control", "private, max-age=31536000, immutable")
        .body(bytes))
}
