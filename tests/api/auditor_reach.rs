//! What an auditor reads, in and out of their grant: every read an auditor
//! may make answers 200 inside the grant's sites and period, 404 for a site
//! outside it (as for another practice's), 403 for evidence checked outside
//! the period; lists hold only what the grant reaches; each read is an
//! `auditor.viewed` row the practice can see.

use chrono::{DateTime, Utc};
use poem::http::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::appliances::{TestSite, create_site, ingest};
use crate::auditors::auditor_of_scope;
use crate::helpers::{Expect, TestApp, TestUser, spawn_app};
use crate::log_api::sign_now;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// Practice "Oak Clinic" with two sites, bundles in and out of the first
/// half of 2026, all logged and checkpointed.
struct Fixture {
    app: TestApp,
    owner: TestUser,
    org_id: Uuid,
    /// In the grant.
    main: TestSite,
    /// Not in the grant.
    annex: TestSite,
}

/// Bundle ids: in the grant's site and period, in its site after the
/// period, at the other site inside the period.
const IN: &str = "MAIN-2026-03-10";
const LATE: &str = "MAIN-2026-08-10";
const OTHER: &str = "ANNEX-2026-03-10";

async fn fixture() -> Fixture {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let main = create_site(&app, p.org_id, "Main Street").await;
    let annex = create_site(&app, p.org_id, "Annex").await;
    ingest(&app, &main, IN, at("2026-03-10T09:00:00Z"), &[("ntp_sync", "pass", "SRV", None)]).await;
    ingest(&app, &main, LATE, at("2026-08-10T09:00:00Z"), &[("ntp_sync", "fail", "SRV", None)])
        .await;
    ingest(&app, &annex, OTHER, at("2026-03-10T09:00:00Z"), &[("ntp_sync", "pass", "SRV", None)])
        .await;
    sign_now(&app, p.org_id).await;
    Fixture { org_id: p.org_id, owner: p.owner, app, main, annex }
}

fn bundle_ids(list: &Value) -> Vec<&str> {
    list["evidence"].as_array().unwrap().iter().map(|b| b["bundle_id"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn an_auditor_reads_only_the_sites_and_period_of_their_grant() {
    let f = fixture().await;
    let app = &f.app;
    let (main, annex) = (f.main.id, f.annex.id);
    let (_, auditor) = auditor_of_scope(
        app,
        &f.owner,
        f.org_id,
        json!({ "site_ids": [main], "from": "2026-01-01", "to": "2026-06-30" }),
    )
    .await;
    let viewed_before = app
        .count("SELECT count(*) FROM client_audit_log WHERE action = 'auditor.viewed'", &[])
        .await;

    // The dashboard and the site list hold the granted site only.
    let dash = app.get_as(&auditor, "/api/client/dashboard").expect_json(StatusCode::OK).await;
    let names: Vec<_> = dash["sites"].as_array().unwrap().iter().map(|s| &s["site_id"]).collect();
    assert_eq!(names, [&json!(main)], "{dash}");
    assert_eq!(dash["unread_notifications"], 0, "an auditor has no notifications");
    let sites = app.get_as(&auditor, "/api/client/sites").expect_json(StatusCode::OK).await;
    assert_eq!(sites["sites"].as_array().unwrap().len(), 1, "{sites}");
    let owner_sites = app.get_as(&f.owner, "/api/client/sites").expect_json(StatusCode::OK).await;
    assert_eq!(owner_sites["sites"].as_array().unwrap().len(), 2, "the owner sees both");

    // Per site: in the grant 200, outside it 404 (as another practice's).
    for path in ["/api/client/sites/{}", "/api/client/sites/{}/history"] {
        app.get_as(&auditor, &path.replace("{}", &main.to_string()))
            .expect_status(StatusCode::OK)
            .await;
        app.get_as(&auditor, &path.replace("{}", &annex.to_string()))
            .expect_status(StatusCode::NOT_FOUND)
            .await;
    }
    app.post_as(&auditor, &format!("/api/client/sites/{main}/verify-chain"))
        .expect_status(StatusCode::OK)
        .await;
    app.post_as(&auditor, &format!("/api/client/sites/{annex}/verify-chain"))
        .expect_status(StatusCode::NOT_FOUND)
        .await;

    // The evidence list is cut to the grant; a site or a range outside it
    // is refused.
    let list = app.get_as(&auditor, "/api/client/evidence").expect_json(StatusCode::OK).await;
    assert_eq!(bundle_ids(&list), [IN], "{list}");
    let all = app.get_as(&f.owner, "/api/client/evidence").expect_json(StatusCode::OK).await;
    assert_eq!(bundle_ids(&all).len(), 3, "the owner sees every bundle");
    let wide = app
        .get_as(&auditor, "/api/client/evidence?from=2025-01-01T00:00:00Z&to=2027-01-01T00:00:00Z")
        .expect_json(StatusCode::OK)
        .await;
    assert_eq!(bundle_ids(&wide), [IN], "a wider range is cut to the period");
    app.get_as(&auditor, &format!("/api/client/evidence?site_id={annex}"))
        .expect_status(StatusCode::NOT_FOUND)
        .await;
    let late = app
        .get_as(&auditor, "/api/client/evidence?from=2026-07-01T00:00:00Z")
        .expect_status(StatusCode::FORBIDDEN)
        .await;
    assert!(late.text().contains("from 2026-01-01 to 2026-06-30"), "{}", late.text());

    // One bundle, by every read: in 200, other site 404, after the period 403.
    let reads = [
        ("GET", "/api/client/evidence/{}"),
        ("GET", "/api/client/evidence/{}/download"),
        ("GET", "/api/client/evidence/{}/proof"),
        ("GET", "/api/client/evidence/verify/{}"),
        ("POST", "/api/client/evidence/{}/verify"),
        ("GET", "/client/evidence/{}"),
    ];
    for (method, path) in reads {
        for (id, expected) in
            [(IN, StatusCode::OK), (OTHER, StatusCode::NOT_FOUND), (LATE, StatusCode::FORBIDDEN)]
        {
            let path = path.replace("{}", id);
            let req = match method {
                "GET" => app.get_as(&auditor, &path),
                _ => app.post_as(&auditor, &path),
            };
            let (got, text) = req.reply().await.status_and_text();
            assert_eq!(
                got,
                expected,
                "{method} {path}: {}",
                text.chars().take(300).collect::<String>()
            );
        }
    }

    // The bundle's chain neighbours stop at the period.
    let bundle = app
        .get_as(&auditor, &format!("/api/client/evidence/{IN}"))
        .expect_json(StatusCode::OK)
        .await;
    let neighbours: Vec<_> = bundle["neighbours"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["bundle_id"].as_str().unwrap())
        .collect();
    assert!(!neighbours.contains(&LATE), "{neighbours:?}");
    let owners = app
        .get_as(&f.owner, &format!("/api/client/evidence/{IN}"))
        .expect_json(StatusCode::OK)
        .await;
    assert!(owners["neighbours"].to_string().contains(LATE), "the owner sees the next bundle");

    // Pages: the other site is not found; dates outside the period are the
    // form's to correct.
    app.get_as(&auditor, &portal::paths::site(annex)).expect_status(StatusCode::NOT_FOUND).await;
    let page = app.get_as(&auditor, portal::paths::EVIDENCE).expect_text(StatusCode::OK).await;
    assert!(page.contains(IN) && !page.contains(LATE) && !page.contains(OTHER), "{page}");
    assert!(!page.contains("Annex"), "the site filter offers the granted site only");
    assert!(page.contains("It covers 1 site and evidence checked from 2026-01-01 to 2026-06-30"));
    let refused = app.get_as(&auditor, "/client/evidence?from=2026-07-01").reply().await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.text().contains("Your auditor access covers evidence checked from 2026-01-01"));

    // Reports cover the whole practice: none for a grant of some sites.
    let reports =
        app.get_as(&auditor, "/api/client/reports/monthly").expect_json(StatusCode::OK).await;
    assert_eq!(reports["reports"], json!([]), "{reports}");
    let refused = app
        .get_as(&auditor, "/api/client/reports/monthly/2026-03")
        .expect_status(StatusCode::FORBIDDEN)
        .await;
    assert!(refused.text().contains("cover every site"), "{}", refused.text());
    let page = app.get_as(&auditor, portal::paths::REPORTS).expect_text(StatusCode::OK).await;
    assert!(page.contains("Reports cover the whole practice"), "{page}");

    // Every read above is in the practice's audit log.
    let viewed = app
        .count("SELECT count(*) FROM client_audit_log WHERE action = 'auditor.viewed'", &[])
        .await
        - viewed_before;
    // The dashboard, the site, two evidence lists, the bundle (API twice
    // and the page), its proof and the evidence page; downloads have their own
    // `evidence.downloaded` rows, refusals none.
    assert_eq!(viewed, 9, "one row per read");
    let log = app
        .get_as(&f.owner, "/api/client/audit-log?action=auditor.viewed&limit=500")
        .expect_json(StatusCode::OK)
        .await;
    let kinds: std::collections::BTreeSet<_> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["target_type"].as_str().unwrap().to_owned())
        .collect();
    for kind in ["dashboard", "site", "evidence_list", "evidence_bundle", "evidence_proof"] {
        assert!(kinds.contains(kind), "{kind} in {kinds:?}");
    }
    assert!(
        app.count("SELECT count(*) FROM client_audit_log WHERE action = 'auditor.viewed' AND actor_user_id <> $1", &[&auditor.id]).await == 0,
        "only auditors' reads are recorded as views"
    );
}

#[tokio::test]
async fn an_auditor_of_every_site_gets_the_reports_and_audit_log_of_their_period() {
    let f = fixture().await;
    let app = &f.app;
    let (grant, auditor) = auditor_of_scope(
        app,
        &f.owner,
        f.org_id,
        json!({ "from": "2026-01-01", "to": "2026-06-30" }),
    )
    .await;
    let asked =
        app.get_as(&auditor, "/api/client/reports/monthly").expect_json(StatusCode::OK).await;
    assert_eq!(asked["being_made"], 1, "the month of the period is made: {asked}");
    portal::reports::settled(f.org_id).await;
    let months =
        app.get_as(&auditor, "/api/client/reports/monthly").expect_json(StatusCode::OK).await;
    let listed: Vec<_> = months["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["month"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["2026-03"], "the months of the period only: {months}");
    app.get_as(&auditor, "/api/client/reports/monthly/2026-03").expect_status(StatusCode::OK).await;
    app.get_as(&auditor, "/api/client/reports/monthly/2026-08")
        .expect_status(StatusCode::FORBIDDEN)
        .await;
    app.get_as(&f.owner, "/api/client/reports/monthly/2026-08").expect_status(StatusCode::OK).await;

    // The audit log from the period's start on: an entry from before it
    // is the owner's to read, not the auditor's.
    {
        // Raw SQL on purpose: no portal path writes an entry in the past.
        let db = app.db_client().await;
        db.execute(
            "INSERT INTO client_audit_log (client_org_id, action, details, created_at)
             VALUES ($1, 'test.before_period', '{}', '2025-12-15T10:00:00Z')",
            &[&f.org_id],
        )
        .await
        .unwrap();
    }
    let before = "/api/client/audit-log?action=test.before_period";
    let mine = app.get_as(&auditor, before).expect_json(StatusCode::OK).await;
    assert_eq!(mine["entries"], json!([]), "{mine}");
    let owners = app.get_as(&f.owner, before).expect_json(StatusCode::OK).await;
    assert_eq!(owners["entries"].as_array().unwrap().len(), 1, "{owners}");
    let recent = app.get_as(&auditor, "/api/client/audit-log").expect_json(StatusCode::OK).await;
    assert!(
        recent["entries"].as_array().unwrap().iter().any(|e| e["action"] == "auditor.granted"),
        "entries since the period are the auditor's to read: {recent}"
    );
    let page = app.get_as(&auditor, portal::paths::AUDIT).expect_text(StatusCode::OK).await;
    assert!(page.contains("data-action=\"auditor.granted\""), "{page}");
    assert!(!page.contains("data-action=\"test.before_period\""), "{page}");

    // Narrowing the grant to one site takes the reports away at once.
    app.request_as(poem::http::Method::PATCH, &f.owner, &format!("/api/client/auditors/{grant}"))
        .body_json(&json!({ "site_ids": [f.main.id] }))
        .expect_status(StatusCode::OK)
        .await;
    app.get_as(&auditor, "/api/client/reports/monthly/2026-03")
        .expect_status(StatusCode::FORBIDDEN)
        .await;
}
