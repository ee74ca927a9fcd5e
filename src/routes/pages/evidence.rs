//! The evidence browser (full page, `#evidence-results` fragment, or
//! "Load more" rows) and one bundle's detail page.

use maud::{Markup, html};
use poem::web::{Data, Path, Query};
use poem::{Request, Response, handler};
use serde::Deserialize;
use uuid::Uuid;

use super::filters::{
    date_field, day_range, keep, load_more_cursor, load_more_failed, outcome, page_size, quoted,
    read_query,
};
use super::respond;
use crate::auth::current::{ClientInfo, Reader};
use crate::compliance::{
    self, EVIDENCE_PAGE as DEFAULT_PAGE, MAX_EVIDENCE_PAGE as MAX_PAGE, MAX_FILTER_CHARS,
    MAX_SUGGESTED_CONTROLS,
};
use crate::db::compliance::{self as queries, EvidenceCursor, EvidenceFilter};
use crate::error::{AppError, AppResult};
use crate::evidence::bundle::CheckStatus;
use crate::evidence::bundle::{MAX_BUNDLE_ID_CHARS, is_bundle_id};
use crate::state::AppState;
use crate::views::evidence::{self, DetailData, FieldError, FilterOptions, FilterValues, Results};
use crate::views::layout::NavUser;

/// The query string: the filters plus a "Load more" cursor.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EvidenceQuery {
    #[serde(flatten)]
    values: FilterValues,
    cursor: Option<String>,
}

/// Filters ready for the query layer.
struct Parsed {
    filter: EvidenceFilter,
    limit: u32,
    after: Option<EvidenceCursor>,
}

fn text_filter(field: &'static str, label: &str, raw: &str) -> Result<Option<String>, FieldError> {
    if raw.trim().is_empty() {
        return Ok(None);
    }
    if raw.chars().count() > MAX_FILTER_CHARS || raw.chars().any(char::is_control) {
        return Err(FieldError {
            field,
            message: format!(
                "{label} must be at most {MAX_FILTER_CHARS} characters, without control characters."
            ),
        });
    }
    Ok(Some(raw.to_owned()))
}

/// Reads the filters; every problem is reported, not just the first.
fn parse(values: &FilterValues, cursor: Option<&str>) -> Result<Parsed, Vec<FieldError>> {
    let mut errors = Vec::new();

    let site_id = keep(
        &mut errors,
        match values.site_id.trim() {
            "" => Ok(None),
            raw => Uuid::parse_str(raw).map(Some).map_err(|_| FieldError {
                field: "site_id",
                message: format!(
                    "Site {} is not a site id; pick a site from the list.",
                    quoted(raw)
                ),
            }),
        },
    );
    let result = keep(
        &mut errors,
        match values.result.trim() {
            "" => Ok(None),
            raw => raw.parse::<CheckStatus>().map(Some).map_err(|_| FieldError {
                field: "result",
                message: format!("Result {} is not one of pass, warn or fail.", quoted(raw)),
            }),
        },
    );
    let check_type = keep(&mut errors, text_filter("check_type", "Check", &values.check_type));
    let hipaa_control =
        keep(&mut errors, text_filter("hipaa_control", "HIPAA control", &values.hipaa_control));
    let from = keep(&mut errors, date_field("from", "From", &values.from));
    let to = keep(&mut errors, date_field("to", "To", &values.to));
    let limit = page_size(&mut errors, &values.limit, DEFAULT_PAGE, MAX_PAGE);
    let after = load_more_cursor(&mut errors, cursor, "the list");
    let (from, to) = day_range(&mut errors, from, to);
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Parsed {
        filter: EvidenceFilter {
            site_id,
            check_type,
            result,
            hipaa_control,
            from,
            // Inclusive: everything before the next day starts.
            to,
            sites: None,
        },
        limit,
        after,
    })
}

/// `GET /client/evidence`: the full page; for htmx, the `#evidence-results`
/// fragment, or (with `cursor`) the next rows and a new `#load-more`.
#[handler]
pub async fn view_evidence_get(
    state: Data<&AppState>,
    req: &Request,
    Reader(user): Reader,
) -> AppResult<Response> {
    let query: EvidenceQuery = read_query(
        req,
        &["site_id", "check_type", "result", "hipaa_control", "from", "to", "limit", "cursor"],
    )?;
    let fragment = respond::wants_fragment(req);
    let load_more = fragment && query.cursor.is_some();
    let values = &query.values;

    let db = state.pool().get().await?;
    let reach = compliance::Reach::of(&**db, &user).await?;
    // Dates outside an auditor's period are the form's to correct.
    let parsed = parse(values, query.cursor.as_deref()).and_then(|p| {
        match reach.clamp(p.filter.from, p.filter.to) {
            Ok(_) => Ok(p),
            Err(_) => Err(vec![FieldError {
                field: "from",
                message: format!(
                    "Your auditor access covers evidence checked {}: pick dates inside it.",
                    reach.period_text()
                ),
            }]),
        }
    });
    let page = match &parsed {
        Ok(p) => Some(
            compliance::list_evidence(
                &**db,
                user.org_id,
                &reach,
                &p.filter,
                p.after.as_ref(),
                p.limit,
            )
            .await?,
        ),
        Err(_) => None,
    };
    if let (Ok(p), Some(page)) = (&parsed, &page) {
        compliance::record_evidence_page(
            &**db,
            &user,
            &reach,
            &ClientInfo::of(req),
            &p.filter,
            page,
            "page",
        )
        .await?;
    }
    let (status, message) = outcome(&parsed);
    let next_url = page.as_ref().and_then(|p| p.next).map(|c| values.url(Some(&c.encode())));
    let results = match (&parsed, &page) {
        (Ok(_), Some(page)) => Results::Page { page, next_url: next_url.clone() },
        (Err(errors), _) => Results::Invalid(errors),
        (Ok(_), None) => {
            return Err(AppError::internal(anyhow::anyhow!("parsed filters without a page")));
        }
    };

    let markup = if load_more {
        match (&results, &page) {
            (Results::Page { .. }, Some(page)) => html! {
                (evidence::evidence_rows(&page.items))
                // Out-of-band parts after table rows go in a <template>:
                // parsed after a row, a bare <div> or <form> is torn apart
                // (a form in a table context loses its fields).
                template { (evidence::load_more(next_url.as_deref(), true)) }
            },
            _ => load_more_failed(message.as_deref()),
        }
    } else if fragment {
        evidence::evidence_results(values, &results)
    } else {
        let sites = compliance::sites(&**db, user.org_id, &reach).await?;
        let options = FilterOptions {
            sites: sites.into_iter().map(|s| (s.site_id, s.clinic_name)).collect(),
            check_types: queries::check_types(&**db, user.org_id).await?,
            controls: queries::hipaa_controls(&**db, user.org_id, MAX_SUGGESTED_CONTROLS).await?,
        };
        evidence::evidence_page(&NavUser::reaching(&user, &reach), values, &options, &results)
    };
    let resp = respond::html(status, markup, message.as_deref());
    // The filter form's own request (not "Load more"): the address bar
    // follows the filters applied.
    if fragment && !load_more {
        return Ok(respond::with_filter_url(resp, req, &values.url(None)));
    }
    Ok(resp)
}

/// A bundle id from the path, with the characters the ingest format allows.
fn parse_bundle_id(raw: &str) -> AppResult<&str> {
    if is_bundle_id(raw) {
        Ok(raw)
    } else {
        Err(AppError::BadRequest(format!(
            "that is not a bundle id: bundle ids have 1 to {MAX_BUNDLE_ID_CHARS} characters \
             from A-Z, a-z, 0-9, '.', '_', ':' and '-'"
        )))
    }
}

/// `GET /client/evidence/:bundle_id`.
/// `?site_id=`: which site's bundle, when two sites used the same id.
#[derive(Debug, serde::Deserialize)]
pub struct BundleSite {
    site_id: Option<String>,
    /// `failures`: show failing checks only.
    only: Option<String>,
}

#[handler]
pub async fn view_evidence_detail_get(
    state: Data<&AppState>,
    client: ClientInfo,
    Reader(user): Reader,
    Path(raw_id): Path<String>,
    Query(at): Query<BundleSite>,
) -> AppResult<Markup> {
    let bundle_id = parse_bundle_id(&raw_id)?;
    let site_id = match at.site_id.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            uuid::Uuid::parse_str(s)
                .map_err(|_| AppError::BadRequest("site_id must be a site's id (a UUID)".into()))?,
        ),
    };
    let only_failures = match at.only.as_deref().map(str::trim) {
        None | Some("" | "all") => false,
        Some("failures") => true,
        Some(other) => {
            return Err(AppError::BadRequest(format!(
                "only={other:?} is not a filter: use only=failures, or leave it out for all checks"
            )));
        }
    };
    let db = state.pool().get().await?;
    let bundle = compliance::BundleRef::new(bundle_id, site_id);
    let reach = compliance::Reach::of(&**db, &user).await?;
    let compliance::BundleDetail { detail, checks, neighbours, signature_valid, format_warnings } =
        compliance::bundle_detail(&**db, user.org_id, &reach, &bundle).await?;
    compliance::record_view(
        &**db,
        &user,
        &reach,
        &client,
        "evidence_bundle",
        Some(detail.summary.bundle_id.clone()),
        serde_json::json!({ "site_id": detail.summary.site_id }),
    )
    .await?;
    let exact = compliance::BundleRef::new(bundle_id, Some(detail.summary.site_id));
    let log = match crate::db::evidence_log::bundle_log_index(&**db, user.org_id, &exact).await? {
        Some(Some(index)) => crate::db::evidence_log::leaf_time(&**db, user.org_id, index)
            .await?
            .map(|(at, backfilled)| evidence::LogPlace { index, logged_at: at, backfilled }),
        _ => None,
    };
    Ok(evidence::evidence_detail_page(
        &NavUser::reaching(&user, &reach),
        &DetailData {
            detail: &detail,
            checks: &checks,
            neighbours: &neighbours,
            signature_valid,
            format_warnings: &format_warnings,
            log,
            only_failures,
        },
    ))
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;

    fn values(f: impl FnOnce(&mut FilterValues)) -> FilterValues {
        let mut v = FilterValues::default();
        f(&mut v);
        v
    }

    #[test]
    fn empty_values_mean_no_filter() {
        let p = parse(&FilterValues::default(), None).ok().unwrap();
        assert!(p.filter.site_id.is_none() && p.filter.result.is_none() && p.filter.from.is_none());
        assert_eq!(p.limit, DEFAULT_PAGE);
        assert!(p.after.is_none());
    }

    #[test]
    fn dates_are_whole_utc_days_and_to_is_inclusive() {
        let p = parse(
            &values(|v| {
                v.from = "2026-11-01".into();
                v.to = "2026-11-30".into();
            }),
            None,
        )
        .ok()
        .unwrap();
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        assert_eq!(p.filter.from, Some(at("2026-11-01T00:00:00Z")));
        assert_eq!(p.filter.to, Some(at("2026-12-01T00:00:00Z")));
    }

    #[test]
    fn every_bad_value_is_reported() {
        let errors = parse(
            &values(|v| {
                v.site_id = "nope".into();
                v.result = "maybe".into();
                v.from = "yesterday".into();
                v.to = "2026-13-01".into();
                v.limit = "0".into();
                v.hipaa_control = "a\u{7}b".into();
            }),
            Some("!!"),
        )
        .err()
        .unwrap();
        let fields: Vec<_> = errors.iter().map(|e| e.field).collect();
        assert_eq!(fields, ["site_id", "result", "hipaa_control", "from", "to", "limit", "cursor"]);
        assert!(errors[1].message.contains("\u{201c}maybe\u{201d}"), "{:?}", errors[1]);
    }

    #[test]
    fn from_after_to_is_refused() {
        let errors = parse(
            &values(|v| {
                v.from = "2026-11-02".into();
                v.to = "2026-11-01".into();
            }),
            None,
        )
        .err()
        .unwrap();
        assert_eq!(errors[0].field, "to");
    }

    #[test]
    fn bundle_ids_are_checked_before_the_database() {
        assert!(parse_bundle_id("CB-2026-11-24-1a2b3c4d").is_ok());
        for bad in ["", "a b", "a/b", "ä", &"x".repeat(129)] {
            assert!(parse_bundle_id(bad).is_err(), "{bad}");
        }
    }
}
