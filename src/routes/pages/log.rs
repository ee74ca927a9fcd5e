//! The practice verification from a page: start it (htmx POST) and follow
//! its progress (a fragment that polls itself only while the job runs).

use maud::Markup;
use poem::handler;
use poem::web::{Data, Path};
use uuid::Uuid;

use crate::auth::current::Viewer;
use crate::error::{AppError, AppResult};
use crate::evidence::integrity;
use crate::state::AppState;
use crate::views::log::verification_panel;

/// `POST /client/log/verify`.
#[handler]
pub async fn view_log_verify_post(
    state: Data<&AppState>,
    Viewer(user): Viewer,
) -> AppResult<Markup> {
    let (id, _) = integrity::start(&state, user.org_id, user.id).await?;
    let db = state.pool().get().await?;
    let job = integrity::job(&**db, user.org_id, id).await?;
    Ok(verification_panel(Some(&job)))
}

/// `GET /client/log/verify/:id`.
#[handler]
pub async fn view_log_verification_get(
    state: Data<&AppState>,
    Viewer(user): Viewer,
    Path(id): Path<String>,
) -> AppResult<Markup> {
    let id = Uuid::parse_str(&id)
        .map_err(|_| AppError::BadRequest("that is not a verification id (a UUID)".into()))?;
    let db = state.pool().get().await?;
    let job = integrity::job(&**db, user.org_id, id).await?;
    Ok(verification_panel(Some(&job)))
}
