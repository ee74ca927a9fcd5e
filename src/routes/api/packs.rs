//! Evidence packs: a ZIP of a period's evidence with the log's proofs and
//! the reports, that anyone verifies offline (`verify.sh` with openssl, or
//! the standalone verifier); and the owner's full export of the practice's
//! history. The rules are `crate::packs`'.

use chrono::{DateTime, Utc};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::{Json, Payload};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Tags};
use uuid::Uuid;

use super::error::{AUTHED, ApiError, CONFLICT, JSON_BODY, NOT_FOUND, UNPROCESSABLE};
use super::types::Day;
use crate::auth::current::{ApiOwner, ApiReader, ClientInfo};
use crate::db::packs::Pack;
use crate::packs::{self, PackRequest, Status};
use crate::state::AppState;

#[derive(Tags)]
enum ApiTags {
    /// Evidence packs an auditor verifies offline, and full exports.
    EvidencePacks,
}

#[derive(Debug, Object)]
pub struct PackBody {
    /// First day (UTC) of the evidence to pack.
    pub from: Day,
    /// Last day (UTC), inclusive.
    pub to: Day,
    /// The sites to pack (1 to 100 of yours); absent for every site (an
    /// auditor limited to some sites gets those).
    #[oai(nullable, validator(min_items = 1, max_items = 100))]
    pub site_ids: Option<Vec<Uuid>>,
}

#[derive(Debug, Object)]
pub struct PackStarted {
    pub pack_id: Uuid,
}

#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename_all = "lowercase")]
pub enum PackState {
    /// Being built; `progress` says how far.
    Building,
    /// Built: download it until `expires_at`.
    Ready,
    /// Not built; `error` says why. Ask again.
    Failed,
    /// Past `expires_at` (packs are kept 7 days): its file is gone.
    Expired,
}

#[derive(Debug, Object)]
pub struct PackProgress {
    /// Bundles written so far.
    pub done: i64,
    /// Bundles the pack holds when done.
    pub total: i64,
}

#[derive(Debug, Object)]
pub struct PackItem {
    pub pack_id: Uuid,
    /// `period` (a pack of `from`..`to`) or `full` (the whole history).
    pub kind: String,
    pub status: PackState,
    pub progress: PackProgress,
    /// The ZIP's size once ready.
    #[oai(nullable)]
    pub bytes: Option<i64>,
    /// The ZIP's SHA-256 (hex) once ready.
    #[oai(nullable)]
    pub sha256: Option<String>,
    /// Bundles in the ZIP once ready.
    #[oai(nullable)]
    pub bundles: Option<i64>,
    #[oai(nullable)]
    pub from: Option<Day>,
    #[oai(nullable)]
    pub to: Option<Day>,
    /// Null: every site.
    #[oai(nullable)]
    pub site_ids: Option<Vec<Uuid>>,
    /// Why it failed.
    #[oai(nullable)]
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl From<Pack> for PackItem {
    fn from(p: Pack) -> Self {
        let status = match Status::of(&p) {
            Status::Building => PackState::Building,
            Status::Ready => PackState::Ready,
            Status::Failed => PackState::Failed,
            Status::Expired => PackState::Expired,
        };
        let error = packs::failure(&p);
        PackItem {
            pack_id: p.id,
            kind: p.kind,
            status,
            progress: PackProgress { done: p.done, total: p.total },
            bytes: p.bytes,
            sha256: p.sha256.map(hex::encode),
            bundles: p.bundles,
            from: p.period_from.map(Day),
            to: p.period_to.map(Day),
            site_ids: p.site_ids,
            error,
            created_at: p.created_at,
            expires_at: p.expires_at,
        }
    }
}

#[derive(Debug, Object)]
pub struct PackList {
    /// Newest first (an auditor sees their own).
    pub packs: Vec<PackItem>,
}

#[derive(ApiResponse)]
pub enum PackAccepted {
    /// Started: poll `GET /api/client/audit-packs/{pack_id}`.
    #[oai(status = 202)]
    Accepted(Json<PackStarted>),
}

/// A ZIP file, streamed from disk.
pub struct ZipFile(pub poem::Body);

impl Payload for ZipFile {
    const CONTENT_TYPE: &'static str = "application/zip";

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            description: Some("The pack as a ZIP file."),
            ..MetaSchema::new_with_format("string", "binary")
        }))
    }
}

impl poem::IntoResponse for ZipFile {
    fn into_response(self) -> poem::Response {
        poem::Response::builder().content_type(Self::CONTENT_TYPE).body(self.0)
    }
}

#[derive(ApiResponse)]
pub enum PackDownload {
    /// The ZIP.
    #[oai(status = 200)]
    Ok(
        ZipFile,
        /// `attachment; filename="<practice>-audit-pack-<from>-to-<to>.zip"`.
        #[oai(header = "Content-Disposition")]
        String,
        /// `no-store`.
        #[oai(header = "Cache-Control")]
        String,
    ),
}

pub struct PacksApi;

#[OpenApi(prefix_path = "/client", tag = "ApiTags::EvidencePacks")]
impl PacksApi {
    /// Ask for an evidence pack of a period (owner, admin, auditor)
    ///
    /// Builds, off the request path, a ZIP of every bundle checked between
    /// `from` and `to` at the sites asked for (exact bytes), each with its
    /// log leaf and inclusion proof, the month-end checkpoints with
    /// consistency proofs to the latest, the log key and policy, the sites'
    /// appliance keys, `checks.csv`, the monthly reports (for every site
    /// only), a README and `verify.sh`. An auditor may ask only within the
    /// sites and period of their grant (403 outside the period, 404 for a
    /// site they cannot read); 422 for a period that ends before it starts
    /// or starts in the future. One pack builds at a time per practice (409
    /// while another does). Audited (`audit_pack.requested`).
    #[oai(path = "/audit-packs", method = "post", operation_id = "create_audit_pack")]
    async fn create(
        &self,
        state: Data<&AppState>,
        req: &Request,
        user: ApiReader,
        body: Json<PackBody>,
    ) -> Result<PackAccepted, ApiError<{ AUTHED | JSON_BODY | NOT_FOUND | CONFLICT | UNPROCESSABLE }>>
    {
        let b = body.0;
        let id = packs::request(
            &state,
            &user,
            &PackRequest { from: b.from.0, to: b.to.0, site_ids: b.site_ids },
            &ClientInfo::of(req),
        )
        .await?;
        Ok(PackAccepted::Accepted(Json(PackStarted { pack_id: id })))
    }

    /// Export the practice's whole history (owner)
    ///
    /// The same ZIP as a pack, for all of the practice's evidence, every
    /// checkpoint's month-end, every report and the audit log as CSV: what
    /// a practice takes with it when it leaves. Audited
    /// (`export.requested`).
    #[oai(path = "/exports", method = "post", operation_id = "create_export")]
    async fn export(
        &self,
        state: Data<&AppState>,
        req: &Request,
        user: ApiOwner,
    ) -> Result<PackAccepted, ApiError<{ AUTHED | CONFLICT }>> {
        let id = packs::export(&state, &user, &ClientInfo::of(req)).await?;
        Ok(PackAccepted::Accepted(Json(PackStarted { pack_id: id })))
    }

    /// Your practice's packs and exports (owner, admin, auditor)
    #[oai(path = "/audit-packs", method = "get", operation_id = "list_audit_packs")]
    async fn list(
        &self,
        state: Data<&AppState>,
        user: ApiReader,
    ) -> Result<Json<PackList>, ApiError<AUTHED>> {
        let list = packs::list(&state, &user).await?;
        Ok(Json(PackList { packs: list.into_iter().map(PackItem::from).collect() }))
    }

    /// One pack: where it stands (owner, admin, auditor)
    #[oai(path = "/audit-packs/:id", method = "get", operation_id = "get_audit_pack")]
    async fn get(
        &self,
        state: Data<&AppState>,
        user: ApiReader,
        /// The pack's id.
        id: Path<Uuid>,
    ) -> Result<Json<PackItem>, ApiError<{ AUTHED | NOT_FOUND }>> {
        Ok(Json(packs::get(&state, &user, id.0).await?.into()))
    }

    /// Download a ready pack (owner, admin, auditor)
    ///
    /// 409 while it is building or when it failed; 404 once it expired.
    /// Audited (`audit_pack.downloaded`).
    #[oai(path = "/audit-packs/:id/download", method = "get", operation_id = "download_audit_pack")]
    async fn download(
        &self,
        state: Data<&AppState>,
        req: &Request,
        user: ApiReader,
        /// The pack's id.
        id: Path<Uuid>,
    ) -> Result<PackDownload, ApiError<{ AUTHED | NOT_FOUND | CONFLICT }>> {
        crate::auth::csrf::refuse_cross_site(req)?;
        let (path, name, _) = packs::download(&state, &user, id.0, &ClientInfo::of(req)).await?;
        let file = tokio::fs::File::open(&path).await.map_err(|e| {
            crate::error::AppError::internal(anyhow::anyhow!("pack file {}: {e}", path.display()))
        })?;
        Ok(PackDownload::Ok(
            ZipFile(poem::Body::from_async_read(file)),
            format!("attachment; filename=\"{name}\""),
            "no-store".to_owned(),
        ))
    }
}
