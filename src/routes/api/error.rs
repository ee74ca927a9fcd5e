//! `ApiError<CODES>`: an operation's error type that documents exactly the
//! error statuses it can answer (a bit set), each with the JSON envelope.
//! At run time it is just an [`AppError`], rendered by the shell.

use poem_openapi::ApiResponse;
use poem_openapi::registry::{MetaHeader, MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::Type;

use super::ErrorBody;
use crate::error::AppError;

pub const BAD_REQUEST: u16 = 1;
pub const UNAUTHORIZED: u16 = 1 << 1;
pub const FORBIDDEN: u16 = 1 << 2;
pub const NOT_FOUND: u16 = 1 << 3;
pub const CONFLICT: u16 = 1 << 4;
pub const TOO_MANY: u16 = 1 << 5;
pub const UNSUPPORTED_MEDIA: u16 = 1 << 6;
pub const PAYLOAD_TOO_LARGE: u16 = 1 << 7;
pub const UNPROCESSABLE: u16 = 1 << 8;
/// What an operation with a JSON body can answer for a malformed one.
pub const JSON_BODY: u16 = BAD_REQUEST | UNSUPPORTED_MEDIA;
/// What every authenticated operation can answer.
pub const AUTHED: u16 = BAD_REQUEST | UNAUTHORIZED | FORBIDDEN;

#[derive(Debug)]
pub struct ApiError<const CODES: u16>(pub AppError);

impl<const CODES: u16> From<AppError> for ApiError<CODES> {
    fn from(e: AppError) -> Self {
        ApiError(e)
    }
}

/// Lets `?` on a query turn its error into the operation's error.
impl<const CODES: u16> From<tokio_postgres::Error> for ApiError<CODES> {
    fn from(e: tokio_postgres::Error) -> Self {
        ApiError(AppError::from(e))
    }
}

/// Lets `?` on a pool checkout turn its error (503) into the operation's error.
impl<const CODES: u16> From<deadpool_postgres::PoolError> for ApiError<CODES> {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        ApiError(AppError::from(e))
    }
}

impl<const CODES: u16> From<ApiError<CODES>> for poem::Error {
    fn from(e: ApiError<CODES>) -> Self {
        e.0.into()
    }
}

const DOCUMENTED: &[(u16, u16, &str)] = &[
    (BAD_REQUEST, 400, "Malformed input; the message says what to fix."),
    (UNAUTHORIZED, 401, "Not signed in, or the credential is invalid."),
    (FORBIDDEN, 403, "Signed in, but not allowed (role, inactive account or CSRF check)."),
    (NOT_FOUND, 404, "No such resource in your practice."),
    (CONFLICT, 409, "Conflicts with existing data."),
    (TOO_MANY, 429, "Too many attempts; retry after the Retry-After seconds."),
    (UNSUPPORTED_MEDIA, 415, "The body must be JSON (Content-Type: application/json)."),
    (PAYLOAD_TOO_LARGE, 413, "The body is larger than the operation accepts."),
    (
        UNPROCESSABLE,
        422,
        "Well-formed, but not something the portal can do (e.g. a period that ends before it starts); the message says why.",
    ),
];

impl<const CODES: u16> ApiResponse for ApiError<CODES> {
    fn meta() -> MetaResponses {
        let content = || {
            vec![MetaMediaType {
                content_type: "application/json; charset=utf-8",
                schema: ErrorBody::schema_ref(),
            }]
        };
        let mut responses: Vec<MetaResponse> = DOCUMENTED
            .iter()
            .filter(|(bit, _, _)| CODES & bit != 0)
            .map(|(bit, status, description)| MetaResponse {
                description,
                status: Some(*status),
                status_range: None,
                content: content(),
                headers: if *bit == TOO_MANY {
                    vec![MetaHeader {
                        name: "Retry-After".into(),
                        description: Some("Seconds until another attempt is allowed.".into()),
                        required: true,
                        deprecated: false,
                        schema: u64::schema_ref(),
                    }]
                } else {
                    vec![]
                },
            })
            .collect();
        responses.push(MetaResponse {
            description: "The database is unreachable; try again shortly.",
            status: Some(503),
            status_range: None,
            content: content(),
            headers: vec![],
        });
        MetaResponses { responses }
    }

    fn register(registry: &mut Registry) {
        ErrorBody::register(registry);
    }
}
