//! Liveness and readiness probes for load balancers and orchestrators.

use poem::http::StatusCode;
use poem::web::{Data, Json};
use poem::{IntoResponse, Response, handler};
use serde_json::json;

use crate::state::AppState;

/// The process is up and serving HTTP.
#[handler]
pub fn healthz() -> Response {
    Json(json!({ "status": "ok" })).with_header("cache-control", "no-store").into_response()
}

/// The portal can do useful work: its database answers (on the probe's own
/// connection, so a busy pool does not read as an unreachable database).
#[handler]
pub async fn readyz(state: Data<&AppState>) -> Response {
    if state.database_ready().await {
        Json(json!({ "status": "ready", "database": "ok" }))
            .with_header("cache-control", "no-store")
            .into_response()
    } else {
        Json(json!({ "status": "unavailable", "database": "unreachable" }))
            .with_status(StatusCode::SERVICE_UNAVAILABLE)
            .with_header("cache-control", "no-store")
            .into_response()
    }
}
