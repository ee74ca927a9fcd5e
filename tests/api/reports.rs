//! The reports area: API and pages, the PDF's content (read back with
//! pdftotext), the cache, the scheduler and `portal report`.

use chrono::{DateTime, NaiveDate, Utc};
use poem::http::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::evidence_fixtures::{
    FixtureSite, Stored, check, insert_bundle, noon, notification_at, site,
};
use crate::helpers::{
    Expect, Practice, Reply, TempDir, TestApp, TestUser, expect_json, expect_text, portal_cmd,
    spawn_app,
};
use crate::matrix::Case;
use portal::db::notifications::Severity;

/// This area's rows of the role x organisation matrix (see matrix.rs).
pub const MATRIX: &[Case] = &[
    Case {
        operation_id: "list_monthly_reports",
        method: poem::http::Method::GET,
        expect: [401, 200, 200, 200, 200, 200],
    },
    // A month with evidence only in practice A: another practice finds no data.
    Case {
        operation_id: "download_monthly_report",
        method: poem::http::Method::GET,
        expect: [401, 200, 200, 200, 404, 200],
    },
];

/// A fresh request for one of this area's operations against practice `a`,
/// or None when the operation is not this area's.
pub async fn matrix_request(
    app: &TestApp,
    a: &Practice,
    operation_id: &str,
) -> Option<(String, Option<Value>)> {
    match operation_id {
        "list_monthly_reports" => Some(("/api/client/reports/monthly".into(), None)),
        "download_monthly_report" => {
            let s = site(app, a.org_id, &format!("Site {}", uuid::Uuid::new_v4())).await;
            insert_bundle(app, &s, day("2026-09-14"), &[check("ntp_sync", "SRV", "pass", None)])
                .await;
            Some(("/api/client/reports/monthly/2026-09".into(), None))
        }
        _ => None,
    }
}

const BITLOCKER: &str = "164.312(a)(2)(iv)";
const BACKUP: &str = "164.308(a)(7)(ii)(A)";
const MALWARE: &str = "164.308(a)(5)(ii)(B)";
const FIREWALL: &str = "164.312(e)(1)";
const MONTH: &str = "2026-09";
const NOTICE: &str = "BitLocker is off on FRONTDESK-01";

/// Noon UTC on an ISO date.
fn day(date: &str) -> DateTime<Utc> {
    noon(date.parse::<NaiveDate>().unwrap())
}

/// A practice with a partner, two sites and evidence from August to
/// October 2026. September, as of its end:
/// - Main Office: bitlocker failing since 09-20, backup passed, antivirus
///   passed (its warning on 09-03 was superseded): 2 of 3 = 66.7%.
/// - Westside Branch: firewall failing since 08-25 (still failing on 09-05),
///   ntp passed (no control): 1 of 2 = 50%.
/// - Overall 3 of 5 = 60% (red); controls: backup and malware passed,
///   bitlocker and firewall failed; 3 bundles from 2 sites.
struct Seeded {
    p: Practice,
    partner: String,
    main: FixtureSite,
    west: FixtureSite,
    /// The last bundles received by September's end.
    main_head: Stored,
    west_head: Stored,
}

async fn seed(app: &TestApp, practice: &str, partner: &str) -> Seeded {
    let p = app.practice(practice).await;
    let partner_id = app.partner(partner).await;
    app.assign_partner(p.org_id, Some(partner_id)).await;
    let main = site(app, p.org_id, "Main Office").await;
    let west = site(app, p.org_id, "Westside Branch").await;
    insert_bundle(
        app,
        &main,
        day("2026-09-03"),
        &[
            check("bitlocker_status", "FRONTDESK-01", "pass", Some(BITLOCKER)),
            check("backup_status", "SERVER-01", "pass", Some(BACKUP)),
            check("antivirus_status", "FRONTDESK-01", "warning", Some(MALWARE)),
        ],
    )
    .await;
    let main_head = insert_bundle(
        app,
        &main,
        day("2026-09-20"),
        &[
            check("bitlocker_status", "FRONTDESK-01", "fail", Some(BITLOCKER)),
            check("backup_status", "SERVER-01", "compliant", Some(BACKUP)),
            check("antivirus_status", "FRONTDESK-01", "pass", Some(MALWARE)),
        ],
    )
    .await;
    // October: outside the report, and received after September's end.
    insert_bundle(
        app,
        &main,
        day("2026-10-02"),
        &[check("bitlocker_status", "FRONTDESK-01", "pass", Some(BITLOCKER))],
    )
    .await;
    insert_bundle(
        app,
        &west,
        day("2026-08-25"),
        &[check("firewall_status", "GW-01", "fail", Some(FIREWALL))],
    )
    .await;
    let west_head = insert_bundle(
        app,
        &west,
        day("2026-09-05"),
        &[
            check("firewall_status", "GW-01", "non_compliant", Some(FIREWALL)),
            check("ntp_sync", "GW-01", "pass", None),
        ],
    )
    .await;
    let db = app.db_client().await;
    // As if each bundle had arrived five minutes after it was checked.
    // Raw SQL on purpose: the fixtures' bundles arrive now; this sets when.
    db.execute(
        "UPDATE evidence_bundles SET received_at = checked_at + interval '5 minutes'
          WHERE client_org_id = $1",
        &[&p.org_id],
    )
    .await
    .unwrap();
    drop(db);
    for (title, at) in
        [(NOTICE, "2026-09-20T12:10:00Z"), ("October only notice", "2026-10-02T12:10:00Z")]
    {
        let at = DateTime::parse_from_rfc3339(at).unwrap().to_utc();
        notification_at(app, p.org_id, title, Severity::Critical, at).await;
    }
    Seeded { p, partner: partner.to_owned(), main, west, main_head, west_head }
}

/// The PDF's text as `pdftotext -layout` reads it.
fn pdf_text(pdf: &[u8]) -> String {
    let dir = TempDir::new();
    let path = dir.path().join("report.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = std::process::Command::new("pdftotext")
        .arg("-layout")
        .arg(&path)
        .arg("-")
        .output()
        .expect("run pdftotext (apt-get install poppler-utils)");
    assert!(out.status.success(), "pdftotext: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The line of `text` that contains every one of `parts`.
fn line_with<'a>(text: &'a str, parts: &[&str]) -> &'a str {
    text.lines()
        .find(|l| parts.iter().all(|p| l.contains(p)))
        .unwrap_or_else(|| panic!("no line with {parts:?} in:\n{text}"))
}

async fn download(app: &TestApp, user: &TestUser, month: &str) -> Reply {
    app.get_as(user, &format!("/api/client/reports/monthly/{month}"))
        .expect_status(StatusCode::OK)
        .await
}

/// The reports list once the months it asked for are made: the first
/// answer lists what was made before and makes the rest in the background.
async fn list(app: &TestApp, user: &TestUser) -> Vec<Value> {
    let resp = app.get_as(user, "/api/client/reports/monthly").send().await;
    let first = expect_json(resp, StatusCode::OK).await;
    if first["being_made"] == 0 {
        return first["reports"].as_array().unwrap().clone();
    }
    portal::reports::settled(user.org_id).await;
    let resp = app.get_as(user, "/api/client/reports/monthly").send().await;
    let again = expect_json(resp, StatusCode::OK).await;
    assert_eq!(again["being_made"], 0, "{again}");
    again["reports"].as_array().unwrap().clone()
}

/// (sha256, generated_at, evidence_count) of the cached row.
async fn cached(
    app: &TestApp,
    org: uuid::Uuid,
    month: &str,
) -> Option<(Vec<u8>, DateTime<Utc>, i64)> {
    let db = app.db_client().await;
    db.query_opt(
        "SELECT pdf_sha256, generated_at, evidence_count FROM client_monthly_reports
          WHERE client_org_id = $1 AND month = ($2 || '-01')::date",
        &[&org, &month],
    )
    .await
    .unwrap()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
}

async fn report_audits(app: &TestApp) -> Vec<(uuid::Uuid, Option<uuid::Uuid>, String, Value)> {
    let db = app.db_client().await;
    db.query(
        "SELECT client_org_id, actor_user_id, target_id, details FROM client_audit_log
          WHERE action = 'report.downloaded' ORDER BY id",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
    .collect()
}

#[tokio::test]
async fn the_pdf_reports_the_practice_s_month() {
    let app = spawn_app().await;
    let s = seed(&app, "Oak Street Clinic", "Acme IT").await;

    let d = download(&app, &s.p.viewer, MONTH).await;
    assert_eq!(d.header("content-type"), "application/pdf");
    assert_eq!(
        d.header("content-disposition"),
        "attachment; filename=\"OsirisCare-oak-street-clinic-2026-09.pdf\""
    );
    assert_eq!(d.header("cache-control"), "no-store");
    let sha = hex::encode(Sha256::digest(&d.body));
    assert_eq!(d.header("x-report-sha256"), sha);
    assert!(d.body.starts_with(b"%PDF-"));

    let text = pdf_text(&d.body);
    for expected in ["Oak Street Clinic", "Acme IT", "September 2026", "2026-09-01 to 2026-09-30"] {
        assert!(text.contains(expected), "{expected:?} missing:\n{text}");
    }
    // The controls lead, in the colour of their standing: two fail, so the
    // month needs action; the share of checks passing comes second.
    line_with(&text, &["2 of 4"]);
    assert!(text.contains("Needs action"), "the standing in words: {text}");
    assert!(text.contains("2 of 4 HIPAA safeguards met · 2 need action (month end)"), "{text}");
    assert!(!text.contains("Compliant") && !text.contains("All safeguards met"), "{text}");
    assert!(
        text.contains("Checks passing: 60% (5 checks: 3 passed, 2 failed, 0 with warnings)"),
        "{text}"
    );
    assert!(text.contains("HIPAA controls: 2 passed, 2 failed, 0 at risk, of 4"), "{text}");
    assert!(text.contains("3 evidence bundles checked this month, from 2 sites"), "{text}");
    // A site row: score, passed, failed, warnings, evidence.
    let main = line_with(&text, &["Main Office", "66.7%"]);
    let numbers: Vec<&str> = main.split_whitespace().skip(3).collect();
    assert_eq!(numbers, ["2", "1", "0", "2"], "{main}");
    line_with(&text, &["Westside Branch", "50%"]);
    // Controls with their counts and status.
    line_with(&text, &[BITLOCKER, "Encryption and decryption", "Failed"]);
    line_with(&text, &[BACKUP, "Passed"]);
    line_with(&text, &[MALWARE, "Passed"]);
    line_with(&text, &["(no control)", "Score only"]);
    // Failing checks with host and the date they started failing.
    line_with(&text, &["Main Office", "FRONTDESK-01", "bitlocker_status", "2026-09-20"]);
    line_with(&text, &["Westside Branch", "GW-01", "firewall_status", "2026-08-25"]);
    // The month's notifications only.
    line_with(&text, &["critical", NOTICE, "Sep 20"]);
    assert!(text.contains("1 notification in all, collapsed into 1 line"), "{text}");
    // The month's incidents: both failures are still open at its end, the
    // firewall's from before the month began.
    line_with(&text, &["Main Office", "FRONTDESK-01", "BitLocker status", "Sep 20"]);
    line_with(&text, &["Westside Branch", "GW-01", "Firewall status", "Aug 25"]);
    assert!(text.contains("Incidents: 2 failures, 0 recovered, 2 open at month end"), "{text}");
    assert!(text.contains("Late evidence: none."), "{text}");
    assert!(!text.contains("October only notice"), "{text}");
    // Chain heads at the month's end: position and hash as stored.
    for (fx, head) in [(&s.main, &s.main_head), (&s.west, &s.west_head)] {
        let db = app.db_client().await;
        let stored: Vec<u8> = db
            .query_one(
                "SELECT chain_hash FROM evidence_bundles WHERE site_id = $1 AND chain_position = $2",
                &[&fx.id, &head.position],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(stored, head.chain_hash);
        assert_eq!(head.position, 1, "the October bundle came later");
        line_with(&text, &["Site ID", &fx.id.to_string()]);
        line_with(&text, &["Position", &format!("{}", head.position), &head.bundle_id]);
        line_with(&text, &["Chain hash", &hex::encode(&stored)]);
    }
    assert!(text.contains("POST /api/client/log/verify"), "how to verify");
    assert!(text.contains("Page 1 of"), "page numbers");

    // The list agrees with the file, and so does the cache.
    let reports = list(&app, &s.p.viewer).await;
    let months: Vec<&str> = reports.iter().map(|r| r["month"].as_str().unwrap()).collect();
    assert_eq!(
        months,
        ["2026-10", "2026-09", "2026-08"],
        "every month with evidence, newest first"
    );
    let sep = &reports[1];
    assert_eq!(sep["overall_score"], json!(60.0));
    assert_eq!(
        (&sep["controls_passed"], &sep["controls_failed"], &sep["controls_total"]),
        (&json!(2), &json!(2), &json!(4))
    );
    assert_eq!((&sep["evidence_count"], &sep["sites_count"]), (&json!(3), &json!(2)));
    assert_eq!(sep["pdf_sha256"], json!(sha));
    assert_eq!(sep["month_to_date"], json!(false));
    let (stored_sha, generated_at, count) = cached(&app, s.p.org_id, MONTH).await.unwrap();
    assert_eq!(hex::encode(stored_sha), sha);
    assert_eq!(count, 3);
    assert_eq!(
        DateTime::parse_from_rfc3339(sep["generated_at"].as_str().unwrap()).unwrap(),
        generated_at
    );
    assert_eq!(s.partner, "Acme IT");

    // Every download is audited.
    let audits = report_audits(&app).await;
    assert_eq!(audits.len(), 1);
    let (org, actor, target, details) = &audits[0];
    assert_eq!((*org, *actor, target.as_str()), (s.p.org_id, Some(s.p.viewer.id), MONTH));
    assert_eq!(details["pdf_sha256"], json!(sha));
    assert_eq!(details["via"], json!("api"));
}

#[tokio::test]
async fn a_direct_practice_and_a_month_without_failures_read_as_such() {
    let app = spawn_app().await;
    let p = app.practice("Pine Dental").await;
    let s = site(&app, p.org_id, "Front Desk").await;
    insert_bundle(&app, &s, day("2026-09-10"), &[check("ntp_sync", "PC-1", "pass", None)]).await;
    let text = pdf_text(&download(&app, &p.owner, MONTH).await.body);
    assert!(text.contains("OsirisCare (direct)"), "{text}");
    line_with(&text, &["100%"]);
    assert!(text.contains("No check was failing at the end of the month."), "{text}");
    assert!(text.contains("No notifications this month."), "{text}");
    assert!(text.contains("No check this month named a HIPAA control"), "{text}");
    // Received now, after September's end: no chain head yet at that end.
    assert!(text.contains("No bundle received by the end of the month."), "{text}");
}

#[tokio::test]
async fn the_same_inputs_give_the_same_bytes() {
    let app = spawn_app().await;
    let s = seed(&app, "Oak Street Clinic", "Acme IT").await;
    let first = download(&app, &s.p.owner, MONTH).await.body;
    let second = download(&app, &s.p.owner, MONTH).await.body;
    assert_eq!(first, second, "served from the cache");
    // Made again from scratch: still the same bytes. Raw SQL on purpose:
    // drops the cache, which the portal only does for a late bundle.
    let db = app.db_client().await;
    db.execute("DELETE FROM client_monthly_reports", &[]).await.unwrap();
    drop(db);
    let third = download(&app, &s.p.owner, MONTH).await.body;
    assert_eq!(first, third, "generation is deterministic");
    let (sha, _, _) = cached(&app, s.p.org_id, MONTH).await.unwrap();
    assert_eq!(sha, Sha256::digest(&third).to_vec(), "the cached sha is the bytes' sha");
}

#[tokio::test]
async fn late_evidence_makes_the_report_again() {
    let app = spawn_app().await;
    let s = seed(&app, "Oak Street Clinic", "Acme IT").await;
    let before = download(&app, &s.p.owner, MONTH).await.body;
    let (_, generated_at, _) = cached(&app, s.p.org_id, MONTH).await.unwrap();
    // Still cached: another download changes nothing.
    download(&app, &s.p.owner, MONTH).await;
    assert_eq!(cached(&app, s.p.org_id, MONTH).await.unwrap().1, generated_at);

    // A September bundle arrives now (its appliance was offline).
    insert_bundle(
        &app,
        &s.west,
        day("2026-09-28"),
        &[check("patch_level", "GW-02", "fail", Some("164.308(a)(1)(ii)(B)"))],
    )
    .await;
    let after = download(&app, &s.p.owner, MONTH).await.body;
    assert_ne!(before, after, "made again with the late evidence");
    let (sha, regenerated_at, count) = cached(&app, s.p.org_id, MONTH).await.unwrap();
    assert!(regenerated_at > generated_at);
    assert_eq!(sha, Sha256::digest(&after).to_vec());
    assert_eq!(count, 4);
    let text = pdf_text(&after);
    line_with(&text, &["Westside Branch", "GW-02", "patch_level", "2026-09-28"]);
    // The list shows the new figures.
    let reports = list(&app, &s.p.owner).await;
    let sep = reports.iter().find(|r| r["month"] == MONTH).unwrap();
    assert_eq!(sep["pdf_sha256"], json!(hex::encode(&sha)));
    assert_eq!(sep["evidence_count"], json!(4));
    assert_eq!(sep["overall_score"], json!(50.0), "3 of 6");
}

/// A late bundle arriving through ingestion drops the finished month's
/// cached report at once, so the list (which does not recount finished
/// months) shows the new figures without waiting for a download.
#[tokio::test]
async fn an_ingested_late_bundle_drops_the_cached_month() {
    let app = spawn_app().await;
    let s = seed(&app, "Oak Street Clinic", "Acme IT").await;
    download(&app, &s.p.owner, MONTH).await;
    let (_, _, count) = cached(&app, s.p.org_id, MONTH).await.expect("cached after a download");
    let annex = crate::appliances::create_site(&app, s.p.org_id, "Annex").await;
    crate::appliances::ingest(
        &app,
        &annex,
        "CB-LATE-0001",
        day("2026-09-20"),
        &[("ntp_sync", "pass", "ANNEX-01", Some("164.312(b)"))],
    )
    .await;
    assert!(cached(&app, s.p.org_id, MONTH).await.is_none(), "the stale report is gone");
    let reports = list(&app, &s.p.owner).await;
    let sep = reports.iter().find(|r| r["month"] == MONTH).unwrap();
    assert_eq!(sep["evidence_count"], json!(count + 1));
    assert!(cached(&app, s.p.org_id, MONTH).await.is_some(), "made again by the list");
}

#[tokio::test]
async fn malformed_months_are_400_and_months_without_data_404() {
    let app = spawn_app().await;
    let s = seed(&app, "Oak Street Clinic", "Acme IT").await;
    for bad in ["2026-13", "2026-1", "abc", "2026-00", "2026-09-01", "09-2026", "2026_09", "%20"] {
        let d = app.get_as(&s.p.owner, &format!("/api/client/reports/monthly/{bad}")).reply().await;
        assert_eq!(d.status, StatusCode::BAD_REQUEST, "{bad}");
        let body = d.json();
        assert_eq!(body["error"], "bad_request", "{bad}");
        assert!(body["message"].as_str().unwrap().contains("YYYY-MM"), "{bad}: {body}");
        let page = app.get_as(&s.p.owner, &portal::paths::report_pdf(bad)).reply().await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "page {bad}");
        assert!(String::from_utf8_lossy(&page.body).contains("YYYY-MM"), "page {bad}");
    }
    let next = portal::reports::Month::of(Utc::now()).next().to_string();
    for empty in ["2026-07", "2019-01", "0000-01", "9999-12", next.as_str()] {
        let d =
            app.get_as(&s.p.owner, &format!("/api/client/reports/monthly/{empty}")).reply().await;
        assert_eq!(d.status, StatusCode::NOT_FOUND, "{empty}");
        assert_eq!(d.json()["error"], "not_found");
        let page = app.get_as(&s.p.owner, &portal::paths::report_pdf(empty)).reply().await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "page {empty}");
    }
    app.client
        .get(format!("/api/client/reports/monthly/{MONTH}"))
        .send()
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
    assert!(report_audits(&app).await.is_empty(), "refusals are not downloads");
    assert!(cached(&app, s.p.org_id, "2026-07").await.is_none());
}

#[tokio::test]
async fn another_practice_cannot_download_or_list_it() {
    let app = spawn_app().await;
    let s = seed(&app, "Oak Street Clinic", "Acme IT").await;
    let b = app.practice("Elm Clinic").await;
    let d = app.get_as(&b.owner, &format!("/api/client/reports/monthly/{MONTH}")).reply().await;
    assert_eq!(d.status, StatusCode::NOT_FOUND);
    let page = app.get_as(&b.owner, &portal::paths::report_pdf(MONTH)).reply().await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(list(&app, &b.owner).await.is_empty());
    assert!(cached(&app, b.org_id, MONTH).await.is_none());
    // A's report is untouched by B's attempts, and still A's to download.
    assert!(cached(&app, s.p.org_id, MONTH).await.is_none());
    download(&app, &s.p.viewer, MONTH).await;
}

#[tokio::test]
async fn the_current_month_is_month_to_date_and_not_cached() {
    let app = spawn_app().await;
    let p = app.practice("Birch Clinic").await;
    let s = site(&app, p.org_id, "Main").await;
    insert_bundle(
        &app,
        &s,
        Utc::now(),
        &[check("bitlocker_status", "PC-1", "fail", Some(BITLOCKER))],
    )
    .await;
    let month = portal::reports::Month::of(Utc::now()).to_string();
    let reports = list(&app, &p.viewer).await;
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0]["month"], json!(month));
    assert_eq!(reports[0]["month_to_date"], json!(true));
    assert_eq!(reports[0]["overall_score"], json!(0.0));
    let d = download(&app, &p.viewer, &month).await;
    assert_eq!(d.header("x-report-sha256"), hex::encode(Sha256::digest(&d.body)));
    let text = pdf_text(&d.body);
    assert!(text.contains("month to date"), "{text}");
    line_with(&text, &["PC-1", "bitlocker_status"]);
    assert!(cached(&app, p.org_id, &month).await.is_none(), "the current month is not cached");
    assert_eq!(report_audits(&app).await.len(), 1);
}

#[tokio::test]
async fn the_scheduler_makes_last_month_once_and_mails_owners_who_opted_in() {
    let smtp = crate::smtp_server::SmtpServer::start(crate::smtp_server::Security::Plain).await;
    let app = crate::helpers::spawn_app_with(|c| c.smtp = Some(smtp.config())).await;
    let a = seed(&app, "Oak Street Clinic", "Acme IT").await;
    let b = seed(&app, "Elm Clinic", "Beta IT").await;
    let quiet = app.practice("Quiet Clinic").await; // no evidence at all
    let db = app.db_client().await;
    let prefs = portal::db::notifications::preferences(&**db, b.p.org_id, b.p.owner.id)
        .await
        .unwrap()
        .expect("the owner's preferences");
    let no_report = portal::db::notifications::Preferences { monthly_report: false, ..prefs };
    portal::db::notifications::set_preferences(&**db, b.p.org_id, b.p.owner.id, no_report)
        .await
        .unwrap();
    drop(db);

    // Early on October 1st (after the grace period), two instances at once.
    let now: DateTime<Utc> = "2026-10-01T02:05:00Z".parse().unwrap();
    let other = app.state.with_config(app.state.config().clone());
    let (x, y) = tokio::join!(
        portal::reports::scheduler::run_once(&app.state, now),
        portal::reports::scheduler::run_once(&other, now)
    );
    assert_eq!(x.unwrap() + y.unwrap(), 2, "one report per practice with evidence");
    // And again later: nothing more.
    let later: DateTime<Utc> = "2026-10-01T02:20:00Z".parse().unwrap();
    assert_eq!(portal::reports::scheduler::run_once(&app.state, later).await.unwrap(), 0);

    let db = app.db_client().await;
    let count = |sql: &'static str, org: uuid::Uuid| {
        let db = &db;
        async move { db.query_one(sql, &[&org]).await.unwrap().get::<_, i64>(0) }
    };
    for org in [a.p.org_id, b.p.org_id] {
        assert_eq!(
            count("SELECT count(*) FROM client_monthly_reports WHERE client_org_id = $1", org)
                .await,
            1
        );
        assert_eq!(
            count(
                "SELECT count(*) FROM client_notifications WHERE client_org_id = $1 AND type = 'monthly_report'",
                org
            )
            .await,
            1
        );
        assert_eq!(
            count(
                "SELECT count(*) FROM scheduler_runs WHERE job = 'monthly_report' AND run_key = $1::uuid::text || ':2026-09'",
                org
            )
            .await,
            1
        );
    }
    assert_eq!(
        count("SELECT count(*) FROM client_notifications WHERE client_org_id = $1", quiet.org_id)
            .await,
        0
    );
    assert_eq!(
        count(
            "SELECT count(*) FROM scheduler_runs WHERE run_key LIKE $1::uuid::text || ':%'",
            quiet.org_id
        )
        .await,
        0,
        "a practice without evidence is not claimed, so late evidence still gets a report"
    );
    let n = db
        .query_one(
            "SELECT title, action_url, dedupe_key, severity FROM client_notifications
              WHERE client_org_id = $1 AND type = 'monthly_report'",
            &[&a.p.org_id],
        )
        .await
        .unwrap();
    assert_eq!(n.get::<_, String>(0), "Your September 2026 compliance report is ready");
    assert_eq!(n.get::<_, Option<String>>(1).as_deref(), Some(portal::paths::REPORTS));
    assert_eq!(n.get::<_, Option<String>>(2).as_deref(), Some("monthly_report:2026-09"));
    assert_eq!(n.get::<_, String>(3), "info");
    let mails: Vec<String> = db
        .query("SELECT to_address FROM email_outbox WHERE kind = 'monthly_report'", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        mails,
        std::slice::from_ref(&a.p.owner.email),
        "the owner who opted in, nobody else"
    );
    drop(db);

    // The mail goes out through the outbox to a real SMTP server, with a link and no attachment.
    let mailer =
        portal::mail::spawn_worker_with(app.pool.clone(), smtp.transport(), app.state.mail_waker());
    let message = smtp.next_message().await;
    assert_eq!(message.rcpt_to, vec![a.p.owner.email.clone()]);
    let parsed = message.parsed();
    assert_eq!(
        parsed.subject(),
        Some("Oak Street Clinic: your September 2026 compliance report is ready")
    );
    let text = parsed.body_text(0).unwrap().into_owned();
    assert!(text.contains(&format!("{}/client/reports", app.state.config().base_url)), "{text}");
    assert!(text.contains("60%"), "{text}");
    assert_eq!(parsed.attachment_count(), 0);
    mailer.shutdown().await;

    // The report the scheduler made is the one users download.
    let (sha, _, _) = cached(&app, a.p.org_id, MONTH).await.unwrap();
    let d = download(&app, &a.p.owner, MONTH).await;
    assert_eq!(Sha256::digest(&d.body).to_vec(), sha);
}

#[tokio::test]
async fn the_scheduler_waits_two_hours_into_the_first_for_late_bundles() {
    let app = spawn_app().await;
    let s = seed(&app, "Oak Street Clinic", "Acme IT").await;
    let quiet = app.practice("Quiet Clinic").await; // no evidence at all
    let due = |org| {
        let app = &app;
        async move {
            let db = app.db_client().await;
            let m = portal::reports::Month::parse(MONTH).unwrap();
            portal::db::reports::orgs_due(&**db, "monthly_report", MONTH, m.start(), m.end())
                .await
                .unwrap()
                .contains(&org)
        }
    };
    assert!(due(s.p.org_id).await, "a practice with September evidence is due");
    assert!(!due(quiet.org_id).await, "a practice without September evidence is not looked at");

    // 00:30 on October 1st: September is still open for late bundles.
    let early: DateTime<Utc> = "2026-10-01T00:30:00Z".parse().unwrap();
    assert_eq!(portal::reports::scheduler::run_once(&app.state, early).await.unwrap(), 0);
    assert!(cached(&app, s.p.org_id, MONTH).await.is_none(), "no report yet");
    let db = app.db_client().await;
    let runs: i64 = db
        .query_one("SELECT count(*) FROM scheduler_runs WHERE job = 'monthly_report'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(runs, 0, "nothing claimed");
    drop(db);

    // September's last bundle, checked at 23:50, arrives at 01:10.
    let late = insert_bundle(
        &app,
        &s.west,
        "2026-09-30T23:50:00Z".parse().unwrap(),
        &[check("patch_level", "GW-02", "pass", Some("164.308(a)(1)(ii)(B)"))],
    )
    .await;
    // Raw SQL on purpose: the bundle arrives late, at a chosen moment.
    let db = app.db_client().await;
    db.execute(
        "UPDATE evidence_bundles SET received_at = '2026-10-01T01:10:00Z' WHERE id = $1",
        &[&late.id],
    )
    .await
    .unwrap();
    drop(db);

    // 02:30: the report is made, with the late bundle in it.
    let after: DateTime<Utc> = "2026-10-01T02:30:00Z".parse().unwrap();
    assert_eq!(portal::reports::scheduler::run_once(&app.state, after).await.unwrap(), 1);
    let (_, _, count) = cached(&app, s.p.org_id, MONTH).await.expect("made at 02:30");
    assert_eq!(count, 4, "the three seeded September bundles and the late one");
    assert!(!due(s.p.org_id).await, "done: no longer due");
}

#[tokio::test]
async fn an_old_month_names_the_partner_of_that_month() {
    let app = spawn_app().await;
    let s = seed(&app, "Oak Street Clinic", "Acme IT").await;
    let partner_line = |text: &str| line_with(text, &["Partner"]).to_owned();
    let before = pdf_text(&download(&app, &s.p.owner, MONTH).await.body);
    assert!(partner_line(&before).contains("Acme IT"), "{before}");

    // In October the practice moved to Beta IT (on the 15th), then to
    // OsirisCare directly (on the 20th).
    let db = app.db_client().await;
    let beta = app.partner("Beta IT").await;
    let acme: uuid::Uuid = db
        .query_one("SELECT current_partner_id FROM client_orgs WHERE id = $1", &[&s.p.org_id])
        .await
        .unwrap()
        .get(0);
    // Raw SQL on purpose: completed transfers in the past; the portal's
    // transfer flow stamps every step with the present.
    for (from, to, completed) in [
        (Some(acme), Some(beta), "2026-10-15T10:00:00Z"),
        (Some(beta), None, "2026-10-20T10:00:00Z"),
    ] {
        db.execute(
            "INSERT INTO partner_transfer_requests
               (client_org_id, from_partner_id, to_partner_id, requested_by, status,
                reviewed_at, reviewed_by, completed_at)
             VALUES ($1, $2, $3, $4, 'completed', $5::text::timestamptz, 'staff@osiriscare.test',
                     $5::text::timestamptz)",
            &[&s.p.org_id, &from, &to, &s.p.owner.id, &completed],
        )
        .await
        .unwrap();
    }
    portal::db::transfers::move_org(&**db, s.p.org_id, None).await.unwrap();
    // Made again from scratch (raw SQL on purpose: drops the cache).
    db.execute("DELETE FROM client_monthly_reports", &[]).await.unwrap();
    drop(db);

    // August and September: Acme IT, as then.
    for month in ["2026-08", MONTH] {
        let text = pdf_text(&download(&app, &s.p.owner, month).await.body);
        let line = partner_line(&text);
        assert!(line.contains("Acme IT"), "{month}: {line}");
        assert!(!text.contains("Beta IT") && !text.contains("(direct)"), "{month}: {text}");
    }
    // October ended with OsirisCare direct (the last move before its end).
    let text = pdf_text(&download(&app, &s.p.owner, "2026-10").await.body);
    assert!(partner_line(&text).contains("OsirisCare (direct)"), "{text}");
    assert!(!text.contains("Acme IT") && !text.contains("Beta IT"), "{text}");
}

#[tokio::test]
async fn a_month_to_date_report_speaks_of_so_far() {
    let app = spawn_app().await;
    let p = app.practice("Aspen Clinic").await;
    let s = site(&app, p.org_id, "Main").await;
    insert_bundle(&app, &s, Utc::now(), &[check("ntp_sync", "PC-1", "pass", None)]).await;
    let month = portal::reports::Month::of(Utc::now()).to_string();
    let text = pdf_text(&download(&app, &p.viewer, &month).await.body);
    assert!(text.contains("No check is failing so far this month."), "{text}");
    assert!(text.contains("received so far, in chain order."), "{text}");
    assert!(!text.contains("end of the month"), "month-end wording in a month to date: {text}");
}

#[tokio::test]
async fn portal_report_writes_the_pdf() {
    let app = spawn_app().await;
    let s = seed(&app, "Oak Street Clinic", "Acme IT").await;
    let dir = TempDir::new();
    let out_path = dir.path().join("oak-2026-09.pdf");
    let run = |args: Vec<String>| {
        portal_cmd().env("DATABASE_URL", app.db.url()).args(args).output().expect("run portal")
    };
    let args = |org: &str, month: &str| {
        vec![
            "report".to_owned(),
            "--org".to_owned(),
            org.to_owned(),
            "--month".to_owned(),
            month.to_owned(),
            "--out".to_owned(),
            out_path.display().to_string(),
        ]
    };
    let org = s.p.org_id.to_string();
    let out = run(args(&org, MONTH));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pdf = std::fs::read(&out_path).unwrap();
    let sha = hex::encode(Sha256::digest(&pdf));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout.trim(),
        format!("{}  {} bytes  sha256 {sha}", out_path.display(), pdf.len()),
        "one line: path, size, SHA-256"
    );
    assert!(pdf_text(&pdf).contains("Oak Street Clinic"));
    // The same file the portal serves.
    assert_eq!(download(&app, &s.p.owner, MONTH).await.body, pdf);

    for (org, month, expect) in [
        (uuid::Uuid::new_v4().to_string(), MONTH, "no practice with id"),
        (org.clone(), "2026-13", "is not a month"),
        (org.clone(), "2026-07", "no evidence was checked in 2026-07"),
    ] {
        std::fs::remove_file(&out_path).ok();
        let out = run(args(&org, month));
        assert!(!out.status.success(), "{month} should fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expect), "expected {expect:?} in {stderr}");
        assert!(out.stdout.is_empty());
        assert!(!out_path.exists(), "no file written");
    }
}

#[tokio::test]
async fn the_reports_page_lists_months_with_download_links() {
    let app = spawn_app().await;
    let s = seed(&app, "Oak Street Clinic", "Acme IT").await;
    // The first visit makes nothing while it waits: the months are made
    // in the background and the page asks again until they are listed.
    let resp = app.get_as(&s.p.viewer, portal::paths::REPORTS).send().await;
    let html = expect_text(resp, StatusCode::OK).await;
    assert!(html.contains("id=\"reports-being-made\""), "{html}");
    assert!(html.contains("3 reports are being made"), "{html}");
    assert!(html.contains("hx-get=\"/client/reports\" hx-trigger=\"load delay:2s\""), "{html}");
    assert!(
        html.contains("id=\"reports-pending\"") && !html.contains("<table"),
        "no empty table: {html}"
    );
    assert!(!html.contains("No reports yet"));
    portal::reports::settled(s.p.org_id).await;
    let resp = app.get_as(&s.p.viewer, portal::paths::REPORTS).send().await;
    let html = expect_text(resp, StatusCode::OK).await;
    assert!(!html.contains("reports-being-made"), "{html}");
    assert!(html.contains("September 2026"), "{html}");
    assert!(html.contains("data-month=\"2026-09\""));
    assert!(html.contains("href=\"/client/reports/2026-09/pdf\""));
    assert!(html.contains("score-red"), "the score in its colour");
    assert!(html.contains("60%"));
    assert!(html.contains("aria-current=\"page\""), "Reports is the current section");

    let d = app.get_as(&s.p.viewer, "/client/reports/2026-09/pdf").reply().await;
    assert_eq!(d.status, StatusCode::OK);
    assert_eq!(d.header("content-type"), "application/pdf");
    assert!(d.header("content-disposition").contains("OsirisCare-oak-street-clinic-2026-09.pdf"));
    assert_eq!(d.body, download(&app, &s.p.viewer, MONTH).await.body, "the same file as the API");
    let audits = report_audits(&app).await;
    assert_eq!(audits.len(), 2);
    assert_eq!(audits[0].3["via"], json!("page"));

    // A practice without evidence sees an empty state.
    let empty = app.practice("New Clinic").await;
    let resp = app.get_as(&empty.owner, portal::paths::REPORTS).send().await;
    let html = expect_text(resp, StatusCode::OK).await;
    assert!(html.contains("id=\"reports-empty\""), "{html}");
    assert!(html.contains("No reports yet"));
    // Signed out: to the sign-in page, not the list.
    let resp = app.client.get(portal::paths::REPORTS).send().await;
    assert_ne!(resp.0.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_list_another_site_opens_makes_no_report() {
    let app = spawn_app().await;
    let s = seed(&app, "Oak Street Clinic", "Acme IT").await;
    for site in ["cross-site", "same-site"] {
        let resp = app
            .get_as(&s.p.viewer, portal::paths::REPORTS)
            .header("sec-fetch-site", site)
            .send()
            .await;
        let html = expect_text(resp, StatusCode::OK).await;
        assert!(html.contains("id=\"reports-not-built\""), "{html}");
        assert!(html.contains("3 reports were not made"), "{html}");
        assert!(!html.contains("No reports yet"), "{html}");
        let resp = app
            .get_as(&s.p.viewer, "/api/client/reports/monthly")
            .header("sec-fetch-site", site)
            .send()
            .await;
        let body = expect_json(resp, StatusCode::OK).await;
        assert_eq!((body["reports"].as_array().unwrap().len(), &body["not_built"]), (0, &json!(3)));
    }
    assert_eq!(cached(&app, s.p.org_id, MONTH).await, None, "nothing was made");

    // From the portal's own page, each month is made (and kept).
    let resp = app
        .get_as(&s.p.viewer, portal::paths::REPORTS)
        .header("sec-fetch-site", "same-origin")
        .send()
        .await;
    let html = expect_text(resp, StatusCode::OK).await;
    assert!(
        !html.contains("reports-not-built") && html.contains("3 reports are being made"),
        "{html}"
    );
    portal::reports::settled(s.p.org_id).await;
    let made = cached(&app, s.p.org_id, MONTH).await;
    assert!(made.is_some());
    // A cross-site request now lists what is kept, and makes nothing new.
    let resp = app
        .get_as(&s.p.viewer, "/api/client/reports/monthly")
        .header("sec-fetch-site", "cross-site")
        .send()
        .await;
    let body = expect_json(resp, StatusCode::OK).await;
    let months: Vec<&str> =
        body["reports"].as_array().unwrap().iter().map(|r| r["month"].as_str().unwrap()).collect();
    assert!(months.contains(&MONTH), "{body}");
    assert_eq!(cached(&app, s.p.org_id, MONTH).await, made, "kept as it was");
}

#[tokio::test]
async fn in_chromium_the_month_is_listed_and_its_link_answers_a_pdf() {
    let Some((_driver, client)) = crate::browser::browser().await else { return };
    let app = spawn_app().await;
    let s = seed(&app, "Riverside Family Medicine", "Acme IT").await;
    let server = crate::helpers::spawn_server(&app).await;
    crate::browser::open_as(&client, &server.base_url, &s.p.viewer, portal::paths::REPORTS).await;

    let row = client
        .wait()
        .for_element(fantoccini::Locator::Css("tr.report-row[data-month='2026-09']"))
        .await
        .expect("the September row");
    assert!(row.text().await.unwrap().contains("September 2026"));
    let link = row.find(fantoccini::Locator::Css("a[href$='/pdf']")).await.unwrap();
    let href = link.attr("href").await.unwrap().expect("an href");
    assert_eq!(href, "/client/reports/2026-09/pdf");
    let answer = client
        .execute(
            "return fetch(arguments[0], {credentials: 'same-origin'}).then(async r => \
               [r.status, r.headers.get('content-type'), r.headers.get('content-disposition'), \
                new TextDecoder().decode((await r.arrayBuffer()).slice(0, 5))]);",
            vec![json!(href)],
        )
        .await
        .unwrap();
    assert_eq!(
        answer,
        json!([
            200,
            "application/pdf",
            "attachment; filename=\"OsirisCare-riverside-family-medicine-2026-09.pdf\"",
            "%PDF-"
        ])
    );
    crate::browser::screenshot(&client, "reports").await;
    client.close().await.unwrap();
    server.stop().await;
    assert_eq!(report_audits(&app).await.len(), 1, "the browser's download was audited");
}

/// The list never waits for a report: missing months are made in the
/// background. A download of a month being made waits for that month, and
/// the month is made once (the PDF names when it was made, so a second
/// making would be another file).
#[tokio::test]
async fn the_list_never_waits_and_a_download_waits_for_its_month_only() {
    let app = spawn_app().await;
    let s = seed(&app, "Oak Street Clinic", "Acme IT").await;
    let first =
        app.get_as(&s.p.viewer, "/api/client/reports/monthly").expect_json(StatusCode::OK).await;
    assert_eq!((&first["being_made"], &first["reports"]), (&json!(3), &json!([])), "{first}");
    let d = download(&app, &s.p.viewer, MONTH).await;
    let sha = d.header("x-report-sha256");
    portal::reports::settled(s.p.org_id).await;
    let listed = list(&app, &s.p.viewer).await;
    let month = listed.iter().find(|r| r["month"] == MONTH).expect("the month is listed");
    assert_eq!(month["pdf_sha256"], sha, "the download and the list are the same file");
}

/// A check that fails again and again makes one row of the incidents, with
/// how often it failed and its time spent failing in all: the report's
/// size follows the practice's checks, not how often they flap.
#[tokio::test]
async fn a_check_that_fails_again_and_again_is_one_incident_row_with_its_count() {
    let app = spawn_app().await;
    let p = app.practice("Flap Clinic").await;
    let s = site(&app, p.org_id, "Main").await;
    // The firewall: failing since Aug 30, back on Sep 2, failing Sep 10 to
    // 11, and again from Sep 20 on: 3 failures, 3 + 1 + 10.5 days.
    // The backup: one failure of a day.
    for (date, firewall, backup) in [
        ("2026-08-30", "fail", "pass"),
        ("2026-09-02", "pass", "pass"),
        ("2026-09-05", "pass", "fail"),
        ("2026-09-06", "pass", "pass"),
        ("2026-09-10", "fail", "pass"),
        ("2026-09-11", "pass", "pass"),
        ("2026-09-20", "fail", "pass"),
        ("2026-09-25", "fail", "pass"),
    ] {
        insert_bundle(
            &app,
            &s,
            day(date),
            &[
                check("firewall_status", "GW-01", firewall, Some(FIREWALL)),
                check("backup_status", "NAS-01", backup, Some(BACKUP)),
            ],
        )
        .await;
    }
    let text = pdf_text(&download(&app, &p.owner, MONTH).await.body);
    assert!(text.contains("Incidents: 4 failures, 3 recovered, 1 open at month end"), "{text}");
    assert!(text.contains("4 failures of 2 checks: 3 recovered, 1 still failing"), "{text}");
    let section = text.split("Incidents this month").nth(1).expect("the incidents section");
    let section = &section[..section.find("Late evidence").expect("late evidence is reported")];
    // A long cell wraps onto the next line: its start is on the row's.
    line_with(section, &["GW-01", "3 times", "Aug 30 12:00 - still", "14 days"]);
    line_with(section, &["NAS-01", "once", "Sep 5 12:00 - Sep", "24 h"]);
    assert_eq!(section.matches("GW-01").count(), 1, "one row for the firewall: {section}");
}
