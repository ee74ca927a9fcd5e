//! The compliance reads: a practice's dashboard, a site's detail, its
//! evidence and one bundle, each scoped to the caller's practice and to
//! what the caller may reach (an auditor's grant, [`crate::reach`]) and
//! each answering its own "not found" in one wording, for the API
//! (`routes/api/compliance.rs`, `routes/api/verification.rs`) and the pages
//! (`routes/pages/{dashboard,site,evidence}.rs`) alike. SQL lives in
//! `db::compliance`; the scoring rules in `evidence::score`.

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;
use uuid::Uuid;

pub use crate::db::evidence::BundleRef;

use crate::audit::user_entry;
use crate::auth::current::{ClientInfo, CurrentUser};
use crate::db::audit;
use crate::db::compliance::{
    self as queries, ChainNeighbour, ControlGroup, EvidenceCheck, EvidenceCursor, EvidenceDetail,
    EvidenceFile, EvidenceFilter, EvidencePage, OrgInfo, SiteSummary,
};
use crate::error::{AppError, AppResult};
use crate::evidence::score::{Controls, Tally};
pub use crate::reach::{Reach, no_such_bundle, no_such_site};

/// How many chain positions on each side of a bundle its detail shows.
pub const NEIGHBOUR_REACH: i64 = 2;

/// Evidence bundles per page unless asked otherwise, and at most.
pub const EVIDENCE_PAGE: u32 = 50;
pub const MAX_EVIDENCE_PAGE: u32 = 200;

/// Longest check type and HIPAA control accepted in evidence filters (the
/// ingest format's own limits are shorter).
pub const MAX_FILTER_CHARS: usize = 255;

/// Most HIPAA controls suggested in the evidence filter.
pub const MAX_SUGGESTED_CONTROLS: i32 = 200;

/// Ok when `site_id` is a site of the practice the caller reaches, else
/// its 404.
pub async fn require_site(
    db: &impl GenericClient,
    org_id: Uuid,
    reach: &Reach,
    site_id: Uuid,
) -> AppResult<()> {
    reach.site(site_id)?;
    if queries::site_in_org(db, org_id, site_id).await? { Ok(()) } else { Err(no_such_site()) }
}

/// The practice's sites the caller reaches, by name, each with its status
/// and current tally.
pub async fn sites(
    db: &impl GenericClient,
    org_id: Uuid,
    reach: &Reach,
) -> AppResult<Vec<SiteSummary>> {
    let mut sites = queries::site_summaries(db, org_id).await?;
    sites.retain(|s| reach.sees_site(s.site_id));
    Ok(sites)
}

/// A bundle the caller reaches, pinned to its site: a bundle of a site
/// outside an auditor's grant is not found (and does not make an id
/// ambiguous), one checked outside the grant's period is a 403.
pub async fn reach_bundle<'a>(
    db: &impl GenericClient,
    org_id: Uuid,
    reach: &Reach,
    bundle: &BundleRef<'a>,
) -> AppResult<BundleRef<'a>> {
    if *reach == Reach::everything() {
        return Ok(*bundle);
    }
    let places: Vec<_> = queries::bundle_places(db, org_id, bundle)
        .await?
        .into_iter()
        .filter(|(site, _)| reach.sees_site(*site))
        .collect();
    match places.as_slice() {
        [] => Err(no_such_bundle()),
        [(site, checked_at)] => {
            reach.at(*checked_at)?;
            Ok(BundleRef::new(bundle.bundle_id, Some(*site)))
        }
        more => Err(AppError::Conflict(format!(
            "{} sites you can read have a bundle with id {}; say which with ?site_id=<site id>",
            more.len(),
            bundle.bundle_id
        ))),
    }
}

/// Records what an auditor read (`auditor.viewed`), so the practice sees
/// every page of its evidence an auditor opened; nothing for other roles.
pub async fn record_view(
    db: &impl GenericClient,
    user: &CurrentUser,
    reach: &Reach,
    client: &ClientInfo,
    what: &str,
    target_id: Option<String>,
    details: serde_json::Value,
) -> AppResult<()> {
    if !reach.auditor {
        return Ok(());
    }
    let mut details = details;
    if let Some(map) = details.as_object_mut() {
        map.insert("viewed".into(), serde_json::Value::String(what.to_owned()));
    }
    audit::record(
        db,
        &audit::Entry {
            target_type: Some(what),
            target_id,
            details,
            ..user_entry(user, client, "auditor.viewed")
        },
    )
    .await
}

/// The caller's practice (its name and partner).
pub async fn org(db: &impl GenericClient, org_id: Uuid) -> AppResult<OrgInfo> {
    queries::org_info(db, org_id)
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("the caller's org is missing")))
}

/// A site with its latest results grouped by HIPAA control.
#[derive(Debug)]
pub struct SiteDetail {
    pub site: SiteSummary,
    pub controls: Vec<ControlGroup>,
    /// The controls counted by where they stand (the headline).
    pub standing: Controls,
}

/// `(control, tally)` pairs counted by where they stand, with the
/// controls of `known` that have no recent result.
fn controls_of<'a>(
    groups: impl IntoIterator<Item = (&'a str, Tally)>,
    known: &'a [String],
) -> Controls {
    Controls::of(
        groups.into_iter().map(|(control, tally)| {
            ((control != queries::UNMAPPED_CONTROL).then_some(control), tally)
        }),
        known.iter().map(String::as_str),
    )
}

/// One site's controls by where they stand, from its latest results (for
/// lists of sites: controls without a recent result are not counted).
pub fn site_standing(groups: &[ControlGroup]) -> Controls {
    controls_of(groups.iter().map(|g| (g.hipaa_control.as_str(), g.tally)), &[])
}

/// Each site's latest results by HIPAA control, in the order of `sites`.
pub async fn controls_by_site(
    db: &impl GenericClient,
    org_id: Uuid,
    sites: &[SiteSummary],
) -> AppResult<Vec<Vec<ControlGroup>>> {
    let ids: Vec<Uuid> = sites.iter().map(|s| s.site_id).collect();
    queries::sites_controls(db, org_id, &ids).await
}

/// The HIPAA controls of every site the caller reaches (`by_site` from
/// [`controls_by_site`]), merged: a control fails when it fails at any site.
pub async fn practice_controls(
    db: &impl GenericClient,
    org_id: Uuid,
    sites: &[SiteSummary],
    by_site: &[Vec<ControlGroup>],
) -> AppResult<Controls> {
    let mut merged: std::collections::BTreeMap<&str, Tally> = Default::default();
    for group in by_site.iter().flatten() {
        merged.entry(&group.hipaa_control).or_default().merge(group.tally);
    }
    let site_ids: Vec<Uuid> = sites.iter().map(|s| s.site_id).collect();
    let known = queries::known_controls(db, org_id, &site_ids).await?;
    Ok(controls_of(merged, &known))
}

/// One site of the practice the caller reaches, or its 404.
pub async fn site_detail(
    db: &impl GenericClient,
    org_id: Uuid,
    reach: &Reach,
    site_id: Uuid,
) -> AppResult<SiteDetail> {
    reach.site(site_id)?;
    let site = queries::site_summary(db, org_id, site_id).await?.ok_or_else(no_such_site)?;
    let controls = queries::site_controls(db, org_id, site_id).await?;
    let known = queries::known_controls(db, org_id, &[site_id]).await?;
    let standing =
        controls_of(controls.iter().map(|g| (g.hipaa_control.as_str(), g.tally)), &known);
    Ok(SiteDetail { site, controls, standing })
}

/// When each failing (check, host) of one site turned to failing.
pub async fn site_failing_since(
    db: &impl GenericClient,
    org_id: Uuid,
    site_id: Uuid,
) -> AppResult<std::collections::HashMap<(String, String), DateTime<Utc>>> {
    Ok(queries::failing_since(db, org_id, Some(site_id))
        .await?
        .into_iter()
        .map(|((_, check, host), at)| ((check, host), at))
        .collect())
}

/// A page of the practice's evidence the caller reaches; a `site_id`
/// filter naming another practice's site (or one outside an auditor's
/// grant) is a 404, and dates are cut to an auditor's period (a range
/// wholly outside it is a 403).
pub async fn list_evidence(
    db: &impl GenericClient,
    org_id: Uuid,
    reach: &Reach,
    filter: &EvidenceFilter,
    after: Option<&EvidenceCursor>,
    limit: u32,
) -> AppResult<EvidencePage> {
    if let Some(site) = filter.site_id {
        require_site(db, org_id, reach, site).await?;
    }
    let (from, to) = reach.clamp(filter.from, filter.to)?;
    let reached = EvidenceFilter { from, to, sites: reach.sites.clone(), ..filter.clone() };
    queries::list_evidence(db, org_id, &reached, after, limit).await
}

/// Records a page of the evidence list an auditor read: its filters and
/// the first and last bundle it showed (nothing for other roles).
pub async fn record_evidence_page(
    db: &impl GenericClient,
    user: &CurrentUser,
    reach: &Reach,
    client: &ClientInfo,
    filter: &EvidenceFilter,
    page: &EvidencePage,
    via: &str,
) -> AppResult<()> {
    let details = serde_json::json!({
        "via": via,
        "site_id": filter.site_id,
        "from": filter.from,
        "to": filter.to,
        "bundles": page.items.len(),
        "first": page.items.first().map(|b| &b.bundle_id),
        "last": page.items.last().map(|b| &b.bundle_id),
    });
    record_view(db, user, reach, client, "evidence_list", None, details).await
}

/// One bundle with its checks and its chain neighbours.
#[derive(Debug)]
pub struct BundleDetail {
    pub detail: EvidenceDetail,
    pub checks: Vec<EvidenceCheck>,
    pub neighbours: Vec<ChainNeighbour>,
    /// Whether the stored signature verifies over the stored bytes with the
    /// key the bundle was signed with.
    pub signature_valid: bool,
    /// Where the bundle's summary disagrees with its checks (it was stored
    /// all the same); from the stored bytes.
    pub format_warnings: Vec<String>,
}

/// One bundle of the practice the caller reaches, or its 404 (403 outside
/// an auditor's period).
pub async fn bundle_detail(
    db: &impl GenericClient,
    org_id: Uuid,
    reach: &Reach,
    bundle: &BundleRef<'_>,
) -> AppResult<BundleDetail> {
    let bundle = &reach_bundle(db, org_id, reach, bundle).await?;
    let detail = queries::get_evidence(db, org_id, bundle).await?.ok_or_else(no_such_bundle)?;
    let checks = queries::evidence_checks(db, org_id, detail.summary.id).await?;
    let neighbours = queries::chain_neighbours(
        db,
        org_id,
        detail.summary.site_id,
        detail.chain_position,
        NEIGHBOUR_REACH,
    )
    .await?;
    // An auditor's view of the chain stops at their period.
    let neighbours = neighbours.into_iter().filter(|n| reach.covers(n.checked_at)).collect();
    let signature_valid = crate::evidence::chain::stored_signature_valid(
        &detail.agent_public_key,
        &detail.raw,
        &detail.signature,
    );
    let format_warnings = crate::evidence::bundle::format_warnings_of(&detail.raw);
    Ok(BundleDetail { detail, checks, neighbours, signature_valid, format_warnings })
}

/// A bundle's exact bytes for download, recorded in the audit log as
/// `evidence.downloaded`; another practice's bundle is a 404.
pub async fn download_bundle(
    db: &impl GenericClient,
    user: &CurrentUser,
    reach: &Reach,
    bundle: &BundleRef<'_>,
    client: &ClientInfo,
) -> AppResult<EvidenceFile> {
    let bundle = &reach_bundle(db, user.org_id, reach, bundle).await?;
    let file = queries::evidence_file(db, user.org_id, bundle).await?.ok_or_else(no_such_bundle)?;
    audit::record(
        db,
        &audit::Entry {
            target_type: Some("evidence_bundle"),
            target_id: Some(file.bundle_id.clone()),
            details: serde_json::json!({
                "site_id": file.site_id,
                "chain_position": file.chain_position,
                "bundle_hash": hex::encode(&file.bundle_hash),
            }),
            ..user_entry(user, client, "evidence.downloaded")
        },
    )
    .await?;
    Ok(file)
}
