//! The JSON API (poem-openapi). Every operation is named `<verb>_<resource>`;
//! the generated spec is committed as `openapi.json` and a test keeps the
//! two equal.

pub mod account;
pub mod appliance;
pub mod audit;
pub mod auditors;
pub mod auth;
pub mod compliance;
pub mod error;
pub mod log;
pub mod mfa;
pub mod notifications;
pub mod packs;
pub mod practice;
pub mod reports;
pub mod system;
pub mod todo;
pub mod transfer;
pub mod types;
pub mod users;
pub mod verification;

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
        Self { error: error.to_owned(), message: message.into() }
    }
}

pub type Api = (
    system::SystemApi,
    auth::AuthApi,
    mfa::MfaApi,
    account::AccountApi,
    compliance::ComplianceApi,
    // Nested: poem-openapi implements OpenApi for tuples of up to 16.
    (todo::TodoApi, practice::PracticeApi),
    appliance::ApplianceApi,
    verification::VerificationApi,
    log::LogApi,
    notifications::NotificationsApi,
    users::UsersApi,
    auditors::AuditorsApi,
    packs::PacksApi,
    reports::ReportsApi,
    transfer::TransferApi,
    audit::AuditApi,
);

pub fn service() -> OpenApiService<Api, ()> {
    OpenApiService::new(
        (
            system::SystemApi,
            auth::AuthApi,
            mfa::MfaApi,
            account::AccountApi,
            compliance::ComplianceApi,
            (todo::TodoApi, practice::PracticeApi),
            appliance::ApplianceApi,
            verification::VerificationApi,
            log::LogApi,
            notifications::NotificationsApi,
            users::UsersApi,
            auditors::AuditorsApi,
            packs::PacksApi,
            reports::ReportsApi,
            transfer::TransferApi,
            audit::AuditApi,
        ),
        "OsirisCare Client Portal API",
        env!("CARGO_PKG_VERSION"),
    )
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

/// The methods the API accepts at a request path (e.g. `/api/status`), read
/// from the spec, for the `Allow` header of a 405.
pub fn allowed_methods(path: &str) -> Option<String> {
    static TABLE: std::sync::OnceLock<Vec<(Vec<String>, String)>> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let spec: serde_json::Value =
            serde_json::from_str(&spec_json()).expect("the generated spec is JSON");
        let mut table = Vec::new();
        if let Some(paths) = spec["paths"].as_object() {
            for (template, ops) in paths {
                let segments = format!("/api{template}").split('/').map(str::to_owned).collect();
                let mut methods: Vec<String> = ops
                    .as_object()
                    .map(|o| o.keys().map(|m| m.to_ascii_uppercase()).collect())
                    .unwrap_or_default();
                if methods.iter().any(|m| m == "GET") {
                    methods.push("HEAD".into());
                }
                table.push((segments, methods.join(", ")));
            }
        }
        table
    });
    let request: Vec<&str> = path.split('/').collect();
    table.iter().find_map(|(template, methods)| {
        let matches = template.len() == request.len()
            && template
                .iter()
                .zip(&request)
                .all(|(t, r)| t == r || (t.starts_with('{') && t.ends_with('}') && !r.is_empty()));
        matches.then(|| methods.clone())
    })
}
