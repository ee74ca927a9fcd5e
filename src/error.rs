//! One error type for the whole app. The API renders it as the JSON error
//! envelope, pages as an HTML error page (htmx-aware); only 5xx are logged
//! as errors, with their cause chain.

use poem::http::StatusCode;
use tokio_postgres::error::SqlState;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{message}")]
    TooManyRequests { message: String, retry_after_secs: u64 },
    #[error("the database is not reachable right now; try again shortly")]
    Unavailable(#[source] anyhow::Error),
    #[error("something went wrong on our side; it has been logged")]
    Internal(#[source] anyhow::Error),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Stable machine-readable code for the JSON envelope.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::BadRequest(_) => "bad_request",
            AppError::Unauthorized(_) => "unauthorized",
            AppError::Forbidden(_) => "forbidden",
            AppError::NotFound(_) => "not_found",
            AppError::Conflict(_) => "conflict",
            AppError::Unprocessable(_) => "unprocessable",
            AppError::PayloadTooLarge(_) => "payload_too_large",
            AppError::TooManyRequests { .. } => "rate_limited",
            AppError::Unavailable(_) => "unavailable",
            AppError::Internal(_) => "internal",
        }
    }

    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        AppError::Internal(e.into())
    }

    /// The whole message, the internal cause included (for operators and
    /// logs; responses never show it).
    pub fn detail(&self) -> String {
        match self {
            AppError::Internal(e) | AppError::Unavailable(e) => format!("{e:#}"),
            other => other.to_string(),
        }
    }

    /// Logs server-side failures once, where they are turned into responses.
    pub fn log(&self) {
        match self {
            AppError::Internal(e) => tracing::error!(error = ?e, "request failed"),
            AppError::Unavailable(e) => tracing::warn!(error = ?e, "database unavailable"),
            _ => {}
        }
    }
}

/// Human wording for the constraints a user can run into; a violation of
/// any other constraint is a bug and stays a 500.
fn constraint_message(constraint: &str) -> Option<(StatusCode, &'static str)> {
    let conflict = StatusCode::CONFLICT;
    Some(match constraint {
        "client_users_email_key" => (conflict, "a user with that email address already exists"),
        "partners_name_key" => (conflict, "a partner with that name already exists"),
        "sites_org_name_key" => (conflict, "this practice already has a site with that name"),
        "client_users_one_active_owner_per_org" => (conflict, "this practice already has an owner"),
        "api_tokens_user_name_key" => (conflict, "you already have an API token with that name"),
        "client_invites_one_pending_per_email" => {
            (conflict, "an invitation to that address is already pending")
        }
        "partner_transfer_requests_one_open_per_org" => {
            (conflict, "a transfer request is already open for this practice")
        }
        "evidence_bundles_site_bundle_id_key" => {
            (conflict, "another bundle with that bundle_id was already received from this site")
        }
        _ => return None,
    })
}

impl From<tokio_postgres::Error> for AppError {
    fn from(e: tokio_postgres::Error) -> Self {
        if let Some(db) = e.as_db_error() {
            if let Some((status, message)) = db.constraint().and_then(constraint_message) {
                return match status {
                    StatusCode::CONFLICT => AppError::Conflict(message.to_owned()),
                    _ => AppError::BadRequest(message.to_owned()),
                };
            }
            if matches!(
                e.code(),
                Some(&SqlState::QUERY_CANCELED)
                    | Some(&SqlState::ADMIN_SHUTDOWN)
                    | Some(&SqlState::CANNOT_CONNECT_NOW)
            ) {
                return AppError::Unavailable(e.into());
            }
            return AppError::Internal(e.into());
        }
        // No server error: the connection broke (unavailable) or our own
        // parameters could not be encoded (a bug).
        let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
        if e.is_closed() || io {
            AppError::Unavailable(e.into())
        } else {
            AppError::Internal(e.into())
        }
    }
}

impl From<deadpool_postgres::PoolError> for AppError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        AppError::Unavailable(e.into())
    }
}

/// Lets handlers and extractors return `AppError` with `?`; the shell finds
/// it again with `downcast_ref` to render the right body.
impl poem::error::ResponseError for AppError {
    fn status(&self) -> StatusCode {
        AppError::status(self)
    }
}

impl From<anyhow::Error> for AppError {
    fn from(e: anyhow::Error) -> Self {
        AppError::Internal(e)
    }
}

/// For the command line: input problems are the operator's to fix, so say
/// only what was wrong; server-side failures keep their cause chain.
pub fn operator_error(e: AppError) -> anyhow::Error {
    match e {
        AppError::Internal(e) | AppError::Unavailable(e) => e,
        other => anyhow::anyhow!(other.to_string()),
    }
}
