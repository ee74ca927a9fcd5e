//! The read side of compliance data through the JSON API: dashboard, sites,
//! score history, the evidence browser and downloads. Evidence is written
//! straight into the database (`evidence_fixtures`), so every number here
//! is known in advance.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use ed25519_dalek::Signature;
use poem::http::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::evidence_fixtures::{
    Stored, check, insert_bundle, mark_read, noon, notification, site, whole_seconds,
};
use crate::helpers::{Expect, TestApp, TestUser, expect_json, spawn_app};

const BITLOCKER: &str = "164.312(a)(2)(iv)";
const FIREWALL: &str = "164.312(e)(1)";
const AUDIT: &str = "164.308(a)(1)(ii)(D)";

fn ts(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("not a time: {v}")))
        .unwrap()
        .to_utc()
}

fn bundle_ids(list: &Value) -> Vec<String> {
    list["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["bundle_id"].as_str().unwrap().to_owned())
        .collect()
}

/// The bundle ids of `stored` in list order: newest first, ties by row id.
fn newest_first(stored: &[&Stored]) -> Vec<String> {
    let mut sorted = stored.to_vec();
    sorted.sort_by_key(|s| std::cmp::Reverse((s.checked_at, s.id)));
    sorted.iter().map(|s| s.bundle_id.clone()).collect()
}

fn encode(v: &str) -> String {
    serde_urlencoded::to_string([("", v)]).unwrap().trim_start_matches('=').to_owned()
}

#[tokio::test]
async fn the_dashboard_scores_sites_and_counts_unread_notifications_per_user() {
    let app = spawn_app().await;
    let a = app.practice("Oak Clinic").await;
    let b = app.practice("Elm Clinic").await;
    let partner = app.partner("Northwind MSP").await;
    app.assign_partner(a.org_id, Some(partner)).await;
    let now = Utc::now();
    let main = site(&app, a.org_id, "Main Street").await;
    let lake = site(&app, a.org_id, "Lakeside").await;
    let hill = site(&app, a.org_id, "Hilltop").await;
    // Older than the 30-day window: never counted.
    insert_bundle(&app, &main, now - Duration::days(40), &[check("backup", "FD-01", "fail", None)])
        .await;
    insert_bundle(
        &app,
        &main,
        now - Duration::days(5),
        &[
            check("bitlocker", "FD-01", "pass", Some(BITLOCKER)),
            check("firewall", "FD-01", "non_compliant", Some(FIREWALL)),
        ],
    )
    .await;
    // The latest result per (check, host) wins: bitlocker on FD-01 now fails.
    let newest = insert_bundle(
        &app,
        &main,
        now - Duration::hours(2),
        &[
            check("bitlocker", "FD-01", "fail", Some(BITLOCKER)),
            check("antivirus", "FD-01", "warning", None),
            check("bitlocker", "RECEPTION-02", "compliant", Some(BITLOCKER)),
        ],
    )
    .await;
    insert_bundle(
        &app,
        &lake,
        now - Duration::days(3),
        &[
            check("bitlocker", "LAKE-01", "pass", Some(BITLOCKER)),
            check("firewall", "LAKE-01", "pass", Some(FIREWALL)),
            check("antivirus", "LAKE-01", "error", None),
        ],
    )
    .await;
    let old_town = site(&app, b.org_id, "Old Town").await;
    insert_bundle(
        &app,
        &old_town,
        now - Duration::days(31),
        &[check("bitlocker", "OT-01", "pass", None)],
    )
    .await;

    let n1 = notification(&app, a.org_id, "Firewall failing").await;
    let n2 = notification(&app, a.org_id, "BitLocker failing").await;
    let n3 = notification(&app, a.org_id, "Lakeside warning").await;
    notification(&app, b.org_id, "Elm notice").await;
    mark_read(&app, n1, a.owner.id).await;
    for n in [n1, n2, n3] {
        mark_read(&app, n, a.admin.id).await;
    }

    let d = app.get_as(&a.owner, "/api/client/dashboard").expect_json(StatusCode::OK).await;
    assert_eq!(
        d["org"],
        json!({ "id": a.org_id, "name": "Oak Clinic", "partner_name": "Northwind MSP" })
    );
    // 3 passed, 2 failed, 2 warnings: 3/7 = 42.857… → 42.9; the controls lead.
    assert_eq!(
        d["kpis"],
        json!({
            "controls": { "passed": 0, "failed": 2, "at_risk": 0, "no_data": 0, "total": 2 },
            "status": "needs_action",
            "compliance_score": 42.9, "total_checks": 7, "passed": 3, "failed": 2, "warnings": 2
        })
    );
    assert_eq!(d["unread_notifications"], 2);
    let sites = d["sites"].as_array().unwrap();
    let names: Vec<&str> = sites.iter().map(|s| s["clinic_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Hilltop", "Lakeside", "Main Street"], "sorted by name");
    assert_eq!(
        sites[0],
        json!({
            "site_id": hill.id, "clinic_name": "Hilltop", "status": "no_data",
            "evidence_count": 0, "last_evidence": null, "score": null
        })
    );
    assert_eq!(sites[1]["status"], "silent");
    assert_eq!(sites[1]["score"], 66.7, "2 of 3 passed; the error counts as a warning");
    assert_eq!(sites[1]["evidence_count"], 1);
    assert_eq!(sites[2]["site_id"], json!(main.id));
    assert_eq!(sites[2]["status"], "online");
    assert_eq!(sites[2]["score"], 25.0, "1 pass, 2 fails, 1 warning");
    assert_eq!(sites[2]["evidence_count"], 3);
    assert_eq!(ts(&sites[2]["last_evidence"]), newest.checked_at);

    // The same sites through /sites.
    let list = app.get_as(&a.viewer, "/api/client/sites").expect_json(StatusCode::OK).await;
    assert_eq!(list["sites"], d["sites"]);

    // Read state is per user; a bearer token acts as its user.
    assert_eq!(
        app.get_as(&a.admin, "/api/client/dashboard").expect_json(StatusCode::OK).await["unread_notifications"],
        0
    );
    let token = app.bearer(&a.viewer).await;
    let resp = app
        .client
        .get("/api/client/dashboard")
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await;
    let viewer = expect_json(resp, StatusCode::OK).await;
    assert_eq!(viewer["unread_notifications"], 3);
    assert_eq!(viewer["kpis"], d["kpis"]);

    // Another practice sees only itself; evidence older than 30 days is no data.
    let other = app.get_as(&b.owner, "/api/client/dashboard").expect_json(StatusCode::OK).await;
    assert_eq!(other["org"]["partner_name"], Value::Null, "served directly");
    assert_eq!(
        other["kpis"],
        json!({
            "controls": { "passed": 0, "failed": 0, "at_risk": 0, "no_data": 0, "total": 0 },
            "status": "no_data",
            "compliance_score": null, "total_checks": 0, "passed": 0, "failed": 0, "warnings": 0
        })
    );
    assert_eq!(other["unread_notifications"], 1);
    let other_sites = other["sites"].as_array().unwrap();
    assert_eq!(other_sites.len(), 1);
    assert_eq!(other_sites[0]["clinic_name"], "Old Town");
    assert_eq!(other_sites[0]["status"], "silent");
    assert_eq!(other_sites[0]["score"], Value::Null);
    assert_eq!(other_sites[0]["evidence_count"], 1);

    for path in ["/api/client/dashboard", "/api/client/sites"] {
        let resp = app.client.get(path).send().await;
        resp.assert_status(StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn a_site_shows_its_latest_checks_grouped_by_control() {
    let app = spawn_app().await;
    let a = app.practice("Oak Clinic").await;
    let b = app.practice("Elm Clinic").await;
    let now = Utc::now();
    let main = site(&app, a.org_id, "Main Street").await;
    let empty = site(&app, a.org_id, "Hilltop").await;
    let elsewhere = site(&app, b.org_id, "Elm Street").await;
    insert_bundle(
        &app,
        &main,
        now - Duration::days(40),
        &[check("backup", "SRV", "fail", Some(AUDIT))],
    )
    .await;
    let older = insert_bundle(
        &app,
        &main,
        now - Duration::days(5),
        &[
            check("bitlocker", "FD-01", "pass", Some(BITLOCKER)),
            check("firewall", "FD-01", "non_compliant", Some(FIREWALL)),
            check("antivirus", "FD-01", "pass", None),
        ],
    )
    .await;
    let newer = insert_bundle(
        &app,
        &main,
        now - Duration::hours(1),
        &[
            check("bitlocker", "FD-01", "fail", Some(BITLOCKER)),
            check("bitlocker", "RECEPTION-02", "compliant", Some(BITLOCKER)),
            check("antivirus", "FD-01", "warning", None),
            check("audit_log", "SRV", "pass", Some(AUDIT)),
        ],
    )
    .await;

    let s = app
        .get_as(&a.viewer, &format!("/api/client/sites/{}", main.id))
        .expect_json(StatusCode::OK)
        .await;
    assert_eq!(s["site_id"], json!(main.id));
    assert_eq!(s["clinic_name"], "Main Street");
    assert_eq!(s["status"], "online");
    assert_eq!(s["evidence_count"], 3);
    assert_eq!(s["score"], 40.0, "2 pass, 2 fail, 1 warning");
    let controls = s["controls"].as_array().unwrap();
    let ids: Vec<&str> = controls.iter().map(|c| c["hipaa_control"].as_str().unwrap()).collect();
    assert_eq!(ids, [AUDIT, BITLOCKER, FIREWALL, "Unmapped"]);
    let counts: Vec<(i64, i64, i64)> = controls
        .iter()
        .map(|c| {
            (
                c["passed"].as_i64().unwrap(),
                c["failed"].as_i64().unwrap(),
                c["warnings"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(counts, [(1, 0, 0), (1, 1, 0), (0, 1, 0), (0, 0, 1)]);
    let checks = |i: usize| -> Vec<(String, String, String, String)> {
        controls[i]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["check_type"].as_str().unwrap().to_owned(),
                    c["host"].as_str().unwrap().to_owned(),
                    c["status"].as_str().unwrap().to_owned(),
                    c["bundle_id"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let row = |t: &str, h: &str, st: &str, b: &Stored| {
        (t.to_owned(), h.to_owned(), st.to_owned(), b.bundle_id.clone())
    };
    assert_eq!(checks(0), [row("audit_log", "SRV", "pass", &newer)], "backup is 40 days old");
    assert_eq!(
        checks(1),
        [
            row("bitlocker", "FD-01", "fail", &newer),
            row("bitlocker", "RECEPTION-02", "pass", &newer)
        ]
    );
    assert_eq!(checks(2), [row("firewall", "FD-01", "fail", &older)]);
    assert_eq!(checks(3), [row("antivirus", "FD-01", "warn", &newer)]);
    assert_eq!(ts(&controls[2]["checks"][0]["checked_at"]), older.checked_at);

    let none = app
        .get_as(&a.viewer, &format!("/api/client/sites/{}", empty.id))
        .expect_json(StatusCode::OK)
        .await;
    assert_eq!(none["status"], "no_data");
    assert_eq!(none["score"], Value::Null);
    assert_eq!(none["controls"], json!([]));

    // Another practice's site, an unknown one, a malformed id, no credentials.
    let msg = app
        .get_as(&a.owner, &format!("/api/client/sites/{}", elsewhere.id))
        .expect_error(StatusCode::NOT_FOUND, "")
        .await;
    assert!(msg.contains("no such site"), "{msg}");
    app.get_as(&b.owner, &format!("/api/client/sites/{}", main.id))
        .expect_error(StatusCode::NOT_FOUND, "")
        .await;
    app.get_as(&a.owner, &format!("/api/client/sites/{}", uuid::Uuid::new_v4()))
        .expect_error(StatusCode::NOT_FOUND, "")
        .await;
    app.get_as(&a.owner, "/api/client/sites/not-a-uuid")
        .expect_error(StatusCode::BAD_REQUEST, "bad_request")
        .await;
    app.client
        .get(format!("/api/client/sites/{}", main.id))
        .send()
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn history_has_one_entry_per_day_and_follows_failure_and_recovery() {
    let app = spawn_app().await;
    let a = app.practice("Oak Clinic").await;
    let b = app.practice("Elm Clinic").await;
    let today = Utc::now().date_naive();
    let s = site(&app, a.org_id, "Main Street").await;
    let days_ago = |n: i64| today - Duration::days(n);
    insert_bundle(&app, &s, noon(days_ago(45)), &[check("legacy_scan", "SRV", "fail", None)]).await;
    insert_bundle(&app, &s, noon(days_ago(10)), &[check("bitlocker", "FD-01", "fail", None)]).await;
    insert_bundle(
        &app,
        &s,
        noon(days_ago(5)),
        &[check("bitlocker", "FD-01", "pass", None), check("firewall", "FD-01", "pass", None)],
    )
    .await;

    let base = format!("/api/client/sites/{}/history", s.id);
    let h = app.get_as(&a.viewer, &format!("{base}?days=60")).expect_json(StatusCode::OK).await;
    assert_eq!(h["site_id"], json!(s.id));
    assert_eq!(h["days"], 60);
    let history = h["history"].as_array().unwrap();
    assert_eq!(history.len(), 60);
    let dates: Vec<NaiveDate> =
        history.iter().map(|d| d["date"].as_str().unwrap().parse().unwrap()).collect();
    let expected: Vec<NaiveDate> = (0..60).rev().map(days_ago).collect();
    assert_eq!(dates, expected, "oldest first, ending today (UTC)");
    let day = |n: usize| &history[59 - n];
    let entry =
        |score: Value, passed: i64, failed: i64| (score, json!(passed), json!(failed), json!(0));
    let got = |n: usize| {
        let d = day(n);
        (d["score"].clone(), d["passed"].clone(), d["failed"].clone(), d["warnings"].clone())
    };
    assert_eq!(got(50), entry(Value::Null, 0, 0), "before any evidence: no data");
    assert_eq!(got(45), entry(json!(0.0), 0, 1));
    assert_eq!(got(16), entry(json!(0.0), 0, 1), "still inside its 30-day window");
    assert_eq!(got(15), entry(Value::Null, 0, 0), "30 days later it no longer counts");
    assert_eq!(got(10), entry(json!(0.0), 0, 1), "the failure");
    assert_eq!(got(6), entry(json!(0.0), 0, 1));
    assert_eq!(got(5), entry(json!(100.0), 2, 0), "the recovery replaces the failure");
    assert_eq!(got(0), entry(json!(100.0), 2, 0));

    let default = app.get_as(&a.viewer, &base).expect_json(StatusCode::OK).await;
    assert_eq!(default["days"], 30);
    assert_eq!(default["history"].as_array().unwrap().len(), 30);
    assert_eq!(default["history"][29]["date"], today.to_string());
    let one = app.get_as(&a.viewer, &format!("{base}?days=1")).expect_json(StatusCode::OK).await;
    assert_eq!(one["history"].as_array().unwrap().len(), 1);
    let seven_years =
        app.get_as(&a.viewer, &format!("{base}?days=2555")).expect_json(StatusCode::OK).await;
    let all = seven_years["history"].as_array().unwrap();
    assert_eq!(all.len(), 2555);
    assert_eq!(all[0]["date"], days_ago(2554).to_string());

    for bad in ["0", "2556", "-1", "abc", "1.5", ""] {
        let msg = app
            .get_as(&a.viewer, &format!("{base}?days={bad}"))
            .expect_error(StatusCode::BAD_REQUEST, "")
            .await;
        assert!(msg.contains("days") && msg.contains("1 to 2555"), "{bad}: {msg}");
    }
    app.get_as(&b.owner, &format!("{base}?days=7")).expect_error(StatusCode::NOT_FOUND, "").await;
    app.get_as(&a.owner, "/api/client/sites/nope/history")
        .expect_error(StatusCode::BAD_REQUEST, "bad_request")
        .await;
    app.client.get(&base).send().await.assert_status(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_evidence_list_filters_counts_and_pages_by_keyset() {
    let app = spawn_app().await;
    let a = app.practice("Oak Clinic").await;
    let b = app.practice("Elm Clinic").await;
    let s1 = site(&app, a.org_id, "Main Street").await;
    let s2 = site(&app, a.org_id, "Lakeside").await;
    let s3 = site(&app, b.org_id, "Elm Street").await;
    let t = whole_seconds(Utc::now() - Duration::days(1));
    let at = |hours: i64| t - Duration::hours(hours);
    let e1 =
        insert_bundle(&app, &s1, at(6), &[check("bitlocker", "FD", "pass", Some(BITLOCKER))]).await;
    let e2 =
        insert_bundle(&app, &s2, at(5), &[check("firewall", "LK", "fail", Some(FIREWALL))]).await;
    let e3 = insert_bundle(
        &app,
        &s1,
        at(4),
        &[
            check("antivirus", "FD", "warning", None),
            check("bitlocker", "FD", "pass", Some(BITLOCKER)),
        ],
    )
    .await;
    let e4 = insert_bundle(
        &app,
        &s1,
        at(3),
        &[
            check("bitlocker", "FD", "fail", Some(BITLOCKER)),
            check("firewall", "FD", "pass", Some(FIREWALL)),
        ],
    )
    .await;
    // Same checked_at as e4: the id breaks the tie.
    let e5 = insert_bundle(&app, &s2, at(3), &[check("backup", "LK", "pass", None)]).await;
    let e6 =
        insert_bundle(&app, &s2, at(2), &[check("firewall", "LK", "pass", Some(FIREWALL))]).await;
    let e7 = insert_bundle(&app, &s1, at(1), &[check("antivirus", "FD", "pass", None)]).await;
    let theirs = insert_bundle(&app, &s3, at(1), &[check("firewall", "ELM", "fail", None)]).await;
    let all = [&e1, &e2, &e3, &e4, &e5, &e6, &e7];

    let list = |query: String| {
        let app = &app;
        let user = &a.viewer;
        async move {
            app.get_as(user, &format!("/api/client/evidence{query}"))
                .expect_json(StatusCode::OK)
                .await
        }
    };

    let everything = list(String::new()).await;
    assert_eq!(bundle_ids(&everything), newest_first(&all));
    assert_eq!(everything["total"], 7);
    assert_eq!(everything["next_cursor"], Value::Null);
    let first = &everything["evidence"][0];
    assert_eq!(
        *first,
        json!({
            "bundle_id": e7.bundle_id, "site_id": s1.id, "clinic_name": "Main Street",
            "checked_at": first["checked_at"], "result": "pass", "checks_count": 1,
            "failed_checks": 0, "bundle_hash": hex::encode(Sha256::digest(&e7.raw)),
        })
    );
    assert_eq!(ts(&first["checked_at"]), e7.checked_at);
    assert_eq!(everything["evidence"][6]["failed_checks"], 0);
    let e4_item = everything["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["bundle_id"] == e4.bundle_id.as_str())
        .unwrap();
    assert_eq!(
        (e4_item["result"].as_str(), e4_item["checks_count"].as_i64()),
        (Some("fail"), Some(2))
    );
    assert_eq!(e4_item["failed_checks"], 1);

    let from = encode(&at(3).to_rfc3339());
    let to = encode(&at(3).to_rfc3339());
    let mid_from = encode(&at(4).to_rfc3339());
    let mid_to = encode(&(at(2)).to_rfc3339());
    let cases: Vec<(String, Vec<&Stored>)> = vec![
        (format!("?site_id={}", s2.id), vec![&e2, &e5, &e6]),
        ("?result=fail".into(), vec![&e2, &e4]),
        ("?result=warn".into(), vec![&e3]),
        ("?result=pass".into(), vec![&e1, &e5, &e6, &e7]),
        ("?check_type=firewall".into(), vec![&e2, &e4, &e6]),
        (format!("?hipaa_control={}", encode(BITLOCKER)), vec![&e1, &e3, &e4]),
        (format!("?from={from}"), vec![&e4, &e5, &e6, &e7]),
        (format!("?to={to}"), vec![&e1, &e2, &e3]),
        (format!("?from={mid_from}&to={mid_to}"), vec![&e3, &e4, &e5]),
        (format!("?site_id={}&result=fail", s1.id), vec![&e4]),
        (format!("?site_id={}&check_type=bitlocker", s1.id), vec![&e1, &e3, &e4]),
        (format!("?check_type=firewall&hipaa_control={}", encode(FIREWALL)), vec![&e2, &e4, &e6]),
        ("?check_type=no_such_check".into(), vec![]),
    ];
    for (query, expected) in cases {
        let got = list(query.clone()).await;
        assert_eq!(bundle_ids(&got), newest_first(&expected), "{query}");
        assert_eq!(got["total"], expected.len(), "{query}");
    }

    // Keyset paging: three pages, every bundle exactly once, the e4/e5 tie
    // straddling the first page boundary.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &cursor {
            Some(c) => format!("?limit=3&cursor={c}"),
            None => "?limit=3".to_owned(),
        };
        let page = list(query).await;
        pages += 1;
        assert_eq!(page["total"], 7, "total ignores the cursor");
        let ids = bundle_ids(&page);
        assert!(ids.len() <= 3);
        seen.extend(ids);
        match page["next_cursor"].as_str() {
            Some(next) => {
                assert!(next.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
                cursor = Some(next.to_owned());
            }
            None => break,
        }
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, newest_first(&all));

    // Paging composes with filters.
    let p1 = list("?result=pass&limit=2".into()).await;
    assert_eq!(bundle_ids(&p1), newest_first(&[&e6, &e7]));
    let next = p1["next_cursor"].as_str().unwrap().to_owned();
    let p2 = list(format!("?result=pass&limit=2&cursor={next}")).await;
    assert_eq!(bundle_ids(&p2), newest_first(&[&e1, &e5]));
    assert_eq!(p2["next_cursor"], Value::Null);
    assert_eq!(p2["total"], 4);

    // The other practice sees only its own bundle.
    let mine = app.get_as(&b.owner, "/api/client/evidence").expect_json(StatusCode::OK).await;
    assert_eq!(bundle_ids(&mine), std::slice::from_ref(&theirs.bundle_id));
    assert_eq!(mine["total"], 1);

    // Malformed input is a 400 that says what to send.
    let bad: [(&str, &str); 14] = [
        ("?cursor=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA%3D%3D", "cursor"),
        ("?cursor=not-a-cursor", "cursor"),
        ("?cursor=", "cursor"),
        ("?cursor=AAAAAAAAAAAAAAAAAAAAAAAAAAAA", "cursor"),
        ("?limit=201", "1 to 200"),
        ("?limit=0", "1 to 200"),
        ("?limit=ten", "1 to 200"),
        ("?result=ok", "pass, warn or fail"),
        ("?result=PASS", "pass, warn or fail"),
        ("?from=yesterday", "RFC 3339"),
        ("?to=2026-11-24", "RFC 3339"),
        ("?site_id=main-street", "site_id"),
        ("?check_type=%01", "control characters"),
        ("?hipaa_control=", "1 to 255"),
    ];
    for (query, words) in bad {
        let msg = app
            .get_as(&a.viewer, &format!("/api/client/evidence{query}"))
            .expect_error(StatusCode::BAD_REQUEST, "")
            .await;
        assert!(msg.contains(words), "{query}: {msg}");
    }
    let long = "x".repeat(256);
    app.get_as(&a.viewer, &format!("/api/client/evidence?check_type={long}"))
        .expect_error(StatusCode::BAD_REQUEST, "")
        .await;
    // Well-formed input that selects nothing is an empty page, not an error.
    let forged = app
        .get_as(&a.viewer, &format!("/api/client/evidence?cursor={}", "A".repeat(32)))
        .expect_json(StatusCode::OK)
        .await;
    assert_eq!((bundle_ids(&forged).len(), &forged["total"]), (0, &json!(7)));
    let instant = encode(&at(3).to_rfc3339());
    let empty = list(format!("?from={instant}&to={instant}")).await;
    assert_eq!((bundle_ids(&empty).len(), &empty["total"]), (0, &json!(0)));
    app.get_as(&a.viewer, "/api/client/evidence?limit=200").expect_json(StatusCode::OK).await;
    app.get_as(&a.viewer, "/api/client/evidence?limit=1").expect_json(StatusCode::OK).await;

    // A site of another practice is not found, not forbidden.
    let msg = app
        .get_as(&a.viewer, &format!("/api/client/evidence?site_id={}", s3.id))
        .expect_error(StatusCode::NOT_FOUND, "")
        .await;
    assert!(msg.contains("no such site"), "{msg}");
    app.client.get("/api/client/evidence").send().await.assert_status(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn evidence_detail_shows_checks_hashes_and_chain_neighbours() {
    let app = spawn_app().await;
    let a = app.practice("Oak Clinic").await;
    let b = app.practice("Elm Clinic").await;
    let s = site(&app, a.org_id, "Main Street").await;
    let start = Utc::now() - Duration::days(2);
    let mut chain = Vec::new();
    for i in 0..6 {
        let checks = if i == 2 {
            vec![
                check("bitlocker", "FD-01", "compliant", Some(BITLOCKER)),
                check("firewall", "FD-01", "non_compliant", None),
                check("antivirus", "RECEPTION-02", "error", Some(FIREWALL)),
            ]
        } else {
            vec![check("bitlocker", "FD-01", if i % 2 == 0 { "pass" } else { "warn" }, None)]
        };
        chain.push(insert_bundle(&app, &s, start + Duration::hours(i), &checks).await);
    }
    let theirs_site = site(&app, b.org_id, "Elm Street").await;
    let theirs = insert_bundle(&app, &theirs_site, start, &[check("x", "y", "pass", None)]).await;

    let path = |st: &Stored| format!("/api/client/evidence/{}", st.bundle_id);
    let e2 = &chain[2];
    let d = app.get_as(&a.viewer, &path(e2)).expect_json(StatusCode::OK).await;
    assert_eq!(d["bundle_id"], e2.bundle_id.as_str());
    assert_eq!(d["site_id"], json!(s.id));
    assert_eq!(d["clinic_name"], "Main Street");
    assert_eq!(ts(&d["checked_at"]), e2.checked_at);
    assert!(ts(&d["received_at"]) >= e2.checked_at);
    assert_eq!(d["result"], "fail");
    assert_eq!((d["checks_count"].as_i64(), d["failed_checks"].as_i64()), (Some(3), Some(1)));
    assert_eq!(d["warn_checks"], 1);
    assert_eq!(d["chain_position"], 2);
    assert_eq!(d["bundle_hash"], hex::encode(Sha256::digest(&e2.raw)));
    assert_eq!(d["chain_hash"], hex::encode(e2.chain_hash));
    assert_eq!(d["prev_chain_hash"], hex::encode(chain[1].chain_hash));
    assert_eq!(d["signature"], hex::encode(e2.signature));
    assert_eq!(d["signature_valid"], true);
    assert_eq!(
        d["checks"],
        json!([
            { "check_type": "bitlocker", "host": "FD-01", "hipaa_control": BITLOCKER,
              "status": "pass", "raw_status": "compliant",
              "details": { "probe": "bitlocker", "host": "FD-01" } },
            { "check_type": "firewall", "host": "FD-01", "hipaa_control": null,
              "status": "fail", "raw_status": "non_compliant",
              "details": { "probe": "firewall", "host": "FD-01" } },
            { "check_type": "antivirus", "host": "RECEPTION-02", "hipaa_control": FIREWALL,
              "status": "warn", "raw_status": "error",
              "details": { "probe": "antivirus", "host": "RECEPTION-02" } },
        ])
    );
    let neighbours = |d: &Value| -> Vec<(i64, String, String)> {
        d["neighbours"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                (
                    n["chain_position"].as_i64().unwrap(),
                    n["bundle_id"].as_str().unwrap().to_owned(),
                    n["result"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let expect = |positions: &[usize]| -> Vec<(i64, String, String)> {
        positions
            .iter()
            .map(|&p| (p as i64, chain[p].bundle_id.clone(), chain[p].result.to_owned()))
            .collect()
    };
    assert_eq!(neighbours(&d), expect(&[0, 1, 3, 4]));
    assert_eq!(ts(&d["neighbours"][0]["checked_at"]), chain[0].checked_at);
    let first = app.get_as(&a.viewer, &path(&chain[0])).expect_json(StatusCode::OK).await;
    assert_eq!(neighbours(&first), expect(&[1, 2]), "the first link has nothing before it");
    assert_eq!(first["prev_chain_hash"], "0".repeat(64));
    let last = app.get_as(&a.viewer, &path(&chain[5])).expect_json(StatusCode::OK).await;
    assert_eq!(neighbours(&last), expect(&[3, 4]), "the last link has nothing after it");
    assert_eq!(
        neighbours(&app.get_as(&a.viewer, &path(&chain[4])).expect_json(StatusCode::OK).await),
        expect(&[2, 3, 5])
    );

    // Bytes changed after signing: the signature no longer verifies.
    {
        // Raw SQL on purpose: tampers with the stored bytes.
        let db = app.db_client().await;
        db.execute(
            "UPDATE evidence_bundles SET raw = raw || '\\x20'::bytea WHERE id = $1",
            &[&chain[3].id],
        )
        .await
        .unwrap();
    }
    assert_eq!(
        app.get_as(&a.viewer, &path(&chain[3])).expect_json(StatusCode::OK).await["signature_valid"],
        false
    );

    // Another practice's bundle, an unknown one, malformed ids, no credentials.
    let msg = app.get_as(&a.owner, &path(&theirs)).expect_error(StatusCode::NOT_FOUND, "").await;
    assert!(msg.contains("no such evidence bundle"), "{msg}");
    app.get_as(&b.owner, &path(e2)).expect_error(StatusCode::NOT_FOUND, "not_found").await;
    app.get_as(&a.owner, "/api/client/evidence/CB-does-not-exist")
        .expect_error(StatusCode::NOT_FOUND, "not_found")
        .await;
    for bad in ["bad%20id", "semi%3Bcolon", &"x".repeat(129)] {
        let msg = app
            .get_as(&a.owner, &format!("/api/client/evidence/{bad}"))
            .expect_error(StatusCode::BAD_REQUEST, "")
            .await;
        assert!(msg.contains("bundle id"), "{bad}: {msg}");
    }
    app.client.get(path(e2)).send().await.assert_status(StatusCode::UNAUTHORIZED);
}

async fn download_audits(app: &TestApp) -> Vec<(uuid::Uuid, Option<uuid::Uuid>, String, Value)> {
    let db = app.db_client().await;
    db.query(
        "SELECT client_org_id, actor_user_id, target_id, details FROM client_audit_log
          WHERE action = 'evidence.downloaded' ORDER BY id",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
    .collect()
}

#[tokio::test]
async fn a_download_is_the_exact_bytes_with_verification_headers_and_is_audited() {
    let app = spawn_app().await;
    let a = app.practice("Oak Clinic").await;
    let b = app.practice("Elm Clinic").await;
    let s = site(&app, a.org_id, "Main Street").await;
    let at = Utc::now() - Duration::hours(3);
    insert_bundle(&app, &s, at, &[check("bitlocker", "FD-01", "pass", Some(BITLOCKER))]).await;
    let e = insert_bundle(
        &app,
        &s,
        at + Duration::hours(1),
        &[check("firewall", "FD-01", "non_compliant", Some(FIREWALL))],
    )
    .await;
    let path = format!("/api/client/evidence/{}/download", e.bundle_id);

    let reply = app.get_as(&a.viewer, &path).expect_status(StatusCode::OK).await;
    let header = |name: &str| reply.header(name);
    assert_eq!(header("content-type"), "application/json");
    assert_eq!(
        header("content-disposition"),
        format!("attachment; filename=\"{}.json\"", e.bundle_id)
    );
    assert_eq!(header("x-bundle-hash"), hex::encode(Sha256::digest(&e.raw)));
    assert_eq!(header("x-chain-hash"), hex::encode(e.chain_hash));
    assert_eq!(header("x-chain-position"), "1");
    assert_eq!(header("x-agent-signature"), hex::encode(e.signature));
    assert_eq!(header("cache-control"), "no-store");
    let body = &reply.body;
    assert_eq!(body.as_slice(), e.raw.as_slice(), "the stored bytes, not re-serialised");
    // Anyone holding the file can check it against the appliance's key.
    let sig: [u8; 64] = hex::decode(header("x-agent-signature")).unwrap().try_into().unwrap();
    s.key.verifying_key().verify_strict(body, &Signature::from_bytes(&sig)).unwrap();

    let audits = download_audits(&app).await;
    assert_eq!(audits.len(), 1);
    let (org, actor, target, details) = &audits[0];
    assert_eq!(
        (*org, *actor, target.as_str()),
        (a.org_id, Some(a.viewer.id), e.bundle_id.as_str())
    );
    assert_eq!(details["bundle_hash"], hex::encode(e.bundle_hash));
    assert_eq!(details["site_id"], json!(s.id));

    // Refusals download nothing and audit nothing.
    app.get_as(&b.owner, &path).expect_error(StatusCode::NOT_FOUND, "not_found").await;
    app.get_as(&a.owner, "/api/client/evidence/CB-nope/download")
        .expect_error(StatusCode::NOT_FOUND, "not_found")
        .await;
    app.get_as(&a.owner, "/api/client/evidence/bad%20id/download")
        .expect_error(StatusCode::BAD_REQUEST, "bad_request")
        .await;
    app.client.get(&path).send().await.assert_status(StatusCode::UNAUTHORIZED);
    assert_eq!(download_audits(&app).await.len(), 1);
}

#[test]
fn the_spec_describes_the_compliance_parameters_and_responses_truthfully() {
    let spec: Value = serde_json::from_str(&portal::routes::api::spec_json()).unwrap();
    let op = |path: &str| spec["paths"][path]["get"].clone();
    let param = |path: &str, name: &str| {
        op(path)["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{path} has no parameter {name}"))
            .clone()
    };
    let evidence = portal::paths::EVIDENCE;
    assert_eq!(param(evidence, "result")["schema"]["enum"], json!(["pass", "warn", "fail"]));
    for name in ["from", "to"] {
        assert_eq!(param(evidence, name)["schema"]["format"], "date-time", "{name}");
    }
    let limit = param(evidence, "limit");
    assert_eq!(limit["required"], false);
    assert_eq!(
        (&limit["schema"]["minimum"], &limit["schema"]["maximum"], &limit["schema"]["default"]),
        (&json!(1.0), &json!(200.0), &json!(50))
    );
    assert_eq!(param(evidence, "site_id")["schema"]["format"], "uuid");
    let cursor = param(evidence, "cursor");
    assert_eq!(
        (&cursor["schema"]["minLength"], &cursor["schema"]["maxLength"]),
        (&json!(32), &json!(32))
    );
    let days = param("/client/sites/{site_id}/history", "days");
    assert_eq!(
        (&days["schema"]["minimum"], &days["schema"]["maximum"], &days["schema"]["default"]),
        (&json!(1.0), &json!(2555.0), &json!(30))
    );
    let bundle = param("/client/evidence/{bundle_id}", "bundle_id");
    assert_eq!(bundle["schema"]["maxLength"], 128);
    assert!(bundle["schema"]["pattern"].is_string());

    let download = op("/client/evidence/{bundle_id}/download");
    assert_eq!(download["operationId"], "download_evidence");
    let ok = &download["responses"]["200"];
    assert!(ok["content"]["application/json"].is_object(), "{ok}");
    for h in [
        "Content-Disposition",
        "X-Bundle-Hash",
        "X-Chain-Hash",
        "X-Chain-Position",
        "X-Agent-Signature",
    ] {
        // poem-openapi writes header names in capitals; HTTP ignores case.
        let documented =
            ok["headers"].as_object().unwrap().keys().any(|k| k.eq_ignore_ascii_case(h));
        assert!(documented, "download documents {h}: {ok}");
    }

    // Nullable where the API answers null.
    let schemas = &spec["components"]["schemas"];
    for (schema, field) in [
        ("Kpis", "compliance_score"),
        ("SiteItem", "score"),
        ("SiteItem", "last_evidence"),
        ("OrgSummary", "partner_name"),
        ("HistoryItem", "score"),
        ("EvidenceList", "next_cursor"),
        ("EvidenceCheckItem", "hipaa_control"),
    ] {
        assert_eq!(schemas[schema]["properties"][field]["nullable"], true, "{schema}.{field}");
    }

    // Exactly the statuses each operation can answer.
    let statuses = |path: &str| -> Vec<String> {
        op(path)["responses"].as_object().unwrap().keys().cloned().collect()
    };
    assert_eq!(statuses(portal::paths::DASHBOARD), ["200", "400", "401", "403", "503"]);
    assert_eq!(statuses("/client/sites"), ["200", "400", "401", "403", "503"]);
    for path in ["/client/sites/{site_id}", "/client/sites/{site_id}/history", evidence] {
        assert_eq!(statuses(path), ["200", "400", "401", "403", "404", "503"], "{path}");
    }
    // A bundle id two sites of the practice used needs the site: 409.
    for path in ["/client/evidence/{bundle_id}", "/client/evidence/{bundle_id}/download"] {
        assert_eq!(statuses(path), ["200", "400", "401", "403", "404", "409", "503"], "{path}");
    }
}

/// Bundles pushed through the appliance endpoint (not the fixture) read back
/// the same way: the read side agrees with what ingestion stores.
#[tokio::test]
async fn evidence_ingested_by_an_appliance_is_what_the_portal_shows() {
    use crate::appliances::{bundle, create_site, ingest};

    let app = spawn_app().await;
    let a = app.practice("Oak Clinic").await;
    let b = app.practice("Elm Clinic").await;
    let s = create_site(&app, a.org_id, "Main Street").await;
    let first = whole_seconds(Utc::now() - Duration::hours(3));
    let second = whole_seconds(Utc::now() - Duration::hours(1));
    ingest(
        &app,
        &s,
        "CB-ingest-1",
        first,
        &[
            ("bitlocker_status", "compliant", "FD-01", Some(BITLOCKER)),
            ("firewall_status", "non_compliant", "FD-01", Some(FIREWALL)),
        ],
    )
    .await;
    ingest(
        &app,
        &s,
        "CB-ingest-2",
        second,
        &[("firewall_status", "pass", "FD-01", Some(FIREWALL))],
    )
    .await;

    let d = app.get_as(&a.viewer, "/api/client/dashboard").expect_json(StatusCode::OK).await;
    assert_eq!(
        d["kpis"],
        json!({
            "controls": { "passed": 2, "failed": 0, "at_risk": 0, "no_data": 0, "total": 2 },
            "status": "all_controls_met",
            "compliance_score": 100.0, "total_checks": 2, "passed": 2, "failed": 0, "warnings": 0
        }),
        "the firewall recovered"
    );
    assert_eq!(d["sites"][0]["status"], "online");
    assert_eq!(d["sites"][0]["evidence_count"], 2);
    assert_eq!(ts(&d["sites"][0]["last_evidence"]), second);

    let site = app
        .get_as(&a.viewer, &format!("/api/client/sites/{}", s.id))
        .expect_json(StatusCode::OK)
        .await;
    let controls: Vec<(&str, &str)> = site["controls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (c["hipaa_control"].as_str().unwrap(), c["checks"][0]["bundle_id"].as_str().unwrap())
        })
        .collect();
    assert_eq!(controls, [(BITLOCKER, "CB-ingest-1"), (FIREWALL, "CB-ingest-2")]);

    let list = app.get_as(&a.viewer, "/api/client/evidence").expect_json(StatusCode::OK).await;
    assert_eq!(bundle_ids(&list), ["CB-ingest-2", "CB-ingest-1"]);
    let detail =
        app.get_as(&a.viewer, "/api/client/evidence/CB-ingest-2").expect_json(StatusCode::OK).await;
    assert_eq!(detail["signature_valid"], true);
    assert_eq!(detail["chain_position"], 1);
    let body = app
        .get_as(&a.viewer, "/api/client/evidence/CB-ingest-1/download")
        .expect_status(StatusCode::OK)
        .await
        .body;
    let sent = bundle(
        s.id,
        "CB-ingest-1",
        first,
        &[
            ("bitlocker_status", "compliant", "FD-01", Some(BITLOCKER)),
            ("firewall_status", "non_compliant", "FD-01", Some(FIREWALL)),
        ],
    );
    assert_eq!(body, sent);

    // Every role of the practice reads; another practice gets 404 for its ids.
    let paths = [
        "/api/client/dashboard".to_owned(),
        "/api/client/sites".to_owned(),
        format!("/api/client/sites/{}", s.id),
        format!("/api/client/sites/{}/history?days=7", s.id),
        format!("/api/client/evidence?site_id={}", s.id),
        "/api/client/evidence/CB-ingest-1".to_owned(),
        "/api/client/evidence/CB-ingest-1/download".to_owned(),
    ];
    for path in &paths {
        for user in [&a.viewer, &a.admin, &a.owner] {
            let token = app.bearer(user).await;
            let resp = app
                .client
                .get(path)
                .header("authorization", format!("Bearer {token}"))
                .send()
                .await;
            assert_eq!(resp.0.status(), StatusCode::OK, "{path} as {}", user.email);
        }
        let token = app.bearer(&b.owner).await;
        let resp =
            app.client.get(path).header("authorization", format!("Bearer {token}")).send().await;
        let shared = path.ends_with("/dashboard") || path.ends_with("/sites");
        let expected = if shared { StatusCode::OK } else { StatusCode::NOT_FOUND };
        assert_eq!(resp.0.status(), expected, "{path} as another practice");
        app.client.get(path).send().await.assert_status(StatusCode::UNAUTHORIZED);
    }
}

async fn evidence_page(app: &TestApp, user: &TestUser) -> String {
    app.get_as(user, portal::paths::EVIDENCE).expect_text(StatusCode::OK).await
}

/// Counts that would otherwise grow with a practice's whole history stop at
/// a cap and say so: the evidence total at 10,000 (`total_exact: false`),
/// the unread count at 1,000. The unread count also honours the user's
/// "read all" watermark.
#[tokio::test]
async fn counts_stop_at_their_caps() {
    let app = spawn_app().await;
    let a = app.practice("Oak Clinic").await;
    let main = site(&app, a.org_id, "Main Street").await;
    let db = app.db_client().await;
    // Raw SQL on purpose: ten thousand bundles in one statement; appending
    // them one by one through the chain would take minutes.
    let bulk = |first: i32, last: i32, result: &'static str| {
        let db = &db;
        let main = &main;
        async move {
            let failed = i32::from(result == "fail");
            db.execute(
                "INSERT INTO evidence_bundles
                   (bundle_id, site_id, client_org_id, checked_at, result, checks_count,
                    failed_checks, raw, bundle_hash, signature, chain_position,
                    prev_chain_hash, chain_hash)
                 SELECT 'BULK-' || g, $1, $2, now() - g * interval '1 minute', $5, 1, $6,
                        '{}'::bytea, sha256(g::text::bytea), sha512(g::text::bytea), g,
                        sha256(('p' || g)::bytea), sha256(('c' || g)::bytea)
                   FROM generate_series($3::int, $4::int) g",
                &[&main.id, &a.org_id, &first, &last, &result, &failed],
            )
            .await
            .unwrap();
        }
    };
    bulk(0, 9_994, "pass").await;
    bulk(9_995, 9_999, "fail").await;

    let exactly =
        app.get_as(&a.viewer, "/api/client/evidence?limit=1").expect_json(StatusCode::OK).await;
    assert_eq!(
        (exactly["total"].clone(), exactly["total_exact"].clone()),
        (json!(10_000), json!(true)),
        "exactly at the cap is still exact"
    );
    let fails = app
        .get_as(&a.viewer, &format!("/api/client/evidence?limit=1&result=fail&site_id={}", main.id))
        .expect_json(StatusCode::OK)
        .await;
    assert_eq!((fails["total"].clone(), fails["total_exact"].clone()), (json!(5), json!(true)));
    let html = evidence_page(&app, &a.viewer).await;
    assert!(html.contains(">10,000 bundles match"), "{html}");
    // Raw SQL on purpose: one more row past the cap, like the bulk rows above.
    db.execute(
        "INSERT INTO evidence_bundles
           (bundle_id, site_id, client_org_id, checked_at, result, checks_count, raw,
            bundle_hash, signature, chain_position, prev_chain_hash, chain_hash)
         VALUES ('BULK-X', $1, $2, now(), 'pass', 1, '{}'::bytea, sha256('x'), sha512('x'),
                 20000, sha256('px'), sha256('cx'))",
        &[&main.id, &a.org_id],
    )
    .await
    .unwrap();
    let all =
        app.get_as(&a.viewer, "/api/client/evidence?limit=1").expect_json(StatusCode::OK).await;
    assert_eq!((all["total"].clone(), all["total_exact"].clone()), (json!(10_000), json!(false)));
    let html = evidence_page(&app, &a.viewer).await;
    assert!(html.contains("More than 10,000 bundles match"), "{html}");

    // Raw SQL on purpose: 1,005 notifications a second apart in one
    // statement; the portal's insert stamps them all with the present.
    db.execute(
        "INSERT INTO client_notifications (client_org_id, type, severity, title, message, created_at)
         SELECT $1, 'check_failed', 'critical', 'Check ' || g, 'details',
                now() - g * interval '1 second'
           FROM generate_series(1, 1005) g",
        &[&a.org_id],
    )
    .await
    .unwrap();
    let unread = |user: &'static str| {
        let (app, a) = (&app, &a);
        async move {
            let who = if user == "viewer" { &a.viewer } else { &a.owner };
            app.get_as(who, "/api/client/dashboard").expect_json(StatusCode::OK).await["unread_notifications"].clone()
        }
    };
    assert_eq!(unread("viewer").await, 1000, "capped");
    // "Read all" up to ten seconds ago leaves the ten newest unread.
    // Raw SQL on purpose: a watermark in the past; "mark all read" sets it to now.
    db.execute(
        "UPDATE client_users SET notifications_read_through = now() - interval '10.5 seconds'
          WHERE id = $1",
        &[&a.viewer.id],
    )
    .await
    .unwrap();
    assert_eq!(unread("viewer").await, 10);
    assert_eq!(unread("owner").await, 1000, "the watermark is per user");
}
