//! The JSON API (poem-openapi). Every operation is named `<verb>_<resource>`;
//! the generated spec is committed as `openapi.json` and a test keeps the
//! two equal.

pub mod system;

use poem_openapi::{Object, OpenApiService};

/// The error envelope of every JSON error response.
#[derive(Debug, Clone, Object)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `not_found`, `rate_limited`.
    pub error: String,
    /// What went wrong and what to do about it, for people.
    pub message: String,
}

impl ErrorBody {
    pub fn new(error: &str, message: impl Into<String>) -> Self {
        Self {
            error: error.to_owned(),
            message: message.into(),
        }
    }
}

pub type Api = system::SystemApi;

pub fn service() -> OpenApiService<Api, ()> {
    OpenApiService::new(system::SystemApi, "OsirisCare Client Portal API", env!("CARGO_PKG_VERSION"))
        .description(
            "JSON API of the OsirisCare client portal: a healthcare practice's own view of its \
             HIPAA compliance evidence. Errors share one envelope: `{\"error\": code, \"message\": text}`.",
        )
        .server("/api")
}

/// The OpenAPI document as served at `/api/openapi.json` and committed as `openapi.json`.
pub fn spec_json() -> String {
    service().spec()
}
