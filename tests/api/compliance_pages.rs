//! The compliance pages: dashboard, site, evidence browser and bundle
//! detail, with evidence sent through the real ingestion endpoint.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use poem::http::StatusCode;
use serde_json::Value;

use crate::appliances::{TestSite, create_site, ingest};
use crate::evidence_fixtures::{noon, whole_seconds};
use crate::helpers::{Expect, TestApp, spawn_app};

const BITLOCKER: &str = "164.312(a)(2)(iv)";
const FIREWALL: &str = "164.312(e)(1)";
const AUDIT: &str = "164.312(b)";

fn days_ago(n: i64) -> DateTime<Utc> {
    noon(Utc::now().date_naive() - Duration::days(n))
}

fn date_ago(n: i64) -> NaiveDate {
    Utc::now().date_naive() - Duration::days(n)
}

/// The bundle ids of the evidence rows, in page order.
fn row_ids(html: &str) -> Vec<String> {
    html.split("<tr class=\"evidence-row\"")
        .skip(1)
        .map(|row| {
            let href = row.split("href=\"/client/evidence/").nth(1).expect("a link in the row");
            let (id, site) = href[..href.find('"').unwrap()].split_once("?site_id=").expect(
                "the link names the bundle's site (a bundle id is unique per site, not per practice)",
            );
            assert!(site.parse::<uuid::Uuid>().is_ok(), "{site}");
            id.to_owned()
        })
        .collect()
}

/// The `hx-get` of the "Load more" button, unescaped.
fn load_more_url(html: &str) -> Option<String> {
    let block = html.split("id=\"load-more\"").nth(1)?;
    let rest = block.split("hx-get=\"").nth(1)?;
    Some(rest[..rest.find('"')?].replace("&amp;", "&"))
}

/// Two sites of one practice with known current results:
/// Main Street has a passing BitLocker and a failing firewall (50 %),
/// Harbor View passes three checks (100 %); the practice is at 4/5 = 80 %.
async fn two_sites(app: &TestApp, org_id: uuid::Uuid) -> (TestSite, TestSite) {
    let main = create_site(app, org_id, "Main Street").await;
    let harbor = create_site(app, org_id, "Harbor View").await;
    ingest(
        app,
        &main,
        "MAIN-1",
        days_ago(3),
        &[
            ("bitlocker_status", "pass", "FRONT-01", Some(BITLOCKER)),
            ("firewall_status", "non_compliant", "FRONT-01", Some(FIREWALL)),
        ],
    )
    .await;
    ingest(
        app,
        &main,
        "MAIN-2",
        days_ago(1),
        &[
            ("bitlocker_status", "compliant", "FRONT-01", Some(BITLOCKER)),
            ("firewall_status", "fail", "FRONT-01", Some(FIREWALL)),
        ],
    )
    .await;
    ingest(
        app,
        &harbor,
        "HARBOR-1",
        days_ago(2),
        &[
            ("bitlocker_status", "pass", "EXAM-01", Some(BITLOCKER)),
            ("audit_policy", "pass", "EXAM-01", Some(AUDIT)),
            ("backup_status", "pass", "SERVER-01", None),
        ],
    )
    .await;
    (main, harbor)
}

#[tokio::test]
async fn the_dashboard_shows_the_score_sites_trend_and_failing_checks() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let (main, harbor) = two_sites(&app, p.org_id).await;
    create_site(&app, p.org_id, "Annex").await;

    let html = app.get_as(&p.owner, portal::paths::DASHBOARD).expect_text(StatusCode::OK).await;
    assert!(html.contains("<span id=\"user-name\">owner</span>"), "{html}");
    // A control fails, so the headline says so in red, whatever the share
    // of checks: 4 of 5 latest checks pass (80%), shown second.
    let standing = html.split("id=\"control-standing\"").nth(1).expect("the controls lead");
    let standing = &standing[..standing.find("id=\"compliance-score\"").unwrap()];
    assert!(standing.contains("score score-red"), "{standing}");
    assert!(standing.contains("Needs action") && standing.contains("need"), "{standing}");
    assert!(html.contains("<div class=\"kpi-value\">80%</div>"), "the check share: {html}");
    assert!(!html.contains("Compliant"), "{html}");
    assert!(!standing.contains("All safeguards met"), "{standing}");
    for kpi in ["HIPAA safeguards", "Checks passing", "Passed", "Failed", "Warnings"] {
        assert!(html.contains(&format!("<div class=\"kpi-label\">{kpi}</div>")), "{kpi}");
    }

    // One row per site, by name, each with its own score and status.
    let sites = html.split("id=\"sites\"").nth(1).unwrap();
    let rows: Vec<&str> = sites.split("<tr class=\"site-row\"").skip(1).collect();
    assert_eq!(rows.len(), 3, "{sites}");
    assert!(rows[0].contains("Annex") && rows[0].contains("No data"), "{}", rows[0]);
    assert!(rows[1].contains("Harbor View") && rows[1].contains("<td>100%</td>"), "{}", rows[1]);
    assert!(rows[1].contains("2 of 2") && rows[1].contains("All safeguards met"), "{}", rows[1]);
    assert_eq!(html.matches("All safeguards met").count(), 1, "only the site where it is true");
    assert!(rows[1].contains(&format!("href=\"/client/sites/{}\"", harbor.id)));
    assert!(rows[1].contains("Silent"), "nothing in the last 24 hours");
    assert!(rows[2].contains("Main Street") && rows[2].contains("<td>50%</td>"), "{}", rows[2]);
    assert!(rows[2].contains("1 of 2") && rows[2].contains("Needs action"), "{}", rows[2]);
    assert!(rows[2].contains(&format!("href=\"/client/sites/{}\"", main.id)));

    // The 30-day trend is an SVG with thresholds and points.
    let trend = html.split("id=\"trend-chart\"").nth(1).expect("the trend chart");
    assert!(trend.contains("<svg"), "{trend}");
    assert!(trend.contains("<title id=\"trend-chart-title\">"));
    assert!(trend.contains("stroke-dasharray"), "dashed guides at 95 and 80");
    assert!(trend.matches("<circle").count() >= 3, "a point per day with data: {trend}");
    let today = Utc::now().date_naive().format("%a %b %-d, %Y").to_string();
    assert!(trend.contains(&format!("{today}: 80% · At risk (5 checks, 1 failed)")), "{trend}");
    assert!(trend.contains("class=\"chart-fail-mark\""), "the failing days are marked");

    // The failing firewall is the one thing to do, failing since the first
    // bundle that said so.
    let todo = html.split("id=\"todo\"").nth(1).unwrap();
    let days = format!("failing for {} days", (Utc::now() - days_ago(3)).num_days());
    let items: Vec<&str> = todo.split("<li class=\"todo-item").skip(1).collect();
    assert_eq!(items.len(), 1, "{todo}");
    for part in [
        "The firewall is off on FRONT-01 at Main Street",
        days.as_str(),
        FIREWALL,
        "Transmission security",
        "firewall_status",
    ] {
        assert!(items[0].contains(part), "{part}: {}", items[0]);
    }
    assert!(
        items[0].contains(&days_ago(3).format("%Y-%m-%d %H:%M UTC").to_string()),
        "{}",
        items[0]
    );
    assert!(items[0].contains("href=\"/client/evidence/MAIN-2?site_id="), "the latest evidence");

    // Another practice sees none of it.
    let other = app.practice("Elm Clinic").await;
    let html = app.get_as(&other.owner, portal::paths::DASHBOARD).expect_text(StatusCode::OK).await;
    assert!(!html.contains("Main Street") && !html.contains("Harbor View"));
}

#[tokio::test]
async fn an_empty_dashboard_says_no_data_rather_than_a_score() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let html = app.get_as(&p.viewer, portal::paths::DASHBOARD).expect_text(StatusCode::OK).await;
    assert!(html.contains("No evidence yet"), "{html}");
    assert!(html.contains("No HIPAA safeguards checked"), "{html}");
    assert!(html.contains("<div class=\"kpi-value\">—</div>"), "no check share either: {html}");
    assert!(html.contains("No data"));
    assert!(!html.contains("0%") && !html.contains("100%"), "no made-up score: {html}");
    assert!(!html.contains("<svg"), "no chart without data");

    // A site that has not reported yet: still no data, not 0 or 100.
    create_site(&app, p.org_id, "Annex").await;
    let html = app.get_as(&p.viewer, portal::paths::DASHBOARD).expect_text(StatusCode::OK).await;
    assert!(html.contains("No evidence yet"));
    assert!(html.contains("Annex") && html.contains("No data"));
    assert!(!html.contains("0%") && !html.contains("100%"), "{html}");
}

#[tokio::test]
async fn the_site_page_groups_checks_by_hipaa_control() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let (main, harbor) = two_sites(&app, p.org_id).await;

    let html =
        app.get_as(&p.viewer, &portal::paths::site(harbor.id)).expect_text(StatusCode::OK).await;
    assert!(html.contains("<h1 class=\"row\"><span>Harbor View</span>"), "{html}");
    assert!(html.contains("All safeguards met"), "every control passed: {html}");
    assert!(html.contains("<div class=\"kpi-value\">100%</div>"));
    let controls = html.split("id=\"controls\"").nth(1).unwrap();
    let groups: Vec<&str> = controls.split("<tbody class=\"control-group\"").skip(1).collect();
    let names: Vec<&str> = groups
        .iter()
        .map(|g| {
            let rest = g.split("data-control=\"").nth(1).unwrap();
            &rest[..rest.find('"').unwrap()]
        })
        .collect();
    assert_eq!(names, [BITLOCKER, AUDIT, "Unmapped"], "sorted by control, unmapped last");
    assert!(groups[0].contains("Encryption and decryption"));
    assert!(groups[2].contains("backup_status") && groups[2].contains("SERVER-01"));
    assert!(
        groups[2].contains(&format!("href=\"/client/evidence/HARBOR-1?site_id={}\"", harbor.id))
    );
    assert!(html.contains("id=\"history-chart\"") && html.contains("<svg"));
    // Verification is the practice's (against its log), not one chain's.
    assert!(html.contains("id=\"verify-log\"") && !html.contains("verify-chain"));

    let html =
        app.get_as(&p.viewer, &portal::paths::site(main.id)).expect_text(StatusCode::OK).await;
    let controls = html.split("id=\"controls\"").nth(1).unwrap();
    let firewall = controls.split(&format!("data-control=\"{FIREWALL}\"")).nth(1).unwrap();
    let firewall = &firewall[..firewall.find("</tbody>").unwrap()];
    assert!(firewall.contains("1 failed") && firewall.contains("0 passed"), "{firewall}");
    assert!(firewall.contains("badge-red\">fail"), "{firewall}");
    assert!(firewall.contains("failing since"), "{firewall}");
    assert!(firewall.contains(&format!("href=\"/client/evidence/MAIN-2?site_id={}\"", main.id)));

    // Someone else's site is not found; a malformed id is a bad request.
    let other = app.practice("Elm Clinic").await;
    let page = app.get_as(&other.owner, &portal::paths::site(main.id)).reply().await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.text().contains("Page not found") && !page.text().contains("Main Street"));
    let page = app.get_as(&p.owner, "/client/sites/not-a-uuid").reply().await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.text().contains("not a site id"), "{}", page.text());
}

/// Bundles over several days across two sites, for the evidence browser.
async fn evidence_set(app: &TestApp, org_id: uuid::Uuid) -> (TestSite, TestSite) {
    let main = create_site(app, org_id, "Main Street").await;
    let harbor = create_site(app, org_id, "Harbor View").await;
    let pass = ("bitlocker_status", "pass", "FRONT-01", Some(BITLOCKER));
    let fail = ("firewall_status", "fail", "FRONT-01", Some(FIREWALL));
    let warn = ("backup_status", "warning", "SERVER-01", None);
    ingest(app, &main, "E-1", days_ago(6), &[pass, fail]).await;
    ingest(app, &main, "E-2", days_ago(5), &[pass]).await;
    ingest(app, &harbor, "E-3", days_ago(4), &[pass, warn]).await;
    ingest(app, &main, "E-4", days_ago(3), &[pass, fail]).await;
    ingest(app, &harbor, "E-5", days_ago(2), &[pass]).await;
    (main, harbor)
}

#[tokio::test]
async fn the_evidence_page_is_a_full_page_or_the_results_fragment() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    evidence_set(&app, p.org_id).await;

    let full = app.get_as(&p.viewer, portal::paths::EVIDENCE).reply().await;
    assert_eq!(full.status, StatusCode::OK);
    assert_eq!(full.header_or_empty("vary"), "HX-Request");
    assert!(full.text().starts_with("<!DOCTYPE html>"));
    assert!(full.text().contains("aria-current=\"page\">Evidence</a>"), "the nav entry");
    for attr in [
        "hx-get=\"/client/evidence\"",
        "hx-target=\"#evidence-results\"",
        "hx-trigger=\"submit\"",
        "hx-indicator=\"#evidence-loading\"",
        "data-url-filters",
        // Selects apply on change, typed fields after a pause, each with
        // the whole form.
        "name=\"site_id\" hx-get=\"/client/evidence\" hx-include=\"closest form\" hx-trigger=\"change\"",
        "hx-include=\"closest form\" hx-trigger=\"input changed delay:800ms\" name=\"from\"",
    ] {
        assert!(full.text().contains(attr), "{attr}");
    }
    assert!(full.text().contains("5 bundles match"));
    assert_eq!(row_ids(&full.text()), ["E-5", "E-4", "E-3", "E-2", "E-1"]);
    assert!(full.text().contains("<option value=\"firewall_status\">"), "check types offered");
    assert!(full.text().contains(&format!("<option value=\"{FIREWALL}\">")), "controls suggested");

    let fragment = app.hx_get_as(&p.viewer, "/client/evidence?result=fail").reply().await;
    assert_eq!(fragment.status, StatusCode::OK);
    assert_eq!(fragment.header_or_empty("vary"), "HX-Request");
    assert!(fragment.text().starts_with("<section class=\"card\" id=\"evidence-results\""));
    assert!(!fragment.text().contains("<html") && !fragment.text().contains("evidence-filters"));
    assert_eq!(row_ids(&fragment.text()), ["E-4", "E-1"]);
    // The address bar gets the filters applied, empty fields left out, as
    // a new history entry; the same address again replaces the entry.
    assert_eq!(fragment.header_or_empty("hx-push-url"), "/client/evidence?result=fail");
    let again = app
        .hx_get_as(&p.viewer, "/client/evidence?site_id=&result=fail&from=")
        .header("hx-current-url", "http://portal.test/client/evidence?result=fail")
        .reply()
        .await;
    assert_eq!(again.header_or_empty("hx-push-url"), "");
    assert_eq!(again.header_or_empty("hx-replace-url"), "/client/evidence?result=fail");

    // Back/forward with an empty htmx history cache asks for the whole page.
    let restore = app
        .hx_get_as(&p.viewer, "/client/evidence?result=fail")
        .header("hx-history-restore-request", "true")
        .reply()
        .await;
    assert!(restore.text().starts_with("<!DOCTYPE html>"));
    assert_eq!(restore.header_or_empty("vary"), "HX-Request");

    // A filtered address loaded directly: the whole page, form filled in.
    let direct = app
        .get_as(&p.viewer, "/client/evidence?result=fail&hipaa_control=164.312(e)(1)")
        .expect_text(StatusCode::OK)
        .await;
    assert!(direct.contains("<option value=\"fail\" selected>Fail</option>"), "{direct}");
    assert!(direct.contains("value=\"164.312(e)(1)\""));
    assert!(direct.contains("2 bundles match"));
    assert_eq!(row_ids(&direct), ["E-4", "E-1"]);
}

#[tokio::test]
async fn every_evidence_filter_narrows_the_results() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let (main, harbor) = evidence_set(&app, p.org_id).await;
    let other = app.practice("Elm Clinic").await;
    let elsewhere = create_site(&app, other.org_id, "Elsewhere").await;
    ingest(&app, &elsewhere, "X-1", days_ago(2), &[("bitlocker_status", "fail", "PC", None)]).await;

    let cases: Vec<(String, Vec<&str>)> = vec![
        (format!("site_id={}", main.id), vec!["E-4", "E-2", "E-1"]),
        (format!("site_id={}", harbor.id), vec!["E-5", "E-3"]),
        ("check_type=backup_status".into(), vec!["E-3"]),
        ("result=pass".into(), vec!["E-5", "E-2"]),
        ("result=warn".into(), vec!["E-3"]),
        ("result=fail".into(), vec!["E-4", "E-1"]),
        (
            format!("hipaa_control={}", FIREWALL.replace('(', "%28").replace(')', "%29")),
            vec!["E-4", "E-1"],
        ),
        (format!("from={}", date_ago(3)), vec!["E-5", "E-4"]),
        (format!("to={}", date_ago(5)), vec!["E-2", "E-1"]),
        (format!("from={}&to={}", date_ago(4), date_ago(4)), vec!["E-3"]),
        (format!("site_id={}&result=fail&from={}", main.id, date_ago(4)), vec!["E-4"]),
        // Empty values (as a form sends them) mean "any".
        (
            "site_id=&check_type=&result=&hipaa_control=&from=&to=".into(),
            vec!["E-5", "E-4", "E-3", "E-2", "E-1"],
        ),
        ("check_type=nothing_like_this".into(), vec![]),
    ];
    for (query, expected) in cases {
        let page = app.hx_get_as(&p.viewer, &format!("/client/evidence?{query}")).reply().await;
        assert_eq!(page.status, StatusCode::OK, "{query}: {}", page.text());
        assert_eq!(row_ids(&page.text()), expected, "{query}");
        let count = if expected.len() == 1 {
            "1 bundle matches".to_owned()
        } else {
            format!("{} bundles match", expected.len())
        };
        assert!(page.text().contains(&count), "{query}: {}", page.text());
        if expected.is_empty() {
            assert!(page.text().contains("No evidence matches these filters."));
        }
    }

    // Another practice's site is not found.
    let page =
        app.get_as(&p.viewer, &format!("/client/evidence?site_id={}", elsewhere.id)).reply().await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(!page.text().contains("X-1"));
}

#[tokio::test]
async fn load_more_appends_rows_and_replaces_its_button_out_of_band() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    evidence_set(&app, p.org_id).await;

    let first = app.get_as(&p.viewer, "/client/evidence?limit=2").expect_text(StatusCode::OK).await;
    assert_eq!(row_ids(&first), ["E-5", "E-4"]);
    assert!(first.contains("5 bundles match"));
    assert!(first.contains("<input type=\"hidden\" name=\"limit\" value=\"2\">"));
    let first_button = first.split("id=\"load-more\"").nth(1).unwrap();
    assert!(first_button.contains("hx-target=\"#evidence-rows\""));
    assert!(first_button.contains("hx-swap=\"beforeend\""));
    let mut next = load_more_url(&first).expect("a Load more button");
    assert!(next.starts_with("/client/evidence?limit=2&cursor="), "{next}");

    let mut seen = row_ids(&first);
    let mut pages = 0;
    loop {
        let page = app.hx_get_as(&p.viewer, &next).reply().await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text());
        assert_eq!(page.header_or_empty("vary"), "HX-Request");
        assert_eq!(page.header_or_empty("hx-push-url"), "", "more rows are not a new address");
        assert!(
            page.text().starts_with("<tr class=\"evidence-row\""),
            "rows only: {}",
            page.text()
        );
        assert!(!page.text().contains("evidence-results"));
        assert!(
            page.text().contains("<div class=\"load-more\" id=\"load-more\" hx-swap-oob=\"true\">"),
            "{}",
            page.text()
        );
        seen.extend(row_ids(&page.text()));
        pages += 1;
        match load_more_url(&page.text()) {
            Some(url) => next = url,
            None => {
                assert!(page.text().contains("End of the list."));
                break;
            }
        }
    }
    assert_eq!(pages, 2);
    assert_eq!(seen, ["E-5", "E-4", "E-3", "E-2", "E-1"]);

    // Filters carry over to the next page.
    let failing = app
        .get_as(&p.viewer, "/client/evidence?result=fail&limit=1")
        .expect_text(StatusCode::OK)
        .await;
    let next = load_more_url(&failing).unwrap();
    assert!(next.contains("result=fail"), "{next}");
    assert_eq!(row_ids(&app.hx_get_as(&p.viewer, &next).reply().await.text()), ["E-1"]);
}

#[tokio::test]
async fn malformed_filters_answer_400_with_a_message() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    evidence_set(&app, p.org_id).await;

    let page = app.get_as(&p.viewer, "/client/evidence?result=maybe&from=2026-13-40").reply().await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert_eq!(page.header_or_empty("vary"), "HX-Request");
    assert!(page.text().starts_with("<!DOCTYPE html>"), "the page, with its form");
    assert!(page.text().contains("id=\"evidence-filters\""));
    assert!(
        page.text().contains("Result “maybe” is not one of pass, warn or fail."),
        "{}",
        page.text()
    );
    assert!(page.text().contains("From “2026-13-40” is not a date; use YYYY-MM-DD"));
    let select = page
        .text()
        .split("<select id=\"f-result\"")
        .nth(1)
        .unwrap()
        .split('>')
        .next()
        .unwrap()
        .to_owned();
    assert!(select.contains("aria-invalid=\"true\""), "{select}");
    assert!(row_ids(&page.text()).is_empty());

    let page = app.hx_get_as(&p.viewer, "/client/evidence?to=soon").reply().await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.text().starts_with("<section class=\"card\" id=\"evidence-results\""));
    assert!(page.text().contains("To “soon” is not a date"), "{}", page.text());
    let toast = page.headers.get("x-portal-message").unwrap().to_str().unwrap();
    assert!(toast.contains("is not a date"), "{toast}");

    // Finding 9: a filter the page does not know (here a mistyped site=)
    // was ignored, showing every site's evidence under the wrong heading.
    for path in
        [format!("/client/evidence?site={}", uuid::Uuid::new_v4()), "/client/audit?who=x".into()]
    {
        let page = app.get_as(&p.owner, &path).reply().await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{path}");
        assert!(page.text().contains("is not a filter of this page"), "{path}: {}", page.text());
    }

    let page = app.hx_get_as(&p.viewer, "/client/evidence?cursor=not-a-cursor").reply().await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.text().contains("Load more” link is not valid"), "{}", page.text());

    for query in [
        format!("from={}&to={}", date_ago(1), date_ago(3)),
        "site_id=123".into(),
        "limit=0".into(),
        "limit=500".into(),
        format!("hipaa_control={}", "x".repeat(300)),
    ] {
        let page = app.get_as(&p.viewer, &format!("/client/evidence?{query}")).reply().await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(page.text().contains("These filters cannot be used"), "{query}");
    }
}

#[tokio::test]
async fn the_bundle_detail_shows_its_integrity_checks_and_neighbours() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let site = create_site(&app, p.org_id, "Main Street").await;
    let mut receipts: Vec<Value> = Vec::new();
    for i in 0..5 {
        let checks = [
            ("bitlocker_status", "pass", "FRONT-01", Some(BITLOCKER)),
            (
                "firewall_status",
                if i == 2 { "non_compliant" } else { "pass" },
                "FRONT-01",
                Some(FIREWALL),
            ),
            ("backup_status", "pass", "SERVER-01", None),
        ];
        receipts.push(ingest(&app, &site, &format!("D-{i}"), days_ago(6 - i), &checks).await);
    }

    let html = app
        .get_as(&p.viewer, &portal::paths::evidence_bundle("D-2"))
        .expect_text(StatusCode::OK)
        .await;
    let checked = whole_seconds(days_ago(4)).format("%Y-%m-%d %H:%M:%S UTC").to_string();
    for part in [
        "Main Street",
        checked.as_str(),
        "Received at",
        "Chain position",
        receipts[2]["bundle_hash"].as_str().unwrap(),
        receipts[2]["chain_hash"].as_str().unwrap(),
        receipts[1]["chain_hash"].as_str().unwrap(),
        "href=\"/api/client/evidence/D-2/download?site_id=",
        "href=\"/api/client/evidence/D-2/proof?site_id=",
        "Evidence log",
    ] {
        assert!(html.contains(part), "{part}: {html}");
    }
    assert!(html.contains("<dd class=\"mono\" id=\"bundle-hash\">"), "hashes in .mono");
    let status = html.split("id=\"signature-status\"").nth(1).unwrap();
    assert!(status.contains("Valid"), "{status}");

    let checks = html.split("id=\"checks\"").nth(1).unwrap();
    let rows: Vec<&str> = checks.split("<tr class=\"check-row\"").skip(1).collect();
    assert_eq!(rows.len(), 3, "failures first, then in the appliance's order");
    assert!(rows[0].contains("firewall_status") && rows[0].contains("badge-red\">fail"));
    assert!(rows[0].contains("non_compliant"), "the appliance's own word");
    assert!(rows[0].contains("How to fix"), "what to do about it: {}", rows[0]);
    assert!(rows[1].contains("bitlocker_status") && !rows[1].contains("How to fix"));
    assert!(rows[2].contains("Unmapped"));

    let chain = html.split("id=\"neighbours\"").nth(1).unwrap();
    for id in ["D-0", "D-1", "D-3", "D-4"] {
        assert!(chain.contains(&format!("href=\"/client/evidence/{id}?site_id=")), "{id}: {chain}");
    }
    assert!(!chain.contains("href=\"/client/evidence/D-2?"), "not a link to itself");

    // The signature no longer matches once the stored bytes change.
    // Raw SQL on purpose: tampers with a stored bundle.
    let db = app.db_client().await;
    db.execute(
        "UPDATE evidence_bundles SET raw = overlay(raw placing '7' from 40 for 1) WHERE bundle_id = 'D-2'",
        &[],
    )
    .await
    .unwrap();
    let html = app
        .get_as(&p.viewer, &portal::paths::evidence_bundle("D-2"))
        .expect_text(StatusCode::OK)
        .await;
    let status = html.split("id=\"signature-status\"").nth(1).unwrap();
    assert!(status.contains("Invalid"), "{status}");

    // Others' bundles are not found; malformed ids are bad requests.
    let other = app.practice("Elm Clinic").await;
    let page = app.get_as(&other.owner, &portal::paths::evidence_bundle("D-2")).reply().await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(!page.text().contains("Main Street"));
    assert_eq!(
        app.get_as(&p.viewer, &portal::paths::evidence_bundle("NOPE-1")).reply().await.status,
        StatusCode::NOT_FOUND
    );
    let page = app.get_as(&p.viewer, "/client/evidence/bad%20id").reply().await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.text().contains("not a bundle id"), "{}", page.text());
}

#[tokio::test]
async fn visitors_are_sent_to_sign_in() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let site = create_site(&app, p.org_id, "Main Street").await;
    for (path, next) in [
        (portal::paths::site(site.id), format!("%2Fclient%2Fsites%2F{}", site.id)),
        ("/client/sites/not-a-uuid".to_owned(), "%2Fclient%2Fsites%2Fnot-a-uuid".to_owned()),
        (
            "/client/evidence?result=fail".to_owned(),
            "%2Fclient%2Fevidence%3Fresult%3Dfail".to_owned(),
        ),
        ("/client/evidence/D-1".to_owned(), "%2Fclient%2Fevidence%2FD-1".to_owned()),
    ] {
        let resp = app.client.get(&path).send().await;
        resp.assert_status(StatusCode::SEE_OTHER);
        resp.assert_header("location", format!("/client/login?next={next}"));
    }
    let resp = app.client.post(portal::paths::LOG_VERIFY).header("hx-request", "true").send().await;
    resp.assert_status(StatusCode::UNAUTHORIZED);
    assert!(resp.0.headers().contains_key("hx-redirect"));
}
