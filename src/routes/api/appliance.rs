//! `POST /api/appliance/evidence`: appliances push signed evidence bundles.
//! The body is kept byte for byte (never re-serialized): its SHA-256 is the
//! bundle hash and the appliance's Ed25519 signature covers exactly it.

use poem::web::Data;
use poem::{Request, RequestBody};
use poem_openapi::param::Header;
use poem_openapi::payload::{Json, ParsePayload, Payload, PlainText};
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Tags};
use uuid::Uuid;

use super::error::{
    ApiError, BAD_REQUEST, CONFLICT, FORBIDDEN, NOT_FOUND, PAYLOAD_TOO_LARGE, TOO_MANY,
    UNAUTHORIZED, UNPROCESSABLE, UNSUPPORTED_MEDIA,
};
use crate::auth::current::ClientInfo;
use crate::error::AppError;
use crate::evidence::bundle::MAX_BUNDLE_BYTES;
use crate::evidence::limits::{BODY_READ, BodyRoom, MAX_BATCH_BYTES};
use crate::evidence::{batch, ingest, witness};
use crate::state::AppState;

#[derive(Tags)]
enum ApiTags {
    /// For site appliances: pushing signed evidence.
    Appliance,
}

/// The status words appliances may use; pass|compliant count as pass,
/// fail|non_compliant as fail, warn|warning|error as warn.
#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename_all = "snake_case")]
pub enum StatusWord {
    Pass,
    Compliant,
    Fail,
    NonCompliant,
    Warn,
    Warning,
    Error,
}

/// One check result in a bundle (format v1).
#[derive(Debug, Object)]
pub struct CheckDoc {
    /// Check name, lower-case: `bitlocker_status`, `firewall_status`, ...
    #[oai(validator(pattern = r"^[a-z0-9_.-]{1,100}$"))]
    pub check: String,
    pub status: StatusWord,
    /// The machine checked, e.g. `FRONTDESK-01`: 1 to 255 characters, no
    /// control characters.
    #[oai(validator(min_length = 1, max_length = 255, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"))]
    pub host: String,
    /// HIPAA Security Rule control, e.g. `164.312(a)(2)(iv)`: 1 to 64
    /// characters, no control characters; absent or null when there is none.
    #[oai(
        nullable,
        validator(min_length = 1, max_length = 64, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")
    )]
    pub hipaa_control: Option<String>,
    /// Check-specific facts (an object; numbers keep every digit). No string
    /// in it, key or value, may contain a NUL character (`\u0000`).
    pub details: Option<std::collections::BTreeMap<String, serde_json::Value>>,
}

/// Counts that must agree with `checks` (a mismatch is refused).
#[derive(Debug, Object)]
pub struct SummaryDoc {
    pub total_checks: u64,
    /// Checks with a pass status.
    pub compliant: u64,
    /// Checks with a fail status.
    pub non_compliant: u64,
    /// Checks with a warn status.
    pub errors: u64,
}

/// An evidence bundle, format v1: the body's exact bytes are hashed and
/// signed, so send them as they are and sign precisely what you send.
#[derive(Debug, Object)]
pub struct BundleDoc {
    /// Unique forever, chosen by the appliance: e.g. `CB-2026-11-24-1a2b3c4d`.
    #[oai(validator(pattern = r"^[A-Za-z0-9._:-]{1,128}$"))]
    pub bundle_id: String,
    /// The site's id, in the canonical lowercase hyphenated form only.
    #[oai(validator(pattern = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"))]
    pub site_id: String,
    /// When the checks ran (RFC 3339).
    pub checked_at: chrono::DateTime<chrono::Utc>,
    /// One entry per (check, host); no pair twice.
    #[oai(validator(min_items = 1, max_items = 10000))]
    pub checks: Vec<CheckDoc>,
    pub summary: SummaryDoc,
}

/// The request body as received, documented as a [`BundleDoc`], with its
/// room in the ingest body budget (held until the request is done).
pub struct RawBundle {
    pub bytes: Vec<u8>,
    _room: BodyRoom,
}

/// Whether a Content-Type is JSON (its parameters, such as a charset, and
/// the case of its letters aside).
fn is_json(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// A raw JSON body documented in OpenAPI as the object `$doc`.
macro_rules! raw_json_payload {
    ($raw:ty, $doc:ty) => {
        impl Payload for $raw {
            const CONTENT_TYPE: &'static str = "application/json";

            fn check_content_type(content_type: &str) -> bool {
                is_json(content_type)
            }

            fn schema_ref() -> MetaSchemaRef {
                <$doc>::schema_ref()
            }

            fn register(registry: &mut Registry) {
                <$doc>::register(registry);
            }
        }
    };
}

raw_json_payload!(RawBundle, BundleDoc);

impl ParsePayload for RawBundle {
    const IS_REQUIRED: bool = true;

    async fn from_request(req: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let (bytes, room) =
            read_ingest_body(req, body, MAX_BUNDLE_BYTES, 1, "a bundle", "1 MiB").await?;
        Ok(RawBundle { bytes, _room: room })
    }
}

/// A batch holds room for this many times its body in the ingest budget
/// until it is answered: its bundles decoded and parsed, and the
/// statements that store them, cost about that much beside the body (the
/// resident memory's peak while ingesting is measured by `scripts/bench`).
const BATCH_ROOM: usize = 3;

/// Reads an ingest body of at most `max` bytes. Before a byte is read: an
/// address refused too often waits, and the request waits for room in the
/// budget of bodies held at once (`room` times its size, for what it
/// becomes while it is worked on).
async fn read_ingest_body(
    req: &Request,
    body: &mut RequestBody,
    max: usize,
    room: usize,
    what: &str,
    max_words: &str,
) -> poem::Result<(Vec<u8>, BodyRoom)> {
    let too_large =
        || AppError::PayloadTooLarge(format!("{what} may be at most {max} bytes ({max_words})"));
    let declared = req
        .headers()
        .get(poem::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_large().into());
    }
    let state = req
        .data::<AppState>()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("no AppState on the request")))?;
    let limits = state.ingest_limits();
    limits.check_address(&ClientInfo::of(req).ip_key())?;
    let room = limits.body_room(declared.unwrap_or(max).saturating_mul(room)).await?;
    let read = read_capped(body.take()?, declared, max, too_large);
    let bytes = match tokio::time::timeout(BODY_READ, read).await {
        Ok(read) => read?,
        Err(_) => {
            return Err(AppError::BadRequest(format!(
                "the body did not arrive within {} s; send it again",
                BODY_READ.as_secs()
            ))
            .into());
        }
    };
    Ok((bytes, room))
}

/// Reads a body of at most `max` bytes into one buffer of the declared
/// size (no doubling and copying as it grows, so a body costs its size in
/// memory and no more), growing only when no size was declared.
async fn read_capped(
    body: poem::Body,
    declared: Option<usize>,
    max: usize,
    too_large: impl Fn() -> AppError,
) -> Result<Vec<u8>, AppError> {
    use futures_util::StreamExt;
    let mut out = Vec::with_capacity(declared.unwrap_or(0).min(max));
    let mut stream = std::pin::pin!(body.into_bytes_stream());
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| AppError::BadRequest(format!("cannot read the body: {e}")))?;
        if out.len() + chunk.len() > max {
            return Err(too_large());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[derive(Debug, Object)]
pub struct ReceiptBody {
    pub bundle_id: String,
    pub site_id: Uuid,
    /// Position in the site's chain, from 0.
    pub chain_position: i64,
    /// SHA-256 of the body, hex.
    pub bundle_hash: String,
    /// SHA-256("osiris-chain-v1" ‖ site_id ‖ position ‖ previous chain hash ‖ bundle hash), hex.
    pub chain_hash: String,
    /// The bundle's index in its practice's evidence log (an RFC 6962 Merkle
    /// tree whose signed checkpoints are published to the practice).
    pub log_index: i64,
    /// The log's origin, `<host>/log/<practice id>`: the first line of its
    /// checkpoints and the name of its verifier key.
    pub log_origin: String,
}

#[derive(ApiResponse)]
pub enum IngestResponse {
    /// Stored and appended to the site's chain.
    #[oai(status = 201)]
    Created(Json<ReceiptBody>),
    /// This exact bundle was received before; the original receipt.
    #[oai(status = 200)]
    AlreadyReceived(Json<ReceiptBody>),
}

/// One bundle of a batch: its exact bytes and its signature.
#[derive(Debug, Object, serde::Deserialize)]
pub struct BatchItemDoc {
    /// The bundle's exact bytes (a format v1 bundle, at most 1 MiB), in
    /// standard base64 with padding: these bytes are hashed and signed.
    pub bundle: String,
    /// The hex Ed25519 signature of exactly those bytes by the site's
    /// appliance key (what `X-Agent-Signature` carries for one bundle).
    pub signature: String,
}

/// A batch of signed bundles, each answered on its own.
#[derive(Debug, Object, serde::Deserialize)]
pub struct BatchDoc {
    /// 1 to 500 bundles, of one site or several; bundles of one site are
    /// chained in this order.
    #[oai(validator(min_items = 1, max_items = 500))]
    pub bundles: Vec<BatchItemDoc>,
}

/// A batch's body as received, documented as a [`BatchDoc`], with its room
/// in the ingest body budget.
pub struct RawBatch {
    pub bytes: Vec<u8>,
    _room: BodyRoom,
}

raw_json_payload!(RawBatch, BatchDoc);

impl ParsePayload for RawBatch {
    const IS_REQUIRED: bool = true;

    async fn from_request(req: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let (bytes, room) =
            read_ingest_body(req, body, MAX_BATCH_BYTES, BATCH_ROOM, "a batch of bundles", "4 MiB")
                .await?;
        Ok(RawBatch { bytes, _room: room })
    }
}

/// The answer to one bundle of a batch: what the single-bundle endpoint
/// would have answered it.
#[derive(Debug, Object)]
pub struct BatchAnswer {
    /// 201 stored, 200 received before (the original receipt), or the error
    /// status the single-bundle endpoint gives (400, 401, 403, 409, 413,
    /// 422, 429).
    pub status: u16,
    /// The receipt, for 200 and 201.
    #[oai(skip_serializing_if_is_none)]
    pub receipt: Option<ReceiptBody>,
    /// The error's code, as in the single-bundle endpoint's error body.
    #[oai(skip_serializing_if_is_none)]
    pub error: Option<String>,
    /// What went wrong and what to do.
    #[oai(skip_serializing_if_is_none)]
    pub message: Option<String>,
    /// For 429: seconds to wait before sending this bundle again.
    #[oai(skip_serializing_if_is_none)]
    pub retry_after: Option<u64>,
}

/// One answer per bundle, in the order sent, and their counts.
#[derive(Debug, Object)]
pub struct BatchReceipts {
    pub answers: Vec<BatchAnswer>,
    /// Bundles stored by this request (201).
    pub created: u64,
    /// Bundles received before (200).
    pub already_received: u64,
    /// Bundles refused (not stored): send them again only once fixed, or
    /// after `retry_after` for 429.
    pub refused: u64,
}

fn receipt_body(receipt: ingest::Receipt) -> ReceiptBody {
    ReceiptBody {
        bundle_id: receipt.bundle_id,
        site_id: receipt.site_id,
        chain_position: receipt.chain_position,
        bundle_hash: hex::encode(receipt.bundle_hash),
        chain_hash: hex::encode(receipt.chain_hash),
        log_index: receipt.log_index,
        log_origin: receipt.log_origin,
    }
}

/// Reads a batch's envelope: every bundle's bytes (or, for an entry that
/// is not base64, its own 400), or a 400 for the whole body.
fn batch_items(bytes: &[u8]) -> Result<Vec<Result<batch::Item, AppError>>, AppError> {
    use base64::Engine as _;
    let doc: BatchDoc = serde_json::from_slice(bytes).map_err(|e| {
        AppError::BadRequest(format!(
            "the body is not a batch ({{\"bundles\": [{{\"bundle\": base64, \"signature\": hex}}, ...]}}): {e}"
        ))
    })?;
    if doc.bundles.is_empty() || doc.bundles.len() > batch::MAX_BATCH_BUNDLES {
        return Err(AppError::BadRequest(format!(
            "a batch holds 1 to {} bundles; this one has {}",
            batch::MAX_BATCH_BUNDLES,
            doc.bundles.len()
        )));
    }
    Ok(doc
        .bundles
        .into_iter()
        .map(|b| {
            let raw = base64::engine::general_purpose::STANDARD.decode(&b.bundle).map_err(|e| {
                AppError::BadRequest(format!(
                    "bundle is not standard base64 with padding ({e}): send the bundle's exact bytes \
                     encoded so"
                ))
            })?;
            Ok(batch::Item { raw, signature: b.signature, received_at: None })
        })
        .collect())
}

/// A signed request of an appliance about its practice's evidence log.
/// Sign the exact body bytes with the site's signing key (hex Ed25519 in
/// `X-Agent-Signature`); `timestamp` must be within 300 s of the portal's
/// clock.
#[derive(Debug, Object)]
pub struct LogRequestDoc {
    /// `log-proof`, `log-witness` or `log-cosignature`, as the endpoint.
    pub request: String,
    pub site_id: Uuid,
    /// Unix seconds, when the request was signed.
    pub timestamp: i64,
    /// log-proof: the bundle to prove.
    pub bundle_id: Option<String>,
    /// log-witness: the size of the last checkpoint the appliance accepted (0 at first).
    #[oai(validator(minimum(value = "0"), maximum(value = "9007199254740991")))]
    pub old_size: Option<u64>,
    /// log-cosignature: the tree size of the checkpoint cosigned.
    #[oai(validator(minimum(value = "0"), maximum(value = "9007199254740991")))]
    pub size: Option<u64>,
    /// log-cosignature: the c2sp.org/tlog-cosignature v1 line, made with the
    /// site's cosigner key (name `<host>/appliance/<site id>`).
    pub cosignature: Option<String>,
}

/// A log request's body as received, documented as a [`LogRequestDoc`].
pub struct RawLogRequest(pub Vec<u8>);

raw_json_payload!(RawLogRequest, LogRequestDoc);

impl ParsePayload for RawLogRequest {
    const IS_REQUIRED: bool = true;

    async fn from_request(_req: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let max = crate::evidence::witness::MAX_REQUEST_BYTES;
        let bytes = body.take()?.into_bytes_limit(max).await.map_err(|e| match e {
            poem::error::ReadBodyError::PayloadTooLarge => AppError::PayloadTooLarge(format!(
                "an appliance request may be at most {max} bytes"
            )),
            other => AppError::BadRequest(format!("cannot read the body: {other}")),
        })?;
        Ok(RawLogRequest(bytes.to_vec()))
    }
}

#[derive(ApiResponse)]
pub enum LogText {
    /// The answer as text (see the operation).
    #[oai(status = 200, content_type = "text/plain; charset=utf-8")]
    Ok(PlainText<String>),
}

#[derive(Debug, Object)]
pub struct CosignatureKept {
    pub size: u64,
    /// The cosignature's timestamp.
    pub timestamp: u64,
}

/// What a signed log request can be refused with.
const LOG_REQUEST_ERRORS: u16 =
    BAD_REQUEST | UNAUTHORIZED | NOT_FOUND | CONFLICT | UNSUPPORTED_MEDIA | PAYLOAD_TOO_LARGE;

pub struct ApplianceApi;

#[OpenApi(prefix_path = "/appliance", tag = "ApiTags::Appliance")]
impl ApplianceApi {
    /// Push a signed evidence bundle
    ///
    /// The body is the bundle's JSON (format v1, at most 1 MiB); the header
    /// `X-Agent-Signature` is the hex Ed25519 signature of exactly those bytes
    /// by the site's appliance key. Appends to a site's chain are serialized.
    /// An identical resend answers 200 with the original receipt; the same
    /// bundle_id with other bytes is 409. Nothing is stored on any error.
    /// An unknown site and a bad signature are the same 401; a practice
    /// that is not active gets 403. 429 (with Retry-After) past 1,200
    /// bundles a site per minute (`PORTAL_INGEST_PER_SITE`), past 120
    /// refused attempts from one client address per minute, or when the
    /// bodies being received at once fill their memory budget (8 MiB) for
    /// 10 s; a body must arrive within 60 s of its reading starting.
    #[oai(path = "/evidence", method = "post", operation_id = "ingest_evidence")]
    async fn ingest_evidence(
        &self,
        state: Data<&AppState>,
        req: &Request,
        #[oai(name = "X-Agent-Signature")] signature: Header<String>,
        body: RawBundle,
    ) -> Result<
        IngestResponse,
        ApiError<
            {
                BAD_REQUEST
                    | UNAUTHORIZED
                    | FORBIDDEN
                    | CONFLICT
                    | UNSUPPORTED_MEDIA
                    | PAYLOAD_TOO_LARGE
                    | UNPROCESSABLE
                    | TOO_MANY
            },
        >,
    > {
        // The body's extractor has checked the address already.
        let address = ClientInfo::of(req).ip_key();
        let limits = state.ingest_limits();
        let receipt = match ingest::ingest(&state, &body.bytes, &signature.0).await {
            Ok(r) => r,
            Err(e) => {
                limits.refused(&address, &e);
                return Err(e.into());
            }
        };
        let created = receipt.created;
        let out = receipt_body(receipt);
        Ok(if created {
            IngestResponse::Created(Json(out))
        } else {
            IngestResponse::AlreadyReceived(Json(out))
        })
    }

    /// Push up to 500 signed evidence bundles at once
    ///
    /// For backlogs and busy sites: each bundle is answered on its own, with
    /// what `POST /appliance/evidence` would have answered it (201, 200 with
    /// the original receipt, or its error), and a bad bundle never sinks the
    /// others. Each entry carries the bundle's exact bytes in base64 and
    /// their hex signature. Bundles of one site are chained in the order
    /// sent. The whole request is refused only when its body is not a batch
    /// (400: nothing is stored), is over 4 MiB (413), or must wait (429, as
    /// for one bundle; each bundle also counts towards its site's rate).
    /// The answer's `answers[i]` is bundle `i`'s.
    #[oai(path = "/evidence/batch", method = "post", operation_id = "ingest_evidence_batch")]
    async fn ingest_evidence_batch(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: RawBatch,
    ) -> Result<
        Json<BatchReceipts>,
        ApiError<{ BAD_REQUEST | UNSUPPORTED_MEDIA | PAYLOAD_TOO_LARGE | TOO_MANY }>,
    > {
        let address = ClientInfo::of(req).ip_key();
        let limits = state.ingest_limits();
        let entries = match batch_items(&body.bytes) {
            Ok(entries) => entries,
            Err(e) => {
                limits.failed(&address);
                return Err(e.into());
            }
        };
        // Entries that are not base64 are answered as they are; the rest
        // go in as one batch, and their answers back in their places.
        let mut answers: Vec<Option<Result<ingest::Receipt, AppError>>> = Vec::new();
        let mut items = Vec::with_capacity(entries.len());
        for entry in entries {
            match entry {
                Ok(item) => {
                    items.push(item);
                    answers.push(None);
                }
                Err(e) => answers.push(Some(Err(e))),
            }
        }
        let mut stored = batch::ingest_batch(&state, items).await?.into_iter();
        // The body's room is held until the answer: what it became is
        // still in memory.
        drop(body);
        let answers: Vec<Result<ingest::Receipt, AppError>> = answers
            .into_iter()
            .map(|a| match a {
                Some(refused) => refused,
                None => stored.next().unwrap_or_else(|| {
                    Err(AppError::internal(anyhow::anyhow!("a batch item had no answer")))
                }),
            })
            .collect();
        let mut out = BatchReceipts {
            answers: Vec::with_capacity(answers.len()),
            created: 0,
            already_received: 0,
            refused: 0,
        };
        for answer in answers {
            out.answers.push(match answer {
                Ok(receipt) => {
                    let status = if receipt.created {
                        out.created += 1;
                        201
                    } else {
                        out.already_received += 1;
                        200
                    };
                    BatchAnswer {
                        status,
                        receipt: Some(receipt_body(receipt)),
                        error: None,
                        message: None,
                        retry_after: None,
                    }
                }
                Err(e) => {
                    limits.refused(&address, &e);
                    out.refused += 1;
                    let retry_after = match &e {
                        AppError::TooManyRequests { retry_after_secs, .. } => {
                            Some(*retry_after_secs)
                        }
                        _ => None,
                    };
                    BatchAnswer {
                        status: e.status().as_u16(),
                        receipt: None,
                        error: Some(e.code().to_owned()),
                        message: Some(e.to_string()),
                        retry_after,
                    }
                }
            });
        }
        Ok(Json(out))
    }

    /// Prove one of the site's bundles
    ///
    /// A signed `log-proof` request (`bundle_id`): the bundle's
    /// c2sp.org/tlog-proof@v1 file against the latest checkpoint, with the
    /// cosignatures held.
    #[oai(path = "/log/proof", method = "post", operation_id = "get_appliance_log_proof")]
    async fn log_proof(
        &self,
        state: Data<&AppState>,
        #[oai(name = "X-Agent-Signature")] signature: Header<String>,
        body: RawLogRequest,
    ) -> Result<LogText, ApiError<LOG_REQUEST_ERRORS>> {
        Ok(LogText::Ok(PlainText(witness::proof(&state, &body.0, &signature.0).await?)))
    }

    /// The latest checkpoint, proven consistent with one the appliance kept
    ///
    /// A signed `log-witness` request (`old_size`): a c2sp.org/tlog-witness
    /// style body: `old <old_size>`, the consistency proof (base64 lines),
    /// a blank line, and the latest checkpoint with its cosignatures.
    /// Verify both with the log key you pinned before cosigning.
    #[oai(path = "/log/witness", method = "post", operation_id = "get_appliance_log_witness")]
    async fn log_witness(
        &self,
        state: Data<&AppState>,
        #[oai(name = "X-Agent-Signature")] signature: Header<String>,
        body: RawLogRequest,
    ) -> Result<LogText, ApiError<LOG_REQUEST_ERRORS>> {
        Ok(LogText::Ok(PlainText(witness::witness(&state, &body.0, &signature.0).await?)))
    }

    /// Cosign a checkpoint
    ///
    /// A signed `log-cosignature` request (`size`, `cosignature`): the
    /// site's c2sp.org/tlog-cosignature v1 line over the checkpoint of that
    /// size, made with its cosigner key. Kept and served with the checkpoint.
    #[oai(
        path = "/log/cosignature",
        method = "post",
        operation_id = "create_appliance_cosignature"
    )]
    async fn log_cosignature(
        &self,
        state: Data<&AppState>,
        #[oai(name = "X-Agent-Signature")] signature: Header<String>,
        body: RawLogRequest,
    ) -> Result<Json<CosignatureKept>, ApiError<LOG_REQUEST_ERRORS>> {
        let (size, timestamp) = witness::cosign(&state, &body.0, &signature.0).await?;
        Ok(Json(CosignatureKept { size, timestamp }))
    }
}

// The macro refers to itself unqualified, so it must be in scope by name.
use poem_openapi::impl_apirequest_for_payload;
impl_apirequest_for_payload!(RawBundle);
impl_apirequest_for_payload!(RawBatch);
impl_apirequest_for_payload!(RawLogRequest);
