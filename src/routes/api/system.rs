//! Service status for API clients.

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use super::ErrorBody;
use crate::state::AppState;

#[derive(Tags)]
enum ApiTags {
    /// Service status.
    System,
}

#[derive(Debug, Object)]
pub struct StatusBody {
    /// `ok` when the portal and its database are working.
    pub status: String,
    /// Portal version.
    pub version: String,
    /// `ok` or `unreachable`.
    pub database: String,
}

#[derive(ApiResponse)]
pub enum StatusResponse {
    /// The portal and its database are working.
    #[oai(status = 200)]
    Ok(Json<StatusBody>),
    /// The database does not answer.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

pub struct SystemApi;

#[OpenApi(tag = "ApiTags::System")]
impl SystemApi {
    /// Service status
    ///
    /// Reports whether the portal can reach its database; for monitoring.
    #[oai(path = "/status", method = "get", operation_id = "get_status")]
    async fn get_status(&self, state: Data<&AppState>) -> StatusResponse {
        if state.database_ready().await {
            StatusResponse::Ok(Json(StatusBody {
                status: "ok".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                database: "ok".into(),
            }))
        } else {
            StatusResponse::Unavailable(Json(ErrorBody::new(
                "unavailable",
                "the portal cannot reach its database; try again shortly",
            )))
        }
    }
}
